"""Ensembles of trained models: average, majority vote, Super Learner and greedy selection.

An ensemble is itself a loadable model: a JSON spec (format ``digitkit-ensemble/1``) that names
its members (run directories or other ensemble specs, as paths relative to the spec file or
absolute) and their weights. :func:`digitkit.inference.predictor.load_predictor` loads it like
any run, so ``evaluate``, ``predict``, the Recognizer and the apps use ensembles unchanged.

Methods (``METHODS``):

- ``average``: the (weighted, by default uniform) mean of the members' probabilities.
- ``vote``: majority vote of the members' top classes; a tie goes to the tied class with the
  highest mean probability (the Keras zoo gave ties to the lowest digit).
- ``superlearner`` (van der Laan, Polley & Hubbard 2007): a discrete Super Learner over three
  combiners, chosen by K-fold cross-validated log-loss on the members' *validation*
  probabilities: the uniform average; ``linear``, non-negative member weights summing to 1 on
  the probabilities (maximum likelihood, by EM); ``logit``, non-negative per-member weights on
  the log-probabilities followed by a softmax (the Keras zoo's 1x1-convolution learner; log
  probabilities equal logits up to a per-image constant, which the softmax cancels). The
  chosen combiner is then refitted on the whole validation split.
- ``greedy``: Caruana et al. (2004) forward selection with replacement: start from the best
  member and keep adding the member that most lowers the validation log-loss of the average
  (after fitting one temperature, so that underconfident members, e.g. trained with label
  smoothing, are judged by how well they rank classes); the weights are how often each member
  was picked.

Weights are only ever fitted on the validation split; the test split is reported, never used
for fitting or selection. Members must share one label set, one validation split (so their
validation probabilities line up image by image) and, unless ``allow_mixed_inputs``, one
input specification. Each member applies its own input spec at inference, so mixed inputs
would predict correctly; they are refused by default because an ensemble's card advertises a
single ``input`` (its first member's), which tools that prepare inputs themselves (export,
serving, checks of what a model expects) would then misreport.

A spec may name, under ``drawn``, another model (a path like a member's) that reads drawings
instead of the ensemble: :class:`digitkit.vision.recognize.Recognizer` sends the images
preprocessing marks as drawn (``Preprocessed.drawn``: a canvas, a clean pen scan) to it, with
its own calibration, and everything else (photos, boxes, scans, 28x28 arrays) to the members.
With ``"route_inputs": "large"`` it reads every crop of a cell's size or more
(``Preprocessed.large``: canvases, photos, scans of a box), and the members only thumbnails
and small cells such as MNIST's 28x28. The ensemble's own probabilities never involve it.

Why one module over 400 lines: one job, the loadable ensemble (its spec format, combiners and
their fitting maths, which share ``METHODS``, ``COMBINERS`` and :func:`combine`); the building
from runs, a layer above, is already :mod:`digitkit.inference.ensemble_build`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitkit import atomic, metrics
from digitkit.errors import DigitkitError
from digitkit.metrics import golden_section_min

FORMAT = "digitkit-ensemble/1"
# What a spec's "drawn" model reads: drawings only, or every crop of a cell's size or more
# (digitkit.vision.preprocess.Preprocessed.drawn / .large).
ROUTE_INPUTS = ("drawn", "large")
METHODS = ("average", "vote", "superlearner", "greedy")
COMBINERS = ("average", "linear", "logit")
SPEC_NAME = "ensemble.json"
_EPS = 1e-12


# --------------------------------------------------------------------------------------------
# Combining probabilities. ``probs`` is always (M members, N images, C classes).


def _log(probs: np.ndarray) -> np.ndarray:
    return metrics.safe_log(probs.astype(np.float64))


def average_proba(probs: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of the members' probabilities (uniform when ``weights`` is None)."""
    m = len(probs)
    w = np.full(m, 1.0 / m) if weights is None else np.asarray(weights, np.float64)
    return np.tensordot(w / w.sum(), probs.astype(np.float64), axes=1).astype(np.float32)


