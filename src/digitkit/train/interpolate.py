"""Weight-space interpolation between a run and its fine-tuned descendant (WiSE-FT,
Wortsman et al. 2022): ``(1 - alpha) * base + alpha * tuned``, tensor by tensor.

Fine-tuning on new data (real handwriting) can cost a model some of what it learned first
(MNIST); the models on the line between the two sets of weights often keep most of both.
``alpha`` = 1 is the fine-tuned run, 0 the base; values above 1 go further in the
fine-tuning's direction. The result is an ordinary run directory (card, safetensors), to be
calibrated, exported, evaluated and ensembled like any other; choose ``alpha`` on
validation.

Rows the base does not have (an output class the fine-tuning added, such as "not a digit")
are the fine-tuned run's own: there is nothing to interpolate them with. Integer tensors
(BatchNorm's batch counters) are taken from the fine-tuned run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from digitkit import runs
from digitkit.errors import DigitkitError


def interpolate_weights(
    base: dict[str, np.ndarray], tuned: dict[str, np.ndarray], alpha: float
) -> dict[str, np.ndarray]:
    """``(1 - alpha) * base + alpha * tuned`` for every tensor of ``tuned``.

    Each base tensor must have the tuned one's shape, except that it may have fewer rows
    (first dimension): the extra rows come from ``tuned`` unchanged."""
    missing = sorted(set(tuned) - set(base))
    if missing:
        raise DigitkitError(f"the base run has no tensor {missing[0]}: not the same architecture")
    out: dict[str, np.ndarray] = {}
    for key, t in tuned.items():
        b = base[key]
        if b.size == t.size:  # safetensors keeps scalars as shape (1,)
            b = b.reshape(t.shape)
        fewer_rows = b.ndim == t.ndim and b.ndim > 0 and b.shape[1:] == t.shape[1:]
        if b.shape != t.shape and not (fewer_rows and len(b) < len(t)):
            raise DigitkitError(
                f"{key}: the base has shape {tuple(b.shape)}, the fine-tuned run "
                f"{tuple(t.shape)}: not the same architecture"
            )
        if not np.issubdtype(t.dtype, np.floating):
            out[key] = t.copy()
            continue
        mixed = t.astype(np.float64)  # rows beyond the base's stay the tuned run's
        rows = len(b) if b.ndim else None
        part = mixed[:rows] if rows is not None else mixed
        part *= alpha
        part += (1.0 - alpha) * b.astype(np.float64)
        out[key] = mixed.astype(t.dtype)
    return out


def interpolate_runs(
    base_dir: str | Path, tuned_dir: str | Path, alpha: float, out_dir: str | Path
) -> Path:
    """Write a run directory at ``out_dir`` with the interpolated weights of two torch runs
    of one architecture (``tuned_dir`` fine-tuned from ``base_dir``). Its card is the tuned
    run's (labels, input, data, recipe) with the interpolation recorded under ``init``;
    metrics, calibration and exports are left out, as they describe other weights."""
    if not np.isfinite(alpha):
        raise DigitkitError(f"alpha must be a finite number, not {alpha}")
    base_card, tuned_card = runs.read_card(base_dir), runs.read_card(tuned_dir)
    for card, where in ((base_card, base_dir), (tuned_card, tuned_dir)):
        if card.get("engine") != "torch":
            raise DigitkitError(f"{where}: a torch run is needed, not {card.get('engine')}")
        if card.get("status", "done") != "done":
            raise DigitkitError(f"{where}: the run has not finished (status {card['status']})")
    if base_card["architecture"]["name"] != tuned_card["architecture"]["name"]:
        raise DigitkitError(
            f"{base_dir} is {base_card['architecture']['name']}, {tuned_dir} is "
            f"{tuned_card['architecture']['name']}: not the same architecture"
        )
    mixed = interpolate_weights(
        runs.load_weights(base_dir), runs.load_weights(tuned_dir), float(alpha)
    )
    out = Path(out_dir)
    if out.resolve() in (Path(base_dir).resolve(), Path(tuned_dir).resolve()):
        raise DigitkitError(f"--out {out} would overwrite one of the runs it reads")
    if runs.is_run_dir(out):
        raise DigitkitError(f"{out} holds a run already: choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    card: dict[str, Any] = {
        k: v
        for k, v in tuned_card.items()
        if k not in ("metrics", "calibration", "onnx", "best_epoch", "timings")
    }
    card.update(
        metrics={},
        init={
            "interpolated": {"base": str(base_dir), "tuned": str(tuned_dir), "alpha": alpha},
        },
        command=runs.command_line(),
        created=runs.now_iso(),
        status="done",
    )
    runs.save_weights(out, mixed)
    runs.write_card(out, card)
    return out
