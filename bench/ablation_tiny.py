"""The paper's ablation rows on the tiny preset: SimCSE, the MCSE baseline, +CML, +IML and DALR, 3 seeds each.

    python bench/ablation_tiny.py [--seeds 1 2 3] [--rows simcse mcse cml iml dalr] [--jobs 2] [--out bench/out/ablation_tiny] [key=value ...]

Each row trains the tiny preset (synthetic world, tiny BERT, CPU) with `variant=<row> seed=<s>` and scores the best
dev checkpoint on the world's STS test split (Spearman ×100). Prints a markdown table (mean ± std over seeds), the
untrained encoder's score, and each row's gain over the SimCSE row measured in the same run.
"""
import argparse, json, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
ROWS = [('simcse', 'SimCSE (text only)'), ('mcse', 'MCSE baseline'), ('cml', '+CML'), ('iml', '+IML'), ('dalr', 'DALR (+CML +IML)')]

def run_one(args):
    variant, seed, out, extra = args
    import torch, transformers
    torch.set_num_threads(1); transformers.logging.set_verbosity_error(); transformers.logging.disable_progress_bar()
    from dalr.presets import get_config
    from dalr.train import train
    t = time.time()
    m = train(get_config('tiny', [f'variant={variant}', f'seed={seed}', f'out_dir={out}/{variant}-seed{seed}', *extra]), progress=False)
    return variant, seed, m['test']['synthetic_sts'], m['before']['synthetic_sts'], m['dev_best'], time.time() - t

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    p.add_argument('--rows', nargs='+', default=[v for v, _ in ROWS], choices=[v for v, _ in ROWS], help='rows to train (default: all five)')
    p.add_argument('--jobs', type=int, default=2, help='runs in parallel (one CPU thread each)')
    p.add_argument('--out', default='bench/out/ablation_tiny')
    p.add_argument('overrides', nargs='*', help='key=value overrides applied to every run')
    a = p.parse_args(argv)
    rows = [(v, n) for v, n in ROWS if v in a.rows]
    jobs = [(v, s, a.out, a.overrides) for v, _ in rows for s in a.seeds]
    t0 = time.time()
    with ProcessPoolExecutor(a.jobs) as ex: res = list(ex.map(run_one, jobs))
    by = {v: [r for r in res if r[0] == v] for v, _ in rows}
    before = np.mean([r[3] for r in res])
    base = np.mean([r[2] for r in by['simcse']]) if 'simcse' in by else np.nan
    lines = [f"Tiny preset ablation{' (' + ' '.join(a.overrides) + ')' if a.overrides else ''}: synthetic STS test Spearman x100, mean ± std over seeds {a.seeds}",
             f"(untrained encoder: {before:.2f}; {len(res)} runs in {time.time() - t0:.0f} s with {a.jobs} jobs)", '',
             '| row | variant | test (mean ± std) | per seed | best dev | gain vs SimCSE | ratio vs SimCSE |', '|---|---|---|---|---|---|---|']
    for v, name in rows:
        xs = np.array([r[2] for r in by[v]]); dv = np.mean([r[4] for r in by[v]])
        lines.append(f"| {name} | `{v}` | {xs.mean():.2f} ± {xs.std(ddof=1) if len(xs) > 1 else 0:.2f} | {', '.join(f'{x:.1f}' for x in xs)} "
                     f"| {dv:.2f} | {xs.mean() - base:+.2f} | {xs.mean() / base:.3f} |")
    table = '\n'.join(lines); print(table)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out)/'table.md').write_text(table + '\n')
    (Path(a.out)/'runs.json').write_text(json.dumps([dict(zip(('variant', 'seed', 'test', 'before', 'dev_best', 'seconds'), r)) for r in res], indent=1))

if __name__ == '__main__': main()
