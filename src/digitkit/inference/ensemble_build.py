"""Building an ensemble from trained runs: the members' cached probabilities, weights fitted
on the validation split only, and the reports ``digitkit ensemble`` writes.

The loadable ensemble itself (spec, combining, fitting maths) is :mod:`digitkit.inference.ensemble`;
this module sits above :mod:`digitkit.inference.predictor` because it loads members to score them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitkit import runs
from digitkit.card import SplitSpec, split_spec
from digitkit.errors import DigitkitError
from digitkit.inference.ensemble import (
    COMBINERS,
    METHODS,
    _resolve_member,
    accuracy,
    check_members,
    combine,
    fit_superlearner,
    greedy_select,
    make_spec,
    nll,
)
from digitkit.inference.predictor import WEIGHTS_DIR, load_ensemble, load_predictor


def member_card(path: Path) -> dict[str, Any]:
    """The card of a member: a run directory's ``card.json`` or a nested ensemble's card."""
    if path.is_file():
        return load_ensemble(path).card
    return runs.read_card(path)


def member_probs(path: Path, split: str, images: np.ndarray) -> np.ndarray:
    """A member's probabilities on ``split``: the run's cached ``probs-<split>.npy`` when it
    was computed from these weights and images, else computed now and cached for runs of
    the user's own. The package's shipped models are never written to, and a cache that
    cannot be written (a read-only folder, a full disk) is only skipped."""
    if path.is_dir():
        cached = runs.load_probs(path, split, images)
        if cached is not None:
            return cached
    probs = load_predictor(path).predict_proba(images)
    if path.is_dir() and not path.resolve().is_relative_to(WEIGHTS_DIR.resolve()):
        with contextlib.suppress(OSError):  # a cache, not a result: built all the same
            runs.save_probs(path, split, probs, images)
    return probs


@dataclass
class BuiltEnsemble:
    """What :func:`build_ensemble` produced: the spec and every probability it looked at."""

    spec: dict[str, Any]
    member_names: list[str]
    probs: dict[str, np.ndarray]  # split -> (M, N, 10) member probabilities
    labels: dict[str, np.ndarray]
    ensemble_probs: dict[str, np.ndarray]  # split -> (N, 10)
    images: dict[str, np.ndarray]  # split -> (N, 28, 28), for error galleries


def _member_name(path: Path) -> str:
    return path.stem if path.is_file() else path.name


def _check_request(members: Sequence[Any], method: str, fit_split: str, combiner: str) -> None:
    if method not in METHODS:
        raise DigitkitError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if fit_split != "val":
        raise DigitkitError(
            f"ensembles are fitted on the validation split only, not "
            f"{fit_split!r} (test is reported, never tuned on)"
        )
    if combiner != "auto" and combiner not in COMBINERS:
        raise DigitkitError(f"unknown combiner {combiner!r}; choose auto or {', '.join(COMBINERS)}")
    if len(members) < 2:
        raise DigitkitError("an ensemble needs at least two members")


def shared_split(cards: Sequence[dict[str, Any]]) -> SplitSpec:
    """The one validation split all members were selected on (else a clear error): their
    validation probabilities must line up image by image."""
    specs = [split_spec(c) for c in cards]
    keys = {s.validation_key() for s in specs}
    if len(keys) > 1:
        shown = sorted(f"({name}, {n_val}, {seed})" for name, n_val, seed in keys)
        raise DigitkitError(
            "members were validated on different splits (dataset, n_val, "
            f"split_seed): {shown}; retrain them on one split"
        )
    return specs[0]


def _score_members(paths: Sequence[Path], splits: Any):
    probs: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    images: dict[str, np.ndarray] = {}
    for split in ("val", "test"):
        if split == "test" and splits.x_test is None:
            continue
        x, y = splits.get(split)
        probs[split] = np.stack([member_probs(p, split, x) for p in paths])
        labels[split] = np.asarray(y)
        images[split] = x
    return probs, labels, images


def _fit_weights(
    method: str,
    val_p: np.ndarray,
    val_y: np.ndarray,
    names: list[str],
    folds: int,
    seed: int,
    combiner: str,
    max_picks: int | None,
):
    """(combiner, weights, extra spec fields) fitted on validation probabilities only."""
    extra: dict[str, Any] = {}
    chosen_combiner = "linear"
    weights = np.full(len(names), 1.0 / len(names))
    if method == "superlearner":
        fit = fit_superlearner(
            val_p, val_y, folds, seed, COMBINERS if combiner == "auto" else (combiner,)
        )
        chosen_combiner, weights = fit.combiner, fit.weights
        extra["selection"] = {
            "split": "val",
            "folds": folds,
            "seed": seed,
            "cv": fit.cv,
            "chosen": fit.combiner,
        }
    elif method == "greedy":
        g = greedy_select(val_p, val_y, max_picks)
        weights = g.weights
        extra["selection"] = {
            "split": "val",
            "criterion": "calibrated_nll",
            "picks": [names[i] for i in g.picks],
            "path": [{**s, "member": names[int(s["member"])]} for s in g.path],
        }
    return chosen_combiner, weights, extra


def build_ensemble(
    members: Sequence[str | Path],
    method: str,
    spec_path: str | Path,
    *,
    data_dir: str | Path | None = None,
    fit_split: str = "val",
    folds: int = 5,
    seed: int = 0,
    combiner: str = "auto",
    max_picks: int | None = None,
    allow_mixed_inputs: bool = False,
    splits: Any = None,
) -> BuiltEnsemble:
    """Combine trained runs by ``method``; fit weights on ``fit_split`` (val) only; report val
    and test metrics. Nothing is written: see :func:`digitkit.inference.ensemble.save_spec`."""
    _check_request(members, method, fit_split, combiner)
    spec_path = Path(spec_path)
    paths = [_resolve_member(Path.cwd(), str(m), None) for m in members]
    for p in paths:
        if p.is_dir():
            runs.require_run_dir(p)
    cards = [member_card(p) for p in paths]
    check_members(paths, cards, allow_mixed_inputs)
    split = shared_split(cards)
    splits = splits if splits is not None else split.load(data_dir, train=False)  # val, test
    names = [_member_name(p) for p in paths]
    probs, labels, images = _score_members(paths, splits)
    chosen_combiner, weights, extra = _fit_weights(
        method, probs["val"], labels["val"], names, folds, seed, combiner, max_picks
    )
    keep = np.flatnonzero(weights > 0) if method == "greedy" else np.arange(len(paths))
    paths = [paths[i] for i in keep]
    names = [names[i] for i in keep]
    weights = weights[keep]
    if chosen_combiner != "logit":  # logit weights also set a temperature: keep their scale
        weights = weights / weights.sum()
    probs = {s: p[keep] for s, p in probs.items()}
    ens = {s: combine(p, method, weights, chosen_combiner) for s, p in probs.items()}
    metrics = {
        s: {
            "accuracy": accuracy(ens[s], labels[s]),
            "nll": nll(ens[s], labels[s]),
            "n": len(labels[s]),
        }
        for s in ens
    }
    if method == "superlearner":
        metrics["val"]["cv_accuracy"] = extra["selection"]["cv"][chosen_combiner]["accuracy"]
    data = cards[0].get("data") or {}
    spec = make_spec(
        paths,
        spec_path,
        method,
        weights,
        combiner=chosen_combiner,
        metrics=metrics,
        allow_mixed_inputs=allow_mixed_inputs,
        data={
            "dataset": data.get("dataset", "mnist"),
            "n_val": split.n_val,
            "split_seed": split.split_seed,
            **({"path": data["path"]} if "path" in data else {}),
        },
        created=runs.now_iso(),
        command=runs.command_line(),
        **extra,
    )
    return BuiltEnsemble(spec, names, probs, labels, ens, images)


def eval_report(built: BuiltEnsemble, split: str) -> dict[str, Any]:
    """``eval-<split>.json`` of an ensemble: its metrics, each member's, and the errors."""
    p, y, e = built.probs[split], built.labels[split], built.ensemble_probs[split]
    member_right = p.argmax(axis=2) == y[None]
    wrong = np.flatnonzero(e.argmax(axis=1) != y)
    report = {
        "split": split,
        "method": built.spec["method"],
        "n": int(len(y)),
        "accuracy": accuracy(e, y),
        "errors": int(len(wrong)),
        "nll": nll(e, y),
        "members": [
            {"name": n, "weight": float(w), "accuracy": float(r.mean()), "errors": int((~r).sum())}
            for n, w, r in zip(built.member_names, built.spec["weights"], member_right, strict=True)
        ],
        "wrong_in_all_members": int((~member_right).all(axis=0).sum()),
        "oracle_accuracy": float(member_right.any(axis=0).mean()),
        "error_indices": wrong.tolist(),
    }
    if split == "val" and built.spec["method"] in ("superlearner", "greedy"):
        report["note"] = (
            "weights were fitted on this split: its accuracy is optimistic; "
            "see selection.cv in the spec for the cross-validated estimate"
        )
    return report
