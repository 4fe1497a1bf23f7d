"""`dalr features` end to end, interruption and resumption, and bad input to the data layer.

These need subprocesses, killed processes and files on disk, which notebooks cannot hold. The CLIP model is a
randomly initialised open_clip ViT-B-32 (no CLIP weights install on the test machines); the photos are the real
ones that ship with scikit-image.
"""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dalr.data import CaptionStore, TextCorpus, read_flickr8k
from dalr.features import features_main, skip_list_path, work_dir

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'camera', 'coins', 'immunohistochemistry', 'colorwheel')
MODEL = ['--model', 'ViT-B-32', '--pretrained', 'none', '--device', 'cpu', '--quiet']


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    "Sixteen real photos (each skimage photo and its mirror image), one truncated JPEG and a captions file."
    import skimage.data
    d = tmp_path_factory.mktemp('photos')
    for n in PHOTOS:
        a = getattr(skimage.data, n)()
        Image.fromarray(a).save(d/f'{n}.jpg', quality=90)
        Image.fromarray(np.ascontiguousarray(a[:, ::-1])).save(d/f'{n}_mirror.jpg', quality=90)
    (d/'truncated.jpg').write_bytes((d/'coffee.jpg').read_bytes()[:700])
    lines = [f'{p.name}#{k}\tA photo called {p.stem} , take {k} .' for p in sorted(d.glob('*.jpg')) for k in range(2)]
    (d.parent/'captions.token.txt').write_text('\n'.join(lines) + '\n\n')
    return d


