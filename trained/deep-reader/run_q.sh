#!/bin/sh
# Rule Q's deciding runs (and rule D's for the shipped pair): float pair vs int8 pair.
set -e
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
B="nice -n 3 .venv/bin/python benchmarks/bench_numbers.py --split val --readers auto"
V=trained/deep-reader/val
for set in pair:src/digitkit/weights/number-ctc,src/digitkit/weights/number-ctc-s1 pair8:runs/q/number-ctc,runs/q/number-ctc-s1; do
  name=${set%%:*}; ctc=${set#*:}
  $B --ctc $ctc --styles joined,touching,forms --n 100 --seed 10430 --json $V/$name-mnist.json > $V/$name-mnist.txt 2>&1
  $B --ctc $ctc --styles joined,touching,forms --n 100 --seed 10431 --digits pen --json $V/$name-pen.json > $V/$name-pen.txt 2>&1
  $B --ctc $ctc --styles touching,forms --contexts photo,photo-box --n 40 --empty 1000 --seed 10432 --json $V/$name-photo.json > $V/$name-photo.txt 2>&1
done
echo done > $V/q.done
