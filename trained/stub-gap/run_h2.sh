# Rule H2's deciding runs (rule-h2.md): shipped (/tmp/base, 0a11e09's src) and H2 (/tmp/h2, the
# rule-H2 commit's src), one thread each, side by side.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
mkdir -p trained/stub-gap/val-h2
bash trained/wall-stub/run_pair.sh base h2 trained/stub-gap/val-h2 10577 10578
for t in base h2; do
  PYTHONPATH=/tmp/$t/src nice -n 8 .venv/bin/python trained/stub-gap/cell.py 10579 2000 > trained/stub-gap/val-h2/cell-10579-$t.txt 2>&1 &
done
wait
echo done > trained/stub-gap/val-h2/done
