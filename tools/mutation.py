"""On-demand mutation check of the modules where a silent breakage costs most. Not part of CI (minutes per module).

    python tools/mutation.py                       # every module below, at most 40 mutants each
    python tools/mutation.py contrastive train     # some modules
    python tools/mutation.py rank --max 10 --seed 2 --timeout 120
    python tools/mutation.py train --list          # the candidate mutants, without running anything
    python tools/mutation.py --breakages           # the hand-written breakage table of issue 16 (see BREAKAGES)

Why a script and not cosmic-ray or mutmut: nbdev exports each notebook cell to `dalr/<module>.py` under a marker
`# %% ../nbs/NN_x.ipynb #<cell id>`, and a notebook's own tests run the *cell's* source while every other notebook and
pytest import the exported file. A tool that mutates only the `.py` leaves the notebook that defines the function
untouched, so its lesson cells (where most assertions live) never see the mutant. Here a mutant is applied to both:
one line of the exported file and the identical line of the notebook cell named by the marker above it.

Mutants are generated from the tokens of the exported file (strings and comments never mutated), one change each:
arithmetic (`+ - * /`) and comparison (`< <= > >= == !=`) swaps, `and`/`or`, `True`/`False`, `min`/`max`,
`.mean(`/`.sum(`, `dim=0`/`dim=1`, a dropped `not`, an integer constant above 1 plus one (0 and 1 are
mostly axes, whose change only raises an index error), a float constant doubled, and a
simple statement replaced by `pass`. Only lines inside the module's listed functions are used; a mutant that does not
compile, or whose line is not found exactly once in its notebook cell, is dropped. A seeded sample of at most `--max`
runs, one at a time (the machine is small): the module's tests are its notebook through `nbdev-test` plus any pytest
ids listed. Killed: the tests fail or time out. Survived: they pass. Both files are restored after every mutant, also
on Ctrl-C or an error. Prints one line per mutant, then the score per module and every survivor.
"""
import argparse, ast, io, json, random, re, subprocess, sys, time, tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = {
    'contrastive': dict(tests=['nbs/11_contrastive.ipynb']),
    'consistency': dict(tests=['nbs/12_consistency.ipynb']),
    'alignment': dict(tests=['nbs/13_alignment.ipynb']),
    'rank': dict(tests=['nbs/14_rank.ipynb']),
    'objective': dict(funcs=('g2l_loss', '_pair_terms', 'forward', '_pair_inputs', '__init__', '_graph_inputs', 'graph', '_captured', '_replay'),
                      tests=['nbs/16_objective.ipynb', 'tests/test_fast_path.py::test_objective_graphs_accumulate_gradients']),
    'train': dict(funcs=('linear_schedule', '_setup_loop', 'loss', 'train_step', '_state', 'save', 'resume', 'evaluate_dev', 'fit', '_graph_objective'),
                  tests=['nbs/35_train.ipynb', 'tests/test_fast_path.py::test_objective_graphs_accumulate_gradients']),
    'checkpoint': dict(funcs=('rng_state', 'set_rng_state', '_module_state', '_to_host', 'host_state', 'write_checkpoint', 'load_checkpoint', 'save', 'wait',
                                'truncate_jsonl', 'previous_checkpoint', '_problem', '_damaged', 'verify_checkpoint', '_load_pt', '_write',
                                'append_jsonl', 'read_jsonl', 'save_checkpoint'), tests=['nbs/30_checkpoint.ipynb']),
    'data': dict(funcs=('interleave_schedule', '_pack_distinct', 'close', 'caption_batches', 'plan', '__len__', 'batch', 'pad_to_length', '_tokenize', 'collate',
                        '__iter__', 'set_epoch', 'state_dict', 'load_state_dict'), tests=['nbs/21_data.ipynb', 'tests/test_pretokenized.py']),
    'teachers': dict(funcs=('_forward', 'embed_ids', 'sentences_sha256', '_check_emb', '_stored', '_write_teacher', 'write', 'build', 'open', '_row_index',
                            '_lookup', 'get', 'keyed'), tests=['nbs/15_teachers.ipynb', 'tests/test_teacher_cache.py']),
    'assemble': dict(funcs=('teacher_rows', 'teacher_dtype', 'teacher_batch', 'model_fingerprint', 'teacher_source', 'shared_cache_dir', 'build_teacher_cache',
                            '_open_or_build', 'objective_config'), tests=['nbs/34_assemble.ipynb']),
    'corpora': dict(funcs=('_read_lines', 'from_file', '_check_captions', '_copy_rows', '_write_store', 'create', '_load_npy', '_verify', 'open', '_norm',
                           'read_flickr8k', 'read_flickr30k_json', 'read_caption_csv', 'read_coco', 'store_from_reference_json', 'sentence_table'),
                    tests=['nbs/20_corpora.ipynb']),
    'presets': dict(funcs=('run_dir', 'is_synthetic', '_at_least', '_check_field', '_check_model', 'teacher_dir_name', '_check_device', 'whole', 'device_arg',
                           'validate_config', '_parse', 'parse_overrides', 'get_config', 'required_data', 'check_data', 'locate_data'),
                    tests=['nbs/31_presets.ipynb']),
    'eval': dict(funcs=('required_files', 'resolve_tasks', '_md_table', 'table', 'save', 'load', 'timings', '_task_line', 'evaluate'), tests=['nbs/05_eval.ipynb']),
    'features': dict(funcs=('list_images', 'load_image', 'preprocess_batch', 'encode_images', 'encode_batch', '_check_progress', '_save_shard', '_done_shards',
                            '__len__', 'end', 'pieces', '__getitem__', 'encode_images_to_shards', '_gather', 'assemble_store', 'match_captions',
                            '_check_columns', '_hf_names', 'hf_images', '_read_captions', '_inputs', 'features_main'),
                     tests=['nbs/22_features.ipynb', 'tests/test_features.py']),
    'model': dict(funcs=('eval_pooler', '__init__', 'backbone_mask', '_pooled', 'forward', 'graph', 'embed', 'has_dropout', 'save_pretrained', 'load'),
                  tests=['nbs/10_model.ipynb']),
    'encoder': dict(funcs=('as_tensor', '_check_sentences', '__call__', 'dim', 'as_encoder', '_position_limit', '_check_max_length', 'from_hf', '_pad_batch',
                           'token_ids', '_encode_hf', 'read_back', 'default_pooler', 'check_model_dir', '_looks_local', 'load'),
                    tests=['nbs/01_encoder.ipynb']),
    'transfer': dict(funcs=('_text', '_lines', 'read_sst', 'read_trec', 'read_mrpc', 'read_binary', '_by_length', 'load_transfer', '_subsample', '_features',
                            'transfer_features', 'transfer_scores', '_f1', 'transfer_task'), tests=['nbs/04_transfer.ipynb']),
    'export': dict(funcs=('export_hf', '_st_modules', 'export_sentence_transformers', 'export'), tests=['nbs/33_export.ipynb']),
    'analysis': dict(funcs=('cosine_matrix', 'alignment', 'uniformity', 'align_uniform', 'pair_similarities', 'overlap_auc', 'fit_linear_map',
                            'matched_mismatched', 'caption_coverage', 'content_overlap', 'same_image', 'soft_positives', 'label_errors', 'rank_agreement',
                            'read_flickr8k_captions', 'read_flickr8k_judgments'), tests=['nbs/40_analysis.ipynb']),
    'download': dict(funcs=('senteval_files', 'data_url', '_part_file', '_open', '_fetch', '_sha256', '_unsafe', '_extract', 'verify_senteval', '_get',
                            '_new_parents', 'download_senteval', 'verify_flickr8k', 'download_flickr8k', 'fetch_data'), tests=['nbs/06_download.ipynb']),
    'fetch': dict(funcs=('source_url', 'check_source', 'fetch', 'fetch_main'), tests=['nbs/24_fetch.ipynb']),
    'synthetic': dict(funcs=None, tests=['nbs/23_synthetic.ipynb']),
    'reproduce': dict(funcs=('_sts_row', 'train_run', 'run_path', '_run_one', 'run_all', 'collect', '_with_averages', 'summarise', '_ms', 'md_table',
                             '_per_seed_avg', 'ablation_table', 'tables', 'reproduce', 'report', 'reproduce_main'), tests=['nbs/36_reproduce.ipynb']),
    'cli': dict(funcs=('_usage', '_process_group', 'main'), tests=['nbs/90_cli.ipynb']),
    'standins': dict(funcs=None, tests=['nbs/25_standins.ipynb']),
    'core': dict(funcs=('needs_hidden_states', '_masked_mean', 'pool', 'default_device', 'autocast_dtype', 'set_seed', 'default_mode', 'publish_modes',
                        'atomic_write', 'atomic_dir', 'replace_dir', 'sha256_files', 'settings_diff', 'cache_dir', '_checkout_dirs', 'shared_data'),
                 tests=['nbs/00_core.ipynb', 'tests/test_data_lookup.py']),
    'distributed': dict(funcs=None, tests=['nbs/32_distributed.ipynb', 'tests/test_distributed.py::test_two_processes_split_the_batch',
                                           'tests/test_distributed.py::test_same_global_loss', 'tests/test_distributed.py::test_same_gradients_as_one_process',
                                           'tests/test_distributed.py::test_average_gradients_averages_over_ranks',
                                           'tests/test_distributed.py::test_gather_of_uneven_slices',
                                           'tests/test_distributed.py::test_ranks_draw_different_dropout_masks',
                                           'tests/test_distributed.py::test_train_command_on_two_processes']),
    'study': dict(funcs=None, tests=['nbs/45_when.ipynb']),
    'study_text': dict(funcs=None, tests=['nbs/46_minilm_mpnet.ipynb']),
    'sts': dict(funcs=('data_file', '_score', '_utf8', '_enough', 'read_sts_subset', 'read_columns', 'sts_files', 'load_sts', 'cosine_scores',
                       'spearman_cosine', '_corr', 'sts_task', 'sts_dev_score'), tests=['nbs/02_sts.ipynb']),
    'classifier': dict(funcs=('stacked_accuracy', '_threads_for', '_epoch', 'fit_logregs', '_early_stop', '_pick', '_holdout', 'step', 'keep', '_adam_rows'),
                       tests=['nbs/03_classifier.ipynb']),
}

