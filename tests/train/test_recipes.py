"""Recipes and overrides, learning-rate schedules, early stopping."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitkit.errors import DigitkitError
from digitkit.train.callbacks import EarlyStopping
from digitkit.train.recipes import RECIPES, Recipe, apply_overrides, get_recipe
from digitkit.train.schedules import LRSchedule, halvings


def test_overrides_are_typed_and_validated():
    r = apply_overrides(
        get_recipe("fast"),
        [
            "epochs=3",
            "lr=0.05",
            "label-smoothing=0",
            "augment=rotation:10,p:0.5",
            "restore_best=false",
        ],
    )
    assert (r.epochs, r.lr, r.label_smoothing, r.restore_best) == (3, 0.05, 0.0, False)
    assert r.augment_config().rotation == 10 and r.augment_config().p == 0.5
    assert get_recipe("fast").epochs != 3 or get_recipe("fast").lr != 0.05  # original untouched
    for bad, message in [
        (["lr=abc"], "expected float"),
        (["epochs=2.5"], "expected int"),
        (["nope=1"], "unknown recipe field"),
        (["lr"], "key=value"),
        (["optimizer=foo"], "optimizer must be one of"),
        (["augment=wobble"], "augmentation"),
        (["lr=-1"], "lr must be positive"),
    ]:
        with pytest.raises(DigitkitError, match=message):
            apply_overrides(get_recipe("fast"), bad)


def test_every_recipe_is_valid_and_round_trips():
    for recipe in RECIPES.values():
        assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe


def test_tutorial_recipe_matches_the_keras_tutorial():
    r = get_recipe("tutorial")
    assert (r.optimizer, r.lr, r.epochs, r.batch_size, r.normalization, r.n_val) == (
        "adam",
        1e-3,
        10,
        200,
        "scale",
        0,
    )


def test_no_validation_split_cannot_drive_val_callbacks():
    from dataclasses import replace

    r = get_recipe("tutorial")
    with pytest.raises(DigitkitError, match="n_val=0"):
        replace(r, schedule="plateau").validate()
    with pytest.raises(DigitkitError, match="n_val=0"):
        replace(r, patience=3, monitor="val_loss").validate()
    replace(r, patience=3, monitor="train_loss").validate()


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(DigitkitError, match="known recipes: .*tutorial"):
        get_recipe("zzz")


@pytest.mark.parametrize(
    "schedule", ["constant", "step", "halving", "exponential", "onecycle", "cosine", "inverse-time"]
)
def test_schedules_are_positive_and_bounded(schedule):
    r = Recipe(
        schedule=schedule, lr=0.1, epochs=10, step_size=3, gamma=0.5, decay=1e-3, warmup_epochs=1
    )
    s = LRSchedule(r, steps_per_epoch=20)
    lrs = np.array([s.lr(k) for k in range(200)])
    assert np.all(lrs > 0) and np.all(lrs <= 0.1 + 1e-12)


def test_schedule_shapes():
    onecycle = LRSchedule(Recipe(schedule="onecycle", lr=1.0, epochs=4, pct_start=0.25), 25)
    lrs = [onecycle.lr(k) for k in range(100)]
    assert np.argmax(lrs) == 25 and lrs[-1] < 0.01
    step = LRSchedule(Recipe(schedule="step", lr=1.0, step_size=2, gamma=0.1, epochs=6), 10)
    assert [round(step.lr(e * 10), 6) for e in range(6)] == [1, 1, 0.1, 0.1, 0.01, 0.01]
    # RaoulLuque: halve at (1-based) epochs 11, 16, 21, then every 3.
    assert [
        e + 1 for e in range(1, 30) if halvings(e, 10, 5, 20, 3) > halvings(e - 1, 10, 5, 20, 3)
    ] == [11, 16, 21, 24, 27, 30]


def test_plateau_reduces_after_patience_and_resumes():
    s = LRSchedule(Recipe(schedule="plateau", lr=1.0, gamma=0.1, plateau_patience=2), 1)
    for loss in [1.0, 0.9, 0.95]:
        s.epoch_end(loss)
    assert s.lr(0) == 1.0
    s.epoch_end(0.95)  # the second epoch without improvement: cut, as Keras does
    assert s.lr(0) == pytest.approx(0.1)
    t = LRSchedule(Recipe(schedule="plateau", lr=1.0), 1)
    t.load_state_dict(s.state_dict())
    assert t.lr(0) == pytest.approx(0.1)


def test_early_stopping_patience_and_relative_improvement():
    stop = EarlyStopping(patience=2, min_rel_improvement=0.01)
    decisions = [stop.update(v, e) for e, v in enumerate([1.0, 0.995, 0.98, 0.979, 0.978], 1)]
    assert decisions == [False, False, False, False, True]
    assert stop.best_epoch == 3
    accuracy = EarlyStopping(patience=1, mode="max")
    assert [accuracy.update(v, e) for e, v in enumerate([0.9, 0.95, 0.94], 1)] == [
        False,
        False,
        True,
    ]
