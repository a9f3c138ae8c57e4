#!/bin/sh
# Rules F and SP's deciding runs (rule-sp.md): the shipped src, F's and SP's, side by side,
# one thread each. Needs /tmp/base/src (HEAD~1's), /tmp/F/src, /tmp/SPF/src (HEAD's, F with
# SMALL_SIDE 64).
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
V=trained/small-path/val
side() {  # name, src
  P="env PYTHONPATH=$2 nice -n 3 .venv/bin/python"
  $P benchmarks/bench_realworld.py default --split val --seed 10545 --n 1000 --lines 0 --photo-side 160 --json $V/realworld-10545-$1.json > $V/realworld-10545-$1.txt 2>&1
  $P benchmarks/bench_numbers.py --split val --readers auto --styles touching,forms --contexts photo,photo-box --n 40 --empty 500 --seed 10546 --json $V/numbers-10546-$1.json > $V/numbers-10546-$1.txt 2>&1
}
side shipped /tmp/base/src &
side f /tmp/F/src &
side sp /tmp/SPF/src &
wait
echo done > $V/done
