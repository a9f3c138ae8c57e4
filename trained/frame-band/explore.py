"""Exploration (issue 11): ``patch_frame.py`` off and on, on MNIST validation digits in the
``../hard-factors/factors.py`` variants named, on photographed digits with no box, and on
empty boxes (photographed, hard), at 64 px and upscaled to 160 px.

    python trained/frame-band/explore.py SEED N VARIANT[,VARIANT...]
"""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hard-factors"))
import patch_frame  # noqa: E402
from factors import VARIANTS, drawn_digits  # noqa: E402
from offside import scored  # noqa: E402

from digitkit.data.context import ContextStyle, boxes_only, photograph  # noqa: E402
from digitkit.data.sources import place_mnist  # noqa: E402
from digitkit.vision.recognize import Recognizer  # noqa: E402


def main(seed: int, n: int, names: list[str]) -> None:
    x, y, _ = drawn_digits(seed, n, "val")
    digits = {}
    for name in [*names, "no box"]:
        rng = np.random.default_rng([seed, 1])
        style = VARIANTS.get(name, replace(ContextStyle(), p_box=0.0))
        digits[name] = photograph(place_mnist(x, rng), rng, style)
    rng = np.random.default_rng([seed, 2])
    empty = {
        "photographed": boxes_only(n, 64, rng),
        "hard": boxes_only(n, 64, rng, ContextStyle.hard_boxes()),
    }
    rec = Recognizer.load("default")
    for side in (64, 160):
        for on in (False, True):
            patch_frame.ON = on
            print(
                scored(rec, f"frame {'on ' if on else 'off'}", digits, y, empty, side), flush=True
            )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(","))
