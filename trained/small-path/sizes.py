"""Exploration (seed 10543): the recognizer on MNIST validation digits photographed at 64 px
on a printed pattern, in a box and in pencil, read at 64 px (stack path) and upscaled to 96
and 160 px (per-image path). Output: RESULTS.md, session of 2026-12-07 20:33."""
import numpy as np
from PIL import Image
from photos import photo_sets

from digitkit.vision.recognize import Recognizer

rec = Recognizer.load("default")
for name, photos, y in photo_sets(("pattern", "boxed", "pencil")):
    out = [name]
    for side in (64, 96, 160):
        imgs = [p if side == 64 else np.asarray(Image.fromarray(p).resize((side, side), Image.BILINEAR)) for p in photos]
        preds = rec.predict_batch(imgs)
        out.append(f"{side}: {100 * np.mean([p.digit == t for p, t in zip(preds, y)]):.2f}")
    print(" | ".join(out), flush=True)
