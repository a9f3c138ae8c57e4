"""Small writer-split pen parts for tests of the training mix."""

import numpy as np

from digitkit.data import sources


def tiny_train_parts(pens: int) -> dict:
    """The first ``pens`` training pen digits, 5 UJI digits and 5 UJI letters, keyed as
    :func:`digitkit.data.sources.draw_examples` expects."""
    parts = sources.pen_parts()
    return {
        "pen": parts["pen_train"].subset(np.arange(pens)),
        "uji_digits": parts["uji_digits_train"].subset(np.arange(5)),
        "letters": parts["letters_train"].subset(np.arange(5)),
    }
