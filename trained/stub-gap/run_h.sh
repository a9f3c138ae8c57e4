# Rule H's deciding runs (rule-h.md): shipped (/tmp/base, 0a11e09's src) and H (/tmp/h, the
# rule-H commit's src), one thread each, side by side.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
mkdir -p trained/stub-gap/val
bash trained/wall-stub/run_pair.sh base h trained/stub-gap/val 10573 10574
for t in base h; do
  PYTHONPATH=/tmp/$t/src nice -n 8 .venv/bin/python trained/stub-gap/cell.py 10575 2000 > trained/stub-gap/val/cell-10575-$t.txt 2>&1 &
done
wait
echo done > trained/stub-gap/val/done
