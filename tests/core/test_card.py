"""The typed run card: shipped cards load and save byte for byte; one rule for splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import digitkit
from digitkit.card import RunCard, SplitSpec, split_spec
from digitkit.data.normalize import InputSpec
from digitkit.errors import DigitkitError
from tests.fakes import minimal_card

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


# -- the fields and properties readers use ---------------------------------------------------


def _card(**fields) -> RunCard:
    return RunCard.from_dict({**minimal_card(), **fields})


def test_of_takes_a_run_card_or_validates_a_dict_without_copying_it():
    doc = minimal_card()
    card = RunCard.of(doc)
    assert card.doc is doc and RunCard.of(card) is card
    with pytest.raises(DigitkitError, match="x/card.json: field 'status' is missing"):
        RunCard.of({k: v for k, v in doc.items() if k != "status"}, "x/card.json")


def test_input_spec_is_the_cards_input_block():
    spec = _card(input={"kind": "global", "mean": 0.13, "std": 0.31, "pad": 2}).input_spec
    assert spec == InputSpec(kind="global", mean=0.13, std=0.31, pad=2)
    with pytest.raises(DigitkitError, match="field 'input' must be an object, not list"):
        _card(input=[0.13, 0.31])


def test_temperature_comes_from_calibration_and_is_one_without_it():
    assert _card().temperature == 1.0
    assert _card(calibration={"ece": 0.01}).temperature == 1.0
    assert _card(calibration={"temperature": 1.25}).temperature == 1.25
    with pytest.raises(DigitkitError, match="field 'calibration' must be an object, not float"):
        _card(calibration=1.25)


def test_onnx_is_a_typed_field_kept_in_place():
    record = {"file": "model.onnx", "sha256": "ab" * 32, "weights_sha256": None}
    card = _card(onnx=record, metrics={})
    assert card.onnx == record and _card().onnx is None
    assert list(card.to_dict()) == list(card.doc)  # written back where it was
    with pytest.raises(DigitkitError, match="field 'onnx' must be an object, not str"):
        _card(onnx="model.onnx")


def test_int8_record_is_trusted_only_when_it_is_an_object():
    record = {"file": "model.int8.onnx", "sha256": "cd" * 32, "source_sha256": "ab" * 32}
    assert _card(int8=record).int8_record == record
    assert _card().int8_record is None
    assert _card(int8="model.int8.onnx").int8_record is None  # ignored, as the predictor did


def test_scratch_layers_and_train_time():
    layers = [{"type": "Dense", "in": 784, "out": 10}]
    assert _card(scratch={"layers": layers}).scratch_layers == layers
    assert _card().scratch_layers is None and _card(scratch={}).scratch_layers is None
    assert _card(train_time_s=12).train_time_s == 12.0 and _card().train_time_s is None


def test_a_number_readers_alphabet_is_typed_and_absent_elsewhere():
    shipped = RunCard.load(WEIGHTS / "number-ctc")
    assert (
        shipped.task == "number" and shipped.alphabet and set("0123456789") <= set(shipped.alphabet)
    )
    digit_model = RunCard.from_dict(minimal_card())
    assert digit_model.alphabet is None and "alphabet" not in digit_model.to_dict()


def test_runs_of_different_training_mixes_share_one_validation_split():
    from digitkit.errors import DigitkitError
    from digitkit.inference.ensemble_build import shared_split

    def card(dataset: str, **extra: object) -> dict:
        return {"data": {"dataset": dataset, "n_val": 5000, "split_seed": 0, **extra}}

    shipped = card("mixed")
    pen_heavy = card("mixed", mix_overrides={"pen_copies": 6})
    assert shared_split([shipped, pen_heavy]).validation_key() == ("mixed", 5000, 0)
    with pytest.raises(DigitkitError, match="different splits"):
        shared_split([shipped, card("mixed", n_val=300)])
    with pytest.raises(DigitkitError, match="different splits"):
        shared_split([card("kaggle", path="a.csv"), card("kaggle", path="b.csv")])
