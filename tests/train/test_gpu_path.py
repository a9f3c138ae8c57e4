"""The GPU training path, tested on the CPU: the torch augmenter against the NumPy one (same
transforms for given parameters, same statistics for random ones), device-side input
preparation, the device-resident trainer pipeline (exact resume, budget stops), and a dry
run of benchmarks/gpu_zoo.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from digitkit import runs
from digitkit.data import augment as np_aug
from digitkit.data import load_splits
from digitkit.data.normalize import KINDS, InputSpec
from digitkit.train import augment_torch as th_aug
from digitkit.train.loop import TrainOptions, train
from digitkit.train.recipes import apply_overrides, get_recipe

from .conftest import REPO

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def gpu_zoo():
    """benchmarks/gpu_zoo.py as a module."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import gpu_zoo
    finally:
        sys.path.pop(0)
    return gpu_zoo


WARP_TOLERANCE = 1e-4  # float32 bilinear sampling of [0, 1] images, two implementations
N_STATS = 3000  # augmented MNIST images per statistics comparison


class FixedDraws:
    """A stand-in for np.random.Generator whose uniform draws all sit at ``frac`` of their
    range and whose ``random`` is 0 (every sample transformed): the NumPy augmenter's
    random parameters made explicit."""

    def __init__(self, frac: float):
        self.frac = frac

    def uniform(self, low: float, high: float, size: object) -> np.ndarray:
        return np.full(size, low + self.frac * (high - low))

    def random(self, size: object) -> np.ndarray:
        return np.zeros(size)


@pytest.fixture(scope="module")
def digits(mnist_splits) -> np.ndarray:
    """N_STATS training images in [0, 1]."""
    return mnist_splits.x_train[:N_STATS].astype(np.float32) / 255.0


def _torch_warp(
    images: np.ndarray, inv: np.ndarray, offset: np.ndarray, displacement: np.ndarray | None = None
) -> np.ndarray:
    disp = None if displacement is None else torch.from_numpy(displacement)
    return th_aug.warp(
        torch.from_numpy(images), torch.from_numpy(inv), torch.from_numpy(offset), disp
    ).numpy()


@pytest.mark.parametrize("preset", ["keras-zoo", "simplecnn", "scratch-cnn4", "drawn"])
def test_same_affine_parameters_give_the_same_images(digits, preset):
    x = digits[:500]
    cfg = np_aug.PRESETS[preset]
    inv, offset = np_aug.random_affine_inverse(len(x), cfg, FixedDraws(0.85))
    expected = np_aug.warp_bilinear(x, inv, offset)
    np.testing.assert_allclose(_torch_warp(x, inv, offset), expected, atol=WARP_TOLERANCE)
    # The torch maps from the same explicit parameters are the NumPy maps.
    frac = 2 * 0.85 - 1  # where FixedDraws puts a draw uniform in +-bound
    n = len(x)
    full = lambda v: torch.full((n,), v, dtype=torch.float64)  # noqa: E731
    t_inv, t_off = th_aug.affine_inverse(
        full(frac * cfg.rotation),
        full(frac * cfg.shear),
        full(1 + frac * cfg.zoom),
        full(1 + frac * cfg.zoom),
        torch.full((n, 2), frac * cfg.shift * 28, dtype=torch.float64),
    )
    np.testing.assert_allclose(t_inv.numpy(), inv, atol=1e-9)
    np.testing.assert_allclose(t_off.numpy(), offset, atol=1e-9)