SWAP_OPS = {'+': '-', '-': '+', '*': '/', '/': '*', '<': '<=', '<=': '<', '>': '>=', '>=': '>', '==': '!=', '!=': '=='}
SWAP_NAMES = {'and': 'or', 'or': 'and', 'True': 'False', 'False': 'True', 'min': 'max', 'max': 'min', 'mean': 'sum'}
KEYWORDS = {'return', 'if', 'elif', 'else', 'for', 'while', 'with', 'try', 'except', 'finally', 'def', 'class', 'raise',
            'import', 'from', 'pass', 'yield', 'assert', 'global', 'nonlocal', 'del', 'break', 'continue', 'lambda'}

def _cells(py:Path)->list:
    "(first line, last line, notebook, cell id) of every exported chunk of `py` (1-based, inclusive)."
    lines, out = py.read_text().splitlines(), []
    for i, l in enumerate(lines, 1):
        if not l.startswith('# %%'): continue
        if out and out[-1][1] is None: out[-1][1] = i - 1
        m = re.match(r'# %% \.\./(nbs/\S+\.ipynb) #(\w+)', l)
        if m: out.append([i + 1, None, m[1], m[2]])
    if out and out[-1][1] is None: out[-1][1] = len(lines)
    return out

def _func_lines(src:str, funcs)->set:
    "Line numbers inside the bodies of functions named in `funcs` (all function bodies when None)."
    keep = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (funcs is None or node.name in funcs):
            keep.update(range(node.body[0].lineno, node.end_lineno + 1))
    return keep

