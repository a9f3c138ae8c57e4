"""digitkit: handwritten-digit recognition, from a NumPy LeNet-5 to ensembles of deep CNNs.

``from digitkit import Recognizer`` is the entry point for recognizing images; it is imported
lazily so that ``import digitkit`` stays cheap (no torch import until a model is needed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from digitkit._version import __version__

if TYPE_CHECKING:  # type checkers see the class; at run time it is imported on first use
    from digitkit.vision.recognize import Recognizer

__all__ = ["Recognizer", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Recognizer":
        from digitkit.vision.recognize import Recognizer

        return Recognizer
    raise AttributeError(f"module 'digitkit' has no attribute {name!r}")
