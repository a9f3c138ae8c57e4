#!/bin/bash
# One device lease (benchmarks/GPU.md): train the zoo within BUDGET seconds (default 520),
# then pack what the device tool brings back (at most 8 files of 16 MiB, 64 MiB together)
# into $OUT. Usage: [GRAPHS=check] [SEEDS="0 1"] OUT=dir bash benchmarks/gpu_lease.sh [BUDGET]
# [gpu_zoo.py options]. GRAPHS: off (default), check, or on.
BUDGET=${1:-520}
case "$BUDGET" in
  '' | *[!0-9]*) echo "gpu_lease.sh: BUDGET must be whole seconds, not '$BUDGET'" >&2; exit 2 ;;
esac
[ -n "$OUT" ] || { echo "gpu_lease.sh: set OUT to the folder to pack the results into" >&2; exit 2; }
END=$((SECONDS + BUDGET))  # the whole script's training time, counted from its start
PY=${PY:-python3}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
export DIGITKIT_DATA=${DIGITKIT_DATA:-$PWD/.gpudata/mnist}  # the MNIST files travel in .gpudata
export MPLBACKEND=Agg
WORK=${WORK:-/tmp/gz}  # the runs themselves; only what fits the tool goes to $OUT
mkdir -p "$OUT" "$WORK"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  $PY -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
  nproc; date -u; } > "$OUT/log.txt" 2>&1
# GRAPHS=check: CUDA graphs (gpu_zoo.py --graphs on) only once a short run in a process of its
# own has trained with them to a sane accuracy; a failed capture then costs that process only.
# First two models in threads (each capturing its own step); failing that, one model alone,
# and then the small models train one after another.
GRAPH_FLAG=(--graphs off)
graph_check() {  # graph_check NAME [gpu_zoo.py options]: 0 when every run used graphs, > 90%
  local dir=$WORK-graph-check-$1
  timeout 120 $PY benchmarks/gpu_zoo.py --graphs on --budget 40 --n-train 12000 --n-val 1000 \
    --n-test 1000 --out "$dir" "${@:2}" >> "$OUT/log.txt" 2>&1
  $PY - "$dir/summary.json" "$1" >> "$OUT/log.txt" 2>&1 <<'PYCHECK'
import json, sys
summary = json.load(open(sys.argv[1]))
runs = summary["runs"]
ok = bool(runs) and all(
    (r.get("pipeline") or {}).get("graphs") and (r.get("val_acc") or 0) > 0.9 for r in runs
)
ok &= sys.argv[2] != "together" or summary["concurrent"]  # and trained in threads
print(f"graph check ({sys.argv[2]}):", "passed" if ok else "failed", summary["concurrent"],
      [(r["model"], r.get("val_acc"), (r.get("pipeline") or {}).get("graphs")) for r in runs])
sys.exit(0 if ok else 1)
PYCHECK
}
if [ "${GRAPHS:-off}" = check ]; then
  if graph_check together --models simplecnn-m5,simplecnn-m7 --concurrent on; then
    GRAPH_FLAG=(--graphs on)
  elif graph_check alone --models simplecnn-m5; then
    GRAPH_FLAG=(--graphs on --concurrent off)
  fi
elif [ "${GRAPHS:-off}" = on ]; then GRAPH_FLAG=(--graphs on)  # checked by an earlier call
fi
# SEEDS="0 1": one gpu_zoo.py per seed, each with the time the earlier ones left; seed 0's
# runs and summary in $WORK, the others' in $WORK/s<seed>.
first=1
for seed in ${SEEDS:-0}; do
  left=$((END - SECONDS))
  if [ -z "$first" ] && [ "$left" -lt 30 ]; then
    echo "seed $seed: ${left}s left, not started" | tee -a "$OUT/log.txt"; break
  fi
  first=
  dir=$WORK; [ "$seed" = 0 ] || dir=$WORK/s$seed
  timeout $((left + 40)) $PY benchmarks/gpu_zoo.py --budget "$left" --out "$dir" --seed "$seed" \
    "${GRAPH_FLAG[@]}" "${@:2}" 2>&1 | tee -a "$OUT/log.txt"
  echo "gpu_zoo seed $seed exit ${PIPESTATUS[0]}" | tee -a "$OUT/log.txt"
done
cd "$WORK" || exit 1
# Everything small: summaries, cards, histories, curves, cached probabilities.
tar czf "$OUT/meta.tar.gz" $(find . -name summary.json -printf '%P\n') \
  $(find . -path '*runs/*' -type f \( -name '*.json' -o -name '*.csv' -o -name '*.png' -o -name '*.npy' \) -printf '%P\n') 2>>"$OUT/log.txt"
# Weights that fit one returned file, seed 0's runs first, at most 6 files and 58 MiB together.
total=$(stat -c %s "$OUT/meta.tar.gz"); n=0
for f in $(find . -path '*runs/*' -name model.safetensors -size -15M -printf '%s %p\n' | sort -k2 | cut -d' ' -f2); do
  s=$(stat -c %s "$f"); run=$(basename "$(dirname "$f")")
  if [ $n -lt 6 ] && [ $((total + s)) -lt $((58 * 1024 * 1024)) ]; then
    cp "$f" "$OUT/w-$run.safetensors"; total=$((total + s)); n=$((n + 1))
  else echo "left behind: $f ($s bytes)" >> "$OUT/log.txt"; fi
done
ls -la "$OUT" | tee -a "$OUT/log.txt"