def _cli(*args):
    "Run `dalr features ARGS` through the console entry point in a fresh interpreter."
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    return subprocess.Popen([sys.executable, '-c', 'import sys; from dalr.cli import main; sys.exit(main())', 'features', *map(str, args)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _same_store(a, b):
    a, b = CaptionStore.open(a), CaptionStore.open(b)
    assert np.asarray(a.features).tobytes() == np.asarray(b.features).tobytes()
    assert (a.captions, a.images, a.caption_image.tolist()) == (b.captions, b.images, b.caption_image.tolist())
    return a


@pytest.fixture(scope='module')
def single_run(photos, tmp_path_factory):
    """The reference: one uninterrupted run with captions, batch size 2, in a subprocess started like the killed one.

    Bit-for-bit equality needs the same thread count on both sides (a float sum split over two threads rounds
    differently from one thread), so the reference runs under `_cli`'s `OMP_NUM_THREADS=1` too, not in this process."""
    out = tmp_path_factory.mktemp('single')/'store'
    caps = photos.parent/'captions.token.txt'
    p = _cli(photos, out, '--captions', caps, '--format', 'flickr8k', '--batch-size', '2', *MODEL); _, se = p.communicate(timeout=300)
    assert p.returncode == 0, se
    return out


def _own_rows(store):
    "Assert that every image row (and caption text row) is the encoding of that image (caption) alone."
    import open_clip, torch
    from dalr.features import load_clip, load_image
    clip, preprocess = load_clip('ViT-B-32', 'none', 'cpu')
    with torch.no_grad():
        alone = np.stack([clip.encode_image(preprocess(load_image(Path(store.meta['images_dir'])/n))[None])[0].numpy() for n in store.images])
        np.testing.assert_allclose(np.asarray(store.features), alone, atol=1e-4, rtol=0)
        if store.text_features is not None:
            tok = open_clip.get_tokenizer('ViT-B-32')
            alone = np.stack([clip.encode_text(tok([c]))[0].numpy() for c in store.captions])
            np.testing.assert_allclose(np.asarray(store.text_features), alone, atol=1e-4, rtol=0)
    assert all(c.startswith(f'A photo called {Path(store.images[k]).stem} ,') for c, k in zip(store.captions, store.caption_image))


def test_each_row_is_its_own_image(single_run):
    "Row k of the store is image k encoded alone; each caption points at the row of the image it was written for."
    _own_rows(CaptionStore.open(single_run))


def test_killed_run_resumes_to_the_same_store(photos, single_run, tmp_path):
    "SIGKILL mid-run leaves no store; rerunning resumes from the shards and gives the single run's store bit for bit."
    out, caps = tmp_path/'store', photos.parent/'captions.token.txt'
    args = [photos, out, '--captions', caps, '--format', 'flickr8k', '--batch-size', '2', *MODEL]
    p = _cli(*args)
    deadline = time.time() + 120
    while not (work_dir(out)/'shard_000002.npz').exists():
        assert p.poll() is None, p.communicate()
        assert time.time() < deadline
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL); p.wait()
    n_done = len(list(work_dir(out).glob('shard_*.npz')))
    assert 3 <= n_done < 9 and not out.exists()
    with pytest.raises(FileNotFoundError): CaptionStore.open(out)
    p = _cli(*args); so, se = p.communicate(timeout=300)
    assert p.returncode == 0, se
    store = _same_store(out, single_run)
    assert not work_dir(out).exists()
    assert store.n_images == 16 and len(store) == 32 and store.meta['n_dropped_captions'] == 2


def test_max_batches_then_resume_with_text_features(photos, tmp_path):
    "--max-batches stops with exit code 3; the rerun completes; the store equals a single run, text features included."
    caps = photos.parent/'captions.token.txt'
    args = ['--captions', caps, '--format', 'flickr8k', '--batch-size', '4', '--text-features', *MODEL]
    assert features_main([photos, tmp_path/'a', *args, '--max-batches', '2']) == 3
    assert len(list(work_dir(tmp_path/'a').glob('shard_*.npz'))) == 2 and not (tmp_path/'a').exists()
    assert features_main([photos, tmp_path/'a', *args]) == 0
    assert features_main([photos, tmp_path/'b', *args]) == 0
    a, b = _same_store(tmp_path/'a', tmp_path/'b'), CaptionStore.open(tmp_path/'b')
    assert a.text_features.shape == (32, 512)
    assert np.asarray(a.text_features).tobytes() == np.asarray(b.text_features).tobytes()
    _own_rows(a)


def test_images_only_and_skip_list(photos, tmp_path):
    "Without captions every readable image is encoded; the truncated JPEG is listed with its reason beside the store."
    assert features_main([photos, tmp_path/'s', '--batch-size', '8', *MODEL]) == 0
    s = CaptionStore.open(tmp_path/'s')
    assert (s.n_images, len(s), s.dim, s.meta['encoder'], s.meta['normalised']) == (16, 0, 512, 'ViT-B-32', False)
    rows = skip_list_path(tmp_path/'s').read_text().splitlines()
    assert rows[0] == 'image\treason' and rows[1].startswith('truncated.jpg\t') and len(rows) == 2


def test_resume_with_other_settings_is_refused(photos, tmp_path, capsys):
    out = tmp_path/'s'
    assert features_main([photos, out, '--batch-size', '4', '--max-batches', '1', *MODEL]) == 3
    assert features_main([photos, out, '--batch-size', '8', *MODEL]) == 2
    assert 'batch_size' in capsys.readouterr().err and not out.exists()


def test_captions_naming_missing_images(photos, tmp_path, capsys):
    (tmp_path/'caps.csv').write_text('image,caption\ncoffee.jpg,A cup .\nmissing.jpg,A ghost .\n')
    assert features_main([photos, tmp_path/'s', '--captions', tmp_path/'caps.csv', *MODEL]) == 2
    err = capsys.readouterr().err
    assert 'caps.csv:3' in err and 'missing.jpg' in err
    assert not (tmp_path/'s').exists() and not work_dir(tmp_path/'s').exists()


def test_folder_without_readable_images(tmp_path, capsys):
    (tmp_path/'imgs').mkdir(); (tmp_path/'imgs'/'a.jpg').write_bytes(b'\xff\xd8 not really a jpeg')
    assert features_main([tmp_path/'imgs', tmp_path/'s', *MODEL]) == 2
    assert 'could be read' in capsys.readouterr().err and not (tmp_path/'s').exists()
    assert features_main([tmp_path/'nothing', tmp_path/'s', *MODEL]) == 2


def test_malformed_caption_file(photos, tmp_path, capsys):
    (tmp_path/'bad.token.txt').write_text('coffee.jpg#0\tA cup .\ncoffee.jpg A cup without a tab\n')
    assert features_main([photos, tmp_path/'s', '--captions', tmp_path/'bad.token.txt', '--format', 'flickr8k', *MODEL]) == 2
    assert 'bad.token.txt:2' in capsys.readouterr().err


def test_store_bad_input(tmp_path):
    "Wrong dims, NaN/inf, missing images, a tampered or truncated store: clear errors, nothing half-written."
    f = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    caps, ids = ['a cat .', 'a dog .', 'a cup .'], ['c.jpg', 'd.jpg', 'u.jpg']
    f[1, 3] = np.inf
    with pytest.raises(ValueError, match=r"row 1 \(image 'd.jpg'\)"): CaptionStore.create(tmp_path/'s', caps, ids, f)
    f[1, 3] = 0
    with pytest.raises(ValueError, match='768'): CaptionStore.create(tmp_path/'s', caps, ids, f, meta=dict(dim=768))
    with pytest.raises(ValueError, match=r"\(n_images=3, dim\)"): CaptionStore.create(tmp_path/'s', caps, ids, f[:2])
    with pytest.raises(ValueError, match="caption 2 .*'x.jpg'"): CaptionStore.create(tmp_path/'s', caps, ids[:2] + ['x.jpg'], f, images=ids)
    with pytest.raises(ValueError, match='caption 1'): CaptionStore.create(tmp_path/'s', ['a', ' \n', 'b'], ids, f)
    assert list(tmp_path.iterdir()) == []
    s = CaptionStore.create(tmp_path/'s', caps, ids, f)
    raw = bytearray((tmp_path/'s'/'features.npy').read_bytes()); raw[-1] ^= 1
    (tmp_path/'s'/'features.npy').write_bytes(bytes(raw))
    with pytest.raises(ValueError, match='features.npy: checksum mismatch'): CaptionStore.open(tmp_path/'s')
    (tmp_path/'s'/'features.npy').write_bytes(bytes(raw[:-16]))
    with pytest.raises(ValueError): CaptionStore.open(tmp_path/'s', verify=False)
    (tmp_path/'s'/'meta.json').unlink()
    with pytest.raises(FileNotFoundError, match='no meta.json'): CaptionStore.open(tmp_path/'s')


def test_text_corpus_bad_input(tmp_path):
    (tmp_path/'t.txt').write_bytes(b'one sentence .\n\ntwo \xff sentences .\n')
    with pytest.raises(ValueError, match=r't.txt:3: not valid UTF-8'): TextCorpus.from_file(tmp_path/'t.txt')
    (tmp_path/'t.txt').write_text('one .\n\n\ntwo .\n')
    assert TextCorpus.from_file(tmp_path/'t.txt').n_skipped == 2
    with pytest.raises(ValueError, match=r't.txt:2: empty line'): TextCorpus.from_file(tmp_path/'t.txt', empty='error')


@pytest.fixture(scope='module')
def hf_photos(photos, tmp_path_factory):
    """The same photos and captions as a Hugging Face image dataset, saved in the hub's two formats: parquet shards
    (`data/train-0000k-of-00002.parquet`) and `save_to_disk`. Rows are shuffled and two extra rows are in the `test` split."""
    import datasets
    d = tmp_path_factory.mktemp('hf')
    os.environ['HF_DATASETS_CACHE'] = str(d/'cache')
    names = sorted(p.name for p in photos.glob('*.jpg'))
    rows = [(n, (photos/n).read_bytes(), [f'A photo called {Path(n).stem} , take {k} .' for k in range(2)], 'train') for n in names]
    rows += [(f'held_out_{k}.jpg', (photos/'coins.jpg').read_bytes(), ['A held out photo .'], 'test') for k in range(2)]
    rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    feats = datasets.Features({'image': datasets.Image(), 'caption': datasets.Sequence(datasets.Value('string')), 'split': datasets.Value('string')})
    ds = datasets.Dataset.from_dict({'image': [{'bytes': b, 'path': n} for n, b, _, _ in rows], 'caption': [c for *_, c, _ in rows],
                                     'split': [s for *_, s in rows]}, features=feats)
    ds.save_to_disk(str(d/'disk'))
    (d/'parquet'/'data').mkdir(parents=True)
    for k in range(2): ds.shard(2, k, contiguous=True).to_parquet(str(d/'parquet'/'data'/f'train-{k:05d}-of-00002.parquet'))
    return d


def test_hf_parquet_killed_run_resumes_to_the_folder_store(hf_photos, single_run, tmp_path):
    "The hub's parquet layout, split-filtered, SIGKILLed mid-run and resumed, gives the folder run's store bit for bit."
    out = tmp_path/'store'
    args = ['--hf', hf_photos/'parquet', out, '--split', 'train', '--batch-size', '2', *MODEL]
    p = _cli(*args)
    deadline = time.time() + 180
    while not (work_dir(out)/'shard_000002.npz').exists():
        assert p.poll() is None, p.communicate()
        assert time.time() < deadline
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL); p.wait()
    assert 3 <= len(list(work_dir(out).glob('shard_*.npz'))) < 9 and not out.exists()
    p = _cli(*args); _, se = p.communicate(timeout=300)
    assert p.returncode == 0, se
    store = _same_store(out, single_run)
    assert store.meta['hf_dataset'] == str(hf_photos/'parquet') and store.meta['n_dropped_captions'] == 2


