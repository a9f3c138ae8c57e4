"""bench_realworld.py with crops from SIDE px a side up read by the per-image path (the stack
path keeps smaller ones): an exploration of which path reads 48-64 px photos better.
Usage: run_patched.py SIDE BENCH_ARGS..."""
import runpy
import sys

from digitkit.vision import recognize
from digitkit.vision.preprocess import pipeline

side = int(sys.argv[1])
pipeline.SMALL_SIDE = side - 1
recognize.STACK_MAX_SIDE = side - 1
sys.argv = ["bench_realworld.py", *sys.argv[2:]]
sys.path.insert(0, "/work/main/benchmarks")
runpy.run_path("/work/main/benchmarks/bench_realworld.py", run_name="__main__")
