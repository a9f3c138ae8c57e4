"""Diagnosis (issue 11): of a ``factors.py`` variant's misread photos at 64 px (validation),
how many kept all their print (the removal changed nothing), lost some, or were judged an
empty box, against the same shares among the photos read right.

    python trained/hard-factors/kept.py SEED N VARIANT
"""

import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from factors import VARIANTS, drawn_digits  # noqa: E402

from digitkit.data.context import photograph  # noqa: E402
from digitkit.data.sources import place_mnist  # noqa: E402
from digitkit.vision.preprocess.lines import clean_photo_print  # noqa: E402
from digitkit.vision.preprocess.pipeline import stack_ink  # noqa: E402
from digitkit.vision.recognize import Recognizer  # noqa: E402


def main(seed: int, n: int, variant: str) -> None:
    x, y, _ = drawn_digits(seed, n, "val")
    rng = np.random.default_rng([seed, 1])
    photos = photograph(place_mnist(x, rng), rng, VARIANTS[variant])
    rec = Recognizer.load("default")
    digit = np.array([-1 if p.digit is None else p.digit for p in rec.predict_batch(list(photos))])
    ink, *_ = stack_ink(photos.astype(np.float32) / 255, flatten=True)
    printed = clean_photo_print(ink)
    changed = (printed.ink != ink).any(axis=(1, 2))
    what = np.where(
        printed.empty, "judged an empty box", np.where(changed, "print removed", "nothing removed")
    )
    groups = (("read right", digit == y), ("misread", (digit != y) & (digit >= 0)))
    for name, sel in (*groups, ("refused", digit < 0)):
        counts = {str(k): v for k, v in Counter(what[sel]).most_common()}
        print(f"{variant}, {name} ({sel.sum()}):", counts)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
