# The benchmark's new sets (digits near a side or at a corner, no print) on the test parts,
# the session's starting tree (/tmp/base) and G2 (/tmp/g2) side by side, one thread each.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
T=trained/wall-stub/test-bench
for t in base g2; do
  PYTHONPATH=/tmp/$t/src nice -n 5 .venv/bin/python benchmarks/bench_realworld.py default --split test --seed 0 --n 2000 --lines 0 --photo-side 160 --only "no print" --json $T/realworld-test-$t.json > $T/realworld-test-$t.txt 2>&1 &
done
wait
echo done > $T/done
