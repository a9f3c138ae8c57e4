"""Vendored pen trajectories: parsing, resampling, writer splits and the vectorized renderer."""

from __future__ import annotations

import hashlib
import lzma
import re
from pathlib import Path

import numpy as np
import pytest

from digitkit.data import pen
from digitkit.data.pen import LOOKALIKES, PARTS, load_pen, split_uji
from digitkit.data.render import PenStyle, bend, jitter, rasterize, render
from digitkit.errors import DigitkitError

VENDOR = Path(pen.__file__).parent / "vendor" / "pen"


def _reference_raster(points, pen_down, size, width_px):
    """Per-sample, per-segment, full-canvas capsule distances: slow but obviously right."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    widths = np.broadcast_to(np.asarray(width_px, float), (len(points),))
    out = np.zeros((len(points), size, size))
    for i, (pts, down) in enumerate(zip(points.astype(float), pen_down, strict=True)):
        best = np.full((size, size), np.inf)
        for k in np.flatnonzero(down):
            a, d = pts[k], pts[k + 1] - pts[k]
            t = np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / max(d @ d, 1e-12), 0, 1)
            best = np.minimum(best, np.hypot(xs - a[0] - t * d[0], ys - a[1] - t * d[1]))
        out[i] = np.clip(widths[i] / 2 - best + 0.5, 0, 1)
    return out


# --- the vendored files ---------------------------------------------------------------


def test_vendored_files_match_readme_sha256():
    listed = dict(
        (name, digest)
        for digest, name in re.findall(
            r"^([0-9a-f]{64})  (\S+\.txt)$", (VENDOR / "README.md").read_text(), re.M
        )
    )
    assert len(listed) == 13
    assert {p.name for p in VENDOR.glob("*.xz")} == {name + ".xz" for name in listed}
    for name, digest in listed.items():
        data = lzma.decompress((VENDOR / (name + ".xz")).read_bytes())
        assert hashlib.sha256(data).hexdigest() == digest, name


def test_readme_attributes_sources_and_licence():
    text = (VENDOR / "README.md").read_text()
    for needle in ("CC BY 4.0", "10.24432/C5MG6K", "10.24432/C5Z31R", "Alpaydin", "Llorens"):
        assert needle in text


def test_package_reads_only_vendored_files():
    for module in ("pen.py", "render.py"):
        source = (Path(pen.__file__).parent / module).read_text()
        assert "shared" not in source and "/work" not in source


def test_corrupt_vendored_file_is_a_digitkit_error(tmp_path, monkeypatch):
    (tmp_path / "vendor" / "pen").mkdir(parents=True)
    (tmp_path / "vendor" / "pen" / "broken.txt.xz").write_bytes(b"not xz at all")

    class FakeResources:
        @staticmethod
        def files(package):
            return tmp_path

    monkeypatch.setattr(pen, "resources", FakeResources)
    with pytest.raises(DigitkitError, match="corrupt"):
        pen.read_vendored("pen", "broken.txt")
    with pytest.raises(DigitkitError, match="missing"):
        pen.read_vendored("pen", "absent.txt")


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "count", "digits"),
    [("pendigits-train", 7494, 7494), ("pendigits-test", 3498, 3498), ("uji", 1364, 220)],
)
def test_counts_shapes_and_dtypes(part, count, digits):
    data = load_pen(part, points=64)
    assert data.part == part and len(data) == count
    assert data.points.shape == (count, 64, 2) and data.points.dtype == np.float32
    assert data.pen_down.shape == (count, 63) and data.pen_down.dtype == bool
    assert data.labels.dtype == np.dtype("<U1") and data.writers.dtype == np.int32
    assert np.char.isdigit(data.labels).sum() == digits
    assert set(data.labels[np.char.isdigit(data.labels)]) == set("0123456789")


def test_uji_has_every_character_twice_per_writer():
    uji = load_pen("uji")
    for writer in np.unique(uji.writers):
        labels, counts = np.unique(uji.labels[uji.writers == writer], return_counts=True)
        assert len(labels) == 62 and set(counts) == {2}
    assert set(uji.labels) >= LOOKALIKES and not any(c.isdigit() for c in LOOKALIKES)


@pytest.mark.parametrize("part", PARTS)
def test_samples_are_normalized_to_a_centred_unit_box(part):
    pts = load_pen(part).points
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    np.testing.assert_allclose((hi - lo).max(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose((lo + hi) / 2, 0.0, atol=1e-5)


def test_pendigits_train_and_test_writers_are_disjoint():
    train, test = load_pen("pendigits-train"), load_pen("pendigits-test")
    assert set(np.unique(train.writers)) == set(range(1, 31))
    assert set(np.unique(test.writers)) == set(range(101, 115))
    uji = set(np.unique(load_pen("uji").writers))
    assert uji == set(range(1001, 1012))
    assert not (set(train.writers) & set(test.writers)) and not (set(train.writers) & uji)


def test_split_uji_by_writer():
    train, test = split_uji(load_pen("uji"))
    assert set(train.writers) == set(range(1001, 1009))
    assert set(test.writers) == {1009, 1010, 1011}
    assert (len(train), len(test)) == (8 * 124, 3 * 124)
    assert train.part == test.part == "uji"
    with pytest.raises(DigitkitError, match="uji"):
        split_uji(load_pen("pendigits-test"))


def test_load_pen_is_cached_and_checks_arguments():
    assert load_pen("uji", 32) is load_pen("uji", 32)
    assert load_pen("uji", 32).points.shape[1] == 32
    with pytest.raises(DigitkitError, match="unknown pen-data part"):
        load_pen("mnist")
    with pytest.raises(DigitkitError, match="too few"):
        load_pen("uji", points=2)


def test_subset_keeps_rows_together():
    data = load_pen("pendigits-test")
    sevens = data.subset(data.labels == "7")
    assert set(sevens.labels) == {"7"} and len(sevens) == (data.labels == "7").sum()
    first = np.flatnonzero(data.labels == "7")[0]
    np.testing.assert_array_equal(sevens.points[0], data.points[first])
    assert sevens.writers[0] == data.writers[first]


SMALL = """.SEGMENT DIGIT 0 ? "1"
.COMMENT 1 7 0
.PEN_DOWN
 0 0
 10 0
