"""Letters of the Hershey stroke fonts, as pen strokes: letter shapes drawn like the pen data.

The UJI writers' letters are the only real ones (about 60 a writer, 7 writers in training),
and a held-out writer's letters are what the recognizer refuses least. The Hershey fonts
(A. V. Hershey, U.S. National Bureau of Standards) draw every letter as a few strokes of a
plotter pen, in the styles of a simple sans, a roman, an italic and a script hand.
Read as trajectories, they go through the same renderer as the pen data
(:func:`digitkit.data.render.render`), pen width, slant, tremor and bend included, so they
reach the model as drawings, not as printed type. Look-alike letters (O, I, S, Z, ...:
:data:`digitkit.data.pen.LOOKALIKES`) are left out, as for the UJI letters.

The font files are vendored, compressed, under ``vendor/hershey`` (their acknowledgement is
in its README); only training reads them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from digitkit.data.pen import LETTERS, read_vendored

__all__ = ["FONTS", "letter_strokes"]

#: The vendored fonts: simplex and duplex sans, complex roman and italic, simplex and complex
#: script. Gothic and triplex styles are left out: no hand writes them; so are the files that
#: repeat another's letters (rowmans, rowmand and cursive are futural, futuram and scripts).
FONTS = ("futural", "futuram", "timesr", "timesi", "scripts", "scriptc")

_FIRST_CODE = 32  # each file holds one glyph a line, ASCII 32 (space) to 127, in order
_ORIGIN = ord("R")  # coordinates are letters, R being 0
_PEN_UP = " R"


def _decode(line: str) -> np.ndarray:
    """One glyph line -> its vertices (V, 2), x right and y down, NaN rows between strokes.

    A line is the glyph's number (5 characters), its vertex count (3), its left and right
    bearings (2), then one pair of characters a vertex, `` R`` lifting the pen."""
    body = line[10:]
    pairs = [body[i : i + 2] for i in range(0, len(body) - 1, 2)]
    xy = [
        (np.nan, np.nan) if p == _PEN_UP else (ord(p[0]) - _ORIGIN, ord(p[1]) - _ORIGIN)
        for p in pairs
    ]
    return np.array(xy, np.float64).reshape(-1, 2)


def _read_font(name: str) -> list[str]:
    text = read_vendored("hershey", name + ".jhf")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@lru_cache(maxsize=1)
def letter_strokes() -> tuple[tuple[str, np.ndarray], ...]:
    """Every non-look-alike letter of every font in :data:`FONTS` as ``(letter, vertices)``,
    vertices (V, 2) in font units, x right and y down, NaN rows between strokes."""
    out = []
    for font in FONTS:
        lines = _read_font(font)
        out += [(letter, _decode(lines[ord(letter) - _FIRST_CODE])) for letter in LETTERS]
    return tuple(out)
