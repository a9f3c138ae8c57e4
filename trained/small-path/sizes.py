"""Exploration (seed 10543): the recognizer on MNIST validation digits photographed at 64 px
on a printed pattern, in a box and in pencil, read at 64 px (stack path) and upscaled to 96
and 160 px (per-image path). Output: RESULTS.md, session of 2026-12-07 20:33."""
import numpy as np
from PIL import Image
from digitkit.data import load_splits
from digitkit.data.context import ContextStyle, photograph
from digitkit.data.sources import place_mnist
from digitkit.vision.preprocess import pipeline
from digitkit.vision import recognize
from digitkit.vision.recognize import Recognizer
seed, n = 10543, 1000
s = load_splits("mnist")
rng = np.random.default_rng(seed)
m = rng.choice(len(s.x_val), n, replace=False)
x, y = s.x_val[m], s.y_val[m]
rec = Recognizer.load("default")
for name, style in (("pattern", ContextStyle(p_pattern=1.0)), ("boxed", ContextStyle(p_box=1.0)), ("pencil", ContextStyle(p_faint=1.0))):
    photos = photograph(place_mnist(x, rng), rng, style)
    out = [name]
    for side in (64, 96, 160):
        imgs = [p if side == 64 else np.asarray(Image.fromarray(p).resize((side, side), Image.BILINEAR)) for p in photos]
        preds = rec.predict_batch(imgs)
        out.append(f"{side}: {100 * np.mean([p.digit == t for p, t in zip(preds, y)]):.2f}")
    print(" | ".join(out), flush=True)