def candidates(module:str)->list[dict]:
    "Every compilable, mappable one-token (or one-statement) mutant of `module`."
    py = ROOT/'dalr'/f'{module}.py'; src = py.read_text(); lines = src.splitlines(keepends=True)
    inside, cells, out = _func_lines(src, MODULES[module].get('funcs')), _cells(py), []
    toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    def add(lineno, new_line, what):
        if new_line == lines[lineno - 1]: return
        mutated = ''.join(lines[:lineno - 1] + [new_line] + lines[lineno:])
        try: compile(mutated, str(py), 'exec')
        except SyntaxError: return
        cell = next((c for c in cells if c[0] <= lineno <= c[1]), None)
        if cell is None: return
        out.append(dict(module=module, py=str(py.relative_to(ROOT)), nb=cell[2], cell=cell[3], line=lineno,
                        old=lines[lineno - 1], new=new_line, what=what))
    for k, t in enumerate(toks):
        if t.start[0] not in inside or t.start[0] != t.end[0]: continue
        l, (r, c0), c1 = lines[t.start[0] - 1], t.start, t.end[1]
        rep = None
        if t.type == tokenize.OP and t.string in SWAP_OPS: rep = SWAP_OPS[t.string]
        elif t.type == tokenize.NAME and t.string in SWAP_NAMES: rep = SWAP_NAMES[t.string]
        elif t.type == tokenize.NAME and t.string == 'dim' and k + 2 < len(toks) and toks[k + 1].string == '=' and toks[k + 2].string in ('0', '1'):
            n = toks[k + 2]; add(r, l[:n.start[1]] + ('1' if n.string == '0' else '0') + l[n.end[1]:], f"dim={n.string} -> dim={1 - int(n.string)}"); continue
        elif t.type == tokenize.NAME and t.string == 'not': add(r, l[:c0] + l[c1:].lstrip(), "drop 'not'"); continue
        elif t.type == tokenize.NUMBER and re.fullmatch(r'\d+', t.string) and int(t.string) > 1: rep = str(int(t.string) + 1)
        elif t.type == tokenize.NUMBER and re.fullmatch(r'\d*\.\d+(e-?\d+)?|\d+e-?\d+', t.string): rep = repr(float(t.string) * 2)
        if rep is not None: add(r, l[:c0] + rep + l[c1:], f"{t.string!r} -> {rep!r}")
    for i, l in enumerate(lines, 1):
        s = l.strip()
        if i not in inside or not s or s.startswith(('#', '"', "'", '@')) or (re.match(r'\w*', s)[0] or '(') in KEYWORDS | {'('}: continue
        if s.endswith((':', ',', '(', '[', '{', '\\')) or l.count('(') != l.count(')'): continue
        if i < len(lines) and lines[i].strip().startswith((')', ']', '}')): continue
        add(i, l[:len(l) - len(l.lstrip())] + 'pass\n', f"delete: {s[:40]}")
    return [m for m in out if _nb_count(m) == 1]

