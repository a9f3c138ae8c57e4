"""Calibration: temperature scaling fitted on the validation split, and the threshold below
which a prediction is reported as ``uncertain``.

Networks trained with cross-entropy are over-confident (or, with label smoothing,
under-confident); dividing the logits by one scalar T fitted to minimize the validation
negative log-likelihood fixes most of it without changing any prediction (Guo et al. 2017).
The fitted values live in the run's card under ``calibration``; ``digitkit.inference.predictor``
applies the temperature whenever it loads the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from digitkit import metrics, runs
from digitkit.errors import DigitkitError
from digitkit.metrics import golden_section_min, logits_nll, safe_log

ECE_BINS = 15
# Predictions at or above the "uncertain" threshold are right at least this often on the
# validation split; the threshold is the lowest confidence for which that holds.
CERTAIN_ACCURACY = 0.997
DEFAULT_UNCERTAIN_BELOW = 0.6  # for models never calibrated
# A "not a digit" model refuses an image when that class's probability reaches the operating
# point: the lowest threshold (most non-digits refused) that refuses at most this fraction of
# the validation digits. The real-handwriting target is <= 1% of real digits refused; half
# of that on validation leaves room for writers the model never saw.
MAX_DIGITS_REFUSED = 0.005
REFUSAL_GRID = np.round(np.linspace(0.05, 0.95, 19), 2)  # the trade-off curve's thresholds


def _as_logits(values: np.ndarray) -> np.ndarray:
    """Logits from logits or probabilities (log-probabilities are logits up to a constant)."""
    v = np.asarray(values, np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected (N, classes) scores, got shape {v.shape}")
    looks_like_probs = (
        v.min() >= 0.0 and v.max() <= 1.0 and np.allclose(v.sum(axis=1), 1.0, atol=1e-3)
    )
    return safe_log(v) if looks_like_probs else v


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float64)."""
    return metrics.softmax(np.asarray(logits, np.float64), temperature, axis=1)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / T)``."""
    return logits_nll(np.asarray(logits, np.float64), labels, temperature)


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE: the confidence-weighted gap between confidence and accuracy over equal-width bins
    of the top-class confidence (Naeini et al. 2015; Guo et al. 2017)."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    which = np.minimum((conf * bins).astype(int), bins - 1)
    gap = np.abs(
        np.bincount(which, weights=conf, minlength=bins)
        - np.bincount(which, weights=correct, minlength=bins)
    )
    return float(gap.sum() / max(len(labels), 1))


def fit_temperature(probs_or_logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimizing validation NLL of ``softmax(logits / T)``.

    Accepts logits or probabilities (N, classes). A 1-D problem: a coarse log-spaced grid,
    then golden-section refinement; no optimizer state, deterministic.
    """
    logits = _as_logits(probs_or_logits)
    labels = np.asarray(labels, np.int64)
    if len(labels) != len(logits) or len(labels) == 0:
        raise ValueError("fit_temperature needs as many labels as score rows (and at least one)")
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 61))
    losses = [nll(logits, labels, t) for t in grid]
    i = int(np.argmin(losses))
    lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
    best = golden_section_min(lambda log_t: nll(logits, labels, np.exp(log_t)), lo, hi)
    return float(np.exp(best))


def uncertain_threshold(
    probs: np.ndarray, labels: np.ndarray, target: float = CERTAIN_ACCURACY
) -> float:
    """The lowest confidence t such that predictions at or above t are right at least
    ``target`` of the time on these (validation) probabilities; below t is "uncertain".

    Never below 0.5 (a digit less likely than all the others together is always uncertain).
    """
    conf = np.asarray(probs).max(axis=1)
    correct = np.asarray(probs).argmax(axis=1) == np.asarray(labels)
    order = np.argsort(-conf)
    # Accuracy of the k most confident predictions, for every k.
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(running >= target)
    if ok.size == 0:
        return 0.99
    t = float(conf[order][ok[-1]])
    return round(float(np.clip(t, 0.5, 0.99)), 4)


def refusal_curve(
    probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray = REFUSAL_GRID
) -> list[dict[str, float]]:
    """For each threshold t on the "not a digit" probability (class 10): the fraction of
    digits refused and of non-digits refused when images with p >= t are refused."""
    probs, labels = np.asarray(probs), np.asarray(labels)
    other = probs[:, 10]
    digit = labels < 10
    return [
        {
            "threshold": float(t),
            "digits_refused": round(float((other[digit] >= t).mean()), 6),
            "non_digits_refused": round(float((other[~digit] >= t).mean()), 6)
            if (~digit).any()
            else 0.0,
        }
        for t in thresholds
    ]


def refusal_operating_point(
    probs: np.ndarray, labels: np.ndarray, max_digits_refused: float = MAX_DIGITS_REFUSED
) -> float:
    """The lowest threshold on the grid (refusing the most non-digits) whose validation
    digits refused stay within ``max_digits_refused``."""
    for point in refusal_curve(probs, labels):
        if point["digits_refused"] <= max_digits_refused:
            return point["threshold"]
    return float(REFUSAL_GRID[-1])


