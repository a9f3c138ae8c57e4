"""Ensemble methods on synthetic probability arrays: average, vote ties, Super Learner
weights (fitted on validation only), greedy selection, spec round trip and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitkit.errors import DigitkitError
from digitkit.inference import ensemble as ens
from digitkit.inference.predictor import load_ensemble
from tests.fakes import noisy_member, onehot_probs


def test_average_is_the_mean_and_weighted():
    a, b = onehot_probs(np.array([1, 2])), onehot_probs(np.array([1, 3]))
    probs = np.stack([a, b])
    np.testing.assert_allclose(ens.combine(probs, "average"), (a + b) / 2, rtol=1e-6)
    w = ens.combine(probs, "average", [3, 1])
    np.testing.assert_allclose(w, 0.75 * a + 0.25 * b, rtol=1e-6)
    np.testing.assert_allclose(w.sum(axis=1), 1, rtol=1e-6)


def test_vote_majority_and_ties_broken_by_mean_probability():
    # Image 0: votes 3,3,5 -> 3 wins although member 3 is very sure of 5.
    # Image 1: votes 4 and 7 tie (two members each); 7 has the higher mean probability.
    m1 = np.array([onehot_probs(np.array([3]), 0.6)[0], onehot_probs(np.array([4]), 0.55)[0]])
    m2 = np.array([onehot_probs(np.array([3]), 0.6)[0], onehot_probs(np.array([4]), 0.55)[0]])
    m3 = np.array([onehot_probs(np.array([5]), 1.0)[0], onehot_probs(np.array([7]), 0.95)[0]])
    m4 = np.array([onehot_probs(np.array([5]), 0.2)[0], onehot_probs(np.array([7]), 0.9)[0]])
    m4[0] = onehot_probs(np.array([3]), 0.3)[0]
    p = ens.combine(np.stack([m1, m2, m3, m4]), "vote")
    assert p.argmax(axis=1).tolist() == [3, 7]
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    # Mirror image: same tie, the lower digit has the higher mean -> the lower digit.
    p2 = ens.combine(np.stack([m3, m4, m1, m2])[:, 1:][:, :, ::-1].copy(), "vote")
    assert p2.argmax(axis=1).tolist() == [9 - 7]


def test_linear_weights_sum_to_one_and_favour_the_better_member():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    good, bad = noisy_member(y, 0.02, rng), noisy_member(y, 0.3, rng)
    w = ens.fit_linear_weights(np.stack([good, bad]), y)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert w[0] > 0.8


def test_logit_weights_non_negative_and_not_worse_than_uniform():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 2000)
    probs = np.stack(
        [
            noisy_member(y, 0.02, rng),
            noisy_member(y, 0.1, rng),
            rng.dirichlet(np.ones(10), len(y)).astype(np.float32),
        ]
    )
    w = ens.fit_logit_weights(probs, y)
    assert (w >= 0).all()
    uniform = ens.nll(ens.logit_proba(probs, np.full(3, 1 / 3)), y)
    assert ens.nll(ens.logit_proba(probs, w), y) < uniform
    assert w[0] > w[2]  # the random member gets (almost) nothing


def test_superlearner_cross_validates_on_validation_only():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 10, 1000)
    probs = np.stack(
        [noisy_member(y, 0.01, rng), noisy_member(y, 0.2, rng), noisy_member(y, 0.4, rng)]
    )
    fit = ens.fit_superlearner(probs, y, folds=5, seed=0)
    assert set(fit.cv) == set(ens.COMBINERS)
    assert fit.combiner != "average"  # one member is much better than the others
    assert fit.cv[fit.combiner]["nll"] == min(v["nll"] for v in fit.cv.values())
    assert (fit.weights >= 0).all()
    # The fit's signature takes validation arrays only: there is no way to pass test.
    import inspect

    assert list(inspect.signature(ens.fit_superlearner).parameters)[:2] == [
        "val_probs",
        "val_labels",
    ]


def test_kfold_partitions():
    folds = ens.kfold(103, 5, seed=3)
    assert len(folds) == 5
    assert sorted(np.concatenate(folds).tolist()) == list(range(103))
    with pytest.raises(DigitkitError):
        ens.kfold(3, 5)


def test_greedy_selection_picks_complementary_members_and_skips_useless_ones():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 10, 3000)
    a = noisy_member(y, 0.05, rng)
    b = noisy_member(y, 0.05, rng)  # independent errors: averaging a and b helps
    junk = onehot_probs((y + 1) % 10, 0.99)  # always confidently wrong
    fit = ens.greedy_select(np.stack([a, b, junk]), y)
    assert fit.weights.sum() == pytest.approx(1.0)
    assert fit.weights[2] == 0
    assert fit.weights[0] > 0 and fit.weights[1] > 0
    nlls = [s["calibrated_nll"] for s in fit.path]
    assert nlls == sorted(nlls, reverse=True)  # each pick lowered the validation loss


def test_greedy_combines_underconfident_members():
    """Label-smoothed members are underconfident: averaging them hardly changes the plain
    log-loss, yet it removes errors; the calibrated criterion sees that."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 10, 3000)
    members = [noisy_member(y, 0.04, rng) for _ in range(3)]
    smoothed = np.stack([0.5 * p + 0.05 for p in members])  # confidence squeezed to ~0.5
    fit = ens.greedy_select(smoothed, y)
    assert (fit.weights > 0).sum() >= 2
    assert fit.path[-1]["accuracy"] > max(ens.accuracy(p, y) for p in smoothed)


