#!/bin/bash
# One device lease (benchmarks/GPU.md): train the zoo within BUDGET seconds (default 520),
# then pack what the device tool brings back (at most 8 files of 16 MiB, 64 MiB together)
# into $OUT. Usage: OUT=dir bash benchmarks/gpu_lease.sh [BUDGET] [gpu_zoo.py options]
BUDGET=${1:-520}
case "$BUDGET" in
  '' | *[!0-9]*) echo "gpu_lease.sh: BUDGET must be whole seconds, not '$BUDGET'" >&2; exit 2 ;;
esac
[ -n "$OUT" ] || { echo "gpu_lease.sh: set OUT to the folder to pack the results into" >&2; exit 2; }
PY=${PY:-python3}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
export DIGITKIT_DATA=${DIGITKIT_DATA:-$PWD/.gpudata/mnist}  # the MNIST files travel in .gpudata
export MPLBACKEND=Agg
WORK=${WORK:-/tmp/gz}  # the runs themselves; only what fits the tool goes to $OUT
mkdir -p "$OUT" "$WORK"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  $PY -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
  nproc; date -u; } > "$OUT/log.txt" 2>&1
timeout $((BUDGET + 40)) $PY benchmarks/gpu_zoo.py --budget "$BUDGET" --out "$WORK" "${@:2}" 2>&1 | tee -a "$OUT/log.txt"
echo "gpu_zoo exit ${PIPESTATUS[0]}" | tee -a "$OUT/log.txt"
cd "$WORK" || exit 1
# Everything small: summary, cards, histories, curves, cached probabilities.
tar czf "$OUT/meta.tar.gz" summary.json $(find runs -type f \( -name '*.json' -o -name '*.csv' -o -name '*.png' -o -name '*.npy' \)) 2>>"$OUT/log.txt"
# Weights that fit one returned file, smallest first, at most 6 files and 58 MiB together.
total=$(stat -c %s "$OUT/meta.tar.gz"); n=0
for f in $(find runs -name model.safetensors -size -15M -printf '%s %p\n' | sort -n | cut -d' ' -f2); do
  s=$(stat -c %s "$f"); run=$(basename "$(dirname "$f")")
  if [ $n -lt 6 ] && [ $((total + s)) -lt $((58 * 1024 * 1024)) ]; then
    cp "$f" "$OUT/w-$run.safetensors"; total=$((total + s)); n=$((n + 1))
  else echo "left behind: $f ($s bytes)" >> "$OUT/log.txt"; fi
done
ls -la "$OUT" | tee -a "$OUT/log.txt"
