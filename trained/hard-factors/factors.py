"""Diagnosis (issue 11): which of the hard boxes' three departures from the usual printed box
costs the recognizer its points: thick walls (2-8 px at 64 px), a small digit with its box
close around it, or the crop turned up to 15 degrees. MNIST validation digits, placed as the
benchmark places them, photographed in a box with every other effect at its usual rate; one
departure at a time, then all three (``ContextStyle.hard_boxes``); read by the shipped
recognizer at 64 px and upscaled to 160 px. Prints accuracy and refusals per variant.

    python trained/hard-factors/factors.py SEED N [TEXT]

TEXT: only the variants whose names contain it.
"""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wall-stub"))
from offside import at_side, drawn_digits  # noqa: E402

from digitkit.data.context import ContextStyle, photograph  # noqa: E402
from digitkit.data.sources import place_mnist  # noqa: E402
from digitkit.vision.recognize import Recognizer  # noqa: E402

BOXED = ContextStyle(p_box=1.0)
HARD = ContextStyle.hard_boxes()
VARIANTS = {
    "usual box": BOXED,
    "thick walls": replace(BOXED, box_thickness=HARD.box_thickness),
    "small digit, box close": replace(
        BOXED, p_shrink=HARD.p_shrink, shrink=HARD.shrink, box_offset=HARD.box_offset
    ),
    "turned": replace(BOXED, p_perspective=HARD.p_perspective, rotation=HARD.rotation),
    "all three (hard)": HARD,
    # the two costly departures taken apart (a second look)
    "small digit (usual offsets)": replace(BOXED, p_shrink=HARD.p_shrink, shrink=HARD.shrink),
    "box close (usual size)": replace(BOXED, box_offset=HARD.box_offset),
    "small digit, no box": replace(
        BOXED, p_box=0.0, p_lines=0.0, p_shrink=HARD.p_shrink, shrink=HARD.shrink
    ),
    "walls 4-8 px": replace(BOXED, box_thickness=(4.0, 8.0)),
    "walls 4-8 px, box only": replace(ContextStyle.box_only(), box_thickness=(4.0, 8.0)),
    # the usual box with one photographic effect at a time (a third look)
    "box only": ContextStyle.box_only(),
    **{
        f"box + {effect}": replace(ContextStyle.box_only(), **{f"p_{effect}": 1.0})
        for effect in ("lines", "paper", "blur", "lowres", "jpeg", "faint", "perspective", "shrink")
    },
    # the usual box photographed, one effect left out at a time (a fourth look)
    **{
        f"usual box without {effect}": replace(BOXED, **{f"p_{effect}": 0.0})
        for effect in ("lines", "paper", "blur", "lowres", "jpeg", "faint", "perspective", "shrink")
    },
}


def main(seed: int, n: int, only: str = "") -> None:
    x, y, _ = drawn_digits(seed, n, "val")
    rec = Recognizer.load("default")
    for name, style in VARIANTS.items():
        if only not in name:
            continue
        rng = np.random.default_rng([seed, 1])  # the same placements for every variant
        photos = photograph(place_mnist(x, rng), rng, style)
        for side in (64, 160):
            preds = rec.predict_batch([at_side(p, side) for p in photos])
            digit = np.array([-1 if p.digit is None else p.digit for p in preds])
            print(
                f"{name:24s} {side:3d} px: right {np.mean(digit == y):.2%}, "
                f"refused {np.mean(digit < 0):.2%}",
                flush=True,
            )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:4])