def test_hf_save_to_disk_equals_the_folder_store(hf_photos, single_run, tmp_path):
    "A `save_to_disk` folder gives the same store; without the split filter the held-out rows come in too."
    p = _cli('--hf', hf_photos/'disk', tmp_path/'s', '--split', 'train', '--batch-size', '2', *MODEL); _, se = p.communicate(timeout=300)
    assert p.returncode == 0, se
    _same_store(tmp_path/'s', single_run)
    assert features_main(['--hf', hf_photos/'disk', tmp_path/'all', '--batch-size', '8', *MODEL]) == 0
    s = CaptionStore.open(tmp_path/'all')
    assert s.images[:2] == ['astronaut.jpg', 'astronaut_mirror.jpg'] and 'held_out_1.jpg' in s.images and s.n_images == 18


def test_hf_bad_input(hf_photos, tmp_path, capsys):
    "A missing column, a split value no row has, or a dataset split that does not exist: exit 2 naming it."
    assert features_main(['--hf', hf_photos/'disk', tmp_path/'s', '--caption-column', 'sentences', *MODEL]) == 2
    assert "no column 'sentences'; its columns: image, caption, split" in capsys.readouterr().err
    assert features_main(['--hf', hf_photos/'disk', tmp_path/'s', '--split', 'val', *MODEL]) == 2
    assert "no row has split == 'val'" in capsys.readouterr().err
    assert features_main(['--hf', hf_photos/'parquet', tmp_path/'s', '--hf-split', 'validation', *MODEL]) == 2
    assert "no split 'validation'; its splits: train" in capsys.readouterr().err
    assert not (tmp_path/'s').exists() and not work_dir(tmp_path/'s').exists()