def _nb_source(nb:str, cell:str)->tuple[dict, dict]:
    d = json.loads((ROOT/nb).read_text())
    return d, next(c for c in d['cells'] if c.get('id') == cell)

def _nb_count(m:dict)->int:
    _, c = _nb_source(m['nb'], m['cell'])
    return ''.join(c['source']).count(m['old'].rstrip('\n'))

def _apply(m:dict):
    "Write the mutant into the exported file and the notebook cell; return what restores them."
    py, nb = ROOT/m['py'], ROOT/m['nb']
    saved = {py: py.read_bytes(), nb: nb.read_bytes()}
    src = py.read_text().splitlines(keepends=True); src[m['line'] - 1] = m['new']; py.write_text(''.join(src))
    d, c = _nb_source(m['nb'], m['cell'])
    c['source'] = ''.join(c['source']).replace(m['old'].rstrip('\n'), m['new'].rstrip('\n'), 1)
    nb.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n')
    return saved

def run_tests(tests:list[str], timeout:float)->tuple[bool, float]:
    "(passed, seconds) of a module's tests: notebooks through nbdev-test, the rest through pytest."
    t0, py = time.time(), [t for t in tests if not t.endswith('.ipynb')]
    cmds = [['nbdev-test', t] for t in tests if t.endswith('.ipynb')] + ([[sys.executable, '-m', 'pytest', '-x', '-q', *py]] if py else [])
    for cmd in cmds:  # pytest ids in one call, so module-scoped fixtures are built once
        try: r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max(1, timeout - (time.time() - t0)))
        except subprocess.TimeoutExpired: return False, time.time() - t0
        if r.returncode != 0: return False, time.time() - t0
    return True, time.time() - t0

