"""``digitkit ensemble`` on tiny fake runs whose probabilities are cached (real MNIST labels)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitkit import runs
from digitkit.cli import main
from tests.fakes import make_fake_run, noisy_member


@pytest.fixture(scope="module")
def labels(mnist_splits):
    s = mnist_splits  # the default split: n_val=5000, split_seed=0
    return {"val": s.y_val, "test": s.y_test}


@pytest.fixture
def zoo(tmp_path, labels, mnist_dir, monkeypatch):
    """Three fake runs with cached val/test probabilities of 3%, 4% and 5% independent
    errors, plus one adversarial member: confidently wrong on val, perfect on test."""
    monkeypatch.setenv("DIGITKIT_DATA", str(mnist_dir))
    rng = np.random.default_rng(0)
    out = []
    for i, rate in enumerate((0.03, 0.04, 0.05)):
        probs = {s: noisy_member(y, rate, rng) for s, y in labels.items()}
        out.append(make_fake_run(tmp_path / "runs" / f"m{i}", seed=i, probs=probs))
    cheat = {
        "val": noisy_member(labels["val"], 0.9, rng, conf=0.99),
        "test": noisy_member(labels["test"], 0.0, rng, conf=0.999),
    }
    out.append(make_fake_run(tmp_path / "runs" / "test-oracle", seed=9, probs=cheat))
    return out


def run_cli(*args) -> int:
    return main([str(a) for a in args])


@pytest.mark.parametrize("method", ["average", "vote", "superlearner", "greedy"])
def test_ensemble_command_writes_spec_evals_and_plots(zoo, tmp_path, method, capsys):
    out = tmp_path / f"ens-{method}"
    assert run_cli("ensemble", *zoo[:3], "--method", method, "--out", out) == 0
    spec = json.loads((out / "ensemble.json").read_text())
    assert spec["format"] == "digitkit-ensemble/1" and spec["method"] == method
    for name in ("eval-val.json", "eval-test.json", "accuracy.png", "errors-test.png"):
        assert (out / name).stat().st_size > 0, name
    test = json.loads((out / "eval-test.json").read_text())
    members = [m["accuracy"] for m in test["members"]]
    assert test["accuracy"] > max(members)  # independent errors: combining helps
    assert test["n"] == 10000 and test["errors"] == len(test["error_indices"])
    assert spec["metrics"]["test"]["accuracy"] == pytest.approx(test["accuracy"])
    if method != "superlearner" or spec.get("combiner") != "logit":
        assert sum(spec["weights"]) == pytest.approx(1.0)
    # The spec is a model: load it and predict.
    from digitkit.inference.predictor import load_predictor

    p = load_predictor(out / "ensemble.json").predict_proba(np.zeros((2, 28, 28), np.float32))
    assert p.shape == (2, 10)
    assert "ensemble" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["superlearner", "greedy"])
def test_weights_are_fitted_on_validation_never_test(zoo, tmp_path, method):
    """The fourth member is perfect on test but poor on val: fitting on val gives it little
    or no weight; had test leaked into fitting it would dominate."""
    out = tmp_path / "ens"
    assert run_cli("ensemble", *zoo, "--method", method, "--out", out, "--combiner", "linear") == 0
    spec = json.loads((out / "ensemble.json").read_text())
    weights = dict(
        zip([m.rsplit("/", 1)[-1] for m in spec["members"]], spec["weights"], strict=True)
    )
    assert weights.get("test-oracle", 0.0) < 0.1
    assert spec["selection"]["split"] == "val"


def test_missing_probabilities_are_computed_and_cached(tmp_path, mnist_dir, monkeypatch):
    monkeypatch.setenv("DIGITKIT_DATA", str(mnist_dir))
    a = make_fake_run(tmp_path / "a", seed=1)  # nothing cached: computed now
    b = make_fake_run(
        tmp_path / "b",
        seed=2,
        probs={
            "val": np.full((5000, 10), 0.1, np.float32),
            "test": np.full((10000, 10), 0.1, np.float32),
        },
    )
    assert run_cli("ensemble", a, b, "--method", "average", "--out", tmp_path / "e") == 0
    assert runs.load_probs(b, "val").max() == np.float32(0.1)  # the cache was reused
    for run in (a, b):
        assert runs.load_probs(run, "val").shape == (5000, 10)
        assert runs.load_probs(run, "test").shape == (10000, 10)


def test_user_errors_are_one_line(zoo, tmp_path, capsys):
    assert (
        run_cli(
            "ensemble", *zoo[:2], "--method", "average", "--out", tmp_path / "e", "--split", "test"
        )
        == 2
    )
    assert "validation split only" in capsys.readouterr().err
    assert run_cli("ensemble", zoo[0], tmp_path / "nope", "--out", tmp_path / "e") == 2
    assert "member" in capsys.readouterr().err and "nope" in capsys.readouterr().err + "nope"
    assert run_cli("ensemble", *zoo[:2], "--method", "median", "--out", tmp_path / "e") == 2
    assert "unknown method" in capsys.readouterr().err
    assert run_cli("ensemble", zoo[0], "--out", tmp_path / "e") == 2
    assert "at least two" in capsys.readouterr().err
    odd = make_fake_run(
        tmp_path / "odd", seed=5, data={"dataset": "mnist", "n_val": 10000, "split_seed": 0}
    )
    assert run_cli("ensemble", zoo[0], odd, "--out", tmp_path / "e") == 2
    assert "different splits" in capsys.readouterr().err
    mixed = make_fake_run(tmp_path / "mixed", seed=6, input_kind="per-image")
    assert run_cli("ensemble", zoo[0], mixed, "--out", tmp_path / "e") == 2
    assert "--allow-mixed-inputs" in capsys.readouterr().err


def test_help_has_examples(capsys):
    assert run_cli("ensemble", "--help") == 0
    text = capsys.readouterr().out
    assert "Examples" in text and "--method" in text and "superlearner" in text


def test_json_and_piped_tables_give_every_figure_whole(zoo, tmp_path, capsys):
    assert (
        run_cli("ensemble", *zoo[:3], "--method", "average", "--out", tmp_path / "e", "--json") == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["method"] == "average" and set(doc["reports"]) == {"val", "test"}
    assert len(doc["reports"]["test"]["members"]) == 3
    assert 0.9 < doc["reports"]["test"]["accuracy"] <= 1.0
    assert run_cli("evaluate", zoo[0], "--split", "val", "--json") == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n"] == 5000 and rep["split"] == "val" and len(rep["per_class"]) == 10
    # Captured output is no terminal: the table comes as tab-separated values, never cut.
    assert run_cli("evaluate", zoo[0], "--split", "val") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["class", "precision", "recall", "support"]
    rows = [line.split("\t") for line in lines[1:11]]
    assert [r[0] for r in rows] == [str(c) for c in range(10)]
    assert sum(int(r[3]) for r in rows) == 5000
