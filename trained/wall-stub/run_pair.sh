# The deciding runs both rules share: bench_realworld.py and bench_numbers.py on validation,
# the trees /tmp/A and /tmp/B side by side, one thread each. Usage (from /work/main):
#   bash trained/wall-stub/run_pair.sh A B OUTDIR REALWORLD_SEED NUMBERS_SEED
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
A=$1 B=$2 V=$3 RS=$4 NS=$5 NICE=${NICE:-8}
for t in $A $B; do
  PYTHONPATH=/tmp/$t/src nice -n $NICE .venv/bin/python benchmarks/bench_realworld.py default --split val --seed $RS --n 1000 --lines 0 --photo-side 160 --json $V/realworld-$RS-$t.json > $V/realworld-$RS-$t.txt 2>&1 &
done
wait
for t in $A $B; do
  PYTHONPATH=/tmp/$t/src nice -n $NICE .venv/bin/python benchmarks/bench_numbers.py --split val --readers auto --styles touching,forms --contexts photo,photo-box --n 40 --empty 500 --seed $NS --json $V/numbers-$NS-$t.json > $V/numbers-$NS-$t.txt 2>&1 &
done
wait
