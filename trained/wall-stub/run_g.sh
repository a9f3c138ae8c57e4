# Rule G's deciding runs (rule-g.md): the shipped tree (/tmp/base, HEAD~1's src) and G
# (/tmp/g, the rule's commit), one thread each, side by side.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
V=trained/wall-stub/val
for t in base g; do
  PYTHONPATH=/tmp/$t/src nice -n 5 .venv/bin/python benchmarks/bench_realworld.py default --split val --seed 10551 --n 1000 --lines 0 --photo-side 160 --json $V/realworld-10551-$t.json > $V/realworld-10551-$t.txt 2>&1 &
done
wait
for t in base g; do
  PYTHONPATH=/tmp/$t/src nice -n 5 .venv/bin/python benchmarks/bench_numbers.py --split val --readers auto --styles touching,forms --contexts photo,photo-box --n 40 --empty 500 --seed 10552 --json $V/numbers-10552-$t.json > $V/numbers-10552-$t.txt 2>&1 &
done
wait
for t in base g; do
  PYTHONPATH=/tmp/$t/src nice -n 5 .venv/bin/python trained/wall-stub/offside.py 10553 2000 > $V/offside-10553-$t.txt 2>&1 &
done
wait
echo done > $V/done
