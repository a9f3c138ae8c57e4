"""Printed letters made to look hand-drawn: more letter shapes for "not a digit".

The only real letters are the UJI writers' (about 60 per writer, 7 writers in training), and a
held-out writer's letters are what the recognizer refuses least. This module adds the letters
of the fonts that matplotlib ships (DejaVu, STIX, Computer Modern: sans, serif, mono, italic,
bold), each drawn at a random weight, then bent by a random affine transform and a smooth
elastic field, so that no two draws are the same glyph. Look-alike letters (O, I, S, Z, ...:
:data:`digitkit.data.pen.LOOKALIKES`) are left out, as for the UJI letters.

Only training uses it (the fonts come with the ``train`` extra's matplotlib); the glyphs are
rendered once per process (a few hundred, ~0.3 s) and every draw is whole-array NumPy.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitkit.data.pen import LETTERS
from digitkit.data.warp import elastic, homography_warp

__all__ = ["FONT_FILES", "LETTERS", "font_letters", "glyph_bank"]

#: Fonts (files in matplotlib's ``mpl-data/fonts/ttf``) whose letters are used.
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBol.ttf",
    "cmr10.ttf",
    "cmti10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
)

SIDE = 64  # the canvas side (digitkit.data.sources.CANVAS)
GLYPH_BOX = 40  # a glyph's longer side on the canvas before the random scale
THIN_KEEPS = 0.5  # a glyph is thinned only if it keeps this share of its ink
_RENDER_PX = 96  # font size the glyphs are rasterized at before fitting into GLYPH_BOX


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _fit(glyph: Image.Image) -> np.ndarray:
    """A cropped glyph -> float ink centred on a SIDE x SIDE canvas, longer side GLYPH_BOX."""
    w, h = glyph.size
    scale = GLYPH_BOX / max(w, h)
    small = glyph.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    out = np.zeros((SIDE, SIDE), np.float32)
    sw, sh = small.size
    x0, y0 = (SIDE - sw) // 2, (SIDE - sh) // 2
    out[y0 : y0 + sh, x0 : x0 + sw] = np.asarray(small, np.float32) / 255.0
    return out


@lru_cache(maxsize=1)
def glyph_bank() -> tuple[np.ndarray, str]:
    """Every (font, letter) glyph as float ink (G, SIDE, SIDE), and the letter of each."""
    images, letters = [], []
    for name in FONT_FILES:
        path = _font_dir() / name
        if not path.exists():  # another matplotlib release may ship other fonts
            continue
        font = ImageFont.truetype(str(path), _RENDER_PX)
        for letter in LETTERS:
            canvas = Image.new("L", (2 * _RENDER_PX, 2 * _RENDER_PX), 0)
            ImageDraw.Draw(canvas).text((_RENDER_PX // 2, _RENDER_PX // 4), letter, 255, font)
            box = canvas.getbbox()
            if box is None:  # a font without this letter
                continue
            images.append(_fit(canvas.crop(box)))
            letters.append(letter)
    if not images:
        raise FileNotFoundError(f"no font of {FONT_FILES} in {_font_dir()}")
    return np.stack(images), "".join(letters)


def _max_filter(ink: np.ndarray) -> np.ndarray:
    """3x3 grey dilation of a stack: the stroke one pixel bolder on every side."""
    padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
    h, w = ink.shape[1:]
    return np.max([padded[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], 0)


def _min_filter(ink: np.ndarray) -> np.ndarray:
    return 1.0 - _max_filter(1.0 - ink)


def _weights(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each glyph thinner (one step), as it is, or bolder (one or two steps): pens differ.
    Two steps are rare: on a bold font they fill the counters of a, e, o."""
    step = rng.choice([-1, 0, 1, 2], len(ink), p=[0.25, 0.4, 0.3, 0.05])
    thin = _min_filter(ink)
    # A light font's hairlines vanish when thinned: those glyphs keep their weight.
    kept = thin.sum(axis=(1, 2)) / np.maximum(ink.sum(axis=(1, 2)), 1e-6)
    step = np.where((step == -1) & (kept < THIN_KEEPS), 0, step)
    bold = _max_filter(ink)
    bolder = _max_filter(bold)
    out = np.where((step == -1)[:, None, None], thin, ink)
    out = np.where((step == 1)[:, None, None], bold, out)
    return np.where((step == 2)[:, None, None], bolder, out)


def _affine(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random output -> input maps (n, 3, 3): rotate, shear, stretch, shrink about the centre."""
    theta = np.radians(rng.uniform(-15, 15, n))
    shear = rng.uniform(-0.35, 0.35, n)
    scale = rng.uniform(0.8, 1.35, n)  # >1 shrinks: the map goes from output to input
    aspect = np.exp(rng.uniform(-0.25, 0.25, n))
    cos, sin = np.cos(theta), np.sin(theta)
    a = np.empty((n, 2, 2))
    a[:, 0, 0] = cos * scale * aspect
    a[:, 0, 1] = (shear * cos - sin) * scale / aspect
    a[:, 1, 0] = sin * scale * aspect
    a[:, 1, 1] = (shear * sin + cos) * scale / aspect
    centre = np.full(2, (SIDE - 1) / 2)
    shift = rng.uniform(-3, 3, (n, 2))
    m = np.zeros((n, 3, 3))
    m[:, :2, :2] = a
    m[:, :2, 2] = centre - np.einsum("nij,j->ni", a, centre) + shift
    m[:, 2, 2] = 1
    return m


def font_letters(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random letters as float ink (n, SIDE, SIDE) in [0, 1]: random font, weight,
    affine transform and elastic bend."""
    bank, _ = glyph_bank()
    ink = bank[rng.integers(0, len(bank), n)]
    ink = _weights(ink, rng)
    ink = homography_warp(ink, _affine(n, rng))
    ink = elastic(ink, rng.uniform(0.5, 2.5, n), 4, rng)
    return np.clip(ink, 0.0, 1.0).astype(np.float32)