def calibration_report(probs_or_logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Fit the temperature and threshold (and, for a model with the "not a digit" class, its
    refusal operating point); return the card's ``calibration`` block."""
    logits = _as_logits(probs_or_logits)
    labels = np.asarray(labels, np.int64)
    t = fit_temperature(logits, labels)
    before, after = softmax(logits), softmax(logits, t)
    threshold = uncertain_threshold(after, labels)
    flagged = after.max(axis=1) < threshold
    correct = after.argmax(axis=1) == labels
    refusal = {}
    if logits.shape[1] > 10:
        refusal = {
            "not_a_digit_above": refusal_operating_point(after, labels),
            "max_digits_refused": MAX_DIGITS_REFUSED,
            "refusal_curve": refusal_curve(after, labels),
        }
    return {
        **refusal,
        "temperature": round(t, 6),
        "ece_before": round(expected_calibration_error(before, labels), 6),
        "ece_after": round(expected_calibration_error(after, labels), 6),
        "nll_before": round(nll(logits, labels), 6),
        "nll_after": round(nll(logits, labels, t), 6),
        "uncertain_below": threshold,
        "uncertain_fraction_val": round(float(flagged.mean()), 6),
        "accuracy_certain_val": round(float(correct[~flagged].mean()), 6)
        if (~flagged).any()
        else None,
        "accuracy_uncertain_val": round(float(correct[flagged].mean()), 6)
        if flagged.any()
        else None,
        "n": int(len(labels)),
        "split": "val",
    }


def calibrate_run(run_dir: str | Path, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Fit temperature scaling on the validation split the run was trained with (same
    dataset, size and seed as its card says) and write ``calibration`` into its card."""
    from digitkit.card import splits_for
    from digitkit.inference.predictor import load_predictor

    run_dir = runs.require_run_dir(run_dir)
    card = runs.read_card(run_dir)
    predictor = load_predictor(run_dir)
    if not hasattr(predictor, "temperature"):
        raise DigitkitError(f"{run_dir}: only single-model run directories can be calibrated")
    predictor.temperature = 1.0  # the raw, uncalibrated probabilities
    x, y = splits_for(card, data_dir, train=False).get("val")
    probs = predictor.predict_proba(x.astype(np.float32) / np.float32(255.0))
    report = calibration_report(probs, y)
    runs.update_card(run_dir, calibration=report)
    if "refusal_curve" in report:
        from digitkit.plots import plot_refusal_curve

        plot_refusal_curve(
            report["refusal_curve"], report["not_a_digit_above"], run_dir / "refusal-curve.png"
        )
    return report


def calibrate_ensemble(spec: str | Path, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Measure an ensemble spec's calibration on its validation split and write it (with the
    validation accuracy and log-loss) into the spec. Members keep their own temperatures
    (calibrate them first with :func:`calibrate_run`); the average needs none of its own, so
    the block records the ECE of the average before (members at T = 1) and after, and the
    confidence below which the Recognizer marks a prediction uncertain."""
    import json

    from digitkit import atomic
    from digitkit.card import splits_for
    from digitkit.inference.predictor import load_predictor

    spec = Path(spec)
    doc = json.loads(spec.read_text(encoding="utf-8"))
    ensemble = load_predictor(spec)
    x, y = splits_for(doc, data_dir, train=False).get("val")
    x = x.astype(np.float32) / np.float32(255.0)
    members = ensemble.members
    temperatures = [float(m.temperature) for m in members]
    for m in members:
        m.temperature = 1.0
    raw = ensemble.predict_proba(x)
    for m, t in zip(members, temperatures, strict=True):
        m.temperature = t
    calibrated = ensemble.predict_proba(x)
    report = {
        "temperature": 1.0,
        "note": "each member applies its own temperature ("
        + ", ".join(f"{t:.2f}" for t in temperatures)
        + ")",
        "ece_before": round(expected_calibration_error(raw, y), 6),
        "ece_after": round(expected_calibration_error(calibrated, y), 6),
        "uncertain_below": uncertain_threshold(calibrated, y),
        **(
            {
                "not_a_digit_above": refusal_operating_point(calibrated, y),
                "max_digits_refused": MAX_DIGITS_REFUSED,
                "refusal_curve": refusal_curve(calibrated, y),
            }
            if calibrated.shape[1] > 10
            else {}
        ),
        "acc_val": round(float((calibrated.argmax(axis=1) == y).mean()), 6),
        "n": int(len(y)),
        "split": "val",
    }
    doc["calibration"] = report
    doc.setdefault("metrics", {})["val"] = {
        "accuracy": report["acc_val"],
        "nll": round(metrics.nll(calibrated, y), 6),
        "n": int(len(y)),
    }
    atomic.write_text(spec, json.dumps(doc, indent=2) + "\n")
    return report