def run_mutant(m:dict, tests:list[str], timeout:float)->tuple[bool, float]:
    saved = _apply(m)
    try: return run_tests(tests, timeout)
    finally:
        for p, b in saved.items(): p.write_bytes(b)

# The breakage table (issue 16): one named, hand-picked line change each, and the non-slow test meant to catch it.
# (module file, old text, new text, tests). Applied the same way as the generated mutants.
BREAKAGES = {
    'lr constant instead of the linear schedule': ('train', "    if step < warmup: return step / max(1, warmup)\n    return max(0.0, (total - step) / max(1, total - warmup))", "    return 1.0", ['nbs/35_train.ipynb']),
    'no warmup': ('train', "    if step < warmup: return step / max(1, warmup)\n", "", ['nbs/35_train.ipynb']),
    'no gradient clipping': ('train', "self.cfg.grad_clip if self.cfg.grad_clip > 0 else float('inf')", "float('inf')", ['nbs/35_train.ipynb']),
    'accumulated loss not divided by grad_accum': ('train', "self.scaler.scale(loss / len(batches)).backward()", "self.scaler.scale(loss).backward()", ['nbs/35_train.ipynb']),
    'accumulation keeps the last batch only': ('train', "        self.scaler.scale(loss / len(batches)).backward()", "        self.opt.zero_grad(set_to_none=True); self.scaler.scale(loss / len(batches)).backward()", ['nbs/35_train.ipynb']),
    'optimizer step skipped (training does not learn)': ('train', "self.scaler.step(self.opt); self.scaler.update()", "self.scaler.update()", ['nbs/35_train.ipynb']),
    'resume with a changed config not refused': ('train', "    if diff: raise ConfigError(", "    if diff and False: raise ConfigError(", ['nbs/35_train.ipynb']),
    'resume does not restore the loader position': ('train', "    self.loader.load_state_dict(st['loader'])\n", "", ['nbs/35_train.ipynb']),
    'resume does not restore the step': ('train', "self.step, self.best, self.best_step, self.before = st['step'], st['best'], st['best_step'], st['before']", "self.best, self.best_step, self.before = st['best'], st['best_step'], st['before']", ['nbs/35_train.ipynb']),
    'student frozen (only the heads train)': ('train', "self.params = [p for m in (self.student, self.objective) for p in m.parameters() if p.requires_grad]", "self.params = [p for m in (self.objective,) for p in m.parameters() if p.requires_grad]", ['nbs/35_train.ipynb']),
    'a later dev best is not exported': ('train', "    if is_main_process() and score > self.best:", "    if is_main_process() and score > self.best + 1e9:", ['nbs/35_train.ipynb']),
    'same dropout seed on every rank': ('train', "        if self.world > 1: torch.manual_seed(cfg.seed + 7919 * self.rank)\n", "", ['tests/test_distributed.py']),
    'average_gradients sums instead of averaging': ('distributed', "dist.all_reduce(flat); flat /= get_world_size()", "dist.all_reduce(flat)", ['tests/test_distributed.py']),
    'average_gradients does nothing': ('distributed', "    if not is_distributed(): return\n", "    return\n", ['tests/test_distributed.py']),
    'teacher cache reused for other teachers': ('assemble', "            if same: return cache.keyed(rows, len(sentences))", "            return cache.keyed(rows, len(sentences))", ['nbs/34_assemble.ipynb']),
    'teacher cache always rebuilt': ('assemble', "            if same: return cache.keyed(rows, len(sentences))", "            pass", ['nbs/34_assemble.ipynb']),
    'teacher cache kept after the teachers changed': ('assemble', "cache.meta['dtype'], cache.meta.get('source')) == (names, cfg.teacher_normalize, dtype, teacher_source(cfg))", "cache.meta['dtype']) == (names, cfg.teacher_normalize, dtype)", ['nbs/34_assemble.ipynb']),
    'presets cache normalised teacher embeddings': ('assemble', "* 64, normalize=cfg.teacher_normalize,", "* 64, normalize=True,", ['nbs/34_assemble.ipynb']),
    'shared teacher cache built without the lock': ('assemble', "    with cache_lock(path): return _open_or_build", "    return _open_or_build", ['nbs/34_assemble.ipynb']),
    'shared teacher cache keyed without its storage dtype': ('assemble', "normalize=cfg.teacher_normalize, dtype=teacher_dtype(cfg),", "normalize=cfg.teacher_normalize,", ['nbs/34_assemble.ipynb']),
    'reproduce runs each build their own teacher cache': ('reproduce', "{**fam.overrides, **shared, **parse_overrides", "{**fam.overrides, **parse_overrides", ['tests/test_reproduce.py::test_every_row_trained_and_tabled']),
    'teacher dtype ignored (float16 stored as float32)': ('teachers', "arr = np.lib.format.open_memmap(fn, 'w+', np.dtype(dtype), (n, rows.shape[1]))", "arr = np.lib.format.open_memmap(fn, 'w+', np.float32, (n, rows.shape[1]))", ['nbs/15_teachers.ipynb']),
    'teacher mix of normalised embeddings (not the reference)': ('alignment', "        t = sum(w * e for w, e in zip(weights, embs))", "        t = sum(w * F.normalize(e, dim=-1) for w, e in zip(weights, embs))", ['nbs/16_objective.ipynb']),
    "cma_image='project' ignored": ('objective', "        v = img if self.cma_proj is None else self.cma_proj(img)", "        v = img", ['nbs/16_objective.ipynb']),
    'checkpoint restores no RNG state': ('checkpoint', "    if restore_rng:\n", "    if False:\n", ['nbs/30_checkpoint.ipynb']),
    'run folder exit code 0 on a changed config': ('train', "print(f\"dalr train: error: {_error(e)}\", file=sys.stderr); return 2", "print(f\"dalr train: error: {_error(e)}\", file=sys.stderr); return 0", ['tests/test_bad_input.py']),
    'every rank reports a finished run (torchrun)': ('train', "    init_distributed()  # under torchrun, before anything is printed: rank 0 alone reports\n", "", ['tests/test_distributed.py']),
    'every rank resumes with rank 0\'s random state': ('checkpoint', "        set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])", "        set_rng_state(rngs[0])", ['tests/test_distributed.py']),
    'process group left running after a command': ('cli', "if mine and (d := _process_group()) is not None: d.destroy_process_group()", "pass", ['nbs/90_cli.ipynb', 'tests/test_distributed.py']),
}

