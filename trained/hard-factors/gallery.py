"""A gallery of one ``factors.py`` variant's misread photos at 64 px (validation): each tile is
the photo (scaled x3) beside what the model saw (the 28x28 preview, scaled to match), named
truth-reading. Also prints the confusion of the errors.

    python trained/hard-factors/gallery.py SEED N VARIANT OUT_DIR
"""

import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from factors import VARIANTS, drawn_digits  # noqa: E402

from digitkit.data.context import photograph  # noqa: E402
from digitkit.data.sources import place_mnist  # noqa: E402
from digitkit.vision.recognize import Recognizer  # noqa: E402


def main(seed: int, n: int, variant: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    x, y, _ = drawn_digits(seed, n, "val")
    rng = np.random.default_rng([seed, 1])
    photos = photograph(place_mnist(x, rng), rng, VARIANTS[variant])
    rec = Recognizer.load("default")
    preds = rec.predict_batch(list(photos))
    wrong = Counter()
    for k, (p, t, pred) in enumerate(zip(photos, y, preds, strict=True)):
        if pred.digit == t:
            continue
        got = "none" if pred.digit is None else str(pred.digit)
        wrong[f"{t}->{got}"] += 1
        seen = rec.preview(p)
        seen = np.zeros((28, 28)) if seen is None else np.asarray(seen, np.float64)
        seen = (255 * (1 - np.clip(seen, 0, 1))).astype(np.uint8)
        tile = np.concatenate(
            [
                np.asarray(Image.fromarray(p).resize((192, 192), Image.NEAREST)),
                np.full((192, 6), 128, np.uint8),
                np.asarray(Image.fromarray(seen).resize((192, 192), Image.NEAREST)),
            ],
            axis=1,
        )
        Image.fromarray(tile).save(out / f"{k:04d}-{t}-{got}.png")
    print(variant, sum(wrong.values()), "wrong:", dict(wrong.most_common(20)))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
