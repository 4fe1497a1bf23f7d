"The installed `dalr` console script routes each subcommand to its module."
import shutil, subprocess, sys
from pathlib import Path
import pytest

def _script():
    "The `dalr` script on PATH, or beside this Python (a venv used without activating it)."
    return shutil.which('dalr') or shutil.which('dalr', path=str(Path(sys.executable).parent))

def run(*args):
    exe = _script()
    cmd = [exe, *args] if exe else [sys.executable, '-c', 'import sys; from dalr.cli import main; sys.exit(main(sys.argv[1:]))', *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

def test_console_script_is_installed():
    assert _script(), "`pip install -e .` should put a `dalr` script beside the Python that runs the tests"

def test_help_lists_commands():
    r = run('--help')
    assert r.returncode == 0
    for cmd in ('train', 'eval', 'features'): assert f'  {cmd}' in r.stdout

@pytest.mark.parametrize('cmd', ['eval', 'features', 'train'])
def test_subcommand_help(cmd):
    r = run(cmd, '--help')
    assert r.returncode == 0, r.stderr
    assert 'usage:' in r.stdout

def test_train_list_names_presets_and_fields():
    r = run('train', '--list')
    assert r.returncode == 0, r.stderr
    assert 'paper-flickr-bert' in r.stdout and 'tiny' in r.stdout and 'lr' in r.stdout

def test_unknown_command_exits_2():
    r = run('fit')
    assert r.returncode == 2 and "valid commands: train, eval, features, fetch, reproduce" in r.stderr

def test_version():
    from dalr import __version__
    for flag in ('--version', '-V'):
        r = run(flag)
        assert r.returncode == 0 and r.stdout == f'dalr {__version__}\n', r.stderr
