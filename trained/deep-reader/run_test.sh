#!/bin/sh
# The test parts, read once after the session's choices: the session's start (a worktree at
# /tmp/base-wt) and now, side by side (one thread each).
#   trained/deep-reader/run_test.sh [START_COMMIT [OUTPUT_FOLDER]]
# (defaults: 2ad67ab and trained/deep-reader/test, the session of rules D and Q; rule P's
# session: 0181f85 trained/deep-pair/test)
set -e
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
START=${1:-2ad67ab}
V=${2:-trained/deep-reader/test}
mkdir -p $V
[ -d /tmp/base-wt ] || git worktree add -f /tmp/base-wt $START > /dev/null
read_all() {  # name, PYTHONPATH, benchmarks folder
  P="env PYTHONPATH=$2 nice -n 3 .venv/bin/python"
  $P $3/bench_realworld.py default --split test --seed 0 --n 10 --lines 40 --json $V/$1-realworld.json > $V/$1-realworld.txt 2>&1
  for digits in mnist pen; do
    $P $3/bench_numbers.py --split test --seed 7 --readers auto --styles joined,touching,forms,amounts --n 20 --digits $digits --json $V/$1-$digits.json > $V/$1-$digits.txt 2>&1
  done
  $P $3/bench_numbers.py --split test --seed 7 --readers auto --styles touching,forms --contexts photo,photo-box --n 20 --empty 1000 --json $V/$1-photo.json > $V/$1-photo.txt 2>&1
}
read_all before /tmp/base-wt/src /tmp/base-wt/benchmarks &
read_all now src benchmarks &
wait
echo done > $V/test.done
