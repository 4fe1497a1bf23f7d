"""`dalr features` speed: images/second on generated 500x375 JPEGs (the size of a typical Flickr30k photo).

    python bench/features_speed.py [--n 3000] [--model ViT-L-14] [--device cuda] [--batch-size 256] [--dir /tmp/jpegs] [-- FEATURES_ARGS ...]

The JPEGs are crops of scikit-image's photos (seeded, so every run encodes the same files). The model has random
weights (`--pretrained none`): speed does not depend on the weights. Prints the wall time of the whole command, the
time to build the model alone (measured separately), and images/second with and without the model build.
Arguments after `--` go to `dalr features` unchanged (e.g. `--workers 15 --precision bf16`).
"""
import argparse, sys, tempfile, time
from pathlib import Path
import numpy as np

def make_jpegs(d:Path, n:int, seed:int=0)->Path:
    "Write `n` 500x375 JPEGs cut from scikit-image photos into `d` (kept between runs)."
    import skimage.data
    from PIL import Image
    d.mkdir(parents=True, exist_ok=True)
    if len(list(d.glob('*.jpg'))) == n: return d
    rng = np.random.default_rng(seed)
    srcs = [Image.fromarray(getattr(skimage.data, k)()).convert('RGB') for k in ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry', 'colorwheel')]
    for i in range(n):
        im = srcs[i % len(srcs)]; w, h = im.size; s = rng.uniform(0.5, 1.0)
        cw, ch = int(w * s), int(h * s); x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        im.crop((x, y, x + cw, y + ch)).resize((500, 375)).save(d/f'{i:06d}.jpg', quality=90)
    return d

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=3000)
    p.add_argument('--model', default='ViT-L-14')
    p.add_argument('--device', default=None)
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--dir', default=None, help='where the JPEGs are generated (default: a temporary folder)')
    a, rest = p.parse_known_args()
    rest = [x for x in rest if x != '--']
    import torch
    from dalr.features import features_main, load_clip
    d = make_jpegs(Path(a.dir or tempfile.mkdtemp())/f'jpegs{a.n}', a.n)
    t = time.perf_counter(); m, _ = load_clip(a.model, 'none', a.device)
    if torch.cuda.is_available(): torch.cuda.synchronize()
    t_load = time.perf_counter() - t; del m
    out = Path(tempfile.mkdtemp())/'store'
    t = time.perf_counter()
    rc = features_main([str(d), str(out), '--model', a.model, '--pretrained', 'none', '--batch-size', str(a.batch_size), '--quiet',
                        *(['--device', a.device] if a.device else []), *rest])
    wall = time.perf_counter() - t
    assert rc == 0, rc
    print(f"{a.n} images, {a.model}, batch {a.batch_size}, args {rest}: wall {wall:.1f} s, model build {t_load:.1f} s; "
          f"{a.n / wall:.1f} images/s overall, {a.n / max(wall - t_load, 1e-9):.1f} images/s excluding the model build")

if __name__ == '__main__': main()
