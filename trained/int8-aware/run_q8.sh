#!/bin/sh
# Rule Q8's deciding runs (trained/int8-aware/rule.md): trained/italic/run_itl.sh's streams
# (rule P's MNIST, pen and photographed lines; the leaning columns), the shipped int8 pair
# and the candidate's side by side (one thread each), judged by compare.py's rule Q8 and
# lean.py's bar -0.5. Usage: trained/int8-aware/run_q8.sh READERS FIRST_SEED FOLDER
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
lean q8 $CAND &
wait
sh trained/deep-pair/run_p.sh q8 $CAND $SEED $V 80 Q8
python3 trained/italic/lean.py $V -0.5 q8 | tee $V/lean-compare.txt
