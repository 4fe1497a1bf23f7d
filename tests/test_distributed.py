"""Data-parallel DALR: two gloo processes on CPU give the gradients of one process on the concatenated batch,
gather slices of different sizes, average gradients over ranks, and draw different dropout masks on each rank; `dalr train` and `dalr reproduce` run
under `torchrun` as one run that rank 0 writes and reports, each rank's process group ended with the command; a
2-process run killed after a checkpoint resumes to the uninterrupted run's logs and metrics."""
import json, os, subprocess, sys
from pathlib import Path
import pytest, torch

STEP, CLI = Path(__file__).with_name('dist_step.py'), Path(__file__).with_name('dist_cli.py')
ROOT = Path(__file__).resolve().parents[1]
ARGS = ['world_scenes=120', 'batch_size=16', 'num_threads=1']
TORCHRUN = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2']

def _env(): return {**os.environ, 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1', 'PYTHONPATH': str(ROOT)}

def _run(cmd, cwd, ok:bool=True):
    r = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert (r.returncode == 0) == ok, f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r

@pytest.fixture(scope='module')
def grads(tmp_path_factory):
    one, two = tmp_path_factory.mktemp('w1'), tmp_path_factory.mktemp('w2')
    _run([sys.executable, STEP, one, *ARGS], one)
    _run([*TORCHRUN, STEP, two, *ARGS], two)
    load = lambda p: torch.load(p, weights_only=True)
    return load(one/'grads_w1_r0.pt'), load(two/'grads_w2_r0.pt'), load(two/'grads_w2_r1.pt')

def test_two_processes_split_the_batch(grads):
    single, r0, r1 = grads
    assert (single['n_local'], r0['n_local'], r1['n_local']) == (16, 8, 8)

def test_same_global_loss(grads):
    single, r0, r1 = grads
    assert abs(single['loss'] - r0['loss']) < 1e-5 and r0['loss'] == r1['loss']
    for k, v in single['logs'].items(): assert abs(v - r0['logs'][k]) < 1e-4, k

def test_same_gradients_as_one_process(grads):
    single, r0, r1 = grads
    assert single['grads'].keys() == r0['grads'].keys()
    assert any(k.startswith('objective.') for k in single['grads'])
    for k, g in single['grads'].items():
        torch.testing.assert_close(r0['grads'][k], g, atol=1e-6, rtol=1e-4, msg=lambda m: f'{k}: {m}')
        torch.testing.assert_close(r1['grads'][k], r0['grads'][k], atol=0, rtol=0)

def test_average_gradients_averages_over_ranks(grads):
    single, r0, r1 = grads
    for r in (r0, r1): torch.testing.assert_close(r['toy_avg'][:2], [torch.full((3,), 1.5), torch.full((2,), 2.)], atol=0, rtol=0)
    torch.testing.assert_close(single['toy_avg'][:2], [torch.full((3,), 1.), torch.full((2,), 2.)], atol=0, rtol=0)
    assert [r['toy_avg'][2] for r in (single, r0, r1)] == [None] * 3, 'a parameter no rank gave a gradient got one'

def test_gather_of_uneven_slices(grads):
    "Rank r's slice has r + 2 rows and 3 + r columns: gathered in rank order, zero-padded to the widest; each rank gets back the summed gradient of its own slice, and a tensor sharing the upstream gradient keeps its own."
    single, r0, r1 = grads
    want = torch.tensor([[1., 1, 1, 0]] * 2 + [[2., 2, 2, 2]] * 3)
    for r in (r0, r1): torch.testing.assert_close(r['gathered'], want, atol=0, rtol=0)
    torch.testing.assert_close(r0['gathered_grad'], 2 * torch.tensor([[1., 2, 3]] * 2), atol=0, rtol=0)
    torch.testing.assert_close(r1['gathered_grad'], 2 * torch.tensor([[1., 2, 3, 4]] * 3), atol=0, rtol=0)
    for r in (r0, r1): torch.testing.assert_close(r['beside_grad'], torch.tensor([[1., 2, 3, 4]] * 5), atol=0, rtol=0)
    torch.testing.assert_close(single['gathered'], torch.ones(2, 3), atol=0, rtol=0)
    torch.testing.assert_close(single['gathered_grad'], torch.tensor([[1., 2, 3]] * 2), atol=0, rtol=0)

def test_ranks_draw_different_dropout_masks(grads):
    single, r0, r1 = grads
    torch.testing.assert_close(r0['eval_z'], r1['eval_z'], atol=0, rtol=0)
    assert not torch.allclose(r0['dropout_z'], r0['eval_z']), 'dropout is not active in train mode'
    assert (r0['dropout_z'] - r1['dropout_z']).abs().max() > 1e-3, 'both ranks drew the same dropout masks'

def test_train_command_on_two_processes(tmp_path):
    "`torchrun --nproc_per_node 2 dalr train` (README's multi-GPU command) on CPU: one run, written and summarised by rank 0, each rank's process group ended when the command returns."
    run = tmp_path/'run'
    cmd = [*TORCHRUN, CLI, 'train', '--preset', 'tiny', '--no-progress', *ARGS, 'max_steps=20', 'eval_steps=10', 'save_steps=10', f'out_dir={run}']
    r = _run(cmd, tmp_path)
    assert r.stdout.count('run: ') == 1 and 'best dev: ' in r.stdout, r.stdout  # one summary, from rank 0
    for rank in (0, 1): assert f'rank {rank}: process group ended' in r.stderr, r.stderr
    recs = [json.loads(l) for l in (run/'log.jsonl').read_text().splitlines()]
    assert [x['step'] for x in recs if 'dev' in x] == [0, 10, 20]  # each dev evaluation logged once
    m = json.loads((run/'metrics.json').read_text())
    assert m['steps'] == 20 and json.loads((run/'checkpoint'/'state.json').read_text())['step'] == 20
    again = _run(cmd, tmp_path)
    assert again.stderr.count('is already finished') == 1 and again.stdout.count('run: ') == 1, again.stderr

def test_reproduce_command_on_two_processes(tmp_path):
    "`torchrun --nproc_per_node 2 dalr reproduce`: rank 0 alone writes and prints the tables, also when every run is already finished."
    cmd = [*TORCHRUN, CLI, 'reproduce', '--family', 'tiny', '--rows', 'simcse', '--seeds', '1', '--out', str(tmp_path/'rep'),
           *ARGS, 'max_steps=10', 'eval_steps=5', 'save_steps=5']
    for call in ('trains', 'finds the run finished'):
        r = _run(cmd, tmp_path)
        assert r.stdout.count('wrote ') == 1 and r.stdout.count('# tiny: rows simcse') == 1, (call, r.stdout)
        for rank in (0, 1): assert f'rank {rank}: process group ended' in r.stderr, (call, r.stderr)
    assert json.loads((tmp_path/'rep'/'tables.json').read_text())['started'] == []  # the second call trained nothing
    r = _run([*cmd, '--jobs', '2'], tmp_path, ok=False)
    assert 'dalr reproduce: error: jobs=2: under torchrun every run already uses all 2 processes; run with --jobs 1' in r.stderr, r.stderr

def _descendants(pid:int)->list[int]:
    "Every process below `pid` (torchrun starts its workers in sessions of their own, out of reach of its process group)."
    kids = {}
    for st in Path('/proc').glob('[0-9]*/stat'):
        try: f = st.read_text().rsplit(')', 1)[1].split(); kids.setdefault(int(f[1]), []).append(int(st.parent.name))
        except (OSError, IndexError, ValueError): pass
    out, todo = [], [pid]
    while todo: todo = [k for p in todo for k in kids.get(p, [])]; out += todo
    return out

def _alive(pid:int)->bool:
    "Whether process `pid` still runs (a zombie waiting to be reaped does not)."
    try: return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError): return False

