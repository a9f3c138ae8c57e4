"""Diagnosis (issue 11): which crops the per-image path's identity mistake decides.

For every crop it records, under the shipped rule (print "removed" by identity) and by
content (rule F), whether it is refused, and for the crops on which they differ the ink box
of what was read and whether that ink touches the crop's edges. Usage:

    python trained/wall-stub/diag.py SEED N OUT.json [SIDE]

SIDE (default 160): the side the 64 px photos are read at (64: as photographed).
"""

import json
import sys

import numpy as np
from PIL import Image

from digitkit.data.context import ContextStyle, boxes_only
from digitkit.vision.preprocess import pipeline
from digitkit.vision.preprocess.pipeline import to_mnist_grey

SIDE = 160


def resized(image: np.ndarray) -> np.ndarray:
    if image.shape[0] == SIDE:
        return image
    return np.asarray(Image.fromarray(image).resize((SIDE, SIDE), Image.BILINEAR))


def lone_border_spy(calls):
    real = pipeline.lone_border

    def spy(boxes, h, w, lines_removed=False):
        out = real(boxes, h, w, lines_removed)
        calls.append((np.asarray(boxes).tolist(), h, w, bool(np.all(lines_removed)), bool(out[0])))
        return out

    return spy


def main(seed: int, n: int, out: str) -> None:
    rng = np.random.default_rng(seed)
    crops = [resized(c) for c in boxes_only(n, 64, rng, ContextStyle.hard_boxes())]
    calls: list = []
    pipeline.lone_border = lone_border_spy(calls)
    rows = []
    for i, crop in enumerate(crops):
        calls.clear()
        p = to_mnist_grey(crop.astype(np.float32) / 255.0)
        rows.append({"i": i, "blank": bool(p.blank), "reason": p.reason, "calls": list(calls)})
    stubbed = [r for r in rows if any(c[3] and c[4] for c in r["calls"])]
    print(
        f"seed {seed}: {n} empty hard boxes at {SIDE} px, refused {sum(r['blank'] for r in rows)}; "
        f"refused as a stub after print 'removed': {len(stubbed)}"
    )
    for r in stubbed:
        box, h, w = r["calls"][-1][:3]
        x0, y0, x1, y1 = box[0]
        print(
            f"  crop {r['i']}: ink box x {x0}-{x1}, y {y0}-{y1} of {w}x{h}"
            f"  touches top/bottom: {y0 <= 1}/{y1 >= h - 1}"
        )
    with open(out, "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    SIDE = int(sys.argv[4]) if len(sys.argv) > 4 else SIDE
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
