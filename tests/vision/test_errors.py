"""Issue 14, defects 3-5: thin images, refused formats and unreadable files are clear errors
or answers (API and CLI alike), never tracebacks, and never lose the other files' results."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from digitkit.cli import main
from digitkit.vision.imageio import ACCEPTED_FORMATS, ImageError, is_image_path, load_image
from digitkit.vision.segment import segment_grey

from .conftest import encode


def _thin_images():
    """1- and 2-pixel high (and wide) images that crashed the number path (argmin of an
    empty sequence; arrays of different shapes), ink of every kind."""
    out = []
    for h, w in ((1, 323), (2, 387), (1, 40), (2, 9), (387, 2), (323, 1)):
        half = np.ones((h, w), np.float32)
        half[:, w // 3 :] = 0.0
        comb = np.ones((h, w), np.float32)
        comb[:, ::2] = 0.0
        noise = np.random.default_rng(h * w).random((h, w)).astype(np.float32)
        out += [half, comb, noise]
    return out


@pytest.mark.parametrize("grey", _thin_images(), ids=lambda g: f"{g.shape[0]}x{g.shape[1]}")
def test_thin_images_segment_without_crashing(grey):
    for scorer in (None, lambda segs: [0.0] * len(segs)):
        seg = segment_grey(grey, scorer)
        assert seg.reason or all(s.ink.size for s in seg.segments)


def test_thin_images_through_the_number_api(recognizer):
    for grey in _thin_images():
        for reader in (None, "segmenter"):
            out = recognizer.predict_number(
                encode(Image.fromarray((grey * 255).astype(np.uint8))), reader=reader
            )
            assert out.error is None and isinstance(out.text, str)


def test_cli_number_on_thin_images_answers_each_file(tmp_path, capsys):
    files = []
    for k, grey in enumerate(_thin_images()[:6]):
        path = tmp_path / f"thin{k}.png"
        Image.fromarray((grey * 255).astype(np.uint8)).save(path)
        files.append(str(path))
    assert main(["predict", *files, "--number", "--json"]) in (0, 1)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["file"] for d in lines] == files


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "PPM", "TGA"])
def test_other_formats_are_refused_naming_the_accepted_ones(tmp_path, fmt):
    data = encode(Image.new("L", (28, 28), 255), fmt)
    with pytest.raises(ImageError) as e:
        load_image(data)
    assert e.value.code == "unsupported_format"
    for name in ("PNG", "JPEG", "BMP", "WebP"):
        assert name in str(e.value)


def test_one_list_of_formats_for_decoder_directory_walks_and_api():
    assert ACCEPTED_FORMATS == ("PNG", "JPEG", "BMP", "WEBP")
    assert is_image_path("a.webp") and is_image_path("b.JPG")
    assert not is_image_path("c.gif") and not is_image_path("d.tiff")
    pytest.importorskip("fastapi")
    import importlib

    # The API sniffs formats itself (its module moves as the server is reorganized).
    for name in ("digitkit.serve.parsing", "digitkit.serve.app"):
        api_types = getattr(importlib.import_module(name), "IMAGE_MEDIA_TYPES", None)
        if api_types is not None:
            break
    assert set(api_types) == {f.lower() for f in ACCEPTED_FORMATS}


def test_cli_refuses_gif_like_the_api(tmp_path, capsys):
    good, gif = tmp_path / "good.png", tmp_path / "anim.gif"
    good.write_bytes(encode(Image.new("L", (28, 28), 0)))
    gif.write_bytes(encode(Image.new("L", (28, 28), 255), "GIF"))
    main(["predict", str(good), str(gif), "--json"])
    by = {d["file"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    assert "unsupported image format GIF" in by[str(gif)]["error"]
    assert "error" not in by[str(good)]


@pytest.fixture()
def locked(tmp_path, monkeypatch):
    """A file whose reading the operating system refuses (tests may run as root, which
    ignores file modes, so the refusal is simulated where Python reads)."""
    path = tmp_path / "locked.png"
    path.write_bytes(encode(Image.new("L", (28, 28), 255)))
    real = pathlib.Path.read_bytes

    def read_bytes(self):
        if self.name == path.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
    return path


@pytest.mark.parametrize("number", [False, True])
def test_unreadable_file_is_one_clear_line_and_the_others_are_printed(
    tmp_path, locked, number, capsys
):
    from .conftest import encode as png

    other = tmp_path / "seven.png"
    img = np.full((28, 84), 255, np.uint8)
    img[4:24, 10:14] = 0
    other.write_bytes(png(Image.fromarray(img)))
    args = ["predict", str(locked), str(other), "--json"] + (["--number"] if number else [])
    code = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [d["file"] for d in lines] == [str(locked), str(other)]
    assert lines[0]["error"] == f"{locked}: permission denied (cannot read the file)"
    assert "error" not in lines[1]
    assert code == 1  # one input failed: exit 1, the other's answer printed all the same
    assert main(["predict", str(locked)] + (["--number"] if number else [])) == 1
    assert "permission denied" in capsys.readouterr().out


def test_unreadable_file_through_the_python_api(recognizer, locked):
    with pytest.raises(ImageError) as e:
        recognizer.predict_number(locked)
    assert e.value.code == "unreadable"
    (pred,) = recognizer.predict_batch([locked])
    assert pred.error and "permission denied" in pred.error
