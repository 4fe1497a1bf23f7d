"""Why do single modules fall below MCSE on the tiny preset? Per-term losses and each term's share of the student's gradient.

    python bench/diagnose_tiny.py [--variant dalr] [--seed 1] [--every 4] [--out bench/out/diagnose_tiny] [key=value ...]

Trains one tiny-preset run step by step (the `Trainer`'s own loop). On every `--every`-th image-caption batch, before
the optimizer step, it differentiates each weighted loss term (InfoNCE, λ·cross, λ·w_cons·cons, λ·cma, μ·ima, μ·rank)
separately with respect to the student's parameters and records the gradient norm; the log has every term's value.
Prints, per third of training, each term's mean value and its share of the summed per-term gradient norms, and the
run's test score; writes `diagnose.json` in `--out`.
"""
import argparse, json, sys, time
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

def term_grads(tr, batch)->dict:
    "Norm of each weighted term's gradient on the student's parameters, for one pair batch."
    import torch
    from dalr.contrastive import info_nce
    obj, c = tr.objective, tr.objective.cfg
    b = {k: v.to(tr.device) if torch.is_tensor(v) else v for k, v in batch.items()}
    out = tr.student(b['input_ids'], b['attention_mask'])
    z, pooled = out['z'].float(), out['pooled'].float()
    z1, z2 = z[:, 0], z[:, 1]
    info, logits = info_nce(z1, z2, c.temp, c.margin_text)
    temb = tr.cache.get(b['sent_idx'].cpu()) if tr.cache is not None else None
    terms = {'info': info, **obj._pair_terms(z1, z2, pooled, logits, *obj._pair_inputs(b, temb, None, z))}
    weight = dict(info=1., cross=c.lam, cons=c.lam * c.w_cons, cma=c.lam, ima=c.mu, rank=c.mu)
    params = [p for p in tr.student.parameters() if p.requires_grad]
    res = {}
    for k, v in terms.items():
        g = torch.autograd.grad(weight[k] * v, params, retain_graph=True, allow_unused=True)
        res[k] = float(torch.sqrt(sum((x.float() ** 2).sum() for x in g if x is not None)))
    return res

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--variant', default='dalr')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--every', type=int, default=4, help='measure gradients on every n-th pair batch')
    p.add_argument('--out', default='bench/out/diagnose_tiny')
    p.add_argument('overrides', nargs='*', help='key=value overrides of the tiny preset')
    a = p.parse_args(argv)
    import torch, transformers
    torch.set_num_threads(1); transformers.logging.set_verbosity_error(); transformers.logging.disable_progress_bar()
    from dalr.presets import get_config
    from dalr.train import Trainer
    from dalr.sts import spearman_cosine
    run = Path(a.out)/f'{a.variant}-seed{a.seed}'
    cfg = get_config('tiny', [f'variant={a.variant}', f'seed={a.seed}', f'out_dir={run}', 'eval_steps=0', 'save_steps=0', *a.overrides])
    t0 = time.time()
    tr = Trainer(cfg, progress=False)
    recs, n_pair = [], 0
    while tr.step < tr.total_steps:
        for batch in tr.loader:
            g = None
            if batch.is_pair:
                n_pair += 1
                if n_pair % a.every == 1 or a.every == 1: g = term_grads(tr, batch); tr.opt.zero_grad(set_to_none=True)
            logs = tr.train_step([batch])
            recs.append({'step': tr.step, **logs, **({'grad': g} if g else {})})
            if tr.step >= tr.total_steps: break
    test = spearman_cosine(tr._encoder(), *tr.data['test'])
    thirds = np.array_split(np.arange(tr.total_steps) + 1, 3)
    keys = [k for k in ('info', 'cross', 'cons', 'cma', 'ima', 'rank') if any(k in r for r in recs)]
    print(f"variant={a.variant} seed={a.seed} {' '.join(a.overrides)}: test {test:.2f} (final student, {tr.total_steps} steps, {time.time() - t0:.0f} s)")
    print('| steps | ' + ' | '.join(f'{k} value' for k in keys) + ' | ' + ' | '.join(f'{k} grad share' for k in keys) + ' |')
    summary = []
    for th in thirds:
        rs = [r for r in recs if th[0] <= r['step'] <= th[-1] and r.get('pair')]
        vals = {k: float(np.mean([r[k] for r in rs if k in r])) if rs else float('nan') for k in keys}
        gs = [r['grad'] for r in rs if 'grad' in r]
        share = {k: float(np.mean([gr[k] / sum(gr.values()) for gr in gs])) if gs else float('nan') for k in keys}
        summary.append(dict(steps=[int(th[0]), int(th[-1])], pair_batches=len(rs), value=vals, grad_share=share))
        print(f"| {th[0]}-{th[-1]} ({len(rs)} pair) | " + ' | '.join(f'{vals[k]:.3g}' for k in keys) + ' | ' + ' | '.join(f'{share[k]:.2f}' for k in keys) + ' |')
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out)/f'diagnose-{a.variant}-seed{a.seed}.json').write_text(json.dumps(dict(config=vars(a), test=test, summary=summary, log=recs)))

if __name__ == '__main__': main()
