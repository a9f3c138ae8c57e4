#!/bin/sh
# The test parts, read once after the session's choices: the session's start (a worktree at
# /tmp/base-wt) and now, side by side (one thread each).
#   trained/deep-reader/run_test.sh [START_COMMIT [OUTPUT_FOLDER [PARTS]]]
# PARTS: targets (the default: the targets and the number columns of the rules) or
# readme (the README's other number rows: CTC reader alone, pen lines as written and in
# European styles, lines in a box / on a rule / in a cut cell, leaning lines, lines on a
# printed security pattern).
# (defaults: 2ad67ab and trained/deep-reader/test, the session of rules D and Q; rule P's
# session: 0181f85 trained/deep-pair/test)
set -e
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
START=${1:-2ad67ab}
V=${2:-trained/deep-reader/test}
PARTS=${3:-targets}
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
read_readme() {  # name, PYTHONPATH, benchmarks folder
  B="env PYTHONPATH=$2 nice -n 3 .venv/bin/python $3/bench_numbers.py --split test --seed 7"
  $B --n 100 --readers ctc --styles touching,forms --json $V/$1-ctc.json > $V/$1-ctc.txt 2>&1
  for digits in pen pen-styled; do
    $B --n 30 --readers ctc --styles touching,forms --digits $digits --json $V/$1-$digits-ctc.json > $V/$1-$digits-ctc.txt 2>&1
  done
  $B --n 20 --readers auto --styles touching,forms --contexts boxed,rule,cell --json $V/$1-contexts.json > $V/$1-contexts.txt 2>&1
  for digits in mnist pen; do
    $B --n 20 --readers auto --styles touching,forms,joined --lean 0.35 --digits $digits --json $V/$1-lean-$digits.json > $V/$1-lean-$digits.txt 2>&1
  done
  $B --n 20 --readers auto --styles touching,forms --contexts photo-print --empty 1000 --json $V/$1-print.json > $V/$1-print.txt 2>&1
}
[ "$PARTS" = readme ] && READ=read_readme || READ=read_all
$READ before /tmp/base-wt/src /tmp/base-wt/benchmarks &
$READ now src benchmarks &
wait
echo done > $V/$PARTS.done
