"""Trace the rules-alone errors of effects.py: for each misread line, whether the print
pre-check fires, how many lines the judge finds and drops, and how much ink removal takes.
Usage: trace.py SEED N_PER_LENGTH STYLE"""
import sys

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_numbers import digit_images
from digitkit.data.context import ContextStyle, photograph
from digitkit.data.strings import NumberLines
from digitkit.vision.numbers import resample_axis
from digitkit.vision.preprocess import extract_ink, noise_floor
from digitkit.vision.preprocess.line_search import LINE_LOW
from digitkit.vision.preprocess.lines import _judged, clean_photo_print, may_hold_photo_print
from digitkit.vision.recognize import Recognizer

seed, n, style = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
NONE = dict(p_box=0.0, p_lines=0.0, p_paper=0.0, p_blur=0.0, p_lowres=0.0, p_jpeg=0.0,
            p_faint=0.0, p_perspective=0.0, p_invert=0.0, p_shrink=0.0)
cs = ContextStyle(**{**NONE, "p_lines": 1.0})
x, y = digit_images("mnist", "val", seed)
rec = Recognizer.load("default")
gen = NumberLines.from_mnist(x, y, use_pen=False, use_photos=False, style=style)
rng = np.random.default_rng([seed, 1])
lengths = np.repeat(np.arange(3, 8), n)
texts = gen.texts(len(lengths), rng, lengths)
inks = [gen.draw(t, rng) for t in texts]
prng = np.random.default_rng([seed, 2])
k = 0
for i, (ink, t) in enumerate(zip(inks, texts)):
    big = resample_axis(resample_axis(ink, 2 * ink.shape[0], 0), 2 * ink.shape[1], 1)
    grey = np.asarray(photograph(big[None], prng, cs))[0].astype(np.float32) / 255
    truth = "".join(filter(str.isdigit, t))
    read = rec.predict_number(grey).text
    if read == truth:
        continue
    a = extract_ink(grey).ink
    low = max(LINE_LOW, noise_floor(a))
    pre = may_hold_photo_print(a, low)
    j = _judged(a[None], low, True)
    nlines = ndrop = 0
    if j is not None:
        sel, aa, m, judge, drop = j
        nlines, ndrop = int(judge.line.sum()), int(drop.sum())
        desc = [(bool(h), int(p), int(a0), int(a1), bool(c), bool(d)) for h, p, a0, a1, c, d in
                zip(judge.fit.horiz, judge.pos, judge.fit.a0, judge.fit.a1, judge.cut, drop) if True]
    else:
        desc = []
    cleaned = clean_photo_print(a[None], low, text_line=True).ink[0]
    took = float((a - cleaned).clip(0).sum() / max(a.sum(), 1e-6))
    print(f"rules-{style}-{k:02d} t{truth} r{read} | shape {a.shape} | precheck {pre} | lines {nlines} dropped {ndrop} | removal took {100*took:.0f}% of the ink | {desc[:6]}")
    k += 1
    if len(sys.argv) > 4 and f"{k - 1:02d}" in sys.argv[4].split(","):
        from PIL import Image
        img = np.concatenate([a, np.ones((4, a.shape[1]), np.float32), cleaned]) * 255
        Image.fromarray((255 - img).astype(np.uint8)).resize((2 * a.shape[1], 2 * (2 * a.shape[0] + 4))).save(f"/tmp/trace-{style}-{k - 1:02d}.png")
