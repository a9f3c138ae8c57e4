"""Which inputs preprocessing calls drawn, and whether the thick-print band search finds a
band in them: hard-box photos (validation MNIST digits) against canvases. Usage: SEED"""
import sys
import numpy as np
sys.path.insert(0, "/work/main/benchmarks")
from bench_pen_writers import _drawn
from bench_realworld import CANVAS
from digitkit.data import load_splits
from digitkit.data.context import ContextStyle, boxes_only, photograph
from digitkit.data.render import mnist_canvases
from digitkit.data.sources import pen_parts, place_mnist
from digitkit.vision.preprocess import to_mnist_batch
from digitkit.vision.preprocess import pipeline as P
from digitkit.vision.preprocess.bands import band_masks

def ink_stack(stack):
    x = np.asarray(stack)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return P.stack_ink(x)[0]

rng = np.random.default_rng(int(sys.argv[1]))
mnist = load_splits("mnist")
x, y = mnist.x_val[:1000], mnist.y_val[:1000]
hard = ContextStyle.hard_boxes()
sets = {
    "hard boxes, MNIST val": photograph(place_mnist(x, rng), rng, hard),
    "hard boxes, empty": boxes_only(1000, 64, rng, hard),
    "pen val writers, canvases": _drawn(pen_parts()["pen_val"], 1, rng),
    "MNIST val canvases": mnist_canvases(x, CANVAS),
}
for name, images in sets.items():
    pre = to_mnist_batch(images)
    drawn = np.array([p.drawn for p in pre])
    ink = ink_stack(images)
    found = np.zeros(len(images), bool)
    idx = np.flatnonzero(drawn)
    for i in range(0, len(idx), 256):
        part = idx[i:i + 256]
        found[part] = band_masks(ink[part]).any(axis=(1, 2))
    print(f"{name}: n={len(images)}, drawn {drawn.sum()}, of them with a band {found.sum()}")

print("other separators among the drawn ones:")
for name, images in sets.items():
    pre = to_mnist_batch(images)
    drawn = np.array([p.drawn for p in pre])
    ink = ink_stack(images)[drawn]
    edges = P.touches_edges(ink)
    floor = np.array([np.percentile(a, 75) for a in ink])
    ink_share = (ink > 0.5).mean(axis=(1, 2))
    print(f"  {name}: touching edges {edges.sum()} of {drawn.sum()}; 75th pct of ink "
          f"median {np.median(floor):.3f}, max {floor.max():.3f}; ink share median {np.median(ink_share):.3f} "
          f"p95 {np.percentile(ink_share, 95):.3f}")
