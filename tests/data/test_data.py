"""Validation split, normalization, augmentation and the Kaggle CSV format."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitkit.data import load_splits
from digitkit.data.augment import AugmentConfig, augment_batch, random_affine_inverse, warp_bilinear
from digitkit.data.kaggle import read_test_csv, read_train_csv, write_submission, write_train_csv
from digitkit.data.normalize import InputSpec, fit_input_spec
from digitkit.data.split import stratified_split
from digitkit.errors import DigitkitError


@given(
    counts=st.lists(st.integers(1, 60), min_size=2, max_size=10),
    frac=st.floats(0.05, 0.5),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=60, deadline=None)
def test_split_is_exact_disjoint_stratified_and_seeded(counts, frac, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(labels)
    n_val = int(len(labels) * frac)
    train, val = stratified_split(labels, n_val, seed)
    assert len(val) == n_val and len(train) + len(val) == len(labels)
    assert not set(train) & set(val)
    # Each class within one sample of its proportional share.
    share = np.array(counts) * n_val / len(labels)
    assert np.all(np.abs(np.bincount(labels[val], minlength=len(counts)) - share) < 1 + 1e-9)
    again_train, again_val = stratified_split(labels, n_val, seed)
    np.testing.assert_array_equal(val, again_val)


def test_split_depends_on_seed_and_rejects_bad_sizes():
    labels = np.arange(1000) % 10
    first, second = stratified_split(labels, 100, 0)[1], stratified_split(labels, 100, 1)[1]
    assert not np.array_equal(first, second)
    with pytest.raises(DigitkitError):
        stratified_split(labels, 1000, 0)


def test_real_mnist_split(mnist_splits):
    s = mnist_splits
    assert s.x_train.shape == (55000, 28, 28) and s.x_val.shape == (5000, 28, 28)
    assert s.x_test.shape == (10000, 28, 28) and s.x_train.dtype == np.uint8
    val_counts = np.bincount(s.y_val, minlength=10)
    all_counts = np.bincount(np.concatenate([s.y_train, s.y_val]), minlength=10)
    np.testing.assert_allclose(val_counts / 5000, all_counts / 60000, atol=2e-4)


def test_normalization_kinds():
    x = np.random.default_rng(0).random((4, 28, 28)).astype(np.float32)
    g = fit_input_spec(x, "global")
    out = g.prepare(x)
    assert out.shape == (4, 1, 28, 28) and abs(out.mean()) < 1e-5 and abs(out.std() - 1) < 1e-4
    per = InputSpec("per-image").prepare(x)
    np.testing.assert_allclose(per.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    padded = InputSpec("scale", pad=2).prepare((x * 255).astype(np.uint8))
    assert padded.shape == (4, 1, 32, 32) and padded[:, :, :2].max() == 0
    assert InputSpec("symmetric").prepare(np.ones((1, 28, 28), np.float32)).max() == 1.0
    assert InputSpec.from_dict(g.to_dict()) == g


def _centre_of_mass(img):
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    return np.array([(img * xs).sum(), (img * ys).sum()]) / img.sum()


def test_identity_warp_is_exact():
    x = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    inv = np.repeat(np.eye(2)[None], 3, 0)
    np.testing.assert_allclose(warp_bilinear(x, inv, np.zeros((3, 2))), x, atol=1e-6)


def test_shift_moves_centre_of_mass():
    img = np.zeros((1, 28, 28), np.float32)
    img[0, 10:18, 10:18] = 1
    inv = np.eye(2)[None]
    moved = warp_bilinear(img, inv, np.array([[-3.0, 2.0]]))  # sample 3 px left, 2 px down
    np.testing.assert_allclose(
        _centre_of_mass(moved[0]) - _centre_of_mass(img[0]), [3, -2], atol=1e-4
    )


def test_rotation_keeps_ink_and_centre():
    img = np.zeros((1, 28, 28), np.float32)
    img[0, 8:20, 12:16] = 1
    cfg = AugmentConfig(rotation=90)
    inv, off = random_affine_inverse(1, cfg, np.random.default_rng(3))
    out = warp_bilinear(img, inv, off)
    assert abs(out.sum() - img.sum()) / img.sum() < 0.02
    np.testing.assert_allclose(_centre_of_mass(out[0]), _centre_of_mass(img[0]), atol=0.3)


@given(seed=st.integers(0, 10_000), p=st.floats(0, 1))
@settings(max_examples=25, deadline=None)
def test_augment_shapes_ranges_and_probability(seed, p):
    x = np.random.default_rng(seed).random((16, 28, 28)).astype(np.float32)
    cfg = AugmentConfig(
        rotation=20, shift=0.1, shear=10, zoom=0.1, p=p, elastic_alpha=1.0, stroke_p=0.5
    )
    out = augment_batch(x, cfg, np.random.default_rng(seed))
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    if p == 0:
        np.testing.assert_array_equal(out, x)


def test_augment_is_reproducible_and_disabled_is_identity():
    x = np.random.default_rng(0).random((8, 28, 28)).astype(np.float32)
    original = x.copy()
    cfg = AugmentConfig(rotation=15, shift=0.1)
    a = augment_batch(x, cfg, np.random.default_rng(5))
    b = augment_batch(x, cfg, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, x)
    np.testing.assert_array_equal(x, original)  # the input batch is never modified
    # Disabled augmentation is the identity, whatever the generator.
    for seed in (0, 1):
        np.testing.assert_array_equal(
            augment_batch(x, AugmentConfig(), np.random.default_rng(seed)), x
        )


def test_kaggle_round_trip_and_training_source(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    labels = np.arange(200) % 10
    write_train_csv(tmp_path / "train.csv", images, labels)
    x, y = read_train_csv(tmp_path / "train.csv")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    s = load_splits(f"kaggle:{tmp_path}", n_val=50)
    assert len(s.x_val) == 50 and len(s.x_train) == 150 and s.x_test is None
    assert np.bincount(s.y_val).tolist() == [5] * 10
    write_submission(tmp_path / "sub.csv", np.array([3, 1, 4]))
    assert (tmp_path / "sub.csv").read_text() == "ImageId,Label\n1,3\n2,1\n3,4\n"


@pytest.mark.parametrize(
    "content, message",
    [
        ("a,b,c\n1,2,3\n", "wrong columns"),
        (
            "label," + ",".join(f"pixel{i}" for i in range(784)) + "\n" + "1," + "x," * 783 + "0\n",
            "non-numeric cell on line 2",
        ),
        (
            "label," + ",".join(f"pixel{i}" for i in range(784)) + "\n" + "1,2,3\n",
            "does not have 785 cells",
        ),
        (
            "label," + ",".join(f"pixel{i}" for i in range(784)) + "\n" + "11" + ",0" * 784 + "\n",
            "labels must be integers 0..9",
        ),
        (
            "label," + ",".join(f"pixel{i}" for i in range(784)) + "\n" + "1" + ",300" * 784 + "\n",
            "0..255",
        ),
        ("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n", "no data rows"),
    ],
)
def test_kaggle_bad_csv(tmp_path, content, message):
    path = tmp_path / "train.csv"
    path.write_text(content)
    with pytest.raises(DigitkitError, match=message):
        read_train_csv(path)


def test_kaggle_test_csv_has_no_label_column(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text(",".join(f"pixel{i}" for i in range(784)) + "\n" + ",".join(["7"] * 784) + "\n")
    assert read_test_csv(path).shape == (1, 28, 28)
    with pytest.raises(DigitkitError, match="wrong columns"):
        read_train_csv(path)
