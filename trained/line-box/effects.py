"""Photographed number lines, one effect at a time (validation only): the shipped reader's
exact share with no effect, the box alone, rules alone, and every effect; then a gallery of
the box-alone errors (input, the line the reader saw, truth, reading).
Usage: effects.py SEED N_PER_LENGTH OUT_DIR"""
import dataclasses
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, "/work/main/benchmarks")
from bench_numbers import digit_images
from digitkit.data.context import ContextStyle, photograph
from digitkit.data.strings import NumberLines
from digitkit.vision.numbers import prepare_line, resample_axis
from digitkit.vision.recognize import Recognizer

seed, n, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
NONE = dict(p_box=0.0, p_lines=0.0, p_paper=0.0, p_blur=0.0, p_lowres=0.0, p_jpeg=0.0,
            p_faint=0.0, p_perspective=0.0, p_invert=0.0, p_shrink=0.0)
EFFECTS = {
    "none": ContextStyle(**NONE),
    "box": ContextStyle(**{**NONE, "p_box": 1.0}),
    "rules": ContextStyle(**{**NONE, "p_lines": 1.0}),
    "all (photo-box)": ContextStyle(p_box=1.0),
}
x, y = digit_images("mnist", "val", seed)
rec = Recognizer.load("default")
for style in ("touching", "forms"):
    gen = NumberLines.from_mnist(x, y, use_pen=False, use_photos=False, style=style)
    rng = np.random.default_rng([seed, 1])
    lengths = np.repeat(np.arange(3, 8), n)
    texts = gen.texts(len(lengths), rng, lengths)
    inks = [gen.draw(t, rng) for t in texts]
    for name, cs in EFFECTS.items():
        prng = np.random.default_rng([seed, 2])
        wrong = []
        for ink, t in zip(inks, texts):
            big = resample_axis(resample_axis(ink, 2 * ink.shape[0], 0), 2 * ink.shape[1], 1)
            grey = np.asarray(photograph(big[None], prng, cs))[0].astype(np.float32) / 255
            truth = "".join(filter(str.isdigit, t))
            read = rec.predict_number(grey).text
            if read != truth:
                wrong.append((grey, truth, read))
        print(f"{style} | {name} | exact {100 * (1 - len(wrong) / len(inks)):.1f}% ({len(inks)} lines)", flush=True)
        if name in ("box", "rules"):
            for k, (grey, truth, read) in enumerate(wrong[:40]):
                line = prepare_line(grey).image
                h = grey.shape[0]
                lim = (255 * (1 - line)).astype(np.uint8)
                lim = np.asarray(Image.fromarray(lim).resize((max(1, int(line.shape[1] * h / line.shape[0])), h)))
                row = np.concatenate([(255 * grey).astype(np.uint8), np.full((h, 8), 128, np.uint8), lim], axis=1)
                Image.fromarray(row).save(out / f"{name}-{style}-{k:02d}-t{truth}-r{read or 'none'}.png")
