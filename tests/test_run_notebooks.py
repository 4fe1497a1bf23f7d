"""The output check of `tools/run_notebooks.py`: what counts as the same output and what as stale."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tools'))
from run_notebooks import same_text

def test_numbers_within_tolerance():
    assert same_text('STS avg 79.51', 'STS avg 79.52', 1e-2, 5e-3)
    assert not same_text('STS avg 70.51', 'STS avg 79.52', 1e-2, 5e-3)
    assert not same_text('STS-B 79.51', 'SICK-R 79.51', 1e-2, 5e-3)

def test_durations_are_not_compared():
    assert same_text('epoch took 12.5 s', 'epoch took 80 s', 1e-2, 5e-3)
    assert same_text("{'seconds': 3.4, 'n': 2}", "{'seconds': 9.9, 'n': 2}", 1e-2, 5e-3)
    assert not same_text("{'seconds': 3.4, 'n': 2}", "{'seconds': 3.4, 'n': 3}", 1e-2, 5e-3)

def test_a_digest_equals_itself():
    "A hex digest holds runs such as `47e357` that read as a float overflow to inf; the same digest is still the same text."
    h = 'c12655c0989b5f7b0a7ea4964ce47e357adf84930228299eb2d79d189a8637ec'
    assert same_text(f"'sha256': '{h}'", f"'sha256': '{h}'", 1e-2, 5e-3)
    assert not same_text(f"'sha256': '{h}'", f"'sha256': '{h.replace('47e357', '47e358')}'", 1e-2, 5e-3)

def test_a_cell_that_exits_is_reported():
    "A lesson that ends in `SystemExit` (an argparse error, say) fails its notebook instead of ending the checker."
    import json
    from run_notebooks import ROOT, execute
    nb = ROOT/'nbs'/'_exits.ipynb'  # a leading underscore: nbdev ignores it
    cell = dict(cell_type='code', id='a1', metadata={}, execution_count=None, outputs=[], source=['raise SystemExit(2)'])
    nb.write_text(json.dumps(dict(cells=[cell], metadata={}, nbformat=4, nbformat_minor=5)))
    try: _, _, err = execute(nb, [])
    finally: nb.unlink()
    assert err and 'SystemExit' in err, err

def test_each_notebook_cleans_its_temporary_folder():
    "A notebook's scratch files live in a folder of its own, counted and removed when it ends; paths show as `<tmp>`."
    import json, os, tempfile
    from run_notebooks import ROOT, _job
    nb = ROOT/'nbs'/'_scratch.ipynb'
    src = ["import os, tempfile, subprocess, sys\n", "d = tempfile.mkdtemp(); open(os.path.join(d, 'big.bin'), 'wb').write(b'x' * 3_000_000)\n",
           "sub = subprocess.run([sys.executable, '-c', 'import tempfile; print(tempfile.gettempdir())'], capture_output=True, text=True).stdout.strip()\n",
           "assert sub == tempfile.gettempdir() != '/tmp', sub\n", "print(d)"]
    cell = dict(cell_type='code', id='b1', metadata={}, execution_count=None, outputs=[], source=src)
    nb.write_text(json.dumps(dict(cells=[cell], metadata={}, nbformat=4, nbformat_minor=5)))
    before, env = set(os.listdir(tempfile.gettempdir())), os.environ.get('TMPDIR')
    try:
        fn, secs, n_out, n_fig, left, probs = _job((str(nb), 'save', [], 1e-2, 5e-3))
        stored = json.loads(nb.read_text())['cells'][0]['outputs']
    finally: nb.unlink()
    assert probs == [] and stored[0]['text'] == ['<tmp>/…\n'], (probs, stored)
    assert 3_000_000 <= left < 3_100_000, left
    assert set(os.listdir(tempfile.gettempdir())) <= before, set(os.listdir(tempfile.gettempdir())) - before
    assert os.environ.get('TMPDIR') == env
