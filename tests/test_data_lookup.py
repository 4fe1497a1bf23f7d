"""`shared_data` where no `shared/data` folder sits above the package or the working directory (a package installed
anywhere, run from anywhere): `$DALR_DATA` comes first, then the cache, which is used offline (`download=False`)
once a data set is there; a data set in neither is refused by name. Each lookup runs in a fresh process on a copy of
the package, so the checkout's own surroundings play no part."""
import os, shutil, subprocess, sys
from pathlib import Path
import pytest
from dalr.core import shared_data

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture
def elsewhere(tmp_path):
    shutil.copytree(ROOT/'dalr', tmp_path/'site'/'dalr', ignore=shutil.ignore_patterns('__pycache__'))
    for d in ('home', 'run', 'cache', 'data'): (tmp_path/d).mkdir()
    return tmp_path

def lookup(tmp:Path, name:str, download:bool, **env)->subprocess.CompletedProcess:
    code = (f"import dalr.core; assert dalr.core.__file__.startswith({str(tmp/'site')!r}), dalr.core.__file__\n"
            f"print(dalr.core.shared_data({name!r}, download={download}))")
    e = {k: v for k, v in os.environ.items() if k not in ('DALR_DATA', 'DALR_CACHE', 'PYTHONPATH')}
    e.update(PYTHONPATH=str(tmp/'site'), HOME=str(tmp/'home'), DALR_CACHE=str(tmp/'cache'), **env)
    return subprocess.run([sys.executable, '-c', code], cwd=tmp/'run', env=e, capture_output=True, text=True, timeout=300)

def test_cache_used_offline(elsewhere):
    (elsewhere/'cache'/'senteval').symlink_to(shared_data('senteval', download=False), target_is_directory=True)
    r = lookup(elsewhere, 'senteval', download=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == str(elsewhere/'cache'/'senteval')

def test_dalr_data_before_the_cache(elsewhere):
    for d in ('cache', 'data'): (elsewhere/d/'senteval').symlink_to(shared_data('senteval', download=False), target_is_directory=True)
    r = lookup(elsewhere, 'senteval', download=False, DALR_DATA=str(elsewhere/'data'))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == str(elsewhere/'data'/'senteval')

def test_nowhere_offline_is_refused(elsewhere):
    r = lookup(elsewhere, 'senteval', download=False)
    assert r.returncode != 0
    assert "FileNotFoundError: No data folder 'senteval': set $DALR_DATA to a folder that contains it" in r.stderr, r.stderr[-2000:]
