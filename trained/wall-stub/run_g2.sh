# Rule G2's deciding runs (rule-g2.md): G (/tmp/g, the rule-G commit's src) and G2 (/tmp/g2,
# the rule-G2 commit's), one thread each, side by side.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
bash trained/wall-stub/run_pair.sh g g2 trained/wall-stub/val-g2 10557 10558
cd trained/wall-stub
for t in g g2; do
  (PYTHONPATH=/tmp/$t/src nice -n 8 ../../.venv/bin/python corner.py 10559 2000 > val-g2/corner-10559-$t.txt 2>&1
   PYTHONPATH=/tmp/$t/src nice -n 8 ../../.venv/bin/python offside.py 10560 2000 > val-g2/offside-10560-$t.txt 2>&1) &
done
wait
echo done > val-g2/done
