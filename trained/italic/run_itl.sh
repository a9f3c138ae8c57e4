#!/bin/sh
# Rule ITL's deciding runs: rule P's streams (trained/deep-pair/run_p.sh: MNIST, pen,
# photographed lines) and the leaning columns, the shipped int8 pair and the candidate side
# by side (one thread each).
# Usage: trained/italic/run_itl.sh READERS FIRST_SEED FOLDER [NAME RULE LEAN_BAR]
#   (NAME itl, compare.py's RULE ITL and lean.py's bar 2.0 unless given; rule Q8's:
#   trained/italic/run_itl.sh runs/q8-s0-last,runs/q8-s1-last 10492 trained/int8-aware/val q8 Q8 -0.5)
set -e
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
CAND=$1
SEED=$2
V=$3
NAME=${4:-itl}
RULE=${5:-ITL}
LEAN_BAR=${6:-2.0}
mkdir -p $V
lean() {  # name, readers
  B="nice -n 3 .venv/bin/python benchmarks/bench_numbers.py --split val --readers auto --ctc $2 --lean 0.35"
  $B --styles joined,touching,forms --n 100 --seed $((SEED + 3)) --json $V/$1-lean-mnist.json > $V/$1-lean-mnist.txt 2>&1
  $B --styles joined,touching,forms --n 100 --seed $((SEED + 4)) --digits pen --json $V/$1-lean-pen.json > $V/$1-lean-pen.txt 2>&1
}
lean shipped src/digitkit/weights/number-ctc,src/digitkit/weights/number-ctc-s1 &
lean $NAME $CAND &
wait
sh trained/deep-pair/run_p.sh $NAME $CAND $SEED $V 80 $RULE
python3 trained/italic/lean.py $V $LEAN_BAR $NAME | tee $V/lean-compare.txt
