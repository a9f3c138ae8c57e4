"""Any image -> the normalized 28x28 input MNIST models expect.

MNIST digits are white on black, cropped to their ink, scaled so the longer side is 20 px
(aspect kept, anti-aliased) and shifted so the centre of mass sits at the centre of a 28x28
frame. What people hand a recognizer looks nothing like that, so every entry point (CLI,
REST API, desktop app, Recognizer, segmentation) goes through the same steps here:

1. decode (``digitkit.vision.imageio``): alpha composited onto the background that contrasts with
   the ink; big images block averaged to at most ``WORK_SIDE`` a side, and a drawing of at
   least 160 px whose strokes are 8 px or wider extracted from its 2x2 means (a quarter of the
   work; the grid starts on the ink's parity, so moving a drawing changes nothing);
2. polarity: the background is the median of the border; the ink is whichever side of it
   (darker or lighter) deviates more, so black-on-white and white-on-black both work;
3. background flattening: when the border shows uneven light (a photo), a coarse grid of
   local background levels is subtracted (a cell a thick stroke fills, far above its
   neighbours, takes their level: the light is smooth); flat canvases are never touched, so
   thick strokes are never hollowed out;
4. contrast normalized to the ink level; printed lines removed (cell borders cut by the crop
   or around the digit, ruled lines: long, thin, straight runs of ink, judged by where they
   lie relative to the rest, :func:`lines.remove_lines`); faint noise and specks removed by
   hysteresis on connected components above each image's own noise floor (weak pixels
   survive only next to strong ink, so anti-aliased edges and thin strokes are kept, not
   thinned; a paper's grain under faint pencil stays below the floor);
   a crop 1.25 times wider than tall or more (a form's field) is judged as a line of writing
   and, 48 px tall or more, read in the square window around its digit (several digits side
   by side in it are "not a digit"), both paths;
5. crop to the ink box, stroke-width normalization for thin pens, anti-aliased resampling to a
   20 px box and placement by centre of mass (:func:`render.render_batch`, one matrix product
   per axis, vectorized over a batch).

Stacks of equal-sized images (an (N, H, W) array, Kaggle CSV rows) are processed with the
same code vectorized over the batch: :func:`to_mnist_batch`. An image of ``SMALL_SIDE`` (64 px)
or less takes that path alone or in a batch alike. It is not step for step the one-by-one
path of bigger images: among other things, printed lines are sought above LINE_LOW rather than
above each image's noise floor, and the digit's cleaning does not look again within its own
region; so a photo read at 64 px and the same photo upscaled may come out as different 28x28
images (benchmarks/RESULTS.md, "Cell-sized photos: the stack path and the per-image path").

The modules, one step each: ``background`` (the paper's level, uneven light), ``blocks``
(block reduction of big images), ``ink`` (grey levels -> ink, the noise floor),
``connected`` (connected components), ``digit`` (a digit's ink cleaned of noise and specks),
``morphology`` (binary morphology on stacks and bit-packed rows), ``line_search``,
``line_fit`` and ``lines`` (printed lines: found, fitted, judged and removed), ``bands``
(thick print found by its length: the reading of a photo clear of a bold box), ``render``
(the 28x28 frame by centre of mass), ``normalize`` (ink -> 28x28, thin pens thickened),
``pipeline`` (the entry points) and ``shortcuts`` (the switch of the exact shortcuts a clean
canvas takes, off only to compare). This package re-exports the names the rest of digitkit
uses.
"""

from digitkit.vision.preprocess.connected import Components, components, label_components
from digitkit.vision.preprocess.ink import extract_ink, noise_floor
from digitkit.vision.preprocess.lines import remove_lines
from digitkit.vision.preprocess.normalize import normalize_stack
from digitkit.vision.preprocess.pipeline import (
    SMALL_SIDE,
    Preprocessed,
    to_mnist,
    to_mnist_batch,
    to_mnist_grey,
)
from digitkit.vision.preprocess.render import CENTRE, FRAME

__all__ = [
    "CENTRE",
    "FRAME",
    "SMALL_SIDE",
    "Components",
    "Preprocessed",
    "components",
    "extract_ink",
    "label_components",
    "noise_floor",
    "normalize_stack",
    "remove_lines",
    "to_mnist",
    "to_mnist_batch",
    "to_mnist_grey",
]
