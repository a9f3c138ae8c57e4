"""The optional parts of digitkit and the one message that says which extra to install.

``pip install digitkit`` recognizes digits and reads numbers (NumPy, Pillow, safetensors,
the CLI): the shipped models run on digitkit's own NumPy runtime
(:mod:`digitkit.inference.numpy_runtime`). A faster runtime, training, the web server and the
desktop app come with extras (``pyproject.toml``):

* ``fast``: onnxruntime, which runs the shipped models (and their int8 graphs) faster; used
  whenever it is installed;
* ``train``: torch, onnx and onnxruntime (export), matplotlib (plots): ``digitkit train``,
  ``evaluate``, ``export``, ``models``, ``ensemble``, ``calibrate``, ``train-number``;
* ``serve``: FastAPI, uvicorn, python-multipart, and ``fast``: ``digitkit serve``;
* ``desktop``: PySide6: ``digitkit app``.

Library code asks for an optional module with :func:`require`; the CLI entry point turns any
``ModuleNotFoundError`` of an optional module into the same one line (:func:`missing_extra`),
so a command that lacks its extra says what to install, exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from digitkit.errors import DigitkitError

# extra -> how the message names it
EXTRAS: dict[str, str] = {
    "fast": "fast runtime",
    "train": "training",
    "serve": "serve",
    "desktop": "desktop",
}

# top-level import name -> the extra that installs it
MODULE_EXTRAS: dict[str, str] = {
    "onnxruntime": "fast",
    "torch": "train",
    "onnx": "train",
    "matplotlib": "train",
    "fastapi": "serve",
    "starlette": "serve",
    "pydantic": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "prometheus_client": "serve",
    "PySide6": "desktop",
    "shiboken6": "desktop",
}

# the modules whose presence means an extra is installed (``digitkit env``)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "fast": ("onnxruntime",),
    "train": ("torch", "onnx", "matplotlib"),
    "serve": ("fastapi", "uvicorn", "multipart"),
    "desktop": ("PySide6",),
}

# What is running, for the message ("digitkit train"); set by the CLI entry point.
_command: str | None = None


class MissingExtra(DigitkitError, ImportError):
    """An optional dependency is not installed; the message names the extra (exit code 2).

    Also an ImportError, so code that already falls back when an import fails still does."""


def set_command(command: str | None) -> None:
    """Name the running CLI command (``digitkit train``) in missing-extra messages."""
    global _command
    _command = command


def message(extra: str, module: str, what: str | None = None) -> str:
    """``digitkit train needs the training extra: pip install 'digitkit[train]'``."""
    what = what or _command or f"this (it imports {module}, which is not installed)"
    return f"{what} needs the {EXTRAS.get(extra, extra)} extra: pip install 'digitkit[{extra}]'"


def require(extra: str, module: str, what: str | None = None) -> ModuleType:
    """Import ``module`` (part of ``extra``) or raise :class:`MissingExtra` naming the extra.

    ``what`` names what needs it ("loading runs/x (no verified ONNX export)"); by default the
    running CLI command."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if not _is_optional(exc.name, module):
            raise
        raise MissingExtra(message(extra, module, what)) from None


def missing_extra(exc: BaseException) -> MissingExtra | None:
    """The :class:`MissingExtra` for an ``ImportError`` of an optional module, else None."""
    if isinstance(exc, MissingExtra):
        return exc
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.split(".")[0]
    extra = MODULE_EXTRAS.get(top)
    return None if extra is None else MissingExtra(message(extra, top))


def installed(extra: str) -> bool:
    """Whether every module of ``extra`` can be imported (found, not imported)."""
    from importlib.util import find_spec

    return all(find_spec(m) is not None for m in EXTRA_MODULES[extra])


def _is_optional(missing: str | None, module: str) -> bool:
    """Whether the module that failed to import is ``module`` itself or an optional one (a
    broken install of a core package keeps its own traceback)."""
    if not missing:
        return True
    top = missing.split(".")[0]
    return top == module.split(".")[0] or top in MODULE_EXTRAS
