# Rule G2 passed: the test parts read once, G (/tmp/g) and G2 (/tmp/g2) side by side; then
# the placement probes on MNIST test digits, the session's starting tree (/tmp/base) and G2.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
bash trained/wall-stub/run_test_pair.sh g g2 trained/wall-stub/test-g2
cd trained/wall-stub
for t in base g2; do
  (PYTHONPATH=/tmp/$t/src nice -n 5 ../../.venv/bin/python offside.py 0 2000 test > test-g2/offside-test-$t.txt 2>&1
   PYTHONPATH=/tmp/$t/src nice -n 5 ../../.venv/bin/python corner.py 0 2000 test > test-g2/corner-test-$t.txt 2>&1) &
done
wait
echo done > test-g2/done