def test_calibrated_nll_ignores_temperature():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 10, 500)
    p = noisy_member(y, 0.1, rng)
    soft = ens.logit_proba(p[None], [0.3])  # same ranking, much softer
    assert ens.calibrated_nll(soft, y)[0] == pytest.approx(ens.calibrated_nll(p, y)[0], rel=1e-3)
    assert ens.nll(soft, y) > ens.nll(p, y)


def test_spec_save_load_round_trip(tmp_path, fake_run_factory):
    a = fake_run_factory(tmp_path / "runs" / "a", seed=1)
    b = fake_run_factory(tmp_path / "runs" / "b", seed=2)
    spec_path = tmp_path / "out" / "ensemble.json"
    spec = ens.make_spec([a, b], spec_path, "average", [0.25, 0.75], metrics={"test": {}})
    ens.save_spec(spec_path, spec)
    doc = json.loads(spec_path.read_text())
    assert doc["members"] == ["../runs/a", "../runs/b"]
    assert doc["format"] == "digitkit-ensemble/1"
    loaded = load_ensemble(spec_path)
    assert loaded.card["input"] == json.loads((a / "card.json").read_text())["input"]
    assert loaded.weights.tolist() == [0.25, 0.75]
    x = np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)
    p = loaded.predict_proba(x)
    assert p.shape == (5, 10)
    pa, pb = (m.predict_proba(x) for m in loaded.members)
    np.testing.assert_allclose(p, 0.25 * pa + 0.75 * pb, rtol=1e-5, atol=1e-7)
    # The predictor contract dispatches ensemble files here.
    from digitkit.inference.predictor import load_predictor

    assert load_predictor(spec_path).predict_proba(x).shape == (5, 10)
    # A nested ensemble is a member like any other (two-level ensembles).
    outer = tmp_path / "outer.json"
    ens.save_spec(outer, ens.make_spec([spec_path, a], outer, "average", [1, 1]))
    assert load_ensemble(outer).predict_proba(x).shape == (5, 10)


def test_missing_member_is_named(tmp_path, fake_run_factory):
    a = fake_run_factory(tmp_path / "a", seed=1)
    spec_path = tmp_path / "e.json"
    ens.save_spec(spec_path, ens.make_spec([a, tmp_path / "gone"], spec_path, "vote", [1, 1]))
    with pytest.raises(DigitkitError, match=r"member 'gone' is missing"):
        load_ensemble(spec_path)


def test_different_label_sets_refused(tmp_path, fake_run_factory):
    a = fake_run_factory(tmp_path / "a", seed=1)
    b = fake_run_factory(tmp_path / "b", seed=2, labels=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    spec_path = tmp_path / "e.json"
    ens.save_spec(spec_path, ens.make_spec([a, b], spec_path, "average", [1, 1]))
    with pytest.raises(DigitkitError, match="different label sets"):
        load_ensemble(spec_path)


def test_different_inputs_refused_unless_allowed(tmp_path, fake_run_factory):
    a = fake_run_factory(tmp_path / "a", seed=1)
    b = fake_run_factory(tmp_path / "b", seed=2, input_kind="symmetric")
    spec_path = tmp_path / "e.json"
    ens.save_spec(spec_path, ens.make_spec([a, b], spec_path, "average", [1, 1]))
    with pytest.raises(DigitkitError, match="different input normalizations"):
        load_ensemble(spec_path)
    ens.save_spec(
        spec_path, ens.make_spec([a, b], spec_path, "average", [1, 1], allow_mixed_inputs=True)
    )
    loaded = load_ensemble(spec_path)
    assert loaded.card["mixed_inputs"] is True


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"format": "other"}, "not an ensemble spec"),
        ({"method": "median"}, "unknown method"),
        ({"weights": [1]}, "one weight per member"),
        ({"weights": [1, -1]}, "non-negative"),
        ({"members": []}, "non-empty"),
    ],
)
def test_bad_specs_refused(tmp_path, bad, message):
    doc = {
        "format": ens.FORMAT,
        "method": "average",
        "members": ["a", "b"],
        "weights": [1, 1],
        **bad,
    }
    path = tmp_path / "e.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DigitkitError, match=message):
        load_ensemble(path)


def test_member_probabilities_are_cached_for_own_runs_only(tmp_path, mnist_splits, monkeypatch):
    # Building an ensemble caches each member's probabilities in its run directory; never in
    # the package's shipped models (an installed package may be read-only), and a cache that
    # cannot be written is skipped, not an error.
    import shutil

    from digitkit import runs
    from digitkit.inference.ensemble_build import member_probs
    from digitkit.inference.predictor import WEIGHTS_DIR

    images = mnist_splits.x_val[:20]
    shipped = WEIGHTS_DIR / "cnn-medium-s0"
    probs = member_probs(shipped, "val", images)
    assert probs.shape == (20, 10) and not list(shipped.glob("probs-*"))
    own = tmp_path / "run"
    shutil.copytree(shipped, own)
    np.testing.assert_allclose(member_probs(own, "val", images), probs, atol=1e-6)
    assert runs.load_probs(own, "val", images) is not None  # cached for the next ensemble

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "save_probs", full_disk)
    other = tmp_path / "other"
    shutil.copytree(shipped, other)
    np.testing.assert_allclose(member_probs(other, "test", images), probs, atol=1e-6)
