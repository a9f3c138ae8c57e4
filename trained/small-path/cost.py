"""Cost of preprocessing photographed 64 px crops (MNIST validation digits, the usual
photographer's effects), the stack path (SMALL_SIDE 64) against one by one (SMALL_SIDE 47),
one thread, alternating rounds. Usage: cost.py N ROUNDS"""
import sys
import time

import numpy as np

from digitkit.data import load_splits
from digitkit.data.context import ContextStyle, photograph
from digitkit.data.sources import place_mnist
from digitkit.vision.preprocess import pipeline

n, rounds = int(sys.argv[1]), int(sys.argv[2])
s = load_splits("mnist")
rng = np.random.default_rng(1)
photos = photograph(place_mnist(s.x_val[:n], rng), rng, ContextStyle())
times = {64: [], 47: []}
for _ in range(rounds):
    for side in (64, 47):
        pipeline.SMALL_SIDE = side
        t = time.process_time()
        pipeline.to_mnist_batch(photos)
        times[side].append(1000 * (time.process_time() - t) / n)
for side, ts in times.items():
    print(f"SMALL_SIDE {side}: CPU ms per 64 px photo, median {np.median(ts):.2f}, best {min(ts):.2f}")
