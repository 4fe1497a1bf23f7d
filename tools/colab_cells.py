"""Give every notebook in nbs/ its Colab cells, right after the title: a link that opens it on Colab and a hidden
first code cell that installs the library there (a no-op anywhere else, so the tests skip it in effect).
Idempotent: `python tools/colab_cells.py` after adding a notebook; `--check` exits 1 when a notebook lacks them."""
import json, sys
from pathlib import Path

REPO = 'dalr-dev/dalr'
INSTALL = ["#| hide\n", "import subprocess, sys\n",
           "if 'google.colab' in sys.modules:  # on Colab: install dalr and the small real model its examples use\n",
           f"    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', 'dalr[dev] @ git+https://github.com/{REPO}'], check=True)"]
MARK = 'colab.research.google.com/github/'

def link(nb:Path)->list[str]:
    return [f"[Open in Colab](https://colab.research.google.com/github/{REPO}/blob/main/nbs/{nb.name}){{.colab-link}}"]

def has_cells(cells)->bool:
    return any(MARK in ''.join(c['source']) for c in cells[:3]) and any(''.join(c['source']) == ''.join(INSTALL) for c in cells[:4])

def fix(nb:Path)->bool:
    "Insert (or refresh) the two cells; return whether the notebook changed."
    d = json.loads(nb.read_text(encoding='utf-8'))
    if has_cells(d['cells']) and ''.join(link(nb)) in [''.join(c['source']) for c in d['cells'][:3]]: return False
    cells = [c for c in d['cells'] if MARK not in ''.join(c['source']) and not ''.join(c['source']).startswith(INSTALL[0] + INSTALL[1])]
    new = [{'cell_type': 'markdown', 'metadata': {}, 'source': link(nb)},
           {'cell_type': 'code', 'execution_count': None, 'metadata': {}, 'outputs': [], 'source': INSTALL}]
    at = 1 if cells and cells[0]['cell_type'] == 'markdown' and ''.join(cells[0]['source']).startswith('# ') else 0
    cells[at:at] = new
    if cells == d['cells']: return False
    d['cells'] = cells
    nb.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    return True

if __name__ == '__main__':
    nbs = sorted(Path(__file__).resolve().parents[1].glob('nbs/*.ipynb'))
    if '--check' in sys.argv:
        bad = [nb.name for nb in nbs if not has_cells(json.loads(nb.read_text(encoding='utf-8'))['cells'])]
        if bad: print(f'notebooks without their Colab cells (run python tools/colab_cells.py): {bad}'); sys.exit(1)
        print(f'Colab cells: all {len(nbs)} notebooks'); sys.exit(0)
    print('updated:', [nb.name for nb in nbs if fix(nb)])