def _logged_step(log:Path)->int:
    if not log.exists(): return 0
    return max((json.loads(l).get('step', 0) for l in log.read_text().splitlines() if l.endswith('}')), default=0)

def test_two_processes_killed_and_resumed_reach_the_same_metrics(tmp_path):
    "A 2-process run killed (launcher and workers) after a checkpoint and started again ends where the uninterrupted run ends: every rank's dropout and data position come back."
    import signal, time
    cmd = lambda out: [*TORCHRUN, CLI, 'train', '--preset', 'tiny', '--no-progress', *ARGS, 'max_steps=40', 'eval_steps=10', 'save_steps=8',
                       'log_steps=1', f'out_dir={out}']
    ref, run = tmp_path/'ref', tmp_path/'killed'
    _run(cmd(ref), tmp_path)
    p = subprocess.Popen(cmd(run), cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _logged_step(run/'log.jsonl') < 19 and p.poll() is None and time.time() < deadline: time.sleep(0.02)
    procs = [p.pid, *_descendants(p.pid)]
    for pid in procs:  # launcher and workers at once, as a crash would
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass
    p.wait()
    while any(map(_alive, procs[1:])): time.sleep(0.01)
    assert p.returncode == -signal.SIGKILL and len(procs) >= 3 and not (run/'metrics.json').exists(), 'the run finished before it could be killed'
    killed_at = json.loads((run/'checkpoint'/'state.json').read_text())['step']
    assert 8 <= killed_at < 40, killed_at
    r = _run(cmd(run), tmp_path)
    assert f"resumed from step {killed_at}" in r.stderr and r.stderr.count('resumed from step') == 1, r.stderr
    a, b = (json.loads((d/'metrics.json').read_text()) for d in (ref, run))
    assert b['resumed'] and not a['resumed']
    assert (a['test'], a['dev_best'], a['best_step']) == (b['test'], b['dev_best'], b['best_step'])
    drop = lambda d: [{k: v for k, v in json.loads(l).items() if k != 'time'} for l in (d/'log.jsonl').read_text().splitlines()]
    assert drop(ref) == drop(run)
