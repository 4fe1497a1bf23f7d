"""`dalr features` speed: images/second on generated 500x375 JPEGs (the size of a typical Flickr30k photo).

    python bench/features_speed.py [--n 3000] [--model ViT-L-14] [--device cuda] [--batch-size 256] [--dir /tmp/jpegs]
                                   [--runs "--workers 0" "--workers 15 --precision fp32" ...]

The JPEGs are crops of scikit-image's photos (seeded, so every run encodes the same files; smooth random colour
fields where scikit-image is not installed). The model has random
weights (`--pretrained none`): speed does not depend on the weights. Prints the wall time of the whole command, the
images/second overall, from the moment the model is built (decoding, encoding, shards and store), and in the steady
state between the first shard written and the last (what a job of many batches approaches), for each entry
of `--runs` (extra `dalr features` arguments, one quoted string per run; default: one run with the defaults), then
the smallest cosine between each run's feature row and the first run's for the same image (1.0: identical).
`--parts W` first times the two halves of the job apart: decoding and preprocessing alone in `W` worker processes
(pieces of `--chunk`, pinned as the command pins them), and the model alone on random batches in bf16 and fp32; the job
cannot run faster than the slower half.
"""
import argparse, os, sys, tempfile, time
from pathlib import Path
import numpy as np

def _jpeg(args):
    i, d, seed = args
    from PIL import Image
    rng = np.random.default_rng([seed, i])
    try:
        import skimage.data
        im = Image.fromarray(getattr(skimage.data, ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry', 'colorwheel')[i % 6])()).convert('RGB')
    except ImportError: # no scikit-image: smooth colour fields with noise, which JPEG-compress like photos
        g = rng.normal(size=(12, 16, 3)).cumsum(0).cumsum(1)
        a = np.kron(g, np.ones((40, 40, 1))) + rng.normal(scale=8, size=(480, 640, 3))
        im = Image.fromarray(np.clip(128 + 12 * (a - a.mean()), 0, 255).astype(np.uint8))
    w, h = im.size; s = rng.uniform(0.5, 1.0); cw, ch = int(w * s), int(h * s)
    x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
    im.crop((x, y, x + cw, y + ch)).resize((500, 375)).save(Path(d)/f'{i:06d}.jpg', quality=90)

def make_jpegs(d:Path, n:int, seed:int=0)->Path:
    "Write `n` 500x375 JPEGs cut from scikit-image photos into `d` (kept between runs), on all cores."
    from multiprocessing import Pool
    d.mkdir(parents=True, exist_ok=True)
    if len(list(d.glob('*.jpg'))) != n:
        with Pool() as pool: pool.map(_jpeg, [(i, str(d), seed) for i in range(n)], chunksize=32)
    return d

def decode_rate(d:Path, preprocess, batch_size:int, workers:int, chunk:int, pin:bool)->tuple[float, float]:
    "Images/s of the worker processes alone (reading, decoding, preprocessing, pinning): overall, and after the first piece."
    from dalr.features import FolderImages, ImageBatches
    names = sorted(p.name for p in d.glob('*.jpg'))
    ds = ImageBatches(FolderImages(d), names, names, batch_size, preprocess, chunk)
    t, n, first = time.perf_counter(), 0, None
    for _, _, ok, x, _ in ds.loader(range(len(ds)), workers, pin):
        if first is None: first, n0 = time.perf_counter(), len(ok)
        n += len(ok)
    end = time.perf_counter()
    return n / (end - t), ((n - n0) / (end - first) if n > n0 else float('nan'))

def encode_rate(clip, device:str, batch_size:int, precision:str, seconds:float=4.)->float:
    "Images/s of the image encoder alone on random preprocessed batches (after two warm-up batches)."
    import torch
    from dalr.features import encode_images
    clip = clip.to(torch.bfloat16 if precision == 'bf16' else torch.float32)
    x = torch.randn(batch_size, 3, *clip.visual.image_size, pin_memory=torch.device(device).type == 'cuda')
    for _ in range(2): encode_images(clip, x, device, precision=precision)
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < seconds: encode_images(clip, x, device, precision=precision); n += batch_size
    return n / (time.perf_counter() - t)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=3000)
    p.add_argument('--model', default='ViT-L-14')
    p.add_argument('--device', default=None)
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--dir', default=None, help='where the JPEGs are generated (default: a temporary folder)')
    p.add_argument('--parts', type=int, default=None, metavar='W', help='first time decoding alone in W workers and the model alone')
    p.add_argument('--chunk', type=int, default=32, help='images per worker piece for --parts')
    p.add_argument('--runs', nargs='+', default=[''], help='extra dalr features arguments, one quoted string per run')
    a = p.parse_args()
    import shlex, torch
    from dalr.corpora import CaptionStore
    from dalr.features import features_main
    t = time.perf_counter(); d = make_jpegs(Path(a.dir or tempfile.mkdtemp())/f'jpegs{a.n}', a.n); t_gen = time.perf_counter() - t
    print(f"{a.n} JPEGs 500x375 ready in {t_gen:.1f} s; {a.model}; device {a.device or 'default'}; "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores", flush=True)
    if a.parts is not None:
        import dalr.features as F
        dev = str(F.default_device(a.device)); clip, preprocess = F.load_clip(a.model, 'none', dev)
        tot, steady = decode_rate(d, preprocess, a.batch_size, a.parts, a.chunk, dev.startswith('cuda'))
        print(f"decoding alone, {a.parts} workers, pieces of {a.chunk}: {tot:.1f} images/s overall, {steady:.1f} after the first piece", flush=True)
        for prec in ('bf16', 'fp32'):
            print(f"{a.model} alone, {prec}, batch {a.batch_size}: {encode_rate(clip, dev, a.batch_size, prec, 4. if dev.startswith('cuda') else 1.):.1f} images/s", flush=True)
        del clip
    import dalr.features as F
    ready, build = [], F.load_clip
    def timed_build(*args, **kw):
        r = build(*args, **kw); ready.append(time.perf_counter()); return r
    F.load_clip = timed_build  # the encoding phase starts when the model is built
    saved, save = [], F._save_shard
    def timed_save(*args, **kw):
        r = save(*args, **kw); saved.append((time.perf_counter(), len(args[2]))); return r
    F._save_shard = timed_save  # steady state: from the first shard written to the last (no start-up, no first-batch latency)
    feats = []
    for extra in a.runs:
        out = Path(tempfile.mkdtemp())/'store'; ready.clear(); saved.clear(); t = time.perf_counter()
        rc = features_main([str(d), str(out), '--model', a.model, '--pretrained', 'none', '--batch-size', str(a.batch_size), '--quiet',
                            *(['--device', a.device] if a.device else []), *shlex.split(extra)])
        wall = time.perf_counter() - t
        assert rc == 0, rc
        f = np.asarray(CaptionStore.open(out).features, dtype=np.float64); feats.append(f / np.linalg.norm(f, axis=1, keepdims=True))
        enc = time.perf_counter() - t - (ready[0] - t)
        print(f"[{extra or 'defaults'}] batch {a.batch_size}: wall {wall:.1f} s; {a.n / wall:.1f} images/s overall, "
              f"{a.n / enc:.1f} images/s after the model is built ({enc:.1f} s: decoding, encoding, shards, store); "
              + (f"steady {sum(k for _, k in saved[1:]) / (saved[-1][0] - saved[0][0]):.1f} images/s from the first shard to the last; " if len(saved) > 1 else '') +
              f"min cosine to the first run {np.min((feats[-1] * feats[0]).sum(1)):.5f}", flush=True)

if __name__ == '__main__': main()
