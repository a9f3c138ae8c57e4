#!/bin/sh
# Rule P2's deciding runs: the shipped int8 pair against the deepened pair's int8 graphs, side
# by side (one thread each), after each candidate's int8 export and its own gate.
set -e
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
V=trained/deep-pair/val-p2
mkdir -p $V
# The exports, run by hand: digitkit export runs/deep2-s0-last --int8 --calibration 1024
# (rule.md, P2: the last epoch of deep2-s0, taken from its checkpoint) and run_p.sh's of s1.
stream() {  # name, readers
  B="nice -n 3 .venv/bin/python benchmarks/bench_numbers.py --split val --readers auto --ctc $2"
  $B --styles joined,touching,forms --n 100 --seed 10437 --json $V/$1-mnist.json > $V/$1-mnist.txt 2>&1
  $B --styles joined,touching,forms --n 100 --seed 10438 --digits pen --json $V/$1-pen.json > $V/$1-pen.txt 2>&1
  $B --styles touching,forms --contexts photo,photo-box --n 40 --empty 1000 --seed 10439 --json $V/$1-photo.json > $V/$1-photo.txt 2>&1
}
stream shipped src/digitkit/weights/number-ctc,src/digitkit/weights/number-ctc-s1 &
stream p2 runs/deep2-s0-last,runs/deep2-s1 &
wait
python3 trained/deep-reader/compare.py shipped p2 P $V | tee $V/compare.txt
echo done > $V/p2.done
