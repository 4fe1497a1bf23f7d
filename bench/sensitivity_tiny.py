"""Sensitivity of the single-module rows on the tiny preset: λ, μ, the target temperature, the margins, and the paper's settings.

    python bench/sensitivity_tiny.py [--seeds 1 2 3] [--jobs 2] [--out bench/out/sensitivity_tiny] [--runs DIR]

Each setting trains its rows with every seed on the default synthetic world, together with an MCSE run under the same
overrides (only the margins and temperatures touch MCSE), and reports each row's test Spearman (mean ± std) and its
paired gain over that MCSE (MCSE takes the setting's λ, margins and temperatures, the terms it shares) (mean ± std over seeds). Writes `sensitivity.json` and `sensitivity.md` in `--out`.
"""
import argparse, json, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
PAPER = ('lam=0.1', 'mu=0.2', 'target_temp=0.5', 'margin_text=0.18', 'margin_image=0.18')
SETTINGS = [  # (label, rows, overrides); MCSE is added to every setting
    ('tiny preset (λ=1, μ=0.2, target τ=0.1, margins 0)', ('simcse', 'cml', 'iml', 'dalr'), ()),
    ('μ=0.002 (ListMLE summed over 64 positions ÷ 100)', ('iml', 'dalr'), ('mu=0.002',)),
    ('μ=0.02', ('iml',), ('mu=0.02',)),
    ('λ=0.1', ('cml', 'dalr'), ('lam=0.1',)),
    ('target τ=0.5', ('cml', 'iml'), ('target_temp=0.5',)),
    ('CMA on a learned projection of the image', ('cml',), ('cma_image=project',)),
    ('margins 0.18/0.18', ('cml', 'iml'), ('margin_text=0.18', 'margin_image=0.18')),
    ('text margin 0.18 only', ('cml', 'iml'), ('margin_text=0.18',)),
    ('image margin 0.18 only', ('cml', 'iml'), ('margin_image=0.18',)),
    ('paper settings (λ=0.1, μ=0.2, target τ=0.5, margins 0.18)', ('cml', 'iml', 'dalr'), PAPER),
    ('λ=0.1, μ=0.002', ('cml', 'iml', 'dalr'), ('lam=0.1', 'mu=0.002')),
    ('margins 0.18/0.18, μ=0.002', ('cml', 'iml', 'dalr'), ('margin_text=0.18', 'margin_image=0.18', 'mu=0.002')),
]

MCSE_KEYS = ('lam', 'margin_text', 'margin_image', 'temp', 'temp_image')  # the settings MCSE's own terms read

def run_one(job):
    label, variant, seed, out, ov = job
    from dalr.study import train_row
    return dict(label=label, overrides=list(ov), **train_row(variant, seed, {}, out, ov))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--out', default='bench/out/sensitivity_tiny')
    p.add_argument('--settings', type=int, nargs='+', default=None, help='indices of SETTINGS to run (default: all)')
    p.add_argument('--runs', default='', help='folder for the run folders (default: OUT/runs)')
    a = p.parse_args(argv)
    runs = a.runs or os.path.join(a.out, 'runs')
    jobs, seen = [], set()
    settings = [st for i, st in enumerate(SETTINGS) if a.settings is None or i in a.settings]
    for label, rows, ov in settings:
        mcse_ov = tuple(o for o in ov if o.split('=')[0] in MCSE_KEYS)
        for v in ('mcse',) + rows:
            o = mcse_ov if v == 'mcse' else ov
            for s in a.seeds:
                if (v, o, s) in seen: continue
                seen.add((v, o, s)); jobs.append((label, v, s, f"{runs}/{v}-{'_'.join(o) or 'preset'}-seed{s}", o))
    t0 = time.time()
    with ProcessPoolExecutor(a.jobs) as ex: res = list(ex.map(run_one, jobs))
    lines = [f"Tiny preset sensitivity: synthetic STS test Spearman x100, seeds {a.seeds}; {len(res)} runs in {time.time() - t0:.0f} s", '',
             '| setting | row | test (mean ± std) | gain vs MCSE, same seeds (mean ± std) |', '|---|---|---|---|']
    for label, rows, ov in settings:
        mcse_ov = [o for o in ov if o.split('=')[0] in MCSE_KEYS]
        base = {r['seed']: r['test'] for r in res if r['variant'] == 'mcse' and r['overrides'] == mcse_ov}
        for v in ('mcse',) + rows:
            o = mcse_ov if v == 'mcse' else list(ov)
            xs = {r['seed']: r['test'] for r in res if r['variant'] == v and r['overrides'] == o}
            x = np.array(list(xs.values())); d = np.array([xs[s] - base[s] for s in xs])
            lines.append(f"| {label} | {v} | {x.mean():.2f} ± {x.std(ddof=1):.2f} | {d.mean():+.2f} ± {d.std(ddof=1):.2f} |")
    md = '\n'.join(lines); print(md)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    for name, text in (('sensitivity.json', json.dumps(res, indent=1)), ('sensitivity.md', md + '\n')):
        (out/(name + '.tmp')).write_text(text); os.replace(out/(name + '.tmp'), out/name)

if __name__ == '__main__': main()