def breakage_mutant(name:str)->tuple[dict, list]:
    module, old, new, tests = BREAKAGES[name]
    py = ROOT/'dalr'/f'{module}.py'; src = py.read_text()
    assert src.count(old) == 1, f"{name}: the text to break occurs {src.count(old)} times in {py}"
    start = src.index(old); first = src[:start].count('\n') + 1
    cell = next(c for c in _cells(py) if c[0] <= first <= c[1])
    return dict(module=module, py=str(py.relative_to(ROOT)), nb=cell[2], cell=cell[3], old_text=old, new_text=new), tests

def run_breakage(name:str, timeout:float)->tuple[bool, float]:
    m, tests = breakage_mutant(name)
    py, nb = ROOT/m['py'], ROOT/m['nb']
    saved = {py: py.read_bytes(), nb: nb.read_bytes()}
    try:
        py.write_text(py.read_text().replace(m['old_text'], m['new_text'], 1))
        d, c = _nb_source(m['nb'], m['cell']); s = ''.join(c['source'])
        assert s.count(m['old_text']) == 1, f"{name}: not found once in {m['nb']} cell {m['cell']}"
        c['source'] = s.replace(m['old_text'], m['new_text'], 1)
        nb.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n')
        return run_tests(tests, timeout)
    finally:
        for p, b in saved.items(): p.write_bytes(b)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('modules', nargs='*', help=f"modules to mutate (default: all of {', '.join(MODULES)}); with --breakages: breakage names")
    p.add_argument('--max', type=int, default=40, help="mutants per module (a seeded sample)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--timeout', type=float, default=0, help="seconds per mutant (default: 3x the unmutated tests' time + 30)")
    p.add_argument('--list', action='store_true', help="print the sampled mutants and exit")
    p.add_argument('--breakages', action='store_true', help="run the breakage table instead of generated mutants")
    a = p.parse_args(argv)
    if a.breakages:
        names = a.modules or list(BREAKAGES)
        print(f"{'breakage':58} {'caught':6} {'secs':>5}  test")
        bad = 0
        for n in names:
            ok, secs = run_breakage(n, a.timeout or 900)
            bad += ok
            print(f"{n:58} {'no' if ok else 'yes':6} {secs:5.0f}  {', '.join(BREAKAGES[n][3])}", flush=True)
        return 1 if bad else 0
    results = {}
    for mod in a.modules or MODULES:
        if mod not in MODULES: p.error(f"unknown module {mod!r}; choose from {', '.join(MODULES)}")
        cands = candidates(mod)
        sample = sorted(random.Random(a.seed).sample(cands, min(a.max, len(cands))), key=lambda m: m['line'])
        if a.list:
            for m in sample: print(f"{mod}:{m['line']}: {m['what']}: {m['new'].strip()}")
            continue
        tests = MODULES[mod]['tests']
        ok, base = run_tests(tests, 3600)
        if not ok: sys.exit(f"{mod}: the tests fail without any mutant ({', '.join(tests)}); fix them first")
        timeout = a.timeout or 3 * base + 30
        print(f"== {mod}: {len(sample)} of {len(cands)} candidate mutants; tests {', '.join(tests)} ({base:.0f} s unmutated)", flush=True)
        res = results[mod] = []
        for m in sample:
            passed, secs = run_mutant(m, tests, timeout)
            res.append((m, passed))
            print(f"  {'SURVIVED' if passed else 'killed  '} {secs:5.0f}s  {mod}.py:{m['line']}  {m['what']:28} {m['new'].strip()[:90]}", flush=True)
    if results:
        print("\nmodule        killed/total  score")
        for mod, res in results.items():
            k = sum(not s for _, s in res); print(f"{mod:13} {k:>6}/{len(res):<6} {100 * k / max(1, len(res)):5.0f}%")
        print("\nsurvivors:")
        for mod, res in results.items():
            for m, s in res:
                if s: print(f"  {mod}.py:{m['line']}  {m['what']}:  {m['old'].strip()}  ->  {m['new'].strip()}")

if __name__ == '__main__': sys.exit(main())
