"""The run card (``card.json``) as a typed object, and the one rule for which data split a run
(or an ensemble built from runs) was validated on.

:class:`RunCard` gives the fields readers rely on names and types; everything else on the card
(timings, versions, the ONNX record, engine-specific blocks) travels along untouched in
``doc``, so loading and saving a card gives back the same bytes. Validation is
:func:`digitkit.runs.validate_card`'s: one clear error naming the field.

:func:`splits_for` is how every command finds the images a model was selected on:
evaluation, calibration, ensembles, exports and resumed training all ask it, so they can
never disagree about the dataset, the size of the validation split or its seed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from digitkit import runs
from digitkit.data.normalize import InputSpec
from digitkit.data.splits import DEFAULT_N_VAL, MIXED, Splits, dataset_spec, is_mixed

# -- the split a run used ----------------------------------------------------------------------


@dataclass(frozen=True)
class SplitSpec:
    """Which data a run saw: ``dataset`` as :func:`digitkit.data.load_splits` names it
    (``mnist``, ``mixed``, ``mixed:KEY=VALUE,...``, ``kaggle:PATH``) and the validation split's
    size and seed."""

    dataset: str = "mnist"
    n_val: int = DEFAULT_N_VAL
    split_seed: int = 0

    def validation_key(self) -> tuple[str, int, int]:
        """What decides the validation images. A mixed run's ``mixed:KEY=VALUE,...`` changes
        its training draws only, so runs of different mixes share one validation split."""
        return (MIXED if is_mixed(self.dataset) else self.dataset, self.n_val, self.split_seed)

    def load(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        download: bool = True,
        train: bool = True,
        draw_ahead: int = 0,
    ) -> Splits:
        """The train / val / test arrays of this split (``train=False``: val and test only;
        ``draw_ahead``: training's epochs drawn ahead; see :func:`digitkit.data.load_splits`)."""
        from digitkit.data import load_splits  # the mixed dataset renders: load it on demand

        return load_splits(
            self.dataset,
            data_dir,
            n_val=self.n_val,
            split_seed=self.split_seed,
            download=download,
            train=train,
            draw_ahead=draw_ahead,
        )


def split_spec(card: RunCard | Mapping[str, Any] | None) -> SplitSpec:
    """The split a run card (or an ensemble spec or card) records. The card's ``data`` block
    says it; cards written before ``data`` held the split size fall back to their recipe's,
    and a card without either used the defaults (MNIST, 5,000 validation images, seed 0)."""
    doc = card.to_dict() if isinstance(card, RunCard) else (card or {})
    data = doc.get("data") or {}
    recipe = doc.get("recipe") or {}
    return SplitSpec(
        dataset=dataset_spec(data),
        n_val=int(data.get("n_val", recipe.get("n_val", DEFAULT_N_VAL))),
        split_seed=int(data.get("split_seed", recipe.get("split_seed", 0))),
    )


def splits_for(
    card: RunCard | Mapping[str, Any] | None,
    data_dir: str | os.PathLike[str] | None = None,
    train: bool = True,
) -> Splits:
    """The train / val / test arrays a run (or ensemble) was trained and selected on
    (``train=False``: val and test only, which is all that calibration, evaluation and
    ensembles read; a mixed dataset then draws no training epoch)."""
    return split_spec(card).load(data_dir, train=train)


# -- the typed card ----------------------------------------------------------------------------

_DIGITS = list(range(10))


@dataclass
class RunCard:
    """``card.json`` with its common fields typed; ``doc`` holds the whole card as read.

    Change a field, then :meth:`save` (or :meth:`to_dict`): typed fields are written back in
    place, so the key order and every field this class does not name stay as they were.
    """

    format: str
    engine: str
    architecture: dict[str, Any]
    input: dict[str, Any]
    recipe: dict[str, Any]
    data: dict[str, Any]
    status: str
    labels: list[int | str] | None = None
    metrics: dict[str, dict[str, Any]] | None = None
    seed: int | None = None
    num_params: int | None = None
    best_epoch: int | None = None
    calibration: dict[str, Any] | None = None
    task: str | None = None
    init: dict[str, Any] | None = None
    onnx: dict[str, Any] | None = None
    alphabet: str | None = None  # a number reader's output characters (after the CTC blank)
    doc: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- reading and writing ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, doc: Any, path: str | Path = runs.CARD) -> RunCard:
        """A card from its JSON object; a clear error naming the first bad field."""
        doc = runs.validate_card(doc, path)
        typed = {f.name: doc.get(f.name) for f in fields(cls) if f.name != "doc"}
        return cls(**typed, doc=doc)

    @classmethod
    def of(cls, card: RunCard | dict[str, Any], path: str | Path = runs.CARD) -> RunCard:
        """``card`` itself when it is a RunCard, else the RunCard of that JSON object,
        validated (for functions that take either; its ``doc`` is that very dict, no copy)."""
        return card if isinstance(card, RunCard) else cls.from_dict(card, path)

    @classmethod
    def load(cls, run_dir: str | Path) -> RunCard:
        """The card of the run in ``run_dir`` (validated)."""
        return cls.from_dict(runs.read_card(run_dir), Path(run_dir) / runs.CARD)

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON: ``doc`` with the typed fields written back (an optional field
        that is None and was never on the card stays off it)."""
        out = dict(self.doc)
        for f in fields(self):
            if f.name == "doc":
                continue
            value = getattr(self, f.name)
            if value is not None or f.name in out:
                out[f.name] = value
        return out

    def save(self, run_dir: str | Path) -> None:
        """Validate and atomically write ``card.json`` into ``run_dir``."""
        doc = runs.validate_card(self.to_dict(), Path(run_dir) / runs.CARD)
        runs.write_card(run_dir, doc)
        self.doc = doc

    # -- what readers ask -------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        """The architecture's registry name (``architecture.name``)."""
        return str(self.architecture["name"])

    @property
    def model_args(self) -> dict[str, Any]:
        """The builder's keyword arguments (``architecture.args``)."""
        return dict(self.architecture.get("args") or {})

    @property
    def label_list(self) -> list[int | str]:
        """The classes in output order: the 10 digits unless the card says otherwise."""
        return list(self.labels) if self.labels is not None else list(_DIGITS)

    @property
    def input_spec(self) -> InputSpec:
        """The input preparation (padding, normalization) the model was trained with."""
        return InputSpec.from_dict(self.input)

    @property
    def temperature(self) -> float:
        """The calibration temperature (``calibration.temperature``); 1.0 when uncalibrated."""
        return float((self.calibration or {}).get("temperature", 1.0))

    @property
    def int8_record(self) -> dict[str, Any] | None:
        """The ``int8`` record of a quantized export (file, sha256s, accuracies), or None
        when there is none or it is not an object (such a record is ignored, never trusted)."""
        record = self.doc.get("int8")
        return record if isinstance(record, dict) else None

    @property
    def scratch_layers(self) -> list[Any] | None:
        """A NumPy-engine model's saved layer list (``scratch.layers``), or None."""
        return (self.doc.get("scratch") or {}).get("layers")

    @property
    def train_time_s(self) -> float | None:
        """Seconds of training (``train_time_s``, written when the run finished), or None."""
        seconds = self.doc.get("train_time_s")
        return None if seconds is None else float(seconds)

    @property
    def split(self) -> SplitSpec:
        """The data split this run was trained and selected on."""
        return split_spec(self)

    def metric(self, split: str, name: str, default: Any = None) -> Any:
        """``metrics.<split>.<name>``, or ``default`` when not measured."""
        return ((self.metrics or {}).get(split) or {}).get(name, default)
