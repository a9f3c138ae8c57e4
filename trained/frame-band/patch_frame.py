"""Exploration (issue 11): a box closing in on its digit from four sides, removed by the band
along its ink's box, before the line judge.

Importing this module wraps ``lines.clean_photo_print`` (for exploration only): in each
image, the ink above ``low`` is boxed (trimmed as the line search trims it); a band of
FRAME_BAND of the box's larger side along each of its four sides is the frame where the band
holds ink along at least FRAME_FILL of that side's length on all four sides; its pixels go
(what the judge then sees is the digit inside). A digit's own box is touched by its strokes
at a few places, not along nearly all of every side.
"""

import numpy as np

from digitkit.vision.preprocess import lines as L
from digitkit.vision.preprocess import pipeline as P
from digitkit.vision.preprocess.line_search import _cumulative, _extent

FRAME_BAND = 0.12
FRAME_FILL = 0.9
ON = True
_clean = L.clean_photo_print


def frame_removed(ink: np.ndarray, low: float) -> np.ndarray:
    n, h, w = ink.shape
    mask = ink > low
    x0, x1 = _extent(_cumulative(mask, 1), w)
    y0, y1 = _extent(_cumulative(mask, 2), h)
    out = ink.copy()
    for i in range(n):
        a, b, c, d = int(x0[i]), int(np.ceil(x1[i])), int(y0[i]), int(np.ceil(y1[i]))
        if b - a < 12 or d - c < 12:
            continue
        t = max(2, int(round(FRAME_BAND * max(b - a, d - c))))
        m = mask[i, c:d, a:b]
        sides = (m[:t].any(axis=0), m[-t:].any(axis=0), m[:, :t].any(axis=1), m[:, -t:].any(axis=1))
        if min(s.mean() for s in sides) < FRAME_FILL:
            continue
        inner = m[t:-t, t:-t]
        if inner.sum() < 6:  # an empty box: left to the judge
            continue
        band = np.zeros((d - c, b - a), bool)
        band[:t], band[-t:], band[:, :t], band[:, -t:] = True, True, True, True
        out[i, c:d, a:b][band] = 0.0
    return out


def clean_photo_print(ink, low=L.LINE_LOW, text_line=False, one_digit=False):
    if ON and not text_line and ink.ndim == 3 and len(ink):
        ink = frame_removed(np.asarray(ink, np.float32), low)
    return _clean(ink, low, text_line, one_digit)


L.clean_photo_print = clean_photo_print
P.clean_photo_print = clean_photo_print
