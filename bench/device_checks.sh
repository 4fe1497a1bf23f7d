#!/usr/bin/env bash
# Every GPU figure the open issues ask for, in calls of the device tool: stages are cut at their limits, so name them
# with STAGES. "cuda_tests throughput" (~480 s) checks and times the CUDA-graphed step (issue 12, session 8) and the
# objective replayed as graphs too (graph_objective, session 10: never run on a GPU yet);
# "compile_objective" and "compile" stalled in inductor's compilation on an H200 (sessions 7-8: no first step within
# 190 s); "features transfer classifier" (220 s) were measured in session 7.
#
# On the CPU machine, once:  python3 bench/device_prep.py     (fills .devdata: wheels, tokenizer, MiniLM fp16, SentEval)
# Then the device calls:      command 'STAGES="..." bash bench/device_checks.sh', carry [".devdata/wheels", ".devdata/tok",
#                             ".devdata/data"] (".devdata/minilm" too for cuda_tests, transfer and classifier), timeout_s 600
#
# Stages, most wanted first; each has its own time limit, writes its full output to $OUT/<stage>.txt and prints the
# last lines here, so a stage that overruns costs only its own figures (and prints the Python stack it was stuck in):
#   cuda_tests  the tests and notebook lessons that need a GPU: tests/test_fast_path.py -m cuda (the graphed step against
#               the eager one, with and without graph_objective; graphed online teachers) and the `#| cuda` cells of
#               nbs/10_model.ipynb, nbs/15_teachers.ipynb and nbs/16_objective.ipynb (bench/cuda_cells.py; carry .devdata/minilm)
#   throughput  bench/train_throughput.py, eager, new, graphs and graphs_obj paths (old too with COMPARE=1): loop vs step, DALR vs SimCSE, online teachers,
#               teacher cache (first build, built again warm, tokenisation and forwards apart, each teacher tokenising, forwards of 256), the plain step eager and as
#               one CUDA graph, dev evaluation, host syncs, loop host time, extrapolated paper runs (JSON in $OUT/tt.json;
#               PROFILE=1 adds profiler tables of each step kind in $OUT/profile.txt). Each figure is printed as measured.
#   compile_objective  the same with compile_objective=True on both paths (the objective alone compiled; JSON in $OUT/tto.json)
#   compile     the same, compile=True (torch.compile of backbone and objective; JSON in $OUT/ttc.json); both compile
#               stages log recompilations (TORCH_LOGS=recompiles) and compile in the process itself
#               (TORCHINDUCTOR_COMPILE_THREADS=1: on the H200 both stalled waiting on inductor's compile workers;
#               COMPILE_THREADS=N gives the workers back)
#   features    bench/features_speed.py: ViT-L-14 (random weights) on 3,000 JPEGs: decoding alone in the workers and the
#               model alone (bf16, fp32), then the command with workers in fp32 (the reference), with whole batches of
#               256 as worker tasks, and with the defaults (pieces of 32, bf16)
#   transfer    dalr eval MiniLM --tasks transfer on the GPU (wall time, accuracies; JSON in $OUT/transfer.json)
#   classifier  bench/transfer_speed.py on TREC, MRPC and CR: the batched classifier against the reference, same embeddings
# STAGES="transfer classifier" bash bench/device_checks.sh runs only the stages named (default: all of them).
# A smoke run of the script itself on a CPU machine: DEV=cpu QUICK=1 bash bench/device_checks.sh (tiny sizes, minutes).
set -u
OUT=${OUT:-/tmp/device-checks}; mkdir -p "$OUT"
DEV=${DEV:-cuda}
if [ -n "${QUICK:-}" ]; then N=24 VIT=ViT-B-32 LIMIT="--limit 300" TT="--steps 6 --repeats 2"; else N=3000 VIT=ViT-L-14 LIMIT= TT=; fi
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --target /tmp/site .devdata/wheels/*.whl
export PYTHONPATH=/tmp/site:$PWD DALR_DATA=$PWD/.devdata/data HF_HUB_OFFLINE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1
[ "$DEV" = cuda ] && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"

STAGES=" ${STAGES:-cuda_tests throughput compile_objective features compile transfer classifier} "
stage() {  # stage NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  [[ "$STAGES" == *" $name "* ]] || return 0
  local t0=$(date +%s)
  timeout -s ABRT -k 15 "$limit" "$@" > "$OUT/$name.txt" 2>&1  # SIGABRT: Python's fault handler prints where every thread was
  local rc=$?
  echo "== $name: exit $rc after $(( $(date +%s) - t0 )) s (limit $limit s)"
  grep -v -e 'it/s]' -e 'Loading weights' -e '^Extension modules' "$OUT/$name.txt" | tail -n "${TAIL:-30}"
  if [ $rc -ge 124 ]; then echo "-- where it was stuck (innermost frames first; the whole dump is in $name.txt):"; grep -A 25 -m 1 '^Current thread' "$OUT/$name.txt"; fi
}
dalr() { python3 -c 'import sys; from dalr.cli import main; sys.exit(main())' "$@"; }

TTS="--device $DEV --tokenizer .devdata/tok --steps 160 --repeats 20 --cache-sentences 8000 $TT"
[ "$DEV" = cuda ] && stage cuda_tests 120 bash -c "rc=0; python3 -m pytest -q -p no:cacheprovider -m cuda tests/test_fast_path.py || rc=1; for nb in nbs/10_model.ipynb nbs/16_objective.ipynb; do python3 bench/cuda_cells.py \$nb || rc=1; done; python3 bench/cuda_cells.py nbs/15_teachers.ipynb --set mini=.devdata/minilm || rc=1; exit \$rc"
stage throughput 420 python3 bench/train_throughput.py $TTS $([ -n "${COMPARE:-}" ] || echo --no-compare) $([ -n "${PROFILE:-}" ] && echo --profile "$OUT/profile.txt") --json "$OUT/tt.json"
stage compile_objective 190 env TORCH_LOGS=recompiles TORCHINDUCTOR_COMPILE_THREADS=${COMPILE_THREADS:-1} python3 bench/train_throughput.py $TTS --no-compare --no-graph-objective --compile objective --json "$OUT/tto.json"
export TOKENIZERS_PARALLELISM=false  # the stages below fork workers
W=$(( $(nproc) - 1 ))
stage features 110 python3 bench/features_speed.py --n $N --model $VIT --device "$DEV" --batch-size 256 --parts $W \
  --runs "--workers $W --precision fp32" "--workers $W --chunk 256" "--workers $W"
stage compile 180 env TORCH_LOGS=recompiles TORCHINDUCTOR_COMPILE_THREADS=${COMPILE_THREADS:-1} python3 bench/train_throughput.py $TTS --no-compare --no-graph-objective --compile all --json "$OUT/ttc.json"
stage transfer 70 /usr/bin/time -f '%e s wall' bash -c "$(declare -f dalr); dalr eval .devdata/minilm --pooler avg --tasks transfer --device $DEV --batch-size 512 --data .devdata/data/senteval $LIMIT --out $OUT/transfer.json"
stage classifier 40 python3 bench/transfer_speed.py --model .devdata/minilm --tasks TREC,MRPC,CR --device "$DEV" --data .devdata/data/senteval $LIMIT
