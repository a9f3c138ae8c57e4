# Rule G passed: the test parts read once, the shipped tree (/tmp/base) and G (/tmp/g) side by side.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
T=trained/wall-stub/test
for t in base g; do
  PYTHONPATH=/tmp/$t/src nice -n 5 .venv/bin/python benchmarks/bench_realworld.py default --split test --seed 0 --n 2000 --lines 0 --photo-side 160 --json $T/realworld-test-$t.json > $T/realworld-test-$t.txt 2>&1 &
done
wait
echo done > $T/done
