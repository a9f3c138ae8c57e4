"""Diagnosis (issue 11, for a next rule): how far a stub lies from the print removed.

``lone_border`` takes an upright run near a side for a wall's stub wherever printed lines
were removed. A stub is what removal left of a wall, so it should stand where that wall was;
a 1 written near a cell's wall stands clear of it. For crops read at 160 px (the per-image
path) this records, for each crop refused as a stub after print was removed, the gap in
pixels (of the ink the judge sees) between the stub's ink box and the nearest upright print
removed (a column of the print mask over 30% of the height), for two sets: MNIST validation
digits near a side inside a printed cell whose walls stand at the crop's edges, and empty
printed boxes (`boxes_only`, usual and hard styles).

    python trained/wall-stub/gap_diag.py SEED N
"""

import sys

import numpy as np
from offside import PLAIN, drawn_digits, in_a_cell, near_a_side
from PIL import Image

from digitkit.data.context import ContextStyle, boxes_only, photograph
from digitkit.vision.preprocess import pipeline

SIDE = 160


def gaps(photos: np.ndarray) -> list[float]:
    """The stub-to-print gap of every crop of ``photos`` refused as a stub after removal."""
    seen: dict = {}
    real_clean, real_border = pipeline.clean_photo_print, pipeline.lone_border

    def clean(*a, **k):
        seen["printed"] = real_clean(*a, **k)
        return seen["printed"]

    def border(boxes, h, w, lines_removed=False):
        out = real_border(boxes, h, w, lines_removed)
        seen["stub"] = (np.asarray(boxes)[0], bool(np.all(lines_removed)), bool(out[0]))
        return out

    pipeline.clean_photo_print, pipeline.lone_border = clean, border
    found = []
    try:
        for p in photos:
            seen.clear()
            big = np.asarray(Image.fromarray(p).resize((SIDE, SIDE), Image.BILINEAR))
            pipeline.to_mnist_grey(big.astype(np.float32) / 255.0)
            if "stub" not in seen or not (seen["stub"][1] and seen["stub"][2]):
                continue
            mask = seen["printed"].print_mask
            x0, _, x1, _ = seen["stub"][0]
            if mask is None:
                found.append(np.inf)
                continue
            upright = np.flatnonzero(mask[0].sum(axis=0) >= 0.3 * mask.shape[1])
            if upright.size == 0:
                found.append(np.inf)
                continue
            d = np.maximum(upright - (x1 - 1), x0 - upright).clip(min=0)
            found.append(float(d.min()))
    finally:
        pipeline.clean_photo_print, pipeline.lone_border = real_clean, real_border
    return found


def main(seed: int, n: int) -> None:
    x, y, rng = drawn_digits(seed, n, "val")
    ones = x[y == 1]
    sets = {
        "1s near a side inside a cell": photograph(
            in_a_cell(near_a_side(ones, rng), rng), rng, PLAIN
        ),
        "empty printed boxes": boxes_only(n, 64, rng, ContextStyle.box_only()),
        "empty printed boxes, photographed": boxes_only(n, 64, rng),
        "empty hard boxes": boxes_only(n, 64, rng, ContextStyle.hard_boxes()),
    }
    for name, photos in sets.items():
        g = np.array(gaps(photos))
        print(
            f"{name} ({len(photos)}): {len(g)} refused as a stub; gap to the print removed "
            f"0 px: {np.sum(g == 0)}, 1-2: {np.sum((g >= 1) & (g <= 2))}, 3-5: "
            f"{np.sum((g >= 3) & (g <= 5))}, 6+: {np.sum((g >= 6) & np.isfinite(g))}, "
            f"no upright print: {np.sum(~np.isfinite(g))}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
