"""Exploration: does averaging the drawn route over one-pixel shifts (Recognizer(tta=True))
read drawings better? Diagnosis sets of bench_pen_writers, sent as drawings, shipped vs TTA.
Usage: explore.py SEED"""
import sys
import time

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_pen_writers import diagnosis_sets
from digitkit.vision.recognize import Recognizer

seed = int(sys.argv[1])
sets = diagnosis_sets(seed, pen_draws=4)
for tta in (False, True):
    rec = Recognizer.load("default", tta=tta)
    for name, (x, y) in sets.items():
        t = time.perf_counter()
        preds = rec.predict_batch(list(x), drawing=True)
        dt = time.perf_counter() - t
        read = np.array([p.digit if p.digit is not None else -1 for p in preds])
        refused = (read < 0).mean()
        line = f"tta={tta} | {name} | n={len(x)} | refused {100*refused:.2f}%"
        if y is not None:
            ok = read == y
            line += f" | right {100*ok.mean():.2f}% | answered right {100*ok[read>=0].mean():.2f}%"
        print(line + f" | {1000*dt/len(x):.2f} ms each", flush=True)
