"""`dalr reproduce --family tiny`: every row trained once (CI's reduced seed set), the tables written, and a rerun
that trains only what is missing. Replaces `bench/ablation_tiny.py` in CI."""
import json, os, subprocess, sys, time
from pathlib import Path

import pytest

from dalr.reproduce import ROWS, reproduce

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "All five rows of the tiny family, seed 1, two worker processes, through the console entry point."
    out = tmp_path_factory.mktemp('reproduce')/'tiny'
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    t = time.time()
    r = subprocess.run([sys.executable, '-c', 'import sys; from dalr.cli import main; sys.exit(main())', 'reproduce', '--family', 'tiny',
                        '--seeds', '1', '--jobs', '2', '--out', str(out)], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return out, r.stdout, time.time() - t


def test_every_row_trained_and_tabled(tiny):
    out, stdout, secs = tiny
    res = json.loads((out/'tables.json').read_text())
    assert sorted(map(tuple, res['started'])) == sorted((r, 1) for r in ROWS)
    m = {r: res['summary'][r]['mean'] for r in ROWS}
    for r in ROWS: assert m[r]['synthetic_sts'] > m[r]['before/synthetic_sts'] + 5, (r, m[r])
    for r in ('mcse', 'cml', 'iml', 'dalr'): assert m[r]['synthetic_sts'] > m['simcse']['synthetic_sts'] + 10, (r, m)
    md = (out/'tables.md').read_text()
    assert md in stdout + '\n' and (out/'reproduce.png').read_bytes()[:4] == b'\x89PNG'
    sts = [l for l in res['tables']['sts'].splitlines() if l.startswith('| ') and '(1 seed)' in l]
    assert [l.split(' (')[0][2:] for l in sts] == list(ROWS.values())
    assert 'transfer' not in res['tables'] and 'Δ STS Avg. vs SimCSE' in res['tables']['ablation']
    assert "paper's numbers" not in md  # the tiny family has no published numbers
    caches = [p for p in (out/'teacher_cache').iterdir() if not p.name.startswith('.')]  # the teacher rows' one shared cache
    assert len(caches) == 1 and (caches[0]/'meta.json').exists(), caches
    assert [r for r in ROWS if (out/f'{r}-seed1'/'teachers').exists()] == []
    print(f"\n{md}\n({secs:.0f} s)")


def test_rerun_trains_only_what_is_missing(tiny):
    "A finished study is not retrained; a run whose scores are gone resumes from its own checkpoint to the same score."
    out, _, _ = tiny
    before = json.loads((out/'tables.json').read_text())
    (out/'dalr-seed1'/'scores.json').unlink()
    res = reproduce('tiny', list(ROWS), [1], out)
    assert res['started'] == [['dalr', 1]]
    assert res['summary'] == before['summary']
    assert reproduce('tiny', list(ROWS), [1], out)['started'] == []


def test_minilm_mpnet_family(tmp_path):
    """`dalr reproduce --family minilm-mpnet` in miniature (MiniLM as its own teacher, 64 captions, STS-B): the seed-free
    untrained row is scored once and reused, trained rows differ by seed, the diagnostic table is written, a rerun trains nothing."""
    from dalr.study_text import minilm_dir
    out = tmp_path/'mm'
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    args = ['reproduce', '--family', 'minilm-mpnet', '--rows', 'untrained', 'listmle', '--seeds', '0', '1', '--out', str(out),
            f'teacher={minilm_dir()}', 'captions=64', 'steps=3', 'batch_size=16', 'max_length=16', 'tasks=STSBenchmark']
    r = subprocess.run([sys.executable, '-c', 'import sys; from dalr.cli import main; sys.exit(main())', *args], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    res = json.loads((out/'tables.json').read_text())
    assert sorted(map(tuple, res['started'])) == [('listmle', 0), ('listmle', 1), ('untrained', 0), ('untrained', 1)]
    runs = res['runs']
    assert runs['untrained']['0'] == runs['untrained']['1'] and abs(runs['untrained']['0']['STSBenchmark'] - 82.03) < 0.01
    assert abs(runs['untrained']['0']['spearman'] - 1.0) < 1e-3
    secs = [json.loads((out/f'untrained-seed{s}'/'scores.json').read_text())['seconds'] for s in (0, 1)]
    assert secs[1] < 0.5 < secs[0], secs  # seed 1 took seed 0's scores instead of evaluating again
    assert runs['listmle']['0']['STSBenchmark'] != runs['listmle']['1']['STSBenchmark']
    assert list(res['tables']) == ['sts', 'ablation', 'diagnostic'] and '## Held-out diagnostic' in r.stdout
    assert (out/'teacher_cache'/'meta.json').exists() and not (out/'reproduce.png').exists()  # STS-B alone: no STS average to plot
    assert 'reproduce.png' not in r.stdout.strip().splitlines()[-1] and 'TR Avg.' not in res['tables']['ablation']
    from dalr.reproduce import reproduce
    assert reproduce('minilm-mpnet', ['untrained', 'listmle'], [0, 1], out, overrides=args[-6:])['started'] == []


def test_minilm_mpnet_without_data_or_teacher_is_one_line(tmp_path):
    """No Flickr8k anywhere (the package copied away from the checkout's shared data, an empty cache, a mirror that has
    nothing): one line naming the download, exit 2. With the data but the hub teacher out of reach: one line naming teacher=PATH."""
    import shutil
    pkg = tmp_path/'pkg'; shutil.copytree(ROOT/'dalr', pkg/'dalr')
    base = {k: v for k, v in os.environ.items() if k != 'DALR_DATA'}
    cmd = [sys.executable, '-m', 'dalr', 'reproduce', '--family', 'minilm-mpnet', '--rows', 'simcse', '--seeds', '1', '--out', 'out', 'captions=64']
    env = dict(base, PYTHONPATH=str(pkg), HF_HUB_OFFLINE='1', DALR_CACHE=str(tmp_path/'cache'), DALR_DATA_URL=(tmp_path/'mirror').as_uri())
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and 'could not download' in r.stderr and 'Flickr8k_text.zip' in r.stderr
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE='1', HF_HOME=str(tmp_path/'hf'))
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and 'give teacher=PATH' in r.stderr and 'cache=DIR' in r.stderr
    assert not (tmp_path/'out').exists()
