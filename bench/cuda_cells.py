"""Run a notebook's `#| cuda` lesson cells on a GPU machine that has no nbdev or Jupyter: its imports, its exported
definitions and its `cuda` cells, in order, in one namespace (the other lesson cells may need data or packages that
machine lacks). Exit status 1 on the first failing cell, with its traceback.

    python bench/cuda_cells.py nbs/10_model.ipynb
    python bench/cuda_cells.py nbs/15_teachers.ipynb --set mini=.devdata/minilm   # a name a lesson cell would define
"""
import json, sys, traceback
from pathlib import Path

def cuda_cells(path:Path)->list[str]:
    "The sources to run: import cells (before the first lesson), `#| export` cells and `#| cuda` cells."
    out, lessons = [], False
    for c in json.loads(path.read_text())['cells']:
        if c['cell_type'] != 'code':
            lessons = lessons or ''.join(c['source']).startswith('##')  # the first section heading ends the import cells
            continue
        src = ''.join(c['source']); first = src.split('\n', 1)[0]
        if first.startswith('#| export') or first.startswith('#| cuda') or (not lessons and not first.startswith('#|')): out.append(src)
    return out

def main(argv=None)->int:
    args = sys.argv[1:] if argv is None else argv
    names = dict(a.split('=', 1) for a in args[args.index('--set') + 1:]) if '--set' in args else {}
    for nb in args[:args.index('--set')] if '--set' in args else args:
        ns, cells = {'__name__': '__main__', **names}, cuda_cells(Path(nb))
        for i, src in enumerate(cells):
            try: exec(compile(src, f'{nb} cell {i}', 'exec'), ns)
            except Exception:
                traceback.print_exc(); print(f'{nb}: cell {i} of {len(cells)} failed:\n{src}'); return 1
        print(f"{nb}: {len(cells)} cells ok ({sum(s.startswith('#| cuda') for s in cells)} cuda)")
    return 0

if __name__ == '__main__': sys.exit(main())
