"""Why are drawn MNIST validation canvases refused? Reasons and p(not a digit) of each refused
canvas (MNIST val 2500-4999 as 140 px canvases), as files and as drawings. Usage: refused.py"""
import collections
import sys

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_realworld import CANVAS
from digitkit.data import load_splits
from digitkit.data.render import mnist_canvases
from digitkit.vision.recognize import Recognizer

mnist = load_splits("mnist")
x, y = mnist_canvases(mnist.x_val[2500:], CANVAS), mnist.y_val[2500:]
rec = Recognizer.load("default")
for drawing in (False, True):
    preds = rec.predict_batch(list(x), drawing=drawing)
    refused = [(i, p) for i, p in enumerate(preds) if p.digit is None]
    print(f"drawing={drawing}: refused {len(refused)} of {len(x)}:",
          collections.Counter(p.reason for _, p in refused))
    for i, p in refused:
        probs = getattr(p, "probabilities", None)
        top = None if probs is None else np.round(np.asarray(probs), 2).tolist()
        print(f"  #{2500+i} true {y[i]} reason {p.reason} conf {getattr(p,'confidence',None)} probs {top}")
