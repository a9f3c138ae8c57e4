"""Exploration: the number reader's reads of a line at other widths (the line resampled
horizontally) joined to its eight reads in the consensus. MNIST validation lines, exact
match, the shipped pair vs the stretched reads. Usage: stretch.py SEED N FACTORS (e.g. 0.85,1.15)"""
import sys
import time

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_numbers import digit_images, make_lines
from digitkit.vision import numbers
from digitkit.vision.ctc import consensus
from digitkit.vision.numbers import LINE_HEIGHT, STRIDE, Line, resample_axis
from digitkit.vision.recognize import Recognizer

seed, n = int(sys.argv[1]), int(sys.argv[2])
factors = [float(f) for f in sys.argv[3].split(",")]
original = numbers.NumberReader.read_line


def stretched_read_line(self, line, phases=None):
    if line.reason or not factors:
        return original(self, line, phases)
    phases = max(1, min(int(self.phases if phases is None else phases), STRIDE))
    variants = [line.image] + [resample_axis(line.image, max(STRIDE, int(round(f * line.width))), 1) for f in factors]
    reads = []
    for img in variants:
        w = img.shape[1]
        width = -(-(w + phases - 1) // STRIDE) * STRIDE
        batch = np.zeros((phases, LINE_HEIGHT, width), np.float32)
        for s in range(phases):
            batch[s, :, s : s + w] = img
        frames = [-(-(w + s) // STRIDE) for s in range(phases)]
        for member in (self, *self.partners):
            probs = member.probabilities(batch)
            reads += [probs[s, :k] for s, k in enumerate(frames)]
    chosen = consensus(reads)
    per_variant = phases * (1 + len(self.partners))
    if chosen < per_variant:
        return self._reading(reads[chosen], line, chosen % phases)
    v = chosen // per_variant
    img = variants[v]
    stretched = Line(img, line.x0, line.x_scale * line.width / img.shape[1], None, line.y0, line.y1, line.lean)
    return self._reading(reads[chosen], stretched, chosen % phases)


x, y = digit_images("mnist", "val", seed)
rec = Recognizer.load("default")
for style in ("touching", "forms"):
    lines = make_lines(x, y, style, n, seed)
    for name, patch in (("shipped", False), (f"stretch {factors}", True)):
        numbers.NumberReader.read_line = stretched_read_line if patch else original
        t = time.perf_counter()
        hits = [rec.predict_number(g).text == truth for g, truth in lines]
        dt = (time.perf_counter() - t) / len(lines)
        h46 = [h for h, (_, tr) in zip(hits, lines) if 4 <= len(tr) <= 6]
        print(f"{style} | {name} | exact {100 * np.mean(hits):.2f}% | 4-6 {100 * np.mean(h46):.2f}% | {1000 * dt:.1f} ms a line", flush=True)
