"""Execute the notebooks as the tests do (cells flagged `notest`/`slow`/`cuda` skipped, unless forced with `--flags`),
and either store their outputs or check the stored ones.

    python tools/run_notebooks.py --save [NB ...]    # execute, clean the outputs, write them into the notebooks
    python tools/run_notebooks.py --check [NB ...]   # execute, fail if a stored output is stale or missing

Outputs are cleaned before they are stored or compared: stderr (warnings, progress bars) and widget outputs are
dropped, machine paths become `.` (the checkout), `~`, `<tmp>` or `<python>`, object addresses become `0x…`.
`--check` fails when a cell errors (as `nbdev-test` does), when a re-executed text output differs from the stored
one beyond a small numeric tolerance (`--rtol` 1%, `--atol` 0.005: numbers are compared as numbers, the rest as text;
the tolerance absorbs last-digit drift of training runs on other CPUs; wall-clock durations are not compared), when
a cell shows something and the notebook stores nothing for it (or the reverse), or when a figure is missing.
Skipped cells keep what they store. With no NB, every notebook in nbs/; `--workers N` runs N at a time.
Each notebook gets a temporary folder of its own (`tempfile`'s default and `$TMPDIR` for its subprocesses), removed when
it ends, so the lessons' scratch files (exported models, runs, caches) do not pile up on the disk across notebooks;
the line of each notebook says how much it left there."""
import argparse, contextlib, json, os, re, shutil, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NUM = re.compile(r'[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?')
_DROP_MIME = ('application/vnd.jupyter.widget-view+json', 'application/vnd.jupyter.widget-state+json')
_SYSTEM_TMP = tempfile.gettempdir()  # the machine's temporary folder; each notebook runs in a private folder inside it

def _paths()->list[tuple[str, str]]:
    "Machine-specific prefixes, longest first, and what they become in stored outputs."
    subs = [(str(ROOT), '.'), (str(ROOT.parent), '..'), (sys.prefix, '<python>'), (sys.base_prefix, '<python>'),
            (tempfile.gettempdir(), '<tmp>'), (_SYSTEM_TMP, '<tmp>'), (str(Path.home()), '~')]
    return sorted({(a, b) for a, b in subs if len(a) > 1}, key=lambda s: -len(s[0]))

def clean_text(s:str)->str:
    "Strip machine paths, temporary names and object addresses from one output text."
    subs = dict(_paths())
    s = re.sub(f"(?:{'|'.join(re.escape(a) for a in subs)})(?![\\w.-])", lambda m: subs[m.group(0)], s)  # whole path parts
    s = re.sub(r'<tmp>/[\w.-]+', '<tmp>/…', s)
    s = re.sub(r'\bat 0x[0-9a-f]+', 'at 0x…', s)
    return s

def clean_outputs(outs:list)->list:
    "Outputs as they are stored: no stderr, no widgets, no machine paths, no execution counts."
    res = []
    for o in outs:
        o = json.loads(json.dumps(o))
        if o.get('output_type') == 'stream':
            if o.get('name') != 'stdout': continue
            text = clean_text(''.join(o['text']))
            text = re.sub(r'[^\n]*\r(?!\n)', '', text)  # a carriage-return progress line keeps its last state only
            if text: res.append({'name': 'stdout', 'output_type': 'stream', 'text': text.splitlines(keepends=True)})
            continue
        if o.get('output_type') in ('execute_result', 'display_data'):
            data = {k: v for k, v in o.get('data', {}).items() if k not in _DROP_MIME}
            if not data: continue
            for k in list(data):
                if k.startswith('text/'): data[k] = clean_text(''.join(data[k])).splitlines(keepends=True)
            o['data'] = data; o['metadata'] = {}
            if 'execution_count' in o: o['execution_count'] = None
            res.append(o)
        elif o.get('output_type') == 'error': res.append(o)
    return res

def shown_text(outs:list)->str:
    "The text a reader sees in a cell's outputs."
    return '\n'.join(''.join(o['text']) if o['output_type'] == 'stream' else ''.join(o.get('data', {}).get('text/plain', []))
                     for o in outs)

def n_figures(outs:list)->int: return sum(any(k.startswith('image/') for k in o.get('data', {})) for o in outs)

_DURATION = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[-+]?\d+)?(?= ?(?:s|ms|min)\b)|(?<='seconds': )[-+\d.e]+|(?<=\"seconds\": )[-+\d.e]+")

def _mask_durations(text:str)->str:
    "Durations replaced by `<time>`: `12 s`, `'seconds': 3.4`, and the cells of markdown-table columns headed `... s`."
    out, cols = [], set()
    for line in _DURATION.sub('<time>', text).split('\n'):
        if not line.startswith('|'): cols = set(); out.append(line); continue
        cells = line.split('|')
        if not cols and not set(line) <= set('|-: '):
            cols = {k for k, c in enumerate(cells) if re.search(r'(^|\s)(s|ms|min|seconds)\s*$', c.strip())}
            if cols: cols.add(-1)  # this table has duration columns; the header row itself stays
        elif cols: cells = [('<time>' if k in cols and _NUM.fullmatch(c.strip()) else c) for k, c in enumerate(cells)]
        out.append('|'.join(cells))
    return '\n'.join(out)

def same_text(a:str, b:str, rtol:float, atol:float)->bool:
    "Equal as text outside numbers, and every number within `atol + rtol*|b|`; durations (`12 s`, `'seconds': 3.4`, `total s` columns) are not compared."
    a, b = _mask_durations(a), _mask_durations(b)
    if _NUM.sub('#', a) != _NUM.sub('#', b): return False
    return all(x == y or abs(float(x) - float(y)) <= atol + rtol * abs(float(y)) for x, y in zip(_NUM.findall(a), _NUM.findall(b)))  # `47e357` in a hex digest reads as inf

