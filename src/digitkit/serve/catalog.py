"""Offered models described for people: the model menu of the page shows
"Default: 2-model ensemble, 99.63% on MNIST test" and "CNN medium (MNIST, seed 1), 99.59%",
not "default" and "cnn-medium-s1".

Everything comes from the files a model already has: a run's ``card.json`` (architecture,
engine, training data, seed, ``metrics.test.accuracy``) or an ensemble spec (members,
``data``, ``metrics``). A name with no readable card (a test double, a damaged run) is
described by its name alone: the list must never fail because one card is odd.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from digitkit.serve.schemas import ModelInfo

# Architecture names as people write them; other names only lose their dashes.
ARCHITECTURE_WORDS = {
    "cnn": "CNN",
    "cnn4": "CNN-4",
    "mlp": "MLP",
    "fc": "FC",
    "lenet5": "LeNet-5",
    "resnet": "ResNet",
    "vgg16": "VGG16",
    "wrn": "WRN",
    "mobilenet": "MobileNet",
    "simplecnn": "SimpleCNN",
}
DATASET_WORDS = {"mnist": "MNIST", "mixed": "real handwriting", "kaggle": "Kaggle MNIST"}
RUN_FOLDERS = ("runs/", "trained/")


def describe_models(names: list[str], default: str) -> list[ModelInfo]:
    """:func:`describe_model` for each name, the default first (the menu opens on it)."""
    ordered = [default] + [n for n in names if n != default]
    return [describe_model(n, is_default=n == default) for n in ordered]


def describe_model(name: str, is_default: bool = False) -> ModelInfo:
    """A readable label and the MNIST test accuracy of the offered model ``name``."""
    doc = _model_document(name)
    accuracy = _test_accuracy(doc)
    # The default's label is the menu's first line, seen in a narrow select on a phone:
    # what it is and how good, without the training details the others need to be told apart.
    what = (_kind(doc) if is_default else _what_it_is(doc)) if doc else name
    if any(name.startswith(folder) for folder in RUN_FOLDERS):
        what = f"Run {name.split('/', 1)[1]}: {what}"  # runs are told apart by their folder
    known = accuracy is not None
    if is_default:
        label = f"Default: {what}" + (f", {_percent(accuracy)} on MNIST test" if known else "")
    else:
        label = what + (f", {_percent(accuracy)}" if known else "")
    return ModelInfo(name=name, label=label, accuracy=accuracy, default=is_default)


def _model_document(name: str) -> dict[str, Any] | None:
    """The card of a run directory or the spec of an ensemble, or None when unreadable."""
    from digitkit.errors import DigitkitError
    from digitkit.inference.predictor import resolve

    try:
        path = resolve(name)
    except DigitkitError:
        return None
    file = path / "card.json" if path.is_dir() else path
    try:
        doc = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _what_it_is(doc: dict[str, Any]) -> str:
    """'2-model ensemble (real handwriting)', 'CNN medium (MNIST, seed 1)',
    'LeNet-5 in NumPy (MNIST, seed 0)'."""
    details = [DATASET_WORDS.get(str(_section(doc, "data").get("dataset")), "")]
    if not isinstance(doc.get("members"), list) and isinstance(doc.get("seed"), int):
        details.append(f"seed {doc['seed']}")
    details = [d for d in details if d]
    return f"{_kind(doc)} ({', '.join(details)})" if details else _kind(doc)


def _kind(doc: dict[str, Any]) -> str:
    """'2-model ensemble', 'CNN medium', 'LeNet-5 in NumPy'."""
    members = doc.get("members")
    if isinstance(members, list):
        return f"{len(members)}-model ensemble"
    kind = readable_architecture(str(_section(doc, "architecture").get("name", "model")))
    return kind + " in NumPy" if doc.get("engine") == "numpy" else kind


def readable_architecture(name: str) -> str:
    """'cnn-medium' -> 'CNN medium', 'lenet5' -> 'LeNet-5', 'scratch-mlp' -> 'MLP'."""
    words = [w for w in name.split("-") if w != "scratch"] or [name]
    return " ".join(ARCHITECTURE_WORDS.get(w, w) for w in words)


def _test_accuracy(doc: dict[str, Any] | None) -> float | None:
    accuracy = _section(_section(doc or {}, "metrics"), "test").get("accuracy")
    return float(accuracy) if isinstance(accuracy, int | float) else None


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """``doc[key]`` when it is an object, else {}: cards written by older versions vary."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _percent(accuracy: float | None) -> str:
    return f"{100 * (accuracy or 0):.2f}%"
