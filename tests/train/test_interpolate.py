"""Weight-space interpolation between a run and its fine-tuned descendant (WiSE-FT)."""

from __future__ import annotations

import numpy as np
import pytest

from digitkit import runs
from digitkit.cli import main
from digitkit.errors import DigitkitError
from digitkit.train.interpolate import interpolate_runs, interpolate_weights
from tests.fakes import make_fake_run


def _with_extra_class(run_dir):
    """Turn a fake 10-class run into an 11-class one, as fine-tuning with "not a digit"
    does: one more row in the output layer, the other tensors as they were."""
    weights = runs.load_weights(run_dir)
    head = [k for k, v in weights.items() if v.ndim == 2 and v.shape[0] == 10]
    bias = [k for k, v in weights.items() if v.ndim == 1 and v.shape[0] == 10]
    assert len(head) == 1 and len(bias) == 1
    rng = np.random.default_rng(1)
    for key in head + bias:
        extra = rng.normal(size=(1, *weights[key].shape[1:])).astype(np.float32)
        weights[key] = np.concatenate([weights[key], extra])
    runs.save_weights(run_dir, weights)
    card = runs.read_card(run_dir)
    card["labels"] = [*range(10), "not_a_digit"]
    runs.write_card(run_dir, card)
    return head[0], bias[0]


def test_interpolation_is_linear_and_keeps_added_rows_and_counters():
    base = {"w": np.zeros((2, 3), np.float32), "n": np.array([5], np.int64)}
    tuned = {"w": np.ones((3, 3), np.float32) * 4, "n": np.array([9], np.int64)}
    out = interpolate_weights(base, tuned, 0.25)
    np.testing.assert_allclose(out["w"][:2], 1.0)  # 0.75 * 0 + 0.25 * 4
    np.testing.assert_allclose(out["w"][2], 4.0)  # a row only the tuned run has
    assert out["n"].tolist() == [9] and out["n"].dtype == np.int64
    assert out["w"].dtype == np.float32
    np.testing.assert_allclose(interpolate_weights(base, tuned, 1.5)["w"][:2], 6.0)


def test_other_architectures_are_refused():
    with pytest.raises(DigitkitError, match="not the same architecture"):
        interpolate_weights({"w": np.zeros((2, 4))}, {"w": np.zeros((2, 3))}, 0.5)
    with pytest.raises(DigitkitError, match="no tensor b"):
        interpolate_weights({"w": np.zeros(2)}, {"w": np.zeros(2), "b": np.zeros(2)}, 0.5)


def test_interpolated_run_predicts_between_its_ends(tmp_path):
    base = make_fake_run(tmp_path / "base", seed=0)
    tuned = make_fake_run(tmp_path / "tuned", seed=1)
    head, bias = _with_extra_class(tuned)
    ends = {a: interpolate_runs(base, tuned, a, tmp_path / f"a{a}") for a in (0.0, 0.5, 1.0)}
    w = {a: runs.load_weights(p) for a, p in ends.items()}
    b, t = runs.load_weights(base), runs.load_weights(tuned)
    for key in t:
        np.testing.assert_allclose(w[1.0][key], t[key])
        if key not in (head, bias):
            np.testing.assert_allclose(w[0.0][key], b[key])
            np.testing.assert_allclose(w[0.5][key], (b[key] + t[key]) / 2, rtol=1e-6)
    np.testing.assert_allclose(w[0.0][head][:10], b[head])
    np.testing.assert_allclose(w[0.0][head][10], t[head][10])
    card = runs.read_card(ends[0.5])
    assert card["status"] == "done" and card["labels"][-1] == "not_a_digit"
    assert card["init"]["interpolated"]["alpha"] == 0.5
    assert card["metrics"] == {} and "calibration" not in card
    # The result is an ordinary run: a predictor loads it (fakes of one class count).
    from digitkit.inference.predictor import load_predictor

    other = make_fake_run(tmp_path / "other", seed=2)
    mid = interpolate_runs(base, other, 0.5, tmp_path / "mid")
    probs = load_predictor(mid).predict_proba(np.zeros((2, 28, 28), np.float32))
    assert probs.shape == (2, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_command_writes_the_run_and_refuses_to_overwrite(tmp_path, capsys):
    base = make_fake_run(tmp_path / "base", seed=0)
    tuned = make_fake_run(tmp_path / "tuned", seed=1)
    out = tmp_path / "mid"
    args = ["interpolate", str(base), str(tuned), "--alpha", "0.7", "--out", str(out)]
    assert main(args) == 0
    assert runs.read_card(out)["init"]["interpolated"]["alpha"] == 0.7
    assert main(args) == 2  # a run is there now
    assert "holds a run already" in capsys.readouterr().err
    assert main([*args[:5], "--out", str(tuned)]) == 2  # never over its own input
    card = runs.read_card(tuned)
    card["status"] = "running"
    runs.write_card(tuned, card)
    assert main([*args[:5], "--out", str(tmp_path / "other")]) == 2
    assert "has not finished" in capsys.readouterr().err
