# Rule G2's deciding runs (rule-g2.md): G (/tmp/g, the rule-G commit's src) and G2 (/tmp/g2,
# the rule-G2 commit's), one thread each, side by side.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
V=trained/wall-stub/val-g2
for t in g g2; do
  PYTHONPATH=/tmp/$t/src nice -n 8 .venv/bin/python benchmarks/bench_realworld.py default --split val --seed 10557 --n 1000 --lines 0 --photo-side 160 --json $V/realworld-10557-$t.json > $V/realworld-10557-$t.txt 2>&1 &
done
wait
for t in g g2; do
  PYTHONPATH=/tmp/$t/src nice -n 8 .venv/bin/python benchmarks/bench_numbers.py --split val --readers auto --styles touching,forms --contexts photo,photo-box --n 40 --empty 500 --seed 10558 --json $V/numbers-10558-$t.json > $V/numbers-10558-$t.txt 2>&1 &
done
wait
cd trained/wall-stub
for t in g g2; do
  (PYTHONPATH=/tmp/$t/src nice -n 8 ../../.venv/bin/python corner.py 10559 2000 > val-g2/corner-10559-$t.txt 2>&1
   PYTHONPATH=/tmp/$t/src nice -n 8 ../../.venv/bin/python offside.py 10560 2000 > val-g2/offside-10560-$t.txt 2>&1) &
done
wait
echo done > val-g2/done
