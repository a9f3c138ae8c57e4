"""The path diagnoses' photos (sizes.py, main_images.py): N MNIST validation digits drawn
at random, photographed at 64 px in each style in turn from one generator."""
import numpy as np

from digitkit.data import load_splits
from digitkit.data.context import ContextStyle, photograph
from digitkit.data.sources import place_mnist

STYLES = {
    "pattern": ContextStyle(p_pattern=1.0),
    "boxed": ContextStyle(p_box=1.0),
    "pencil": ContextStyle(p_faint=1.0),
}


def photo_sets(names, seed: int = 10543, n: int = 1000):
    """Yield (name, uint8 photos (n, 64, 64), labels) for each style name."""
    s = load_splits("mnist")
    rng = np.random.default_rng(seed)
    m = rng.choice(len(s.x_val), n, replace=False)
    x, y = s.x_val[m], s.y_val[m]
    for name in names:
        yield name, photograph(place_mnist(x, rng), rng, STYLES[name]), y
