"""MNIST validation digits cut tight to their ink, 48 px grey (bench_realworld's set), read by
the code on PYTHONPATH. Usage: tight48.py SEED N"""
import sys

import numpy as np

from digitkit.data import load_splits
from digitkit.data.scans import tight_crop
from digitkit.vision.recognize import Recognizer

seed, n = int(sys.argv[1]), int(sys.argv[2])
mn = load_splits("mnist")
m = np.random.default_rng(seed).permutation(len(mn.y_val))[:n]
images = [tight_crop(d, 48) for d in mn.x_val[m]]
preds = Recognizer.load("default").predict_batch(images)
right = np.array([p.digit == t for p, t in zip(preds, mn.y_val[m])])
print(f"tight 48 px, seed {seed}, n {n}: {100 * right.mean():.2f}%")
