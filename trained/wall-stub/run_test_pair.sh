# The test read after a choice: bench_realworld.py on the test parts, the trees /tmp/A and
# /tmp/B side by side, one thread each. Usage (from /work/main; extra arguments go to the
# benchmark, e.g. --only "no print"):
#   bash trained/wall-stub/run_test_pair.sh A B OUTDIR [BENCH_ARGS...]
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
A=$1 B=$2 T=$3
shift 3
for t in $A $B; do
  PYTHONPATH=/tmp/$t/src nice -n 5 .venv/bin/python benchmarks/bench_realworld.py default --split test --seed 0 --n 2000 --lines 0 --photo-side 160 "$@" --json $T/realworld-test-$t.json > $T/realworld-test-$t.txt 2>&1 &
done
wait
