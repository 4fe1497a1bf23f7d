"""Data-parallel DALR: two gloo processes on CPU give the gradients of one process on the concatenated batch,
average gradients over ranks, and draw different dropout masks on each rank; `dalr train` and `dalr reproduce` run
under `torchrun` as one run that rank 0 writes and reports, each rank's process group ended with the command."""
import json, os, subprocess, sys
from pathlib import Path
import pytest, torch

STEP, CLI = Path(__file__).with_name('dist_step.py'), Path(__file__).with_name('dist_cli.py')
ROOT = Path(__file__).resolve().parents[1]
ARGS = ['world_scenes=120', 'batch_size=16', 'num_threads=1']

def _run(cmd, cwd):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1', 'PYTHONPATH': str(ROOT)}
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r

@pytest.fixture(scope='module')
def grads(tmp_path_factory):
    one, two = tmp_path_factory.mktemp('w1'), tmp_path_factory.mktemp('w2')
    _run([sys.executable, STEP, one, *ARGS], one)
    _run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', STEP, two, *ARGS], two)
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
    for r in (r0, r1): torch.testing.assert_close(r['toy_avg'], [torch.full((3,), 1.5), torch.full((2,), 2.)], atol=0, rtol=0)
    torch.testing.assert_close(single['toy_avg'], [torch.full((3,), 1.), torch.full((2,), 2.)], atol=0, rtol=0)

def test_ranks_draw_different_dropout_masks(grads):
    single, r0, r1 = grads
    torch.testing.assert_close(r0['eval_z'], r1['eval_z'], atol=0, rtol=0)
    assert not torch.allclose(r0['dropout_z'], r0['eval_z']), 'dropout is not active in train mode'
    assert (r0['dropout_z'] - r1['dropout_z']).abs().max() > 1e-3, 'both ranks drew the same dropout masks'

def test_train_command_on_two_processes(tmp_path):
    "`torchrun --nproc_per_node 2 dalr train` (README's multi-GPU command) on CPU: one run, written and summarised by rank 0, each rank's process group ended when the command returns."
    run = tmp_path/'run'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', CLI, 'train', '--preset', 'tiny',
           '--no-progress', *ARGS, 'max_steps=20', 'eval_steps=10', 'save_steps=10', f'out_dir={run}']
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
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', CLI, 'reproduce', '--family', 'tiny',
           '--rows', 'simcse', '--seeds', '1', '--out', str(tmp_path/'rep'), *ARGS, 'max_steps=10', 'eval_steps=5', 'save_steps=5']
    for call in ('trains', 'finds the run finished'):
        r = _run(cmd, tmp_path)
        assert r.stdout.count('wrote ') == 1 and r.stdout.count('# tiny: rows simcse') == 1, (call, r.stdout)
        for rank in (0, 1): assert f'rank {rank}: process group ended' in r.stderr, (call, r.stderr)
    assert json.loads((tmp_path/'rep'/'tables.json').read_text())['started'] == []  # the second call trained nothing