def test_a_pure_integer_shift_moves_every_pixel(digits):
    x = digits[:50]
    n = len(x)
    zeros, ones = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    shift = torch.tensor([[3.0, -2.0]] * n, dtype=torch.float64)  # 3 px right, 2 px up
    inv, offset = th_aug.affine_inverse(zeros, zeros, ones, ones, shift)
    out = th_aug.warp(torch.from_numpy(x), inv, offset).numpy()
    expected = np.zeros_like(x)
    expected[:, :-2, 3:] = x[:, 2:, :-3]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_a_pure_rotation_matches_numpy(digits):
    x = digits[:100]
    n = len(x)
    zeros, ones = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    inv, offset = th_aug.affine_inverse(
        torch.full((n,), 17.0, dtype=torch.float64),
        zeros,
        ones,
        ones,
        torch.zeros(n, 2, dtype=torch.float64),
    )
    expected = np_aug.warp_bilinear(x, inv.numpy(), offset.numpy())
    np.testing.assert_allclose(
        th_aug.warp(torch.from_numpy(x), inv, offset).numpy(), expected, atol=WARP_TOLERANCE
    )
    # and the digit did turn
    assert not np.allclose(expected, x, atol=0.1)


def test_elastic_smoothing_and_displaced_warp_match_numpy(digits):
    x = digits[:200]
    noise = np.random.default_rng(1).uniform(-1, 1, (len(x), 2, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(
        th_aug.smooth(torch.from_numpy(noise), 4.0).numpy(), np_aug._smooth(noise, 4.0), atol=1e-6
    )
    cfg = np_aug.AugmentConfig(rotation=10, shift=0.1)
    inv, offset = np_aug.random_affine_inverse(len(x), cfg, FixedDraws(0.3))
    disp = np_aug.elastic_displacement(len(x), 28, 28, 2.0, 4.0, np.random.default_rng(2))
    np.testing.assert_allclose(
        _torch_warp(x, inv, offset, disp),
        np_aug.warp_bilinear(x, inv, offset, disp),
        atol=WARP_TOLERANCE,
    )
    field = th_aug.elastic_displacement(
        len(x), 28, 28, 2.0, 4.0, th_aug.epoch_generator(0, 0, CPU), CPU
    )
    assert field.shape == (len(x), 28, 28, 2)
    assert field.square().mean().sqrt().item() == pytest.approx(2.0, rel=1e-3)


def test_stroke_width_change_matches_numpy(digits):
    x = digits[:300]
    thicken, thin = np.arange(len(x)) % 3 == 0, np.arange(len(x)) % 3 == 1
    out = th_aug.change_stroke(
        torch.from_numpy(x), torch.from_numpy(thicken), torch.from_numpy(thin)
    ).numpy()
    np.testing.assert_array_equal(out, np_aug.change_stroke(x, thicken, thin))


def _statistics(images: np.ndarray) -> dict[str, float]:
    """Mean ink, spread of the ink per image, spread of the centres of mass."""
    ink = images.sum(axis=(1, 2))
    rows, cols = np.mgrid[:28, :28]
    weight = np.maximum(ink, 1e-6)
    cx = (images * cols).sum(axis=(1, 2)) / weight
    cy = (images * rows).sum(axis=(1, 2)) / weight
    return {
        "mean_ink": float(images.mean()),
        "ink_std": float(ink.std()),
        "com_x_std": float(cx.std()),
        "com_y_std": float(cy.std()),
        "dark_share": float((images > 0.5).mean()),
    }


ELASTIC = "elastic_alpha:2,elastic_sigma:4,rotation:5,p:0.9"


@pytest.mark.parametrize("name", ["simplecnn", "keras-zoo", "scratch-cnn4", "drawn", ELASTIC])
def test_random_augmentation_has_the_numpy_statistics(digits, name):
    from digitkit.train.recipes import parse_augment

    cfg = parse_augment(name)
    ours = th_aug.augment_batch(
        torch.from_numpy(digits), cfg, th_aug.epoch_generator(0, 0, CPU)
    ).numpy()
    reference = np_aug.augment_batch(digits, cfg, np.random.default_rng(0))
    assert ours.dtype == np.float32 and ours.min() >= 0 and ours.max() <= 1
    got, want = _statistics(ours), _statistics(reference)
    # Sampling error over 3,000 images is about 2-3% on the spreads, under 1% on the means.
    for key, tolerance in (
        ("mean_ink", 0.03),
        ("dark_share", 0.04),
        ("ink_std", 0.06),
        ("com_x_std", 0.08),
        ("com_y_std", 0.08),
    ):
        assert got[key] == pytest.approx(want[key], rel=tolerance), key
    # and it does move things: the centres of mass spread beyond the raw data's
    assert got["com_x_std"] > 1.3 * _statistics(digits)["com_x_std"]


def test_no_augmentation_is_the_identity_and_uint8_is_scaled(digits):
    x = torch.from_numpy((digits[:20] * 255).round().astype(np.uint8))
    out = th_aug.augment_batch(x, np_aug.PRESETS["none"], th_aug.epoch_generator(0, 0, CPU))
    np.testing.assert_allclose(out.numpy(), x.numpy() / 255.0, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("pad", [0, 2])
def test_device_input_preparation_matches_input_spec(digits, kind, pad):
    spec = InputSpec(kind=kind, mean=0.13, std=0.31, pad=pad)
    x = digits[:64]
    np.testing.assert_allclose(
        th_aug.prepare_inputs(torch.from_numpy(x), spec).numpy(), spec.prepare(x), atol=1e-5
    )


def _tiny_run(out, mnist_dir, epochs: int, resume: bool = False, **options):
    recipe = apply_overrides(
        get_recipe("fast"),
        {
            "epochs": epochs,
            "batch_size": 64,
            "lr": 0.05,
            "schedule": "constant",
            "augment": "drawn",
            "ema": 0.99,
            "augment_device": "torch",
        },
    )
    splits = load_splits(data_dir=mnist_dir, download=False).subset(n_train=640, n_val=300)
    splits.x_test, splits.y_test = splits.x_test[:300], splits.y_test[:300]
    return train(
        "cnn-fast",
        recipe,
        splits,
        out,
        arch_args={"width": 8},
        resume=resume,
        options=TrainOptions(**{"progress": False, "log": None, "device": "cpu", **options}),
    )


def test_device_pipeline_trains_stops_on_budget_and_resumes_exactly(tmp_path, mnist_dir):
    straight = _tiny_run(tmp_path / "straight", mnist_dir, epochs=2)
    assert straight["pipeline"]["batches"] == "torch"
    assert straight["stop_reason"] == "completed"
    capped = _tiny_run(tmp_path / "capped", mnist_dir, epochs=2, max_epochs=1)
    assert capped["status"] == "done" and capped["epochs_run"] == 1
    assert capped["stop_reason"] == "epoch limit: 1 of 2 epochs"
    assert runs.read_card(tmp_path / "capped")["metrics"]["test"]["n"] == 300
    # Asked for CUDA graphs on a CPU, the run says why not and trains as it would without.
    said: list[str] = []
    graphed = _tiny_run(
        tmp_path / "graphs", mnist_dir, epochs=2, max_epochs=1, graphs=True, log=said.append
    )
    assert any("CUDA graphs off: CUDA graphs need a CUDA device" in line for line in said)
    assert graphed["pipeline"]["graphs"] is False
    assert graphed["metrics"]["val"]["loss"] == capped["metrics"]["val"]["loss"]
    # The capped run keeps its checkpoint: resumed, it ends where the straight run does.
    resumed = _tiny_run(tmp_path / "capped", mnist_dir, epochs=2, resume=True)
    for split in ("val", "test"):
        assert resumed["metrics"][split]["loss"] == pytest.approx(
            straight["metrics"][split]["loss"], rel=1e-5
        )
    # A deadline already passed stops after the first epoch (every run does one).
    late = _tiny_run(tmp_path / "late", mnist_dir, epochs=3, deadline=time.monotonic())
    assert late["stop_reason"] == "time budget: 1 of 3 epochs"


def test_auto_picks_torch_batches_on_a_gpu_only():
    from digitkit.train.loop import DeviceBatches, HostBatches, batch_pipeline

    auto = get_recipe("simplecnn")
    assert batch_pipeline(auto, torch.device("cpu")) is HostBatches
    assert batch_pipeline(auto, torch.device("cuda")) is DeviceBatches
    forced = apply_overrides(auto, ["augment_device=torch"])
    assert batch_pipeline(forced, torch.device("cpu")) is DeviceBatches
    with pytest.raises(Exception, match="augment_device must be one of"):
        apply_overrides(auto, ["augment_device=gpu"])


def test_planner_trains_the_cheap_models_when_the_budget_is_short(gpu_zoo):
    sizes = {"n_train": 1000, "n_val": 100, "n_test": 100}
    cheap = gpu_zoo.Probe(
        "simplecnn-m3", "simplecnn", 150, 120, 1, train_img_s=1000, eval_img_s=1000
    )
    dear = gpu_zoo.Probe("wrn-28-10", "keras-zoo-wrn", 200, 64, 1, train_img_s=10, eval_img_s=30)
    chosen = gpu_zoo.affordable([[cheap], [dear]], 60, sizes, "cpu", False)
    assert chosen == [[cheap]]
    # 60 s: finishing takes 0.2 + 2 s, an epoch 1.1 + 0.2 s -> 44 epochs
    assert gpu_zoo.epochs_that_fit(cheap, 60, sizes, "cpu") == 44
    assert gpu_zoo.epochs_that_fit(cheap, 1e6, sizes, "cpu") == 150  # capped by the recipe


def test_a_failed_run_leaves_the_other_runs_of_its_slot(gpu_zoo, monkeypatch, tmp_path):
    """One run crashing (out of memory, say) must not lose the lease's other runs."""
    sizes = {"n_train": 100, "n_val": 10, "n_test": 10}
    probes = [
        gpu_zoo.Probe(n, "simplecnn", 150, 120, 1, train_img_s=1000, eval_img_s=1000)
        for n in ("simplecnn-m3", "simplecnn-m5")
    ]

    def train_one(probe, *args):
        if probe.name == "simplecnn-m3":
            raise RuntimeError("CUDA out of memory")
        return {"model": probe.name, "epochs": "3 of 150"}

    monkeypatch.setattr(gpu_zoo, "train_one", train_one)
    results = gpu_zoo.train_slot(
        probes,
        None,
        tmp_path,
        torch.device("cpu"),
        gpu_zoo.Clock(60),
        30,
        False,
        True,
        sizes,
        False,
    )
    assert results[0]["model"] == "simplecnn-m3" and "out of memory" in results[0]["skipped"]
    assert results[1] == {"model": "simplecnn-m5", "epochs": "3 of 150"}


def test_gpu_zoo_dry_run_on_the_cpu_writes_loadable_runs(tmp_path, mnist_dir):
    """The lease's own command (benchmarks/gpu_lease.sh: gpu_zoo.py, then what the device tool
    brings back packed into $OUT), dry-run on the CPU with a tiny budget."""
    from digitkit.inference.predictor import load_predictor

    budget = 30
    env = {
        **os.environ,
        "DIGITKIT_DATA": str(mnist_dir),
        "OMP_NUM_THREADS": "1",
        "PY": sys.executable,
        "WORK": str(tmp_path / "gpu-out"),
        "OUT": str(tmp_path / "out"),
    }
    t0 = time.monotonic()
    proc = subprocess.run(
        [
            "bash",
            str(REPO / "benchmarks" / "gpu_lease.sh"),
            str(budget),
            "--device",
            "cpu",
            "--models",
            "simplecnn-m3",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=150,
    )
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "gpu_zoo seed 0 exit 0" in proc.stdout, proc.stdout[-3000:]
    # The budget plus interpreter starts, imports and the packing.
    assert wall < budget + 25
    returned = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"log.txt", "meta.tar.gz"} <= returned and len(returned) <= 8
    with tarfile.open(tmp_path / "out" / "meta.tar.gz") as packed:
        names = packed.getnames()
    assert "summary.json" in names and "runs/simplecnn-m3-s0/card.json" in names
    summary = json.loads((tmp_path / "gpu-out" / "summary.json").read_text())
    assert summary["status"] == "done" and summary["elapsed_s"] <= budget
    assert summary["probes"][0]["train_img_s"] > 0
    assert "full recipe" in proc.stdout
    (run,) = summary["runs"]
    if "skipped" in run:  # a machine too busy to fit one epoch says so, honestly
        pytest.skip(f"no epoch fitted: {run['skipped']}")
    assert run["epochs"].endswith("of 150")
    card = runs.read_card(run["run"])
    assert card["status"] == "done" and card["pipeline"]["batches"] == "torch"
    probs = load_predictor(run["run"]).predict_proba(np.zeros((2, 28, 28), np.float32))
    assert probs.shape == (2, 10)
    # Its weights (under the tool's 16 MiB a file) come back beside the packed files.
    weights = (tmp_path / "out" / "w-simplecnn-m3-s0.safetensors").read_bytes()
    assert weights == (Path(run["run"]) / "model.safetensors").read_bytes()


def test_a_misspelt_model_or_budget_is_a_usage_error_before_anything_runs(gpu_zoo, capsys):
    with pytest.raises(SystemExit) as exit_:
        gpu_zoo.parse_args(["--models", "vgg16,resnet"])
    assert exit_.value.code == 2 and "unknown model 'resnet'" in capsys.readouterr().err
    assert gpu_zoo.parse_args(["--models", " vgg16, wrn-28-10 "]).models == ["vgg16", "wrn-28-10"]
    lease = REPO / "benchmarks" / "gpu_lease.sh"
    for budget, out in (("9m", "somewhere"), ("60", "")):
        proc = subprocess.run(
            ["bash", str(lease), budget],
            capture_output=True,
            text=True,
            env={**os.environ, "OUT": out},
            cwd=REPO,
            timeout=30,
        )
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


def test_small_models_train_one_after_another_when_measuring_them_together_fails(
    gpu_zoo, monkeypatch, tmp_path, mnist_dir
):
    def fails(*args, **kwargs):
        raise RuntimeError("capture failed")

    monkeypatch.setenv("DIGITKIT_DATA", str(mnist_dir))
    monkeypatch.setattr(gpu_zoo, "measure_concurrently", fails)
    # The budget counts from the script's start: here, from now, not from the import.
    monkeypatch.setattr(gpu_zoo, "PROCESS_START", time.monotonic())
    summary = gpu_zoo.main(
        [
            "--device",
            "cpu",
            "--budget",
            "25",
            "--concurrent",
            "on",
            "--out",
            str(tmp_path),
            "--models",
            "simplecnn-m5,simplecnn-m7",
            "--n-train",
            "60",
            "--n-val",
            "50",
            "--n-test",
            "50",
        ]
    )
    assert summary.status == "done" and not summary.concurrent
    assert [r["model"] for r in summary.runs] == ["simplecnn-m5", "simplecnn-m7"]
    assert all(r.get("val_acc") is not None for r in summary.runs), summary.runs


def test_one_model_failing_while_measured_together_does_not_leave_the_others_waiting(
    gpu_zoo, monkeypatch
):
    def fake_measure(name, splits, device, clock, cap_s, opts, barrier=None):
        if name == "fails":  # fails once the other one waits at the barrier
            deadline = time.monotonic() + 2
            while barrier.n_waiting < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            raise RuntimeError("capture failed")
        barrier.wait(timeout=5)  # broken at once by the failing model, or after 5 s

    monkeypatch.setattr(gpu_zoo, "measure", fake_measure)
    t0 = time.monotonic()
    with pytest.raises((RuntimeError, threading.BrokenBarrierError)):
        gpu_zoo.measure_concurrently(["waits", "fails"], None, CPU, None, 1.0, gpu_zoo.ZooOptions())
    assert time.monotonic() - t0 < 4
