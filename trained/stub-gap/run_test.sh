# Rule H2 passed: the test parts read once, shipped (/tmp/base, 0a11e09's src) and H2 (/tmp/h2)
# side by side (the benchmark with its new set, drawn last); then the cell probe on MNIST
# test digits for the 1s refused.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
T=trained/stub-gap/test
bash trained/wall-stub/run_test_pair.sh base h2 $T
for t in base h2; do
  PYTHONPATH=/tmp/$t/src nice -n 5 .venv/bin/python trained/stub-gap/cell.py 0 2000 test > $T/cell-test-$t.txt 2>&1 &
done
wait
echo done > $T/done
