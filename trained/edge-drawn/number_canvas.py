"""Pen digits' touching number lines (2-4 digits) drawn on the page's 560x280 Number canvas:
filling its height (strokes reaching the top and bottom edges) against 70% of it, centred.
Usage: number_canvas.py SEED PER_LENGTH"""
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, "/work/main/benchmarks")
from bench_numbers import digit_images, make_lines
from digitkit.vision.recognize import Recognizer

seed, n = int(sys.argv[1]), int(sys.argv[2])
x, y = digit_images("pen", "val", seed)
lines = [(g, t) for g, t in make_lines(x, y, "touching", n, seed) if 2 <= len(t) <= 4]
rec = Recognizer.load("default")


def on_canvas(g: np.ndarray, share: float) -> np.ndarray:
    ink = g < 0.5 * (g.min() + g.max())
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    g = g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    k = min(share * 280 / g.shape[0], 0.95 * 560 / g.shape[1])
    size = (max(1, round(g.shape[1] * k)), max(1, round(g.shape[0] * k)))
    big = np.asarray(Image.fromarray((g * 255).astype(np.uint8)).resize(size, Image.BILINEAR))
    canvas = np.full((280, 560), 255, np.uint8)
    y0, x0 = (280 - big.shape[0]) // 2, (560 - big.shape[1]) // 2
    canvas[y0 : y0 + big.shape[0], x0 : x0 + big.shape[1]] = big
    return canvas


for share in (0.7, 1.0):
    ok = [rec.predict_number(on_canvas(g, share)).text == t for g, t in lines]
    print(f"pen touching lines of 2-4 digits on a 560x280 canvas, {share:.0%} of its height: "
          f"{100 * np.mean(ok):.1f}% exact (n={len(ok)})", flush=True)
ok = [rec.predict_number(g).text == t for g, t in lines]
print(f"the same lines as made (about 48 px high, a margin): {100 * np.mean(ok):.1f}% exact", flush=True)
for share in (0.35,):
    ok = [rec.predict_number(on_canvas(g, share)).text == t for g, t in lines]
    print(f"on the canvas, {share:.0%} of its height: {100 * np.mean(ok):.1f}% exact", flush=True)
