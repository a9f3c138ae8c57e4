"""Diagnosis (issue 11): why the 1s near a side inside a printed cell (``cell.py``'s set) are
refused, at 64 px (the stack path) and 160 px (the per-image path): the print judged an empty
cell (the 1 taken for print), the stub rule, another preprocessing reason, or the model.

    python trained/stub-gap/why.py SEED N
"""

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wall-stub"))
from offside import PLAIN, at_side, drawn_digits, in_a_cell, near_a_side  # noqa: E402

from digitkit.data.context import photograph  # noqa: E402
from digitkit.vision.preprocess import pipeline  # noqa: E402
from digitkit.vision.recognize import Recognizer  # noqa: E402


def main(seed: int, n: int) -> None:
    x, y, rng = drawn_digits(seed, n, "val")
    ones = photograph(in_a_cell(near_a_side(x, rng), rng), rng, PLAIN)[y == 1]
    rec = Recognizer.load("default")
    seen: dict = {}
    real_clean, real_border = pipeline.clean_photo_print, pipeline.lone_border

    def clean(*a, **k):
        seen["empty"] = bool(real_clean(*a, **k).empty[0])
        return real_clean(*a, **k)

    def border(*a, **k):
        out = real_border(*a, **k)
        seen["stub"] = bool(out[0])
        return out

    pipeline.clean_photo_print, pipeline.lone_border = clean, border
    for side in (64, 160):
        why = Counter()
        for p in ones:
            seen.clear()
            pred = rec.predict_batch([at_side(p, side)])[0]
            if pred.digit is not None:
                why["read " + ("1" if pred.digit == 1 else "other")] += 1
            elif seen.get("empty"):
                why["empty cell (the 1 taken for print)"] += 1
            elif seen.get("stub"):
                why["stub"] += 1
            else:
                why[f"refused ({pred.reason})"] += 1
        print(f"seed {seed}, {side} px, {len(ones)} 1s:", dict(why.most_common()), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
