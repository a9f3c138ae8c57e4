#!/bin/sh
# Rules P, P2, P4 and P5's deciding runs: the shipped int8 pair against a deeper pair, side by side
# (one thread each), on three validation seeds from FIRST_SEED (MNIST, pen, photographed),
# PHOTO_N photographed lines a length (40 unless given), judged by compare.py's RULE (P).
#   trained/deep-pair/run_p.sh                                     # rule P
#   trained/deep-pair/run_p.sh p2 runs/deep2-s0-last,runs/deep2-s1 10437 trained/deep-pair/val-p2
#   trained/deep-pair/run_p.sh p4 runs/deep2-styled-s0,runs/deep2-styled-s1 10440 trained/deep-pair/val-p4 80
#   trained/deep-pair/run_p.sh p5 runs/deep2-long-s0,runs/deep2-long-s1 10443 trained/deep-pair/val-p5 80 P5
# The exports, run by hand before (rule.md): deep2-s1 and deep2-s0-last passed their gates
# (`digitkit export RUN --int8 --calibration 1024`); deep2-s0's graph did not (at 1,024 and
# 2,048 calibration lines), so rule P read s0 by its float graph.
set -e
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
NAME=${1:-deep2}
CAND=${2:-runs/deep2-s0,runs/deep2-s1}
SEED=${3:-10434}
V=${4:-trained/deep-pair/val}
PHOTO_N=${5:-40}
RULE=${6:-P}
mkdir -p $V
stream() {  # name, readers
  B="nice -n 3 .venv/bin/python benchmarks/bench_numbers.py --split val --readers auto --ctc $2"
  $B --styles joined,touching,forms --n 100 --seed $SEED --json $V/$1-mnist.json > $V/$1-mnist.txt 2>&1
  $B --styles joined,touching,forms --n 100 --seed $((SEED + 1)) --digits pen --json $V/$1-pen.json > $V/$1-pen.txt 2>&1
  $B --styles touching,forms --contexts photo,photo-box --n $PHOTO_N --empty 1000 --seed $((SEED + 2)) --json $V/$1-photo.json > $V/$1-photo.txt 2>&1
}
stream shipped src/digitkit/weights/number-ctc,src/digitkit/weights/number-ctc-s1 &
stream $NAME $CAND &
wait
python3 trained/deep-reader/compare.py shipped $NAME $RULE $V | tee $V/compare.txt
echo done > $V/$NAME.done