def vote_proba(probs: np.ndarray) -> np.ndarray:
    """Majority vote as probabilities: ``(votes + mean_prob / 2) / (M + 1/2)``.

    The top class is the most voted one; among classes with equally many votes, the one with
    the highest mean probability wins (a vote margin of one outweighs any difference of mean
    probabilities, which is below one). Rows sum to 1.
    """
    m, n, c = probs.shape
    votes = np.zeros((n, c), np.float64)
    top = probs.argmax(axis=2)
    for k in range(m):
        votes[np.arange(n), top[k]] += 1
    mean = probs.astype(np.float64).mean(axis=0)
    return ((votes + 0.5 * mean) / (m + 0.5)).astype(np.float32)


def logit_proba(probs: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """softmax(sum_m w_m log p_m): per-member weights on the logits (Keras zoo learner)."""
    w = np.asarray(weights, np.float64)
    return metrics.softmax(np.tensordot(w, _log(probs), axes=1)).astype(np.float32)


def combine(
    probs: np.ndarray, method: str, weights: Sequence[float] | None = None, combiner: str = "linear"
) -> np.ndarray:
    """The ensemble's probabilities (N, C) from the members' (M, N, C) by ``method``."""
    probs = np.asarray(probs)
    if probs.ndim != 3 or len(probs) == 0:
        raise ValueError("member probabilities must have shape (members, images, classes)")
    if method == "vote":
        return vote_proba(probs)
    if method == "superlearner" and combiner == "logit":
        return logit_proba(probs, weights if weights is not None else np.ones(len(probs)))
    if method in METHODS:
        return average_proba(probs, weights)
    raise ValueError(f"unknown ensemble method {method!r}")


# --------------------------------------------------------------------------------------------
# Fitting weights on validation probabilities.


def nll(proba: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of ``labels`` under ``proba`` (N, C)."""
    return metrics.nll(proba.astype(np.float64), labels)


def accuracy(proba: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose top class is the label."""
    return metrics.accuracy(proba, labels)


def fit_linear_weights(
    probs: np.ndarray, labels: np.ndarray, iters: int = 500, tol: float = 1e-10
) -> np.ndarray:
    """Non-negative weights summing to 1 that maximize the likelihood of the weighted average
    of probabilities; EM for mixture weights (each step never lowers the likelihood)."""
    m = len(probs)
    q = np.clip(probs[:, np.arange(len(labels)), labels].T.astype(np.float64), _EPS, None)
    w = np.full(m, 1.0 / m)
    last = np.inf
    for _ in range(iters):
        mix = q @ w
        loss = -np.log(mix).mean()
        w = (q * w / mix[:, None]).mean(axis=0)
        w /= w.sum()
        if last - loss < tol:
            break
        last = loss
    return w


def _logit_loss_grad(w: np.ndarray, logp: np.ndarray, labels: np.ndarray):
    s = metrics.softmax(np.tensordot(w, logp, axes=1))  # (N, C)
    rows = np.arange(len(labels))
    loss = metrics.nll(s, labels)
    # d loss / d w_m = mean_i (E_s[logp_m] - logp_m[y_i])
    grad = (np.einsum("nc,mnc->m", s, logp) - logp[:, rows, labels].sum(axis=1)) / len(labels)
    return loss, grad


def fit_logit_weights(
    probs: np.ndarray, labels: np.ndarray, iters: int = 300, tol: float = 1e-9
) -> np.ndarray:
    """Non-negative per-member weights on the log-probabilities minimizing the log-loss of
    their softmax (projected gradient descent with backtracking; the problem is convex).
    Starts from 1/M each, the unweighted geometric mean, as the Keras zoo did."""
    logp = _log(probs)
    w = np.full(len(probs), 1.0 / len(probs))
    loss, grad = _logit_loss_grad(w, logp, labels)
    step = 1.0
    for _ in range(iters):
        while True:
            cand = np.maximum(w - step * grad, 0.0)
            cand_loss, cand_grad = _logit_loss_grad(cand, logp, labels)
            # Armijo condition for projected gradient steps.
            if cand_loss <= loss - 1e-4 * np.dot(grad, w - cand) or step < 1e-8:
                break
            step *= 0.5
        done = loss - cand_loss < tol
        w, loss, grad = cand, cand_loss, cand_grad
        step = min(step * 2.0, 64.0)
        if done:
            break
    return w


def fit_combiner(combiner: str, probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fitted weights of ``combiner`` (average: uniform)."""
    if combiner == "average":
        return np.full(len(probs), 1.0 / len(probs))
    if combiner == "linear":
        return fit_linear_weights(probs, labels)
    if combiner == "logit":
        return fit_logit_weights(probs, labels)
    raise ValueError(f"unknown combiner {combiner!r}; choose from {COMBINERS}")


def _apply_combiner(combiner: str, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return logit_proba(probs, weights) if combiner == "logit" else average_proba(probs, weights)


def kfold(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint folds (index arrays) covering ``range(n)`` in a seeded random order."""
    if not 2 <= k <= n:
        raise DigitkitError(f"cross-validation needs 2 <= folds <= {n} images, got {k}")
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


@dataclass
class SuperLearnerFit:
    """The chosen combiner, its weights fitted on all of validation, and the CV table."""

    combiner: str
    weights: np.ndarray
    cv: dict[str, dict[str, float]] = field(default_factory=dict)


def fit_superlearner(
    val_probs: np.ndarray,
    val_labels: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    combiners: Sequence[str] = COMBINERS,
) -> SuperLearnerFit:
    """Discrete Super Learner on validation probabilities only: each combiner is fitted on
    K-1 folds and scored on the held-out fold; the one with the lowest cross-validated
    log-loss is refitted on all the validation images."""
    val_probs = np.asarray(val_probs)
    val_labels = np.asarray(val_labels)
    cv: dict[str, dict[str, float]] = {}
    for combiner in combiners:
        oof = np.zeros(val_probs.shape[1:], np.float32)
        for held in kfold(len(val_labels), folds, seed):
            fit_idx = np.setdiff1d(np.arange(len(val_labels)), held)
            w = fit_combiner(combiner, val_probs[:, fit_idx], val_labels[fit_idx])
            oof[held] = _apply_combiner(combiner, val_probs[:, held], w)
        cv[combiner] = {"nll": nll(oof, val_labels), "accuracy": accuracy(oof, val_labels)}
    best = min(cv, key=lambda c: (cv[c]["nll"], -cv[c]["accuracy"]))
    return SuperLearnerFit(best, fit_combiner(best, val_probs, val_labels), cv)


@dataclass
class GreedyFit:
    """Weights (pick counts / picks) and the order members were picked in."""

    weights: np.ndarray
    picks: list[int]
    path: list[dict[str, float]]


def calibrated_nll(proba: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(log-loss after the best single temperature, that temperature): how well ``proba``
    ranks the classes, whatever its calibration (label-smoothed members are underconfident,
    so their plain log-loss hardly moves when they are averaged, even when errors drop)."""
    logp = _log(proba)
    rows = np.arange(len(labels))

    def loss(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        return float((np.log(np.exp(z).sum(axis=1)) - z[rows, labels]).mean())

    # The loss is convex in 1/T: search log T between T = 0.05 and T = 20.
    t = golden_section_min(loss, np.log(0.05), np.log(20.0))
    return loss(t), float(np.exp(t))


def greedy_select(
    val_probs: np.ndarray, val_labels: np.ndarray, max_picks: int | None = None
) -> GreedyFit:
    """Forward selection with replacement (Caruana et al. 2004) on the validation split:
    start from the best member and keep adding the member whose inclusion most lowers the
    temperature-calibrated log-loss of the average; stop when no addition helps."""
    val_probs = np.asarray(val_probs, np.float64)
    m = len(val_probs)
    max_picks = max_picks or 4 * m

    def score(p: np.ndarray) -> dict[str, float]:
        cal, t = calibrated_nll(p, val_labels)
        return {
            "calibrated_nll": cal,
            "temperature": t,
            "nll": nll(p, val_labels),
            "accuracy": accuracy(p, val_labels),
        }

    scores = [score(p) for p in val_probs]
    first = int(np.argmin([sc["calibrated_nll"] for sc in scores]))
    picks, total = [first], val_probs[first].copy()
    path = [{"member": first, **scores[first]}]
    while len(picks) < max_picks:
        k = len(picks)
        cands = [score((total + val_probs[j]) / (k + 1)) for j in range(m)]
        j = int(np.argmin([c["calibrated_nll"] for c in cands]))
        if cands[j]["calibrated_nll"] >= path[-1]["calibrated_nll"] - 1e-7:
            break
        picks.append(j)
        total += val_probs[j]
        path.append({"member": j, **cands[j]})
    weights = np.bincount(picks, minlength=m).astype(np.float64)
    return GreedyFit(weights / weights.sum(), picks, path)


# --------------------------------------------------------------------------------------------
# Members, specs and the loadable ensemble.


def _resolve_member(base: Path, entry: str, spec_path: Path | None) -> Path:
    path = Path(entry)
    path = path if path.is_absolute() else base / path
    if not path.exists():
        where = f"ensemble {spec_path}: " if spec_path else ""
        raise DigitkitError(
            f"{where}member {entry!r} is missing (no {path}); restore it or "
            "rebuild the ensemble without it"
        )
    return path


def check_members(
    paths: Sequence[Path], cards: Sequence[dict[str, Any]], allow_mixed_inputs: bool = False
) -> None:
    """Refuse members whose label sets (or, unless allowed, input specs) differ."""
    labels0 = cards[0].get("labels", list(range(10)))
    input0 = cards[0].get("input")
    for path, card in zip(paths[1:], cards[1:], strict=True):
        labels = card.get("labels", list(range(10)))
        if labels != labels0:
            raise DigitkitError(
                f"members have different label sets: {paths[0]} has {labels0}, "
                f"{path} has {labels}; an ensemble needs one label set"
            )
        if card.get("input") != input0 and not allow_mixed_inputs:
            raise DigitkitError(
                f"members have different input normalizations: {paths[0]} uses {input0}, "
                f"{path} uses {card.get('input')}; pass --allow-mixed-inputs to combine them "
                "anyway (each member still applies its own; the ensemble card shows the first's)"
            )


@dataclass
class Ensemble:
    """A loaded ensemble: its members' predictors, the method and weights; a predictor."""

    name: str
    card: dict[str, Any]
    members: list[Any]
    method: str
    weights: np.ndarray
    combiner: str = "linear"

    def member_probs(self, images: np.ndarray) -> np.ndarray:
        """Every member's probabilities, (M, N, K): K classes, 10 or 11."""
        return np.stack([m.predict_proba(images) for m in self.members])

    def combine(self, member_probs: np.ndarray) -> np.ndarray:
        """The ensemble's probabilities from precomputed member probabilities."""
        return combine(member_probs, self.method, self.weights, self.combiner)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) images in [0, 1] (or uint8) -> (N, K) probabilities."""
        return self.combine(self.member_probs(images))


def _validate_spec(doc: Any, path: Path) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DigitkitError(f"{path}: not an ensemble spec (format {FORMAT})")
    if doc.get("method") not in METHODS:
        raise DigitkitError(
            f"{path}: unknown method {doc.get('method')!r}; choose from {', '.join(METHODS)}"
        )
    members, weights = doc.get("members"), doc.get("weights")
    if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
        raise DigitkitError(f"{path}: 'members' must be a non-empty list of paths")
    if not isinstance(weights, list) or len(weights) != len(members):
        raise DigitkitError(f"{path}: 'weights' must list one weight per member")
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise DigitkitError(f"{path}: weights must be finite, non-negative, not all zero")
    if doc.get("combiner", "linear") not in COMBINERS:
        raise DigitkitError(f"{path}: unknown combiner {doc.get('combiner')!r}")
    if "drawn" in doc and not isinstance(doc["drawn"], str):
        raise DigitkitError(f"{path}: 'drawn' must be the path of the model that reads drawings")
    if doc.get("route_inputs", "drawn") not in ROUTE_INPUTS:
        raise DigitkitError(
            f"{path}: 'route_inputs' must be one of {', '.join(ROUTE_INPUTS)}, "
            f"not {doc['route_inputs']!r}"
        )


def load_ensemble(path: str | Path, load_member: Callable[[Path], Any]) -> Ensemble:
    """Load an ensemble spec and its members for inference (members relative to the spec).

    ``load_member`` loads one member (a run directory or a nested spec): it is
    :func:`digitkit.inference.predictor.load_predictor`, passed in because members are any model the
    predictor layer loads, while that layer loads ensembles through this function."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DigitkitError(f"{path}: no such ensemble spec") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DigitkitError(f"{path}: not an ensemble spec (invalid JSON)") from None
    _validate_spec(doc, path)
    member_paths = [_resolve_member(path.parent, m, path) for m in doc["members"]]
    predictors = [load_member(p) for p in member_paths]
    cards = [p.card for p in predictors]
    check_members(member_paths, cards, bool(doc.get("allow_mixed_inputs", False)))
    card = {
        "format": FORMAT,
        "engine": "ensemble",
        "architecture": {"name": f"ensemble-{doc['method']}", "args": {}},
        "method": doc["method"],
        "combiner": doc.get("combiner", "linear"),
        "members": doc["members"],
        "weights": doc["weights"],
        "num_params": int(sum(c.get("num_params", 0) for c in cards)),
        "input": cards[0].get("input"),
        "labels": cards[0].get("labels", list(range(10))),
        "mixed_inputs": any(c.get("input") != cards[0].get("input") for c in cards),
        "data": doc.get("data") or cards[0].get("data", {}),
        "metrics": doc.get("metrics", {}),
    }
    if isinstance(doc.get("calibration"), dict):  # measured on validation, like a run's
        card["calibration"] = doc["calibration"]
    if doc.get("drawn") is not None:
        # The model that reads drawings instead (the Recognizer's drawn route), resolved
        # here so a moved pair of spec files keeps working.
        card["drawn"] = str(_resolve_member(path.parent, doc["drawn"], path))
        card["route_inputs"] = doc.get("route_inputs", "drawn")
    return Ensemble(
        name=str(path),
        card=card,
        members=predictors,
        method=doc["method"],
        weights=np.asarray(doc["weights"], np.float64),
        combiner=doc.get("combiner", "linear"),
    )


def relative_member_path(member: Path, spec_dir: Path) -> str:
    """``member`` relative to the spec's folder when possible (the pair can move together)."""
    try:
        return Path(os.path.relpath(member.resolve(), spec_dir.resolve())).as_posix()
    except ValueError:  # different drives on Windows
        return str(member.resolve())


def make_spec(
    members: Sequence[Path],
    spec_path: Path,
    method: str,
    weights: Sequence[float],
    *,
    combiner: str = "linear",
    metrics: dict[str, Any] | None = None,
    allow_mixed_inputs: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """The spec document for ``members`` saved at ``spec_path``."""
    spec = {
        "format": FORMAT,
        "method": method,
        "members": [relative_member_path(Path(m), spec_path.parent) for m in members],
        "weights": [float(w) for w in weights],
        "metrics": metrics or {},
    }
    if method == "superlearner":
        spec["combiner"] = combiner
    if allow_mixed_inputs:
        spec["allow_mixed_inputs"] = True
    spec.update(extra)
    return spec


def save_spec(spec_path: str | Path, spec: dict[str, Any]) -> Path:
    """Atomically write an ensemble spec (validated first)."""
    spec_path = Path(spec_path)
    _validate_spec(spec, spec_path)
    atomic.write_json(spec_path, spec)
    return spec_path
