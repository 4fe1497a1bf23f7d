"""The paper's ablation rows on the tiny preset: SimCSE, the MCSE baseline, +CML, +IML and DALR, 3 seeds each.

    python bench/ablation_tiny.py [--seeds 1 2 3] [--rows simcse mcse cml iml dalr] [--jobs 2] [--out bench/out/ablation_tiny] [key=value ...]

Kept for old links: it is `dalr reproduce --family tiny` (see `dalr.reproduce`) with two parallel jobs and its output
under bench/out/ablation_tiny. Each row trains the tiny preset (synthetic world, tiny BERT, CPU) with
`variant=<row> seed=<s>` and scores the best dev checkpoint on the world's STS test split (Spearman ×100); the tables
give mean ± std over seeds, each seed's score, the untrained encoder's score, and each row's gain over SimCSE.
Finished runs are not retrained.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

def main(argv=None):
    from dalr.reproduce import reproduce_main
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--jobs' not in argv: argv += ['--jobs', '2']
    if '--out' not in argv: argv += ['--out', 'bench/out/ablation_tiny']
    return reproduce_main(['--family', 'tiny', *argv])

if __name__ == '__main__': sys.exit(main())
