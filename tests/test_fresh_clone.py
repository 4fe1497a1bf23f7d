"""The README's test command on a fresh clone with no `shared/data`: every data set comes through `dalr.download`,
here from a mirror on 127.0.0.1 that this test starts and stops. `DALR_FRESH_NOTEBOOKS` picks the notebooks
(a regex on file names; default: those that read data; `.` for all of them)."""
import http.server, os, subprocess, sys, tarfile, threading, time, zipfile
from pathlib import Path
import pytest
from dalr.core import shared_data
from dalr.download import FLICKR8K_FILES, senteval_files

REPO = Path(__file__).resolve().parents[1]
DATA_NBS = r'(00_core|02_sts|04_transfer|05_eval|06_download|20_corpora|40_analysis|43_flickr8k|44_space)\.ipynb'

def build_mirror(d:Path)->Path:
    "The three public archives, rebuilt from the local data in their published layouts."
    se, f8k = shared_data('senteval', download=False), shared_data('flickr8k', download=False)
    d.mkdir(parents=True)
    with tarfile.open(d/'senteval.tar', 'w') as tf:
        for f in senteval_files(): tf.add(se/f, arcname=f'downstream/{f}')
    with tarfile.open(d/'Stsbenchmark.tar.gz', 'w:gz') as tf: tf.add(se/'raw'/'stsbenchmark', arcname='stsbenchmark')
    with zipfile.ZipFile(d/'Flickr8k_text.zip', 'w', zipfile.ZIP_DEFLATED) as z:
        for f in [*FLICKR8K_FILES, 'readme.txt']: z.write(f8k/f, arcname=f)
    return d

def serve(d:Path):
    "A static file server on 127.0.0.1 that records every path it was asked for."
    got = []
    class H(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw): super().__init__(*a, directory=str(d), **kw)
        def log_message(self, fmt, *a): got.append(self.path)
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, got

def run(cmd, cwd, env):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return p, time.perf_counter() - t0

@pytest.mark.slow
def test_fresh_clone_fetches_its_data(tmp_path):
    mirror = build_mirror(tmp_path/'mirror')
    clone = tmp_path/'work'/'dalr'
    subprocess.run(['git', 'clone', '-q', str(REPO), str(clone)], check=True)
    home = tmp_path/'home'; home.mkdir()
    srv, got = serve(mirror)
    env = {k: v for k, v in os.environ.items() if k not in ('DALR_DATA', 'DALR_SENTEVAL', 'DALR_CACHE')}
    bindir = str(Path(sys.executable).parent)
    env.update(HOME=str(home), PYTHONPATH=str(clone), DALR_DATA_URL=f'http://127.0.0.1:{srv.server_port}',
               PATH=f"{bindir}:{env.get('PATH', '')}", HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false', MPLBACKEND='Agg')
    try:
        nbs, t_nb = run([f'{bindir}/nbdev-test', '--n-workers', '2', '--timing', '--do-print',
                         '--file-re', os.environ.get('DALR_FRESH_NOTEBOOKS', DATA_NBS)], clone, env)
        tests, t_py = run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-m', 'not slow',
                           'tests/test_eval_cli.py', 'tests/test_train.py'], clone, env)
    finally: srv.shutdown(); srv.server_close()
    print(f'notebooks: {t_nb:.0f} s\n{nbs.stdout[-3000:]}{nbs.stderr[-3000:]}\npytest: {t_py:.0f} s\n{tests.stdout[-1500:]}')
    print('served:', got, {p.name: p.stat().st_size for p in mirror.iterdir()})
    assert nbs.returncode == 0 and tests.returncode == 0
    assert sorted(got) == ['/Flickr8k_text.zip', '/Stsbenchmark.tar.gz', '/senteval.tar']
    cache = home/'.cache'/'dalr'
    assert (cache/'senteval'/'senteval.json').exists() and (cache/'flickr8k'/'flickr8k.json').exists()
    assert not (tmp_path/'work'/'shared').exists()
