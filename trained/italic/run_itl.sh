#!/bin/sh
# Rule ITL's deciding runs: rule P's streams (trained/deep-pair/run_p.sh: MNIST, pen,
# photographed lines) and the leaning columns, the shipped int8 pair and the candidate side
# by side (one thread each). Usage: trained/italic/run_itl.sh READERS FIRST_SEED FOLDER
set -e
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
CAND=$1
SEED=$2
V=$3
mkdir -p $V
lean() {  # name, readers
  B="nice -n 3 .venv/bin/python benchmarks/bench_numbers.py --split val --readers auto --ctc $2 --lean 0.35"
  $B --styles joined,touching,forms --n 100 --seed $((SEED + 3)) --json $V/$1-lean-mnist.json > $V/$1-lean-mnist.txt 2>&1
  $B --styles joined,touching,forms --n 100 --seed $((SEED + 4)) --digits pen --json $V/$1-lean-pen.json > $V/$1-lean-pen.txt 2>&1
}
lean shipped src/digitkit/weights/number-ctc,src/digitkit/weights/number-ctc-s1 &
lean itl $CAND &
wait
sh trained/deep-pair/run_p.sh itl $CAND $SEED $V 80 ITL
python3 trained/italic/lean.py $V | tee $V/lean-compare.txt