def test_worker_processes_give_the_same_store(photos, single_run, tmp_path):
    "Decoding in two DataLoader worker processes changes nothing in the store, bit for bit."
    caps = photos.parent/'captions.token.txt'
    p = _cli(photos, tmp_path/'s', '--captions', caps, '--format', 'flickr8k', '--batch-size', '2', '--workers', '2', *MODEL)
    _, se = p.communicate(timeout=300)
    assert p.returncode == 0, se
    _same_store(tmp_path/'s', single_run)


def test_worker_pieces_give_the_same_store(photos, single_run, tmp_path):
    "Workers preparing one image per task (two pieces per batch, the truncated JPEG alone in one) give the same store, bit for bit."
    caps = photos.parent/'captions.token.txt'
    p = _cli(photos, tmp_path/'s', '--captions', caps, '--format', 'flickr8k', '--batch-size', '2', '--workers', '2', '--chunk', '1', *MODEL)
    _, se = p.communicate(timeout=300)
    assert p.returncode == 0, se
    _same_store(tmp_path/'s', single_run)
    assert 'truncated.jpg' in skip_list_path(tmp_path/'s').read_text()


def test_bf16_within_tolerance_of_fp32(photos, single_run, tmp_path):
    "The bf16 encoder's features point within cosine 0.999 of the fp32 reference, and each is nearest its own image's."
    assert features_main([photos, tmp_path/'s', '--batch-size', '8', '--precision', 'bf16', *MODEL]) == 0
    a, b = CaptionStore.open(tmp_path/'s'), CaptionStore.open(single_run)
    assert a.images == b.images and a.meta['precision'] == 'bf16'
    fa, fb = np.asarray(a.features), np.asarray(b.features)
    fa, fb = fa / np.linalg.norm(fa, axis=1, keepdims=True), fb / np.linalg.norm(fb, axis=1, keepdims=True)
    cos = fa @ fb.T
    assert np.diag(cos).min() > 0.999 and (cos.argmax(1) == np.arange(len(cos))).all()
    assert np.abs(np.asarray(a.features) - np.asarray(b.features)).max() > 0
