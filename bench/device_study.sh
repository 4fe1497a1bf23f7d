#!/usr/bin/env bash
# MiniLM taught by MPNet at the study's full training length on a GPU: 300 steps at batch 64 on 10,000 Flickr8k
# captions, seeds 0-2, the reference rows and the grid's fixes, STS 7 and the held-out diagnostic (about 4 minutes on an
# H100). The teacher travels as its cache (MPNet itself is too large to carry), so the teacher row is not scored.
#
# Prepare here:  python3 bench/device_prep.py --study     (study_data/ and mm_cache/ in .devdata)
# Device call, right after bench/device_checks.sh on the same warm machine (minilm/ stays there from that call):
#   command "bash bench/device_study.sh", carry [".devdata/wheels", ".devdata/mm_cache", ".devdata/study_data"]
# On a fresh machine carry ".devdata/minilm" too and drop captions to 5000 (CAPTIONS=5000), to stay under 64 MiB.
# Smoke run on a CPU: DEV=cpu STEPS=2 SEEDS=0 ROWS="untrained listmle" TASKS=STSBenchmark bash bench/device_study.sh
set -u
OUT=${OUT:-/tmp/device-study}; mkdir -p "$OUT"
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --target /tmp/site .devdata/wheels/fastcore-*.whl
export PYTHONPATH=/tmp/site:$PWD DALR_DATA=$PWD/.devdata/study_data HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
t0=$(date +%s)
timeout ${LIMIT:-420} python3 -c 'import sys; from dalr.cli import main; sys.exit(main())' reproduce --family minilm-mpnet \
  --rows ${ROWS:-untrained simcse listmle listmle_mean ima ima_kltau10 iml iml_mean_kltau10} --seeds ${SEEDS:-0 1 2} --out "$OUT/study" \
  captions=${CAPTIONS:-10000} steps=${STEPS:-300} batch_size=64 tasks=${TASKS:-sts} teacher= cache=$PWD/.devdata/mm_cache \
  student=$PWD/.devdata/minilm device=${DEV:-cuda} 2>&1 | grep -v -e 'it/s]' -e 'Loading weights'
echo "exit ${PIPESTATUS[0]} after $(( $(date +%s) - t0 )) s"
