"""Figures: training curves, confusion matrices, image galleries, the refusal trade-off and
bar charts of accuracies (matplotlib, Agg). Every figure of the package is drawn here.

Every function writes a PNG atomically and returns its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from digitkit import atomic  # noqa: E402


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_history(history: Sequence[dict[str, float]], path: str | Path, title: str = "") -> Path:
    """Loss and accuracy per epoch, train vs val (``curves.png``)."""
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, style in (("train", "-o"), ("val", "-s")):
        if f"{key}_loss" in history[0]:
            ax_loss.plot(epochs, [r[f"{key}_loss"] for r in history], style, ms=3, label=key)
        if f"{key}_acc" in history[0]:
            ax_acc.plot(epochs, [100 * r[f"{key}_acc"] for r in history], style, ms=3, label=key)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion(matrix: np.ndarray, path: str | Path, title: str = "") -> Path:
    """A KxK confusion matrix with counts (rows: true, columns: predicted); an 11th class is
    "not a digit", shown as "x"."""
    fig, ax = plt.subplots(figsize=(6, 5.4))
    shown = np.log1p(matrix)
    ax.imshow(shown, cmap="Blues")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            color = "white" if shown[i, j] > shown.max() * 0.6 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8, color=color)
    ticks = [str(c) if c < 10 else "x" for c in range(matrix.shape[0])]
    ax.set(
        xticks=range(len(ticks)),
        yticks=range(len(ticks)),
        xticklabels=ticks,
        yticklabels=ticks,
        xlabel="predicted",
        ylabel="true",
        title=title or "confusion matrix",
    )
    return _save(fig, path)


def plot_gallery(
    images: np.ndarray,
    titles: Sequence[str],
    path: str | Path,
    cols: int = 10,
    title: str = "",
    colors: Sequence[str] | None = None,
    cmap: str = "gray_r",
) -> Path:
    """A grid of 28x28 images with a small title each (samples, errors, predictions); ink
    is dark on light unless ``cmap`` says otherwise."""
    n = max(1, len(images))
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.25), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(images):
            ax.imshow(images[k], cmap=cmap, vmin=0, vmax=images[k].max() or 1)
            ax.set_title(titles[k], fontsize=7, color=colors[k] if colors else "black")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_refusal_curve(
    curve: Sequence[dict[str, float]], chosen: float, path: str | Path, title: str = ""
) -> Path:
    """The "not a digit" trade-off on validation: digits refused (x) against non-digits
    refused (y) as the threshold moves, with the chosen operating point marked."""
    x = [100 * p["digits_refused"] for p in curve]
    y = [100 * p["non_digits_refused"] for p in curve]
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    ax.plot(x, y, "-o", ms=3)
    for p, xi, yi in zip(curve, x, y, strict=True):
        if p["threshold"] == chosen:
            ax.plot(
                [xi],
                [yi],
                "o",
                ms=9,
                mfc="none",
                mec="crimson",
                label=f"chosen: refuse at p >= {chosen:g}",
            )
    ax.set(
        xscale="symlog",
        xlabel="digits refused (%)",
        ylabel="non-digits refused (%)",
        title=title or "not a digit: trade-off on validation",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_errors(
    images: np.ndarray,
    labels: np.ndarray,
    proba: np.ndarray,
    path: str | Path,
    title: str = "",
    limit: int = 100,
) -> Path:
    """Gallery of the misclassified images, each titled '#index' over
    'true→predicted (confidence)'."""
    wrong = np.flatnonzero(proba.argmax(axis=1) != labels)[:limit]
    # The test index on a line of its own: on one line with the rest, neighbours overlap.
    titles = [f"#{i}\n{labels[i]}→{int(proba[i].argmax())} ({proba[i].max():.2f})" for i in wrong]
    return plot_gallery(
        images[wrong],
        titles,
        path,
        cols=max(1, min(10, len(wrong))),
        title=title or (f"{len(wrong)} errors" if len(wrong) else "no errors"),
    )


def plot_accuracy_bars(reports: dict[str, dict], path: str | Path, title: str = "") -> Path:
    """Bar chart of every ensemble member's and the ensemble's accuracy, one bar per split
    (``reports``: split -> :func:`digitkit.inference.ensemble_build.eval_report`)."""
    splits = list(reports)
    first = reports[splits[0]]
    labels = [m["name"] for m in first["members"]] + [f"ensemble\n({first['method']})"]
    x = np.arange(len(labels))
    width = 0.8 / len(splits)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels) + 2), 4.5))
    values_all = []
    for i, split in enumerate(splits):
        r = reports[split]
        values = [100 * m["accuracy"] for m in r["members"]] + [100 * r["accuracy"]]
        values_all += values
        bars = ax.bar(x + (i - (len(splits) - 1) / 2) * width, values, width, label=split)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, rotation=90, padding=2)
    lo = min(values_all)
    ax.set_ylim(max(0.0, lo - max(0.5, (100 - lo) * 0.6)), 100.0 + (100 - lo) * 0.15 + 0.05)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "members and ensemble", loc="left")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(splits), frameon=False)
    return _save(fig, path)
