"""Results tied to the files they came from: cached probabilities are never served for other
weights or other images, malformed cards are one clear error, and a write that fails does not
throw away what was computed."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from digitkit import runs
from digitkit.cli import main
from digitkit.errors import DigitkitError
from digitkit.inference.evaluate import evaluate
from tests.fakes import make_fake_run


def _reweigh(run, seed: int) -> None:
    """Replace the run's weights in place, as a resumed training run does."""
    rng = np.random.default_rng(seed)
    weights = runs.load_weights(run)
    learned = {k for k, v in weights.items() if v.dtype.kind == "f" and "running" not in k}
    runs.save_weights(
        run,
        {
            k: (v + rng.normal(0, 0.5, v.shape)).astype(v.dtype) if k in learned else v
            for k, v in weights.items()
        },
    )


def test_cached_probabilities_follow_the_weights_and_images(tmp_path):
    run = make_fake_run(tmp_path / "run")
    images = np.zeros((3, 28, 28), np.uint8)
    runs.save_probs(run, "val", np.eye(10)[:3], images)
    assert runs.load_probs(run, "val", images).shape == (3, 10)
    assert runs.load_probs(run, "val", images + 1) is None  # other images, same count
    assert runs.load_probs(run, "val", images[:2]) is None
    _reweigh(run, 1)
    assert runs.load_probs(run, "val", images) is None  # other weights
    assert runs.load_probs(run, "val") is None
    runs.save_probs(run, "val", np.eye(10)[:3])
    (run / "probs-val.json").unlink()  # probabilities without their key: never trusted
    assert runs.load_probs(run, "val") is None


def test_evaluate_recomputes_after_the_weights_change(tmp_path, mnist_dir, monkeypatch):
    # The probe's case: evaluated mid-training, resumed, evaluated again; the second report
    # must be the new weights', not the first one's from the cache.
    monkeypatch.setenv("DIGITKIT_DATA", str(mnist_dir))
    run = make_fake_run(tmp_path / "run", seed=3)
    first = evaluate(run, "val")
    _reweigh(run, 7)
    second = evaluate(run, "val")
    fresh = evaluate(run, "val", use_cache=False)
    assert second["confusion"] == fresh["confusion"]
    assert second["confusion"] != first["confusion"]


@pytest.mark.parametrize(
    "damage, field",
    [
        (lambda c: c.pop("architecture"), "architecture"),
        (lambda c: c.update(architecture=[1, 2]), "architecture"),
        (lambda c: c.update(architecture={"args": {}}), "architecture.name"),
        (lambda c: c.update(input="global"), "input"),
        (lambda c: c.update(metrics={"val": 0.99}), "metrics.val"),
        (lambda c: c.update(labels=[0, 1, None]), "labels[2]"),
        (lambda c: c.update(best_epoch="3"), "best_epoch"),
        (lambda c: c.update(status=True), "status"),
    ],
)
def test_a_malformed_card_is_one_error_naming_the_field(tmp_path, damage, field, capsys):
    run = make_fake_run(tmp_path / "run")
    card = json.loads((run / runs.CARD).read_text())
    damage(card)
    (run / runs.CARD).write_text(json.dumps(card))
    with pytest.raises(DigitkitError, match=re.escape(f"field '{field}'")):
        runs.read_card(run)
    assert main(["evaluate", str(run), "--split", "val"]) != 0
    err = capsys.readouterr().err.strip()
    assert f"'{field}'" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_a_card_that_is_not_an_object_is_an_error(tmp_path):
    run = make_fake_run(tmp_path / "run")
    (run / runs.CARD).write_text("[1, 2, 3]")
    with pytest.raises(DigitkitError, match="JSON object"):
        runs.read_card(run)


def test_evaluate_keeps_its_results_when_the_run_directory_is_read_only(
    tmp_path, mnist_dir, monkeypatch, capsys
):
    monkeypatch.setenv("DIGITKIT_DATA", str(mnist_dir))
    run = make_fake_run(tmp_path / "run")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(run / "eval-val.json"))

    # Root ignores file modes, so the refusal is simulated where every write goes through.
    monkeypatch.setattr(runs.atomic, "atomic_path", refuse)
    monkeypatch.setattr(runs.atomic, "write_json", refuse)
    assert main(["evaluate", str(run), "--split", "val"]) == 0
    captured = capsys.readouterr()
    assert "accuracy" in captured.out.lower()
    assert "could not write" in captured.err and "Permission denied" in captured.err
