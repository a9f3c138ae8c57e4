"""``pip install digitkit`` with no extras recognizes digits, without torch or onnxruntime.

Builds a fresh virtual environment (no system site packages), installs the package from this
source tree with its core dependencies only (from the package index, through pip's cache),
then runs the CLI and the Python API there. About a minute with a warm pip cache; skipped
when the index cannot be reached and nothing is cached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
# What a source distribution holds: enough to build the wheel, nothing of the developer's
# checkout (no .venv, runs, caches).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "src")
NETWORK_ERRORS = (
    "No matching distribution",
    "Could not find a version",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
)


def _draw(points: list[tuple[float, float]], path: Path) -> Path:
    """A thick black polyline on white, like a canvas drawing."""
    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).line(
        [(x * 200, y * 200) for x, y in points], fill=0, width=16, joint="curve"
    )
    img.save(path)
    return path


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, **kw)


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> Path:
    """A virtual environment holding digitkit and its core dependencies only."""
    work = tmp_path_factory.mktemp("bare")
    tree = work / "digitkit-src"
    tree.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=ignore)
        else:
            shutil.copy2(src, tree / name)
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    done = _run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(tree)],
        env=env,
    )
    if done.returncode != 0:
        if any(e in done.stderr for e in NETWORK_ERRORS):
            pytest.skip(f"cannot install the core dependencies here: {done.stderr[-300:]}")
        raise AssertionError(f"pip install failed:\n{done.stdout}\n{done.stderr}")
    return env_dir


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.install
@pytest.mark.timeout(300)
def test_bare_install_has_no_torch_and_no_extras(bare):
    python = bare / "bin" / "python"
    probe = (
        "import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None "
        "for m in ('torch', 'onnx', 'onnxruntime', 'matplotlib', 'fastapi', 'PySide6', "
        "'digitkit')}))"
    )
    found = json.loads(_run([str(python), "-c", probe], env=_env()).stdout)
    assert found == {
        "torch": False,
        "onnxruntime": False,  # the fast extra: the shipped models run on the NumPy runtime
        "onnx": False,
        "matplotlib": False,
        "fastapi": False,
        "PySide6": False,
        "digitkit": True,
    }
    # the package was installed from the copy, not this checkout
    where = _run([str(python), "-c", "import digitkit; print(digitkit.__file__)"], env=_env())
    assert str(bare) in where.stdout


@pytest.mark.install
@pytest.mark.timeout(300)
def test_bare_install_predicts_on_the_cli_and_from_python(bare, tmp_path):
    images = [
        _draw([(0.5, 0.15), (0.5, 0.85)], tmp_path / "one.png"),
        _draw([(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)], tmp_path / "seven.png"),
    ]
    done = _run(
        [str(bare / "bin" / "digitkit"), "predict", *map(str, images), "--json"], env=_env()
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [a["digit"] for a in answers] == [1, 7]
    script = (
        "import sys; from digitkit import Recognizer; r = Recognizer.load(); "
        f"print(r.predict({str(images[1])!r}).digit, 'torch' in sys.modules)"
    )
    done = _run([str(bare / "bin" / "python"), "-c", script], env=_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["7", "False"]


@pytest.mark.install
@pytest.mark.timeout(300)
def test_bare_install_names_the_missing_extra(bare):
    done = _run([str(bare / "bin" / "digitkit"), "models"], env=_env())
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "digitkit models needs the training extra: pip install 'digitkit[train]'" in lines[0]


@pytest.mark.install
@pytest.mark.timeout(300)
def test_env_command_reports_the_bare_install(bare):
    done = _run([str(bare / "bin" / "digitkit"), "env", "--json"], env=_env())
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["extras"] == {"fast": False, "train": False, "serve": False, "desktop": False}
    assert info["packages"]["torch"] is None and info["packages"]["onnxruntime"] is None
    assert info["models"]["runtime"] == "numpy"
    assert "default" in info["models"]["shipped"]


@pytest.mark.install
@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform != "linux", reason="wheel contents checked on Linux")
def test_installed_package_ships_licence_and_py_typed(bare):
    site = next((bare / "lib").glob("python3*/site-packages"))
    assert (site / "digitkit" / "py.typed").is_file()
    dist = next(site.glob("digitkit-*.dist-info"))
    assert list(dist.rglob("LICENSE")), "the licence file is not in the wheel"
    meta = (dist / "METADATA").read_text(encoding="utf-8")
    assert "License-Expression: MIT AND CC-BY-4.0" in meta


# The same promises inside this environment, with torch made unimportable (fast).


@pytest.fixture
def no_torch(monkeypatch):
    """``import torch`` fails as if torch were not installed (ModuleNotFoundError)."""
    from digitkit import _extras
    from digitkit.models import registry

    # Load the model zoo first: a registry asked for torch models while torch is missing
    # would remember an empty zoo for the rest of the session.
    registry.all_specs()
    monkeypatch.setattr(_extras, "_command", None)  # main() names the command it runs
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)


def test_shipped_models_load_and_predict_without_torch(no_torch):
    from digitkit.inference.predictor import OnnxPredictor, load_predictor
    from digitkit.vision.recognize import Recognizer

    ensemble = load_predictor("default")
    assert all(isinstance(m, OnnxPredictor) for m in ensemble.members)
    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).line([(100, 30), (100, 170)], fill=0, width=16)
    assert Recognizer(ensemble).predict(img).digit == 1


def test_every_shipped_model_name_loads_as_a_digit_model():
    """What the server offers and ``--model`` accepts: the number readers' list
    (weights/number.json) and their folders are no digit models."""
    from digitkit.inference.predictor import load_predictor, shipped_models

    names = shipped_models()
    assert "default" in names and "number" not in names and "number-ctc" not in names
    for name in names:
        assert load_predictor(name).predict_proba(np.zeros((1, 28, 28), np.float32)).shape[0] == 1


def test_cli_command_without_its_extra_names_it(no_torch, capsys):
    from digitkit.cli import main

    assert main(["models", "cnn-fast"]) == 2  # a layer table: imports torch itself
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: digitkit models needs the training extra: pip install 'digitkit[train]'"]


def test_require_names_the_extra_and_is_an_import_error(no_torch):
    from digitkit._extras import MissingExtra, require
    from digitkit.errors import DigitkitError

    with pytest.raises(MissingExtra, match=r"pip install 'digitkit\[train\]'") as info:
        require("train", "torch", what="training")
    assert isinstance(info.value, DigitkitError) and isinstance(info.value, ImportError)
    assert info.value.exit_code == 2


def test_onnx_file_that_is_not_the_exported_one_is_a_clear_error(tmp_path):
    from digitkit.errors import DigitkitError
    from digitkit.inference.predictor import WEIGHTS_DIR, load_predictor

    run = tmp_path / "run"
    shutil.copytree(WEIGHTS_DIR / "realworld-s0", run)
    with (run / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(DigitkitError, match="sha256 differs"):
        load_predictor(run)


def test_number_reader_checks_its_onnx_hash(tmp_path):
    from digitkit.errors import DigitkitError
    from digitkit.vision.numbers import SHIPPED, NumberReader

    assert NumberReader.load(SHIPPED).card["onnx"]["sha256"]
    run = tmp_path / "reader"
    shutil.copytree(SHIPPED, run)
    with (run / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(DigitkitError, match="sha256 differs"):
        NumberReader.load(run)


def test_shipped_weights_fit_their_budgets():
    # Two budgets: the recognizer's models (default, drawings, mnist, number reader) together
    # 10 MB; the MNIST record ensemble ("ensemble", issue 15) 40 MB.
    from digitkit.inference.predictor import WEIGHTS_DIR

    spec = json.loads((WEIGHTS_DIR / "ensemble.json").read_text(encoding="utf-8"))
    ensemble = {WEIGHTS_DIR / m for m in spec["members"]}
    sizes = {
        p: p.stat().st_size
        for p in WEIGHTS_DIR.rglob("*")
        if p.is_file() and p.name != "ensemble.json"
    }
    of_ensemble = sum(n for p, n in sizes.items() if p.parent in ensemble)
    assert 5_000_000 < sum(sizes.values()) - of_ensemble <= 10_000_000
    assert 1_000_000 < of_ensemble <= 40_000_000


def test_shipped_cards_pin_their_onnx_files():
    from digitkit import runs
    from digitkit.inference.predictor import WEIGHTS_DIR

    for card_path in sorted(WEIGHTS_DIR.glob("*/card.json")):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        record, folder = card["onnx"], card_path.parent
        # A lean member leaves its float graph out and runs its int8 graph, quantized from it.
        graph = folder / record["file"]
        if graph.is_file():
            assert runs.file_sha256(graph) == record["sha256"], folder.name
        else:
            int8 = card["int8"]
            assert int8["source_sha256"] == record["sha256"], folder.name
            assert runs.file_sha256(folder / int8["file"]) == int8["sha256"], folder.name
        assert runs.file_sha256(folder / runs.WEIGHTS) == record["weights_sha256"], folder.name


def test_env_command_prints_what_a_bug_report_needs(capsys):
    from digitkit import __version__
    from digitkit.cli import main

    assert main(["env", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["digitkit"] == __version__
    assert info["packages"]["numpy"] and info["threads"]["cpu_count"] >= 1
    assert set(info["extras"]) == {"fast", "train", "serve", "desktop"}
    assert info["models"]["runtime"] == "onnxruntime"
    assert "default" in info["models"]["shipped"] and info["models"]["number_readers"]
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"digitkit {__version__}") and "models" in out
