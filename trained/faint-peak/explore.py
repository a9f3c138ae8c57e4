"""Exploration (issue 11): ``lines.FAINT_PEAK`` (what print removal leaves is judged at its own
level when it peaks at least this high) set to each of several values in turn; for each,
MNIST validation digits in faint pencil in a printed box (no other effect), in pencil
photographed (every effect at its usual rate, as the benchmark's pencil set), and empty
printed boxes photographed and hard, at 64 px and upscaled to 160 px.

    python trained/faint-peak/explore.py SEED N SIDES VALUE...   (SIDES: e.g. 64,160)
"""

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wall-stub"))
from offside import drawn_digits, scored  # noqa: E402

from digitkit.data.context import ContextStyle, boxes_only, photograph  # noqa: E402
from digitkit.data.sources import place_mnist  # noqa: E402
from digitkit.vision.preprocess import lines  # noqa: E402
from digitkit.vision.recognize import Recognizer  # noqa: E402


def main(seed: int, n: int, sides: list[int], values: list[float]) -> None:
    x, y, rng = drawn_digits(seed, n, "val")
    digits = {
        "pencil in a box": photograph(
            place_mnist(x, rng), rng, replace(ContextStyle.box_only(), p_faint=1.0)
        ),
        "pencil photographed": photograph(place_mnist(x, rng), rng, ContextStyle(p_faint=1.0)),
        "box photographed": photograph(place_mnist(x, rng), rng, ContextStyle(p_box=1.0)),
    }
    empty = {
        "photographed": boxes_only(n, 64, rng),
        "hard": boxes_only(n, 64, rng, ContextStyle.hard_boxes()),
    }
    rec = Recognizer.load("default")
    for value in values:
        lines.FAINT_PEAK = value
        for side in sides:
            print(scored(rec, f"FAINT_PEAK {value}", digits, y, empty, side), flush=True)


if __name__ == "__main__":
    main(
        int(sys.argv[1]),
        int(sys.argv[2]),
        [int(s) for s in sys.argv[3].split(",")],
        [float(v) for v in sys.argv[4:]],
    )
