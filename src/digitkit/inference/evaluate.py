"""Evaluate a model on a split: accuracy, per-class precision/recall, confusion matrix,
a gallery of the misclassified images, a JSON report and cached probabilities.

Works on any run directory (either engine) and on ensemble specs, through the predictor.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from digitkit import runs
from digitkit.card import splits_for
from digitkit.data import Splits
from digitkit.errors import DigitkitError
from digitkit.metrics import nll


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, k: int = 10) -> np.ndarray:
    """Counts (k, k): rows are true classes, columns predicted ones."""
    return np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k)


def report(labels: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """Accuracy, error count, per-class precision/recall and the confusion matrix. With a
    "not a digit" class (11 columns of ``probs``) a digit refused as not a digit counts as an
    error, and the matrix has that class as its 11th row and column."""
    predicted = probs.argmax(1)
    k = probs.shape[1]
    cm = confusion_matrix(labels, predicted, k)
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(0), out=np.zeros(k), where=cm.sum(0) > 0)
    recall = np.divide(tp, cm.sum(1), out=np.zeros(k), where=cm.sum(1) > 0)
    errors = int((predicted != labels).sum())
    return {
        "accuracy": float((predicted == labels).mean()),
        "errors": errors,
        "n": int(len(labels)),
        "loss": nll(probs, labels),
        "per_class": {
            str(c): {
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "support": int(cm[c].sum()),
            }
            for c in range(k)
        },
        "confusion": cm.tolist(),
    }


def model_splits(spec: str | Path, train: bool = True) -> Splits:
    """The data a model was trained on (the dataset and validation split its card or
    ensemble spec records: :func:`digitkit.card.splits_for`); MNIST with the default split
    for shipped models and anything that records none. ``train=False``: val and test only."""
    path = Path(spec)
    if runs.is_run_dir(path):
        return splits_for(runs.read_card(path), train=train)
    if path.is_file():  # an ensemble spec records its members' split
        import json

        return splits_for(json.loads(path.read_text(encoding="utf-8")), train=train)
    return splits_for(None, train=train)


def split_probs(
    spec: str | Path, split: str, splits: Splits | None = None, use_cache: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of a model on a split; run directories cache probabilities as
    ``probs-<split>.npy`` so later evaluations and ensembles need no recomputation."""
    from digitkit.inference.predictor import load_predictor

    path = Path(spec)
    is_run = runs.is_run_dir(path)
    x, y = (splits or model_splits(path, train=split == "train")).get(split)
    cached = runs.load_probs(path, split, x) if (is_run and use_cache) else None
    if cached is not None:
        return cached, y
    probs = load_predictor(path).predict_proba(x)
    if is_run:
        _try_write(lambda: runs.save_probs(path, split, probs, x))
    return probs, y


def _try_write(write: Callable[[], Any]) -> None:
    """Run a write whose failure (a read-only run directory, a full disk) must not throw away
    results already computed: warn on stderr and go on."""
    try:
        write()
    except OSError as exc:
        where = exc.filename or "the run directory"
        print(f"warning: could not write {where}: {exc.strerror or exc}", file=sys.stderr)


def evaluate(
    spec: str | Path,
    split: str = "test",
    splits: Splits | None = None,
    out_dir: str | Path | None = None,
    use_cache: bool = True,
    gallery_max: int = 100,
) -> dict[str, Any]:
    """Evaluate a run (or ensemble) on ``split`` and write the report and figures.

    Writes ``eval-<split>.json``, ``confusion-<split>.png``, ``errors-<split>.png`` (and
    ``probs-<split>.npy`` for runs) into ``out_dir`` (default: the run directory).
    """
    from digitkit.plots import plot_confusion, plot_gallery

    path = Path(spec)
    if not path.exists():
        raise DigitkitError(f"{path}: no such run directory or ensemble spec")
    out = Path(out_dir) if out_dir else (path if path.is_dir() else path.parent)
    splits = splits or model_splits(path, train=split == "train")
    if split == "val" and not len(splits.y_val):
        raise DigitkitError(
            f"{path} was trained without a validation split (n_val=0): "
            "evaluate it on --split test or --split train"
        )
    probs, labels = split_probs(path, split, splits, use_cache)
    x, _ = splits.get(split)
    rep = report(labels, probs)
    rep["split"] = split
    rep["model"] = str(path)
    name = f"{split}" if path.is_dir() else f"{path.stem}-{split}"
    _try_write(lambda: runs.write_eval(out, name, rep))
    cm = np.array(rep["confusion"])
    _try_write(
        lambda: plot_confusion(
            cm,
            out / f"confusion-{name}.png",
            title=f"{path.name}: {split} accuracy {100 * rep['accuracy']:.2f}%",
        )
    )
    wrong = np.flatnonzero(probs.argmax(1) != labels)[:gallery_max]
    titles = [f"{labels[i]}→{probs[i].argmax()} ({probs[i].max():.2f})" for i in wrong]
    _try_write(
        lambda: plot_gallery(
            x[wrong] if len(wrong) else np.zeros((0, 28, 28)),
            titles,
            out / f"errors-{name}.png",
            title=f"{len(np.flatnonzero(probs.argmax(1) != labels))} errors on {split} "
            "(true→predicted, confidence)",
        )
    )
    if runs.is_run_dir(path):
        _try_write(
            lambda: runs.update_card(
                path,
                metrics={
                    split: {"accuracy": rep["accuracy"], "errors": rep["errors"], "n": rep["n"]}
                },
            )
        )
    return rep
