"""The command line: help, happy paths, and one-line errors with exit code 2 on bad input."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from digitkit import runs
from digitkit.cli import main


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run ``digitkit ARGS`` in a subprocess; return (exit code, stdout, stderr)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "digitkit.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code, err, fragment):
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert fragment in lines[0]
    assert "Traceback" not in err


def test_help_lists_commands_and_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("data", "models", "train", "evaluate"):
        assert command in out
    assert main(["train", "--help"]) == 0
    assert "Examples" in capsys.readouterr().out


def test_models_lists_parameter_counts(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "cnn-fast" in out and "18,426" in out and "lenet5" in out
    assert main(["models", "cnn-simple"]) == 0
    out = capsys.readouterr().out
    assert "32x24x24" in out and "592,074" in out


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "no-such-model"], "unknown model 'no-such-model'"),
        (["train", "cnn-fast", "--recipe", "zzz"], "unknown recipe 'zzz'"),
        (["train", "cnn-fast", "lr=abc"], "expected float"),
        (["train", "cnn-fast", "colour=blue"], "unknown recipe field 'colour'"),
        (["train", "--resume", "/nonexistent/run"], "no such run directory"),
        (["train", "cnn-medium", "--arch", "widht=48"], "no argument 'widht'"),
        (["train", "cnn-medium", "--arch", "48"], "KEY=VALUE"),
        (["train", "cnn-medium", "--dataset", "mixed:pen_copys=6"], "not 'pen_copys=6'"),
        (["evaluate", "/nonexistent/run"], "no such run directory"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, args, fragment):
    code, _, err = run_cli(*args, cwd=tmp_path)
    assert_one_line_error(code, err, fragment)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--no-such-option"], "No such option: --no-such-option"),
        (["nosuchcmd"], "No such command 'nosuchcmd'"),
        (["data", "show", "--n", "abc"], "Invalid value for '--n'"),
        (["predict"], "Missing argument"),
        (["train", "lenet5", "--epochs", "1"], "recipe fields are key=value: epochs=1"),
    ],
)
def test_usage_errors_through_the_real_entry_point_are_one_line(tmp_path, args, fragment):
    """typer >= 0.26 parses with its bundled click, whose errors are no click.ClickException:
    each once came out as a traceback with exit code 1."""
    code, _, err = run_cli(*args, cwd=tmp_path)
    assert_one_line_error(code, err, fragment)


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    code, _, err = run_cli("train", "--resume", str(tmp_path))
    assert_one_line_error(code, err, "not a run directory")


def test_missing_data_is_a_clear_error(tmp_path):
    # A mirror on a closed loopback port: the download fails fast and says so.
    env = {"DIGITKIT_MIRRORS": "http://127.0.0.1:9/mnist"}
    code, _, err = run_cli(
        "train",
        "cnn-fast",
        "--data-dir",
        str(tmp_path / "none"),
        "--out",
        str(tmp_path / "run"),
        env=env,
    )
    assert_one_line_error(code, err, "could not download")
    assert not (tmp_path / "run").exists()


def test_truncated_idx_file_is_named(tmp_path, mnist_dir):
    for f in mnist_dir.glob("*.gz"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    broken = tmp_path / "t10k-labels-idx1-ubyte.gz"
    broken.write_bytes(gzip.compress(gzip.decompress(broken.read_bytes())[:-7]))
    code, _, err = run_cli("data", "info", "--data-dir", str(tmp_path))
    assert code == 1 and "checksum mismatch" in _ + err
    env = {"DIGITKIT_MIRRORS": "http://127.0.0.1:9/mnist"}
    code, _, err = run_cli(
        "train", "cnn-fast", "--data-dir", str(tmp_path), "--out", str(tmp_path / "run"), env=env
    )
    assert_one_line_error(code, err, "t10k-labels-idx1-ubyte")


def test_kaggle_csv_with_wrong_columns(tmp_path):
    (tmp_path / "train.csv").write_text("id,value\n1,2\n")
    code, _, err = run_cli(
        "train", "cnn-fast", "--dataset", f"kaggle:{tmp_path}", "--out", str(tmp_path / "run")
    )
    assert_one_line_error(code, err, "wrong columns")
    assert not (tmp_path / "run").exists()


def test_data_info_and_show(tmp_path, mnist_dir):
    code, out, err = run_cli("data", "info", "--data-dir", str(mnist_dir))
    assert code == 0, err
    assert out.count("OK") == 4 and "60000" in out and "10000" in out
    code, out, err = run_cli(
        "data", "show", "--n", "16", "--out", str(tmp_path / "s.png"), "--data-dir", str(mnist_dir)
    )
    assert code == 0, err
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_arch_arguments_reach_the_model_and_the_card(tmp_path, mnist_dir):
    out = tmp_path / "wide"
    code, stdout, err = run_cli(
        "train",
        "cnn-fast",
        "--arch",
        "width=4",
        "epochs=1",
        "n_val=0",
        "--n-train",
        "600",
        "--quiet",
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(out),
    )
    assert code == 0, err
    assert "no val split" in stdout
    card = runs.read_card(out)
    assert card["architecture"] == {"name": "cnn-fast", "args": {"width": 4}}
    assert card["num_params"] == 2214  # width 16 has 18,426
    assert "val" not in card["metrics"] and card["metrics"]["test"]["n"] == 10000


def _weights(run: Path) -> dict[str, np.ndarray]:
    return runs.load_weights(run)


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_matches(tmp_path, mnist_dir):
    """kill -9 during epoch 2 loses only that epoch; the resumed run ends like a clean one."""
    common = [
        "train",
        "cnn-fast",
        "epochs=3",
        "--n-train",
        "3000",
        "--quiet",
        "--data-dir",
        str(mnist_dir),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code, _, err = run_cli(*common, "--out", str(tmp_path / "clean"), env=env)
    assert code == 0, err
    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-m", "digitkit.cli", *common, "--out", str(cut)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = cut / "checkpoint" / "state.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert runs.read_card(cut)["status"] == "running"
    code, _, err = run_cli(
        "train", "--resume", str(cut), "--quiet", "--data-dir", str(mnist_dir), env=env
    )
    assert code == 0, err
    a, b = _weights(tmp_path / "clean"), _weights(cut)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5)
    assert (
        runs.read_card(cut)["metrics"]["test"]
        == runs.read_card(tmp_path / "clean")["metrics"]["test"]
    )


def test_piped_tables_and_json_are_whole(capsys, monkeypatch, tmp_path, mnist_dir):
    mnist = mnist_dir
    # Counts were cut to '59...' when piped: captured stdout is no terminal either.
    assert main(["data", "info", "--data-dir", str(mnist)]) == 0
    out = capsys.readouterr().out
    assert "train\t5923\t6742\t5958\t6131\t5842\t5421\t5918\t6265\t5851\t5949\t60000" in out
    assert main(["data", "info", "--data-dir", str(mnist), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["counts"]["test"]["total"] == 10000 and all(f["ok"] for f in info["files"])
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    lenet = [m for m in listing if m["model"] == "lenet5" and m["engine"] == "torch"]
    assert lenet and lenet[0]["params"] > 0 and lenet[0]["description"]
    assert main(["models"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["model", "engine", "params", "recipe", "description"]
    # Whole descriptions, however long: the same text as the JSON listing.
    assert {r[4] for r in rows[1:]} == {m["description"] for m in listing}
    assert main(["models", "lenet5", "--json"]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    assert layers and all({"layer", "type", "output_shape", "params"} <= set(x) for x in layers)


def test_python_m_names_itself_digitkit(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "digitkit", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert proc.returncode == 0
    assert "Usage: digitkit " in proc.stdout and "python -m" not in proc.stdout


def test_shell_completion_is_available():
    # Typer's test switch: the shell is named instead of detected from the parent process
    # (CI runs under sh, which has no completion script).
    code, out, err = run_cli(
        "--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    )
    assert code == 0, err
    assert "_digitkit_completion" in out and "complete " in out


def test_desktop_app_without_a_display_is_one_line_error(tmp_path):
    # Qt aborted the whole process (exit 134) when no display was there.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    proc = subprocess.run(
        [sys.executable, "-m", "digitkit.cli", "app"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert_one_line_error(proc.returncode, proc.stderr, "no display")


def test_train_into_a_place_that_cannot_be_written_is_one_line(tmp_path, mnist_dir):
    # sysfs refuses new folders even to root (file modes would not: tests run as root).
    target = Path("/sys/digitkit-test-run")
    if not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    code, _, err = run_cli(
        "train",
        "cnn-fast",
        "--out",
        str(target),
        "epochs=1",
        env={"DIGITKIT_DATA": str(mnist_dir)},
        cwd=tmp_path,
    )
    assert code == 1 and "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {target}:"), err


def test_train_graphs_on_a_cpu_says_why_not_and_trains(tmp_path, mnist_dir):
    code, out, err = run_cli(
        "train",
        "cnn-fast",
        "--graphs",
        "--n-train",
        "300",
        "--out",
        str(tmp_path / "run"),
        "epochs=1",
        env={"DIGITKIT_DATA": str(mnist_dir)},
    )
    assert code == 0, err
    assert "CUDA graphs off: CUDA graphs need a CUDA device" in out
    card = json.loads((tmp_path / "run" / "card.json").read_text(encoding="utf-8"))
    assert card["status"] == "done" and card["pipeline"]["graphs"] is False
