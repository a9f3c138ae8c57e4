"""The typed run card: shipped cards load and save byte for byte; one rule for splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import digitkit
from digitkit.card import RunCard, SplitSpec, split_spec
from digitkit.errors import DigitkitError

WEIGHTS = Path(digitkit.__file__).parent / "weights"
SHIPPED = sorted(p.parent for p in WEIGHTS.glob("*/card.json"))


@pytest.mark.parametrize("run", SHIPPED, ids=lambda p: p.name)
def test_shipped_cards_round_trip_byte_for_byte(run, tmp_path):
    card = RunCard.load(run)
    assert card.engine in ("torch", "numpy") and card.model_name
    card.save(tmp_path)
    assert (tmp_path / "card.json").read_bytes() == (run / "card.json").read_bytes()


def test_a_malformed_card_names_the_field(tmp_path):
    (tmp_path / "card.json").write_text(json.dumps({"format": "digitkit-run/1"}))
    with pytest.raises(DigitkitError, match="field 'engine' is missing"):
        RunCard.load(tmp_path)


def test_split_spec_reads_data_then_recipe_then_defaults():
    assert split_spec(None) == SplitSpec("mnist", 5000, 0)
    assert split_spec({"data": {"dataset": "mixed", "n_val": 300, "split_seed": 2}}) == SplitSpec(
        "mixed", 300, 2
    )
    assert split_spec({"data": {}, "recipe": {"n_val": 0, "split_seed": 5}}) == SplitSpec(
        "mnist", 0, 5
    )
    assert split_spec({"data": {"dataset": "kaggle", "path": "t.csv"}}).dataset == "kaggle:t.csv"
