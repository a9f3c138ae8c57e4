"""digitkit predict / calibrate / kaggle from the command line."""

from __future__ import annotations

import io
import json
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from digitkit import runs
from digitkit.cli import main
from digitkit.data.kaggle import write_test_csv, write_train_csv


@pytest.fixture()
def images(tmp_path, mnist):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    Image.fromarray(255 - mnist.x_test[0]).save(d / "a.png")
    Image.fromarray(mnist.x_test[1]).save(d / "sub" / "b.jpg", quality=95)
    (d / "notes.txt").write_text("not an image, and not picked up from a directory")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return d


def _lines(capsys):
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_predict_json_lines_with_directory_recursion(images, tiny_run, capsys):
    code = main(["predict", str(images), "--model", str(tiny_run), "--json"])
    lines = _lines(capsys)
    assert code == 1  # broken.png failed; every other file is answered all the same
    files = sorted(d["file"] for d in lines)
    assert files == sorted(str(images / f) for f in ("a.png", "broken.png", "sub/b.jpg"))
    by = {d["file"].rsplit("/", 1)[-1]: d for d in lines}
    assert by["broken.png"]["digit"] is None and "corrupt" in by["broken.png"]["error"]
    for name in ("a.png", "b.jpg"):
        assert isinstance(by[name]["digit"], int) and len(by[name]["probabilities"]) == 10


def test_predict_exit_code_1_when_all_fail(tmp_path, tiny_run, capsys):
    (tmp_path / "x.png").write_bytes(b"")
    assert (
        main(
            [
                "predict",
                str(tmp_path / "x.png"),
                str(tmp_path / "missing.png"),
                "--model",
                str(tiny_run),
                "--json",
            ]
        )
        == 1
    )
    errors = [d["error"] for d in _lines(capsys)]
    assert len(errors) == 2 and "empty" in errors[0] and "no such file" in errors[1]


def test_predict_table_and_stdin(images, tiny_run, capsys, monkeypatch):
    data = (images / "a.png").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["predict", "-", str(images / "a.png"), "--model", str(tiny_run)]) == 0
    out = capsys.readouterr().out
    assert "digit" in out and "confidence" in out and "-" in out
    # Not a terminal: one tab-separated row per input, the long path whole.
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == 3 and len({len(r) for r in rows}) == 1
    assert rows[2][0] == str(images / "a.png")


def test_predict_number(tmp_path, tiny_run, mnist, capsys):
    strip = np.concatenate([mnist.x_test[i] for i in range(3)], axis=1)
    Image.fromarray(strip).save(tmp_path / "n.png")
    assert (
        main(
            [
                "predict",
                str(tmp_path / "n.png"),
                "--number",
                "--json",
                "--tta",
                "--model",
                str(tiny_run),
            ]
        )
        == 0
    )
    (d,) = _lines(capsys)
    assert len(d["text"]) == 3 and len(d["digits"]) == 3 and d["file"].endswith("n.png")


def test_predict_drawings_keep_strokes_that_reach_the_canvas_edge(tmp_path, tiny_run, capsys):
    # A 7 drawn to its 64 px canvas's edge: judged from the file, its stem goes as a border
    # cut by a crop and the bar left is refused; said to be a drawing, it is read.
    from PIL import ImageDraw

    img = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(img).line([(10, 6), (54, 6), (38, 64)], fill=0, width=5, joint="curve")
    img.save(tmp_path / "seven.png")
    assert main(["predict", str(tmp_path / "seven.png"), "--model", str(tiny_run), "--json"]) == 0
    (judged,) = _lines(capsys)
    assert judged["digit"] is None and "wider than tall" in judged["reason"]
    args = ["predict", str(tmp_path / "seven.png"), "--drawing", "--json"]
    assert main([*args, "--model", str(tiny_run)]) == 0
    (drawn,) = _lines(capsys)
    assert isinstance(drawn["digit"], int) and "reason" not in drawn
    assert main([*args, "--number"]) == 2
    assert "--drawing is for single digits" in capsys.readouterr().err


def test_predict_no_images_is_a_clear_error(tmp_path, capsys):
    assert main(["predict", str(tmp_path)]) == 2
    assert "no image files" in capsys.readouterr().err


def test_unknown_model_is_one_line(images, capsys):
    assert main(["predict", str(images / "a.png"), "--model", "nope-model"]) == 2
    err = capsys.readouterr().err
    assert "no model" in err and "Traceback" not in err


def test_help_has_examples(capsys):
    for argv in (
        ["predict", "--help"],
        ["kaggle", "predict", "--help"],
        ["kaggle", "train", "--help"],
        ["calibrate", "--help"],
        ["interpolate", "--help"],
    ):
        assert main(argv) == 0
        assert "Example" in capsys.readouterr().out


def test_kaggle_predict_with_grid(tmp_path, tiny_run, mnist, capsys):
    write_test_csv(tmp_path / "test.csv", mnist.x_test[:30])
    code = main(
        [
            "kaggle",
            "predict",
            str(tmp_path / "test.csv"),
            "--out",
            str(tmp_path / "sub.csv"),
            "--grid",
            str(tmp_path / "grid.png"),
            "--grid-n",
            "12",
            "--model",
            str(tiny_run),
        ]
    )
    assert code == 0
    rows = (tmp_path / "sub.csv").read_text().splitlines()
    assert rows[0] == "ImageId,Label" and len(rows) == 31 and rows[1].startswith("1,")
    assert Image.open(tmp_path / "grid.png").size[0] > 100


def test_kaggle_train(tmp_path, mnist, capsys):
    pytest.importorskip("digitkit.train.loop")
    write_train_csv(tmp_path / "train.csv", mnist.x_train[:600], mnist.y_train[:600])
    out = tmp_path / "run"
    code = main(
        [
            "kaggle",
            "train",
            str(tmp_path / "train.csv"),
            "--model",
            "cnn-fast",
            "--out",
            str(out),
            "--n-val",
            "100",
            "epochs=1",
        ]
    )
    assert code == 0, capsys.readouterr()
    card = runs.read_card(out)
    assert card["data"]["dataset"] == "kaggle" and (out / "model.safetensors").is_file()


def test_calibrate_command(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["calibrate", str(run)]) == 0
    assert "temperature" in capsys.readouterr().out
    assert "calibration" in runs.read_card(run)
    assert main(["calibrate", str(run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["temperature"] == runs.read_card(run)["calibration"]["temperature"]
    assert report["ece_after"] <= report["ece_before"] + 1e-9


def test_number_table_shows_the_number_as_written():
    from digitkit.cli.predict import _row

    out = {
        "text": "25441",
        "formatted": "25.441",
        "confidence": 0.9,
        "uncertain": False,
        "file": "amount.png",
    }
    assert _row(out, number=True)[:2] == ["amount.png", "25.441"]
    assert _row({**out, "formatted": ""}, number=True)[1] == "25441"
