# Rule K's deciding runs (rule-k.md): shipped (/tmp/base, eae106d's src) and K (/tmp/k, the
# rule-K commit's src), one thread each, side by side.
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
cd /work/main
mkdir -p trained/faint-peak/val
bash trained/wall-stub/run_pair.sh base k trained/faint-peak/val 10583 10584
for t in base k; do
  PYTHONPATH=/tmp/$t/src nice -n 8 .venv/bin/python trained/hard-factors/factors.py 10585 2000 "box + faint" > trained/faint-peak/val/factors-10585-$t.txt 2>&1 &
done
wait
echo done > trained/faint-peak/val/done
