# Rule G's deciding runs (rule-g.md): the shipped tree (/tmp/base, HEAD~1's src) and G
# (/tmp/g, the rule's commit), one thread each, side by side, at nice 5.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
V=trained/wall-stub/val
NICE=5 bash trained/wall-stub/run_pair.sh base g $V 10551 10552
for t in base g; do
  PYTHONPATH=/tmp/$t/src nice -n 5 .venv/bin/python trained/wall-stub/offside.py 10553 2000 > $V/offside-10553-$t.txt 2>&1 &
done
wait
echo done > $V/done