.PEN_UP
.DT 100
.PEN_DOWN
 10 30
 10 10
 10 0
.PEN_UP
.PEN_DOWN
 5 5
.PEN_UP
"""


def _small(points):
    d = pen._parse(SMALL, "small", pendigits=True)
    return d, pen._resample(d["xy"].astype(float), d["stroke_sizes"], d["sample_strokes"], points)


def test_resampling_shares_points_by_arc_length():
    d, (pts, down) = _small(12)
    assert list(d["stroke_sizes"]) == [2, 3, 1] and list(d["writers"]) == [7]
    # 12 points: 2 per stroke plus 6 extra shared 10:30:0 -> 2+2, 2+4 (rounded), 2+0
    assert list(down[0]) == [True] * 3 + [False] + [True] * 5 + [False] + [True]
    raw = pts[0] * 30 + np.array([5.0, 15.0])  # undo the 30-unit box (x 0..10, y 0..30)
    np.testing.assert_allclose(raw[:4], [[0, 0], [10 / 3, 0], [20 / 3, 0], [10, 0]], atol=1e-4)
    np.testing.assert_allclose(raw[4:10, 1], [30, 24, 18, 12, 6, 0], atol=1e-4)
    # the dot became a tiny horizontal segment (1% of the sample's size)
    np.testing.assert_allclose(raw[10:], [[5, 5], [5.3, 5]], atol=1e-4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SMALL.replace(" 10 30", " 10 x"), "bad point line"),
        (SMALL.replace(" 10 30", " 10 30 4"), "bad point line"),
        (SMALL.replace(".PEN_UP\n.DT", ".DT"), "inside an open .PEN_DOWN"),
        (SMALL.rsplit(".PEN_UP", 1)[0], "ends inside a .PEN_DOWN"),
        (SMALL.replace(".PEN_DOWN\n 0 0", " 0 0\n.PEN_DOWN"), "outside a .PEN_DOWN"),
        (SMALL.replace(".COMMENT 1 7 0", ".COMMENT 2 7 0"), "label"),
        (SMALL.replace(".COMMENT 1 7 0\n", ""), "writer"),
        (SMALL.replace('"1"', ""), "label"),
        ('.SEGMENT DIGIT 0 ? "1"\n.COMMENT 1 7 0\n', "no pen-down points"),
        (".PEN_DOWN\n 1 2\n.PEN_UP\n", "before any .SEGMENT"),
        (".HIERARCHY DIGIT\n", "no .SEGMENT"),
    ],
)
def test_corrupt_text_raises_one_line_digitkit_error(text, message):
    with pytest.raises(DigitkitError, match=message) as info:
        pen._parse(text, "bad.txt", pendigits=True)
    assert "\n" not in str(info.value)


def test_unknown_directives_and_crlf_are_accepted():
    text = ".INCLUDE x.doc\n.VERSION 2\n" + SMALL.replace(".DT 100", ".X_FOO bar")
    d = pen._parse(text.replace("\n", "\r\n"), "ok.txt", pendigits=True)
    assert list(d["stroke_sizes"]) == [2, 3, 1]


# --- rendering --------------------------------------------------------------------------


@pytest.mark.parametrize("width", [2.0, 3.0, 4.5, 7.0])
def test_horizontal_segment_has_the_pen_width(width):
    # along the centres of row 32 (y = 32.5), from x = 10 to x = 54
    pts = np.array([[[10.0, 32.5], [54.0, 32.5]]])
    ink = rasterize(pts, np.ones((1, 1), bool), 64, width)[0]
    np.testing.assert_allclose(ink[:, 20:45].sum(axis=0), width, atol=1e-4)
    assert ink[32, 32] == 1.0
    # round caps: ink reaches width/2 + 0.5 past each end point, not further
    r = width / 2
    end = int(np.ceil(54 + r))
    assert ink[32, end:].max() == 0.0 and ink[32, end - 1] > 0
    start = int(np.floor(9 - r)) + 1
    assert ink[32, :start].max() == 0.0 and ink[32, start] > 0


def test_rasterize_matches_a_brute_force_reference():
    rng = np.random.default_rng(5)
    data = load_pen("uji").subset(slice(0, 24))
    # scattered sizes and positions, some partly off the canvas, mixed pen widths
    pts = data.points * rng.uniform(10, 60, (24, 1, 1)) + rng.uniform(-10, 50, (24, 1, 2))
    widths = rng.uniform(0.5, 9.0, 24)
    got = rasterize(pts, data.pen_down, 40, widths)
    np.testing.assert_allclose(got, _reference_raster(pts, data.pen_down, 40, widths), atol=1e-4)


def test_pen_up_segments_draw_nothing():
    pts = np.array([[[5.0, 5.0], [5.0, 25.0], [25.0, 5.0], [25.0, 25.0]]])
    ink = rasterize(pts, np.array([[True, False, True]]), 32, 3.0)[0]
    assert ink[20, 5] == 1.0 and ink[20, 25] == 1.0
    assert ink[15, 15] == 0.0  # the middle of the lifted jump from (5, 25) to (25, 5)
    assert rasterize(pts, np.zeros((1, 3), bool), 32, 3.0).max() == 0.0


def test_render_is_seeded_and_in_range():
    data = load_pen("pendigits-train").subset(slice(0, 50))
    first = render(data, 48, rng=np.random.default_rng(7))
    again = render((data.points, data.pen_down), 48, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, render(data, 48, rng=np.random.default_rng(8)))
    np.testing.assert_array_equal(render(data, 48), render(data, 48))
    assert first.shape == (50, 48, 48) and first.dtype == np.float32
    assert first.min() == 0.0 and first.max() == 1.0


def test_jittered_digits_stay_on_the_canvas():
    data = load_pen("pendigits-train").subset(slice(0, 400))
    # a large shift would push most digits off a 28-pixel canvas if it were not clipped
    images = render(data, 28, rng=3, style=PenStyle(shift=0.5, size=(0.5, 0.7)))
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], 1)
    assert border.max() == 0.0
    assert (images.reshape(400, -1).max(1) > 0.5).all()


def test_jitter_keeps_the_unit_box_and_varies_per_sample():
    data = load_pen("uji").subset(slice(0, 100))
    out = jitter(data.points, np.random.default_rng(0))
    lo, hi = out.min(axis=1), out.max(axis=1)
    np.testing.assert_allclose((hi - lo).max(axis=1), 1.0, atol=1e-5)
    moved = np.abs(out - data.points).mean(axis=(1, 2))
    assert moved.min() > 0 and moved.std() > 0
    calm = PenStyle(rotate_deg=0, slant=0, aspect=0, shift=0, wobble=0)
    still = jitter(data.points, np.random.default_rng(0), calm)
    np.testing.assert_allclose(still, data.points, atol=1e-6)


def test_bend_moves_points_smoothly_and_within_its_amount():
    data = load_pen("pendigits-train").subset(slice(0, 300))
    amount = 0.1
    out = bend(data.points, np.random.default_rng(0), amount)
    shift = np.linalg.norm(out - data.points, axis=2)  # (N, P)
    # Each axis moves at most `amount`, so a point at most sqrt(2) times that.
    assert shift.max() <= amount * np.sqrt(2) + 1e-9
    # Every sample is moved, by its own field: proportions change, not just the pose.
    assert (shift.mean(axis=1) > 0).all() and shift.mean(axis=1).std() > 0.005
    # Smooth: along a stroke, neighbouring points move together. Relative to the stroke's
    # step, their displacements differ by a tenth in the median (a gaussian wobble of a
    # third of the amount: 1.3, so this assertion tells a field from noise).
    moved = np.linalg.norm(np.diff(out - data.points, axis=1), axis=2)[data.pen_down]
    step = np.linalg.norm(np.diff(data.points, axis=1), axis=2)[data.pen_down]
    assert np.median(moved / np.maximum(step, 1e-9)) < 0.2
    assert not np.allclose(out, data.points)


def test_an_unbent_style_draws_exactly_what_it_drew_before():
    """``bend`` = 0 must not draw from the generator: every seeded rendering stays the same."""
    data = load_pen("uji").subset(slice(0, 60))
    plain = render(data, 40, rng=5)
    np.testing.assert_array_equal(plain, render(data, 40, rng=5, style=PenStyle(bend=0.0)))
    assert not np.array_equal(plain, render(data, 40, rng=5, style=PenStyle(bend=0.08)))


@pytest.mark.parametrize("part", PARTS)
def test_digits_are_upright_and_not_mirrored(part):
    """Mean plain renderings: a 7's bar is at the top, a 6's loop at the bottom, a 3 opens left.

    Each check fails when y (or x) is flipped: the ratios seen are 3x, 1.6x and 1.4-2x.
    """
    data = load_pen(part)

    def mean_ink(label):
        return render(data.subset(data.labels == label), 32).mean(axis=0)

    seven, six, three = mean_ink("7"), mean_ink("6"), mean_ink("3")
    assert seven[:8].sum() > 2.0 * seven[-8:].sum()
    assert six[-8:].sum() > 1.3 * six[:8].sum()
    assert three[:, 16:].sum() > 1.3 * three[:, :16].sum()