def du(path:Path)->int:
    "Bytes of the files under `path` (links not followed)."
    return sum(f.lstat().st_size for f in Path(path).rglob('*') if f.is_file() and not f.is_symlink())

@contextlib.contextmanager
def private_tmp(name:str):
    "A temporary folder for one notebook, as `tempfile`'s default and `$TMPDIR`; yields a function giving its bytes; removed after."
    d, old = tempfile.mkdtemp(prefix=f'nb-{name}-', dir=_SYSTEM_TMP), (tempfile.tempdir, os.environ.get('TMPDIR'))
    tempfile.tempdir, os.environ['TMPDIR'] = d, d
    try: yield lambda: du(d)
    finally:
        tempfile.tempdir = old[0]
        if old[1] is None: os.environ.pop('TMPDIR', None)
        else: os.environ['TMPDIR'] = old[1]
        shutil.rmtree(d, ignore_errors=True)

def execute(fn:Path, force_flags:list[str])->tuple[dict, float, str|None]:
    "Run `fn` as `nbdev-test` does; return {cell id: cleaned outputs} of the cells that ran, seconds, error text."
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.test import _skip_cell
    os.environ['IN_TEST'] = '1'
    skip_flags = [f for f in get_config().tst_flags.split() if f not in force_flags]
    nb = NBProcessor(fn, rm_directives=False, process=True).nb
    skip = _skip_cell(nb, skip_flags, force_flags)
    ran = {c.id for c in nb.cells if not skip(c)}
    import matplotlib.pyplot as plt
    plt.close('all')  # a figure left open by the worker's previous notebook must not show up in this one
    main = sys.modules['__main__']  # IPython's shell installs its own __main__; the worker needs ours for its next job
    k, t0, err = CaptureShell(fn), time.time(), None
    try:
        with working_directory(fn.parent): k.run_all(nb, exc_stop=True, preproc=skip, cell_timeout=get_config().get('cell_timeout', 600))
    except Exception: err = k.prettytb(fname=fn) or 'error'
    except SystemExit as e: err = f'a cell raised SystemExit({e.code!r})'  # an argparse error in a lesson must not end the checker
    finally: sys.modules['__main__'] = main
    return {c.id: clean_outputs(c.get('outputs', [])) for c in nb.cells if c.id in ran}, time.time() - t0, err

def _job(args):
    fn, mode, force, rtol, atol = args
    with private_tmp(Path(fn).stem) as used: outs, secs, err = execute(Path(fn), force); left = used()
    d = json.loads(Path(fn).read_text(encoding='utf-8'))
    probs = [f'{Path(fn).name}: cell failed\n{err}'] if err else []
    if mode == 'save' and not err:
        for c in d['cells']:
            if c['cell_type'] == 'code' and c.get('id') in outs: c['outputs'], c['execution_count'] = outs[c['id']], None
        Path(fn).write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    if mode == 'check' and not err:
        for i, c in enumerate(d['cells']):
            if c['cell_type'] != 'code' or c.get('id') not in outs: continue
            old, new = c.get('outputs', []), outs[c['id']]
            where = f"{Path(fn).name} cell {i} ({''.join(c['source']).splitlines()[0][:60] if c['source'] else ''})"
            if new and not old: probs.append(f'{where}: shows output but the notebook stores none')
            elif old and not new: probs.append(f'{where}: the notebook stores output but the cell shows none now')
            elif not same_text(shown_text(new), clean_text(shown_text(old)), rtol, atol):
                probs.append(f'{where}: stored output is stale\n--- stored\n{shown_text(old)[:600]}\n--- now\n{shown_text(new)[:600]}')
            elif n_figures(new) != n_figures(old): probs.append(f'{where}: {n_figures(old)} stored figures, {n_figures(new)} now')
    n_out = sum(bool(o) for o in outs.values()); n_fig = sum(n_figures(o) for o in outs.values())
    return fn, secs, n_out, n_fig, left, probs

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument('--save', action='store_true'); g.add_argument('--check', action='store_true')
    p.add_argument('nbs', nargs='*'); p.add_argument('--flags', default='', help='flags to run anyway, e.g. "slow"')
    p.add_argument('--workers', type=int, default=2); p.add_argument('--rtol', type=float, default=1e-2); p.add_argument('--atol', type=float, default=5e-3)
    a = p.parse_args(argv)
    nbs = [Path(n).resolve() for n in a.nbs] or sorted((ROOT/'nbs').glob('[!_.]*.ipynb'))
    mode, t0, bad = 'save' if a.save else 'check', time.time(), 0
    jobs = [(str(n), mode, a.flags.split(), a.rtol, a.atol) for n in nbs]
    with ProcessPoolExecutor(max_workers=max(1, a.workers)) as ex:
        for fn, secs, n_out, n_fig, left, probs in ex.map(_job, jobs):
            print(f'{Path(fn).name:<22} {secs:6.1f} s  {n_out:3d} cells with output  {n_fig:2d} figures  {left/2**20:6.1f} MB temporary  '
                  f'{"ok" if not probs else "FAILED"}', flush=True)
            for pr in probs: print('  ' + pr.replace('\n', '\n  '))
            bad += bool(probs)
    print(f'{mode}: {len(nbs)} notebooks, {bad} failed, {time.time() - t0:.0f} s')
    if mode == 'save': os.system(f'cd "{ROOT}" && nbdev-clean >/dev/null')
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
