#!/bin/sh
# Rule LB's deciding runs (rule-lb.md): the shipped src and LB's, side by side, one thread each.
# Usage: trained/line-box/run_lb.sh  (needs /tmp/base/src = HEAD~1's, /tmp/cand/src = HEAD's)
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
V=trained/line-box/val
side() {  # name, src
  P="env PYTHONPATH=$2 nice -n 3 .venv/bin/python"
  $P benchmarks/bench_numbers.py --split val --readers auto --styles touching,forms --contexts rule,boxed,cell,photo,photo-box --n 40 --empty 500 --seed 10537 --json $V/numbers-10537-$1.json > $V/numbers-10537-$1.txt 2>&1
  $P trained/line-box/effects.py 10539 100 /tmp/lb-val-$1 > $V/effects-10539-$1.txt 2>&1
  $P benchmarks/bench_realworld.py default --split val --seed 10538 --n 1000 --lines 0 --photo-side 160 --json $V/realworld-10538-$1.json > $V/realworld-10538-$1.txt 2>&1
}
side shipped /tmp/base/src &
side lb /tmp/cand/src &
wait
echo done > $V/done
