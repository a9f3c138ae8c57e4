#!/bin/sh
# Rule D's deciding runs for the deep reader (its float graph: a copy made before the int8
# export, so the digit models stay as shipped in both) and rule Q's check of its int8 graph,
# side by side (one thread each); the shipped pair's are run_q.sh's "pair".
set -e
export DIGITKIT_DATA=/work/shared/data/mnist OMP_NUM_THREADS=1
V=trained/deep-reader/val
RUN=runs/deep-cont
rm -rf runs/deep-float && mkdir runs/deep-float
cp $RUN/card.json $RUN/model.onnx $RUN/model.safetensors runs/deep-float/
nice -n 3 .venv/bin/digitkit export $RUN --int8 --calibration 1024 > $V/deep-export.txt 2>&1
stream() {  # name, run
  B="nice -n 3 .venv/bin/python benchmarks/bench_numbers.py --split val --readers auto --ctc $2"
  $B --styles joined,touching,forms --n 100 --seed 10430 --json $V/$1-mnist.json > $V/$1-mnist.txt 2>&1
  $B --styles joined,touching,forms --n 100 --seed 10431 --digits pen --json $V/$1-pen.json > $V/$1-pen.txt 2>&1
  $B --styles touching,forms --contexts photo,photo-box --n 40 --empty 1000 --seed 10432 --json $V/$1-photo.json > $V/$1-photo.txt 2>&1
}
stream deep runs/deep-float &
stream deep8 $RUN &
wait
echo done > $V/d.done
