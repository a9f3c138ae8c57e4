"""The CTC number reader: synthetic lines, the CRNN, CTC decoding, training, ONNX export,
the reader's bounds and its integration in ``Recognizer.predict_number``."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from torch import nn

from digitkit import runs
from digitkit.cli import main
from digitkit.data.scans import printed_context
from digitkit.data.strings import GlyphPool, NumberLines, digit_count
from digitkit.errors import DigitkitError
from digitkit.models import build_model, count_params
from digitkit.models.sequence import deepen, fit_identity_norms
from digitkit.train.sequence import (
    LineSet,
    NumberRecipe,
    ctc_loss,
    evaluate_lines,
    export_number_onnx,
    load_number_model,
    train_number,
)
from digitkit.vision.numbers import (
    ALPHABET,
    EMPTY_PRINT,
    LINE_HEIGHT,
    STRIDE,
    NumberReader,
    labels_to_text,
    normalize_line,
    prepare_line,
    text_to_labels,
)
from digitkit.vision.preprocess import label_components
from tests.fakes import minimal_card, val_number_lines
from tests.vision.recognize_helpers import blurred

TINY = NumberRecipe(
    epochs=2,
    steps_per_epoch=6,
    batch_size=8,
    warmup_steps=4,
    max_digits=4,
    val_per_length=2,
    lr=3e-3,
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lines(mnist_splits) -> NumberLines:
    """Lines of the first 3,000 MNIST training digits (no pen digits, no photos: fast)."""
    return NumberLines.from_mnist(
        mnist_splits.x_train[:3000],
        mnist_splits.y_train[:3000],
        use_pen=False,
        use_photos=False,
        max_digits=6,
    )


@pytest.fixture(scope="module")
def val_set(mnist_splits) -> LineSet:
    gen = val_number_lines(mnist_splits, max_digits=4)
    return LineSet.build(gen, per_length=2, max_digits=4)


@pytest.fixture(scope="module")
def tiny_run(lines, val_set, tmp_path_factory):
    """A number-reader run trained for 12 steps, exported to ONNX (seconds)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("number-run")
    train_number(out, TINY, train_lines=lines, val_lines=val_set, progress=False, log=None)
    export_number_onnx(out)
    return out


@pytest.fixture(scope="module")
def reader(tiny_run) -> NumberReader:
    return NumberReader.load(tiny_run)


# --------------------------------------------------------------------------- the generator


def _bar_pool() -> GlyphPool:
    """Every digit drawn as a thin full-height bar: narrow glyphs never merge, so the drawn
    line can be counted."""
    images = np.zeros((10, 28, 28), np.uint8)
    images[:, 4:24, 13:15] = 255
    return GlyphPool.from_arrays(images, np.arange(10))


def _tall_components(ink: np.ndarray) -> int:
    # On the drawing canvas digits are 20 px high (x 0.82-1.18), separators but "/" at most 11
    labels, k = label_components(ink > 0.3)
    heights = [np.ptp(np.nonzero(labels == i)[0]) + 1 for i in range(1, k + 1)]
    return sum(h >= 14 for h in heights)


def test_labels_match_what_was_drawn(monkeypatch):
    import digitkit.data.strings as strings

    gen = NumberLines([_bar_pool()], max_digits=10)
    texts = gen.texts(200, np.random.default_rng(3))
    assert sum(any(c in t for c in ".,'-=/ ") for t in texts) > 50
    drawn = [gen.draw(t, np.random.default_rng(i)) for i, t in enumerate(texts)]
    # Separators may touch their neighbours (a comma leaning on a digit), so count the digits
    # on the same lines drawn without separator strokes: one bar per digit, never merged.
    monkeypatch.setattr(strings, "_stroke", lambda *a, **k: None)
    for i, (text, ink) in enumerate(zip(texts, drawn, strict=True)):
        bare = gen.draw(text, np.random.default_rng(i))
        assert _tall_components(bare) == digit_count(text), text
        seps = sum(c in ".,'-=/" for c in text)
        assert (ink.sum() > bare.sum() + 1.0) == (seps > 0), text  # separators have ink
        assert _tall_components(ink) <= digit_count(text) + text.count("/"), text


def test_joined_lines_link_neighbouring_digits(monkeypatch):
    # Joined-up writing: the pen's joining strokes link digits that stand apart, and they
    # are no characters (the label stays the digits).
    import digitkit.data.strings as strings

    gen = NumberLines([_bar_pool()], style="joined", min_digits=2, max_digits=8)
    texts = gen.texts(60, np.random.default_rng(4))
    assert all(t.isdigit() for t in texts)
    drawn = [gen.draw(t, np.random.default_rng(i)) for i, t in enumerate(texts)]
    # Without the strokes (the same random draws), every digit stands alone.
    monkeypatch.setattr(strings, "_stroke", lambda *a, **k: None)
    linked = 0
    for i, (text, ink) in enumerate(zip(texts, drawn, strict=True)):
        bare = gen.draw(text, np.random.default_rng(i))
        assert _tall_components(bare) == len(text), text
        assert ink.sum() >= bare.sum()
        linked += label_components(ink > 0.3)[1] < len(text)
    assert linked >= 0.8 * len(texts)


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_joined_sets_the_share_of_joined_up_lines(monkeypatch, share):
    import digitkit.data.strings as strings

    joined_lines, line = set(), [0]
    real = strings._join

    def counted(*args, **kwargs):
        joined_lines.add(line[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(strings, "_join", counted)
    gen = NumberLines([_bar_pool()], min_digits=3, max_digits=6, joined=share)
    rng = np.random.default_rng(1)
    texts = gen.texts(80, rng)
    for i, text in enumerate(texts):
        line[0] = i
        gen.draw(text, rng)
    assert abs(len(joined_lines) / len(texts) - share) <= 0.15
    assert NumberRecipe().replace(joined=share).joined == share


@pytest.mark.parametrize("share", [0.0, 0.3])
def test_validation_lines_hold_the_training_share_of_joined_ones(monkeypatch, share):
    # The epoch kept is the best on the validation lines: without joined-up lines among
    # them, a run continued with joins kept its first epoch, before it had learned them.
    import digitkit.data.strings as strings
    from digitkit.train import sequence

    joins = []
    real = strings._join
    monkeypatch.setattr(strings, "_join", lambda *a, **k: joins.append(1) or real(*a, **k))
    recipe = NumberRecipe(joined=share, val_per_length=6, max_digits=4)
    train = NumberLines([_bar_pool()])
    _, val, _ = sequence._line_sets(recipe, train, None, None, {})
    assert len(val.texts) == 24
    assert (len(joins) > 0) == (share > 0)


def test_joined_must_be_a_share():
    with pytest.raises(ValueError, match="joined"):
        NumberLines([_bar_pool()], joined=1.5)
    with pytest.raises(ValueError, match="empty"):
        NumberLines([_bar_pool()], empty=-0.1)


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_empty_fields_among_the_training_lines(share):
    # train-number --empty: photographed fields with nothing written in them, labelled "".
    photographed = []

    def photograph(ink, rng):
        photographed.append(ink.shape)
        paper = np.full(ink.shape, 230, np.uint8)
        paper[:, 20:24, :] = 40  # a printed rule across the field
        paper[:, :, 10:13] = 40  # and a wall: what print removal may leave
        return paper

    gen = NumberLines([_bar_pool()], photograph=photograph, photo_fraction=0.0, empty=share)
    images, widths, texts = gen.batch(60, np.random.default_rng(2))
    empty = [i for i, t in enumerate(texts) if t == ""]
    assert abs(len(empty) / 60 - share) <= 0.15
    assert len(photographed) == len(empty)  # only the empty fields were photographed
    for i in empty:
        assert images[i, :, widths[i] :].max() == 0  # padded like any line
    assert all(t for i, t in enumerate(texts) if i not in empty)
    # Without a photographer there are no empty fields.
    assert NumberLines([_bar_pool()], empty=0.5).empty == 0.0
    assert NumberRecipe().replace(empty=share).empty == share


def test_texts_use_the_alphabet_and_lengths(lines):
    rng = np.random.default_rng(0)
    texts = lines.texts(300, rng)
    assert set("".join(texts)) <= set(ALPHABET)
    counts = [digit_count(t) for t in texts]
    assert min(counts) == 1 and max(counts) == 6
    assert any(c in t for t in texts for c in ".,'-=/ ")  # separators are generated
    fixed = lines.texts(20, rng, lengths=np.full(20, 4))
    assert all(digit_count(t) == 4 for t in fixed)


def test_batch_shapes_widths_and_determinism(lines):
    images, widths, texts = lines.batch(16, np.random.default_rng(5))
    assert images.shape[0] == 16 and images.shape[1] == LINE_HEIGHT
    assert images.shape[2] % STRIDE == 0 and images.shape[2] >= widths.max()
    assert images.dtype == np.float32 and images.min() >= 0 and images.max() <= 1
    for img, w in zip(images, widths, strict=True):
        assert not img[:, w:].any()  # padding is blank
        assert img[:, :w].max() > 0.5
    again, widths2, texts2 = lines.batch(16, np.random.default_rng(5))
    assert texts2 == texts and np.array_equal(again, images) and np.array_equal(widths2, widths)


def test_normalize_line_height_and_bounds():
    ink = np.zeros((60, 16000), np.float32)
    ink[10:50, 5:15990:7] = 1.0
    line = normalize_line(ink)
    assert line.image.shape[0] == LINE_HEIGHT and line.width <= 1024
    rows = np.flatnonzero(line.image.max(axis=1) > 0.05)
    assert rows[0] == 2 and rows[-1] == LINE_HEIGHT - 3  # ink spans the 28 middle rows
    assert line.to_input_x(4) == pytest.approx(5, abs=1)
    assert line.to_input_x(line.width - 4) == pytest.approx(15990, rel=0.01)


# --------------------------------------------------------------------------- model, CTC


def test_model_output_shape_and_size():
    model = build_model("crnn-ctc").eval()
    assert count_params(model) * 4 < 2_000_000  # float32 weights under 2 MB
    with torch.inference_mode():
        for width in (8, 100, 1024):
            out = model(torch.rand(2, 1, LINE_HEIGHT, width))
            assert out.shape == (2, width // STRIDE, len(ALPHABET) + 1)


def test_one_width_sizes_the_whole_reader():
    """The shipped reader (width 128) keeps its layers; other widths scale the conv features
    with the frame channels."""
    from digitkit.models.sequence import BASE_CHANNELS

    shipped = build_model("crnn-ctc")
    assert count_params(shipped) == 339_546  # src/digitkit/weights/number-ctc loads into it
    convs = [m for m in build_model("crnn-ctc", width=192).features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [c * 3 // 2 for c in BASE_CHANNELS] + [192]
    narrow = [m for m in build_model("crnn-ctc", width=16).features if isinstance(m, nn.Conv2d)]
    assert min(c.out_channels for c in narrow) == 8  # never thinner than 8 channels


def test_depth_deepens_the_stages_after_the_first():
    """depth 1 is the shipped layout (its state-dict keys unchanged); depth 2 adds one conv of
    the stage's channels to each of stages 2-4, never at full resolution, and reads lines of
    the same shape."""
    shipped, deep = build_model("crnn-ctc"), build_model("crnn-ctc", depth=2).eval()
    assert build_model("crnn-ctc", depth=1).state_dict().keys() == shipped.state_dict().keys()
    convs = [(m.in_channels, m.out_channels) for m in deep.features if isinstance(m, nn.Conv2d)]
    assert convs == [(1, 24), (24, 48), (48, 48), (48, 80), (80, 80), (80, 96), (96, 96), (96, 128)]
    with torch.inference_mode():
        assert deep(torch.rand(1, 1, LINE_HEIGHT, 100)).shape == (1, 25, len(ALPHABET) + 1)
    with pytest.raises(ValueError):
        build_model("crnn-ctc", depth=0)


def test_labels_round_trip_and_reject_unknown_characters():
    assert labels_to_text(text_to_labels("25.441=")) == "25.441="
    with pytest.raises(DigitkitError):
        text_to_labels("12a")


def test_a_few_steps_lower_the_loss(lines):
    torch.manual_seed(0)
    model = build_model("crnn-ctc", width=64)
    images, widths, texts = lines.batch(8, np.random.default_rng(1))
    loss_fn = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(40):
        loss = ctc_loss(model, images, widths, texts, loss_fn)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


# --------------------------------------------------------------------------- the run


def test_run_directory(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"card.json", "model.safetensors", "history.csv", "checkpoint", "model.onnx"} <= names
    card = runs.read_card(tiny_run)
    assert card["task"] == "number" and card["alphabet"] == ALPHABET
    assert card["status"] == "done" and card["architecture"]["name"] == "crnn-ctc"
    assert "exact_4_6" in card["metrics"]["val"] or "exact" in card["metrics"]["val"]
    history = runs.read_history(tiny_run)
    assert [row["epoch"] for row in history] == [1, 2]
    assert {"train_loss", "val_loss", "val_exact", "val_exact_len1"} <= set(history[0])
    assert not list((tiny_run / "checkpoint").glob("*.pt"))  # safetensors + JSON, no pickle


def test_resume_continues_exactly(lines, val_set, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    torch.manual_seed(0)
    train_number(full, TINY, train_lines=lines, val_lines=val_set, progress=False, log=None)

    def stop(_msg):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_number(cut, TINY, train_lines=lines, val_lines=val_set, progress=False, log=stop)
    assert len(runs.read_history(cut)) == 1
    train_number(cut, train_lines=lines, val_lines=val_set, resume=True, progress=False, log=None)
    a = runs.load_weights(full / "checkpoint", "state.safetensors")
    b = runs.load_weights(cut / "checkpoint", "state.safetensors")
    for key in a:
        if key.startswith(("model.", "ema.")):
            assert np.array_equal(a[key], b[key]), key
    assert runs.read_history(full)[-1]["train_loss"] == runs.read_history(cut)[-1]["train_loss"]


def test_init_starts_from_another_runs_weights(tiny_run, lines, val_set, tmp_path):
    # With a learning rate of 0 the warm-started weights stay those of the run it started from
    # (batch-norm statistics still move: they are not learned), and the card says so.
    frozen = TINY.replace(lr=0.0, epochs=1)
    train_number(
        tmp_path,
        frozen,
        train_lines=lines,
        val_lines=val_set,
        progress=False,
        log=None,
        init=tiny_run,
    )
    source, warm = runs.load_weights(tiny_run), runs.load_weights(tmp_path)
    learned = [k for k in source if "running_" not in k and "num_batches" not in k]
    assert learned
    for key in learned:
        assert np.allclose(source[key], warm[key], atol=1e-6), key
    assert runs.read_card(tmp_path)["init"] == {"run": str(tiny_run)}
    with pytest.raises(DigitkitError, match="model is"):
        train_number(
            tmp_path / "wider",
            TINY.replace(width=TINY.width * 2),
            train_lines=lines,
            val_lines=val_set,
            progress=False,
            log=None,
            init=tiny_run,
        )
    train_number(
        tmp_path / "deeper",
        TINY.replace(depth=2, lr=0.0, epochs=1),
        train_lines=lines,
        val_lines=val_set,
        progress=False,
        log=None,
        init=tiny_run,
    )
    deeper = runs.load_weights(tmp_path / "deeper")
    assert runs.read_card(tmp_path / "deeper")["init"] == {
        "run": str(tiny_run),
        "deepened_from_depth": 1,
    }
    for key in ("features.0.weight", "head.weight", "context.0.body.0.weight"):
        assert np.allclose(source[key], deeper[key], atol=1e-6), key
    with pytest.raises(DigitkitError, match="'depth': 2"):  # never shallower than its start
        train_number(
            tmp_path / "shallower",
            TINY,
            train_lines=lines,
            val_lines=val_set,
            progress=False,
            log=None,
            init=tmp_path / "deeper",
        )


def _frames_spelling(text: str, frames: int, sure: float = 8.0) -> torch.Tensor:
    """Logits (1, frames, classes) whose greedy reading is ``text``: each character's class
    on one frame, blanks between and after."""
    from digitkit.vision.numbers import ALPHABET

    logits = torch.zeros(1, frames, len(ALPHABET) + 1)
    logits[0, :, 0] = sure
    for i, ch in enumerate(text):
        logits[0, 2 * i, 0] = 0.0
        logits[0, 2 * i, ALPHABET.index(ch) + 1] = sure
    return logits


def test_line_distillation_keeps_what_the_teacher_reads_right_and_only_that():
    from digitkit.train.sequence import line_distillation_loss

    width = 4 * 12  # 12 frames of the model's stride
    teacher = _frames_spelling("25.4", 12)
    assert float(line_distillation_loss(teacher, teacher, np.array([width]), ["25.4"])) < 1e-6
    other = _frames_spelling("26.4", 12)
    off = float(line_distillation_loss(other, teacher, np.array([width]), ["25.4"]))
    assert off > 0.5
    # a line the teacher misreads is left to the labels
    assert float(line_distillation_loss(other, teacher, np.array([width]), ["25.7"])) == 0.0
    # frames past a line's width are padding: a student differing only there loses nothing
    padded = torch.cat([teacher, _frames_spelling("9", 4)], dim=1)
    student = torch.cat([teacher, _frames_spelling("1", 4)], dim=1)
    assert float(line_distillation_loss(student, padded, np.array([width]), ["25.4"])) < 1e-6


def test_distill_needs_a_starting_reader_and_trains_and_resumes_with_one(
    tiny_run, lines, val_set, tmp_path, monkeypatch
):
    from digitkit.train import sequence

    with pytest.raises(DigitkitError, match="distill needs --init"):
        train_number(
            tmp_path / "alone",
            TINY.replace(distill=1.0),
            train_lines=lines,
            val_lines=val_set,
            progress=False,
            log=None,
        )
    # A term of 1 with no gradient: the steps are those of a plain run, the loss 0.5 more
    # (distill 0.5), and the teacher's outputs are recorded step by step.
    seen: dict[str, list[float]] = {}

    def constant(student, teacher, widths, texts):
        assert student.requires_grad and not teacher.requires_grad
        seen.setdefault(current, []).append(round(float(teacher.abs().sum()), 3))
        return student.sum() * 0.0 + 1.0

    monkeypatch.setattr(sequence, "line_distillation_loss", constant)
    recipe = TINY.replace(distill=0.5, epochs=2)
    kwargs = {"train_lines": lines, "val_lines": val_set, "progress": False, "init": tiny_run}
    current = "full"
    train_number(tmp_path / "full", recipe, log=None, **kwargs)
    assert runs.read_card(tmp_path / "full")["recipe"]["distill"] == 0.5
    current = "plain"
    train_number(tmp_path / "plain", recipe.replace(distill=0.0), log=None, **kwargs)
    assert "plain" not in seen
    full, plain = runs.read_history(tmp_path / "full"), runs.read_history(tmp_path / "plain")
    for a, b in zip(full, plain, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"] + 0.5, abs=1e-5)

    def stop(_msg):
        raise KeyboardInterrupt

    current = "cut"
    with pytest.raises(KeyboardInterrupt):
        train_number(tmp_path / "cut", recipe, log=stop, **kwargs)
    kwargs.pop("init")  # a resumed run finds the reader it started from in its card
    train_number(tmp_path / "cut", resume=True, log=None, **kwargs)
    steps = TINY.steps_per_epoch
    assert seen["cut"][steps:] == seen["full"][steps:]  # the same teacher after the resume


def test_a_teacher_other_than_the_starting_reader_is_kept_through_a_resume(
    tiny_run, lines, val_set, tmp_path, monkeypatch
):
    """A second distilled step: it starts from the first step's run but keeps to the reader
    the first one started from (--teacher), also after a resume."""
    from digitkit.train import sequence

    recipe = TINY.replace(distill=1.0, epochs=2)
    kwargs = {"train_lines": lines, "val_lines": val_set, "progress": False, "log": None}
    with pytest.raises(DigitkitError, match="teacher needs"):
        train_number(tmp_path / "no-init", recipe, teacher=tiny_run, **kwargs)
    with pytest.raises(DigitkitError, match="teacher needs"):
        train_number(
            tmp_path / "no-distill",
            recipe.replace(distill=0.0),
            init=tiny_run,
            teacher=tiny_run,
            **kwargs,
        )
    seen: dict[str, list[float]] = {}

    def record(student, teacher, widths, texts):
        seen.setdefault(current, []).append(round(float(teacher.abs().sum()), 3))
        return student.sum() * 0.0

    monkeypatch.setattr(sequence, "line_distillation_loss", record)
    current = "first"  # teacher: tiny_run, the reader it starts from
    train_number(tmp_path / "first", recipe, init=tiny_run, **kwargs)
    current = "own"  # the second step alone keeps to the first step's run
    train_number(tmp_path / "own", recipe, init=tmp_path / "first", **kwargs)
    current = "second"
    train_number(tmp_path / "second", recipe, init=tmp_path / "first", teacher=tiny_run, **kwargs)
    assert seen["second"] == seen["first"]  # the same teacher on the same lines
    assert seen["own"] != seen["first"]
    init = runs.read_card(tmp_path / "second")["init"]
    assert init == {"run": str(tmp_path / "first"), "teacher": str(tiny_run)}

    def stop(_msg):
        raise KeyboardInterrupt

    current = "cut"
    with pytest.raises(KeyboardInterrupt):
        train_number(
            tmp_path / "cut",
            recipe,
            init=tmp_path / "first",
            teacher=tiny_run,
            **{**kwargs, "log": stop},
        )
    train_number(tmp_path / "cut", resume=True, **kwargs)
    assert seen["cut"] == seen["first"]


def test_a_deepened_reader_computes_what_the_shallow_one_did():
    """Net2DeeperNet: every layer copied, each added conv the identity once its norm is fitted
    (exactly in evaluation, whatever lines it is then given)."""
    torch.manual_seed(0)
    shallow = build_model("crnn-ctc", width=32)
    for m in shallow.modules():  # batch norms as a trained reader's, not the defaults
        if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
    shallow.eval()
    deep = build_model("crnn-ctc", width=32, depth=3)
    inserted = deepen(shallow, deep)
    assert len(inserted) == 6  # two convs more in each of stages 2-4
    fit_identity_norms(deep, inserted, torch.rand(4, 1, LINE_HEIGHT, 64))
    assert deep.training  # left in the mode it was given in
    x = torch.rand(3, 1, LINE_HEIGHT, 96)
    with torch.inference_mode():
        assert torch.allclose(shallow(x), deep.eval()(x), atol=1e-4)
    with pytest.raises(ValueError, match="width"):
        deepen(shallow, build_model("crnn-ctc", width=64, depth=2))
    with pytest.raises(ValueError, match="layout"):
        deepen(build_model("crnn-ctc", width=32, depth=2), build_model("crnn-ctc", width=32))


def test_resume_without_checkpoint_is_an_error(tmp_path, lines, val_set):
    with pytest.raises(DigitkitError):
        train_number(
            tmp_path,
            TINY,
            train_lines=lines,
            val_lines=val_set,
            resume=True,
            progress=False,
            log=None,
        )


def test_onnx_export_matches_torch(tiny_run, reader, lines):
    model = load_number_model(tiny_run)
    images, _, _ = lines.batch(3, np.random.default_rng(9))
    with torch.inference_mode():
        expected = model(torch.from_numpy(images)[:, None]).softmax(-1).numpy()
    got = reader.probabilities(images)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-4
    _, diff = export_number_onnx(tiny_run, tiny_run / "again.onnx")
    assert diff < 1e-4


def _copy_run(run, dest):
    import shutil

    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("checkpoint", "again.onnx"))
    return dest


def test_int8_reader_runs_its_int8_graph_only_while_the_card_vouches_for_it(
    tiny_run, lines, val_set, tmp_path, monkeypatch
):
    from digitkit.inference.export import quantize_number_int8

    run = _copy_run(tiny_run, tmp_path / "run")
    rng = np.random.default_rng(3)
    calibration = [lines.batch(8, rng)[0] for _ in range(4)]
    path, record = quantize_number_int8(run, calibration, val_set, max_drop=1.0)
    assert path.name == "model.int8.onnx" and record["calibration_lines"] == 32
    assert set(record["val_exact"]) == {"float32", "int8"}
    assert runs.read_card(run)["int8"]["sha256"] == runs.file_sha256(path)
    images, _, _ = lines.batch(4, np.random.default_rng(9))
    float_probs = NumberReader.load(tiny_run).probabilities(images)
    int8_probs = NumberReader.load(run).probabilities(images)
    assert int8_probs.shape == float_probs.shape
    assert 0 < np.abs(int8_probs - float_probs).max() < 0.5  # another graph, nearly the same
    monkeypatch.setenv("DIGITKIT_INT8", "0")
    assert np.array_equal(NumberReader.load(run).probabilities(images), float_probs)
    monkeypatch.delenv("DIGITKIT_INT8")
    lean = _copy_run(run, tmp_path / "lean")
    (lean / "model.onnx").unlink()  # a lean copy ships the int8 graph and the weights only
    assert np.array_equal(NumberReader.load(lean).probabilities(images), int8_probs)
    path.write_bytes(path.read_bytes()[:-16])  # damaged: the float graph reads instead
    assert np.array_equal(NumberReader.load(run).probabilities(images), float_probs)


def test_int8_aware_rounding_is_the_exports_own(tiny_run, lines, val_set, tmp_path):
    """The weights an int8-aware run trains through are, step for step, the int8 graph's:
    each folded convolution rounded per output channel exactly as onnxruntime rounds it."""
    import onnx
    from onnx import numpy_helper

    from digitkit.inference.export import quantize_number_int8
    from digitkit.train.int8_aware import WEIGHT_LEVELS, conv_norm_pairs

    run = _copy_run(tiny_run, tmp_path / "run")
    quantize_number_int8(run, [lines.batch(8, np.random.default_rng(3))[0]], max_drop=1.0)
    graph = onnx.load(str(run / "model.int8.onnx")).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    quantized = [arrays[n.input[3]] for n in graph.node if n.op_type == "QLinearConv"]
    pairs = conv_norm_pairs(load_number_model(run))
    assert len(pairs) == len(quantized) and sum(norm is not None for _, _, norm in pairs) >= 4
    for (name, conv, norm), ints in zip(pairs, quantized, strict=True):
        w = conv.weight.detach()
        shape = (-1,) + (1,) * (w.dim() - 1)
        fold = 1.0 if norm is None else norm.weight / torch.sqrt(norm.running_var + norm.eps)
        folded = (w * torch.as_tensor(fold).reshape(shape)).detach().numpy()
        step = np.abs(folded).reshape(len(folded), -1).max(1).reshape(shape) / WEIGHT_LEVELS
        assert np.array_equal(np.round(folded / step), ints), name
        assert np.abs(ints).max() == WEIGHT_LEVELS  # each channel's largest weight: 64


def test_rounded_weights_train_the_readers_own_weights_with_norms_frozen(tiny_run):
    from digitkit.train.int8_aware import RoundedWeights, rounded_weight

    reader = load_number_model(tiny_run)
    rounded = RoundedWeights(reader).train()
    assert all(not m.training for m in reader.modules() if isinstance(m, nn.BatchNorm2d))
    assert reader.context.training and set(rounded.state_dict()) == {
        f"reader.{k}" for k in reader.state_dict()
    }
    x = torch.rand(2, 1, LINE_HEIGHT, 64)
    out = rounded(x)
    assert out.shape == reader(x).shape and not torch.allclose(out, reader(x))
    out.square().sum().backward()  # straight through the rounding: every weight learns
    assert all(conv.weight.grad.abs().sum() > 0 for _, conv, _ in rounded.pairs)
    w = torch.tensor([[[0.5, -1.0, 0.26]]], requires_grad=True)
    assert torch.equal(rounded_weight(w, None), torch.tensor([[[0.5, -1.0, 17 / 64]]]))
    rounded_weight(w, None).sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


def test_an_int8_aware_run_keeps_its_norms_and_is_judged_as_rounded(
    tiny_run, lines, val_set, tmp_path
):
    from digitkit.train.int8_aware import RoundedWeights

    recipe = TINY.replace(int8_aware=True, epochs=1, lr=1e-3)
    kwargs = {"train_lines": lines, "val_lines": val_set, "progress": False, "log": None}
    with pytest.raises(DigitkitError, match="int8-aware needs --init"):
        train_number(tmp_path / "scratch", recipe, **kwargs)  # its norms were never fitted
    assert not (tmp_path / "scratch").exists()
    code = main(["train-number", "--int8-aware", "--out", str(tmp_path / "cli")])
    assert code == 2 and not (tmp_path / "cli").exists()
    train_number(tmp_path / "aware", recipe, init=tiny_run, **kwargs)
    card = runs.read_card(tmp_path / "aware")
    assert card["recipe"]["int8_aware"] is True
    source, tuned = runs.load_weights(tiny_run), runs.load_weights(tmp_path / "aware")
    stats = [k for k in source if "running_" in k]
    assert stats and all(np.array_equal(source[k], tuned[k]) for k in stats)  # frozen
    assert any(not np.array_equal(source[k], tuned[k]) for k in source if k.endswith("weight"))
    judged = evaluate_lines(RoundedWeights(load_number_model(tmp_path / "aware")), val_set)
    assert card["metrics"]["val"]["loss"] == pytest.approx(judged["loss"], rel=1e-6)


def test_int8_export_refuses_a_graph_that_reads_worse(tiny_run, lines, val_set, tmp_path):
    from digitkit.inference.export import _check_int8_drop, quantize_number_int8

    run = _copy_run(tiny_run, tmp_path / "run")
    batch = [lines.batch(8, np.random.default_rng(3))[0]]
    with pytest.raises(DigitkitError, match="lines read exactly"):
        quantize_number_int8(run, batch, val_set, max_drop=-1.0)  # any int8 graph loses
    assert not (run / "model.int8.onnx").exists() and "int8" not in runs.read_card(run)
    # 3 of 600 lines lost is 0.5 points, allowed at 0.5, whatever the rounding
    _check_int8_drop(run, {"float32": 0.926667, "int8": 0.921667}, 0.005)
    with pytest.raises(DigitkitError):
        _check_int8_drop(run, {"float32": 0.926667, "int8": 0.92}, 0.005)


def test_export_cli_quantizes_a_number_reader(tiny_run, tmp_path, capsys):
    run = _copy_run(tiny_run, tmp_path / "run")
    argv = ["export", str(run), "--int8", "--calibration", "100", "--max-drop", "100"]
    assert main([*argv, "--check-lines", "120"]) == 0
    out = capsys.readouterr().out
    assert "120 fresh validation lines read exactly" in out and "histogram" not in out
    card = runs.read_card(run)
    assert card["int8"]["calibration_lines"] == 128 and card["onnx"]["sha256"]
    assert card["int8"]["val_lines"] == 120


def test_an_int8_export_is_checked_on_fresh_lines_not_those_the_epoch_was_chosen_on(tiny_run):
    from digitkit.train.sequence import run_line_sets

    _, chosen_on = run_line_sets(tiny_run)
    _, check = run_line_sets(tiny_run, check_lines=145)  # rounded up to whole lengths
    max_digits = runs.read_card(tiny_run)["recipe"]["max_digits"]
    assert len(check.texts) == -(-145 // max_digits) * max_digits
    assert sorted(check.texts) != sorted(chosen_on.texts)[: len(check.texts)]
    assert not {t for t in check.texts if len(t) > 3} & set(chosen_on.texts)


# --------------------------------------------------------------------------- the reader


def test_reader_bounds_on_extreme_shapes(reader):
    rng = np.random.default_rng(0)
    strip = np.ones((40, 16000), np.float32)
    strip[8:32, :] = np.where(rng.random((24, 16000)) < 0.3, 0.0, 1.0)  # ink everywhere
    reader.read(strip[:, :2000])  # warm up onnxruntime
    start = time.perf_counter()
    out = reader.read(strip)
    assert time.perf_counter() - start < 1.0
    assert isinstance(out.text, str)
    for shape in ((1, 5), (2, 3), (1, 1), (5, 1), (2, 16000), (4, 40)):
        for grey in (np.zeros(shape, np.float32), rng.random(shape, dtype=np.float32)):
            small = reader.read(grey)
            assert small.text == "" and small.reason, shape
    tall = reader.read(np.ones((3000, 2), np.float32))
    assert tall.text == "" or tall.text.isdigit()


def test_reader_blank_image_gives_reason(reader):
    out = reader.read(np.full((50, 200), 0.8, np.float32))
    assert out.text == "" and out.digits == [] and "blank" in out.reason


def test_reader_positions_are_input_pixels(reader, mnist_splits):
    strip = np.concatenate([mnist_splits.x_val[i] for i in range(5)], axis=1)
    big = np.kron(strip, np.ones((3, 3), np.uint8))  # 84 x 420 input pixels
    out = reader.read(big)  # uint8 is accepted too
    assert out.text == "".join(str(d.digit) for d in out.digits)
    for d in out.digits:
        assert 0 <= d.x0 < d.x1 <= big.shape[1] + 4
        assert 0 <= d.confidence <= 1 and len(d.probabilities) == 10
    assert [d.x0 for d in out.digits] == sorted(d.x0 for d in out.digits)
    assert 0 <= out.y0 < out.y1 <= big.shape[0]
    assert json.loads(json.dumps(out.to_dict()))["text"] == out.text


def test_every_alignment_maps_back_to_the_same_input_pixels(mnist_splits, monkeypatch):
    """A line is read at READ_PHASES shifts; whichever read is kept, its digits' extents are
    given in the input's pixels, not the shifted line's."""
    from digitkit.vision import numbers

    folder = numbers.shipped_reader_dir()
    if folder is None:
        pytest.skip("no CTC number reader shipped")
    shipped = NumberReader.load(folder)
    strip = np.concatenate([mnist_splits.x_val[i] for i in range(8)], axis=1)
    big = np.kron(strip, np.ones((2, 2), np.uint8))  # 2 input pixels per line column
    assert shipped.phases == numbers.READ_PHASES == 4
    truth = "".join(str(d) for d in mnist_splits.y_val[:8])
    centres = {}
    for shift in range(numbers.READ_PHASES):
        monkeypatch.setattr(numbers, "consensus", lambda reads, s=shift: s)
        out = shipped.read(big)
        assert out.text == truth, shift
        centres[shift] = np.array([(d.x0 + d.x1) / 2 for d in out.digits])
    # Each read places a digit within a frame (4 columns = 8 pixels) of where the others
    # do, so single digits may differ; on average they agree: measured 0.0-1.7 pixels,
    # and 5.3-5.6 for the read shifted by 3 columns when the shift is not taken back.
    for shift in range(1, numbers.READ_PHASES):
        assert abs(np.mean(centres[shift] - centres[0])) <= 2.5, (shift, centres)


def test_prepare_line_reads_dark_ink_on_paper(mnist_splits):
    strip = np.concatenate([mnist_splits.x_val[i] for i in range(3)], axis=1)
    paper = 0.9 - 0.7 * strip.astype(np.float32) / 255.0  # dark ink on light paper
    a, b = prepare_line(paper), prepare_line(strip.astype(np.float32) / 255.0)
    assert a.reason is None and a.image.shape == b.image.shape
    assert np.abs(a.image - b.image).mean() < 0.05


def test_load_rejects_other_runs(tmp_path):
    with pytest.raises(DigitkitError):
        NumberReader.load(tmp_path)
    (tmp_path / "card.json").write_text(json.dumps({"task": "digit"}))
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(DigitkitError):
        NumberReader.load(tmp_path)


# --------------------------------------------------------------------------- integration


def test_predict_number_reports_its_reader(reader, mnist_splits, monkeypatch):
    import digitkit.vision.numbers as numbers
    from digitkit.vision.recognize import Recognizer

    strip = np.concatenate([mnist_splits.x_val[i] for i in range(3)], axis=1)
    rec = Recognizer.load()
    seg = rec.predict_number(strip, reader="segmenter")
    assert seg.reader == "segmenter" and seg.to_dict()["reader"] == "segmenter"
    assert seg.formatted == seg.text

    rec.number_reader = reader
    ctc = rec.predict_number(strip, reader="ctc")
    d = ctc.to_dict()
    assert ctc.reader == "ctc" and d["reader"] == "ctc" and "formatted" in d
    assert {"text", "digits", "confidence", "uncertain"} <= set(d)
    for digit in d["digits"]:
        assert {"digit", "confidence", "probabilities", "uncertain", "box"} <= set(digit)
        assert len(digit["box"]) == 4 and len(digit["probabilities"]) == 10
    blank = rec.predict_number(np.zeros((30, 90)))
    assert blank.text == "" and blank.reason and blank.reader == "ctc"

    # Automatic choice: per digit the more confident reader where the counts agree; the
    # segmenter's reading where it finds more digits and is sure of each; else the CTC's
    auto = rec.predict_number(strip)
    segments = rec.predict_number(strip, reader="segmenter")
    separators = ctc.formatted.replace(" ", "") != ctc.text  # then the CTC reading stands
    more = len(segments.digits) > len(ctc.digits) and not segments.uncertain and not separators
    if separators:
        expected = ctc.text
    elif len(segments.digits) == len(ctc.digits):
        expected = "".join(
            str((g if g.confidence > c.confidence else c).digit)
            for c, g in zip(ctc.digits, segments.digits, strict=True)
        )
    else:
        expected = segments.text if more else ctc.text
    assert auto.text == expected and auto.reader in ("ctc", "segmenter")
    written = segments.formatted if more else ctc.formatted
    assert [c.isdigit() for c in auto.formatted] == [c.isdigit() for c in written]
    monkeypatch.setattr(numbers, "CONFIRM_WITH_SEGMENTER", False)
    assert rec.predict_number(strip).reader == "ctc"

    with pytest.raises(DigitkitError):
        rec.predict_number(strip, reader="bogus")
    del rec.number_reader
    monkeypatch.setattr(numbers, "shipped_reader", lambda: None)
    assert rec.predict_number(strip).reader == "segmenter"  # the fallback
    with pytest.raises(DigitkitError):
        rec.predict_number(strip, reader="ctc")


def test_members_read_as_one(tiny_run, mnist_splits, monkeypatch, tmp_path):
    from digitkit.vision import numbers

    strip = np.kron(
        np.concatenate([mnist_splits.x_val[i] for i in range(3)], axis=1), np.ones((2, 2))
    )
    alone = NumberReader.load(tiny_run)
    pair = NumberReader.load_members([tiny_run, tiny_run])
    assert pair.partners and pair.partners[0].name == str(tiny_run)
    seen: list[int] = []
    real = numbers.consensus
    monkeypatch.setattr(numbers, "consensus", lambda reads: seen.append(len(reads)) or real(reads))
    assert pair.read(strip).to_dict() == alone.read(strip).to_dict()  # the same reads twice
    assert seen == [2 * numbers.READ_PHASES, numbers.READ_PHASES]
    with pytest.raises(DigitkitError):
        NumberReader.load_members([])
    other = NumberReader.load(tiny_run)
    other.alphabet = "0123456789"
    monkeypatch.setattr(NumberReader, "load", lambda d, threads=1: other if d == "b" else alone)
    with pytest.raises(DigitkitError, match="alphabet"):
        NumberReader.load_members(["a", "b"])


def test_shipped_members_file(tmp_path, monkeypatch):
    from digitkit.vision import numbers

    first = tmp_path / "number-ctc"
    first.mkdir()
    (first / "card.json").write_text("{}")
    (first / "model.onnx").write_bytes(b"")
    monkeypatch.setattr(numbers, "SHIPPED", first)
    members = tmp_path / "number.json"
    monkeypatch.setattr(numbers, "SHIPPED_MEMBERS", members)
    assert numbers.shipped_reader_dirs() == [first]  # no file: the one reader
    members.write_text(json.dumps({"members": ["number-ctc", "number-ctc-s1"]}))
    assert numbers.shipped_reader_dirs() == [first, tmp_path / "number-ctc-s1"]
    for bad in ("{}", "[1, 2]", '{"members": ["number-ctc-s1", "number-ctc"]}', "not json"):
        members.write_text(bad)
        with pytest.raises(DigitkitError, match="number.json"):
            numbers.shipped_reader_dirs()


def test_shipped_reader_is_a_number_run():
    from digitkit.vision.numbers import shipped_reader_dir

    folder = shipped_reader_dir()
    if folder is None:
        pytest.skip("no CTC number reader shipped yet")
    card = json.loads((folder / "card.json").read_text())
    assert card["task"] == "number" and card["alphabet"] == ALPHABET
    assert (folder / "model.safetensors").is_file()
    out = NumberReader.load(folder).read(np.zeros((2, 3), np.float32))
    assert out.text == ""


def test_cli_help_has_examples(capsys):
    for command in ("train-number", "read-number"):
        assert main([command, "--help"]) == 0
        assert "Example" in capsys.readouterr().out


def test_cli_read_number_json(tiny_run, mnist_splits, tmp_path, capsys):
    from PIL import Image

    strip = np.concatenate([mnist_splits.x_val[i] for i in range(3)], axis=1)
    Image.fromarray(255 - strip).save(tmp_path / "n.png")
    assert main(["read-number", str(tmp_path / "n.png"), "--model", str(tiny_run), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {"text", "formatted", "digits"} <= set(d)


@pytest.mark.parametrize("option", ["--joined", "--empty", "--distant", "--leaning"])
def test_cli_shares_must_be_shares(tmp_path, capsys, option):
    out = tmp_path / "run"
    assert main(["train-number", option, "1.5", "--out", str(out)]) == 2
    assert option in capsys.readouterr().err
    assert not out.exists()


def test_cli_resume_rejects_other_runs(tmp_path, capsys):
    card = minimal_card()
    runs.write_card(tmp_path, card)  # a digit model's run, still training
    assert main(["train-number", "--resume", str(tmp_path)]) == 2
    assert "not a number-reader run" in capsys.readouterr().err


class _FakeReader:
    """A CTC reader that answers a fixed reading, to drive predict_number's choice."""

    def __init__(self, formatted: str, confidence: float = 0.9):
        from digitkit.vision.numbers import NumberReading, ReadDigit

        digits = [
            ReadDigit(int(c), confidence, 10 * i, 10 * i + 8, [0.1] * 10)
            for i, c in enumerate(c for c in formatted if c.isdigit())
        ]
        self.reading = NumberReading(
            "".join(c for c in formatted if c.isdigit()), formatted, digits, None, 0, 28
        )

    def read(self, grey):
        return self.reading


def test_segmenter_answers_only_where_it_finds_more_digits(mnist_splits):
    from digitkit.vision.recognize import Recognizer

    strip = np.concatenate([np.pad(mnist_splits.x_val[i], 6) for i in range(3)], axis=1)
    rec = Recognizer.load()
    segments = rec.predict_number(strip, reader="segmenter")
    assert len(segments.digits) == 3 and not segments.uncertain  # clean, separate digits
    t = segments.text
    assert t != "999"
    # As many digits as the segmenter, however unsure: the CTC reading stands (taking each
    # digit from the surer reader cost joined-up lines far more than it gained).
    for confidence in (0.3, 1.0):
        rec.number_reader = _FakeReader("9 99", confidence)  # a wide gap is no separator
        same_count = rec.predict_number(strip)
        assert (same_count.reader, same_count.text, same_count.formatted) == ("ctc", "999", "9 99")
    rec.number_reader = _FakeReader("9999")  # more digits than the segmenter: touching ones
    other_count = rec.predict_number(strip)
    assert other_count.reader == "ctc" and other_count.text == "9999"
    # Fewer digits than the segmenter, which is sure of each: the CTC reader dropped one.
    rec.number_reader = _FakeReader("99")
    dropped = rec.predict_number(strip)
    assert dropped.reader == "segmenter" and dropped.text == t
    assert rec.predict_number(strip, reader="ctc").text == "99"
    # Written separators: the amount is the CTC reader's alone, whatever the counts (the
    # segmenter takes a separator's ink for part of a digit, or for one).
    for written in ("9.99=", "9,9", "9,999", "99-"):
        rec.number_reader = _FakeReader(written)
        out = rec.predict_number(strip)
        assert (out.reader, out.formatted) == ("ctc", written)
        assert out.text == "".join(c for c in written if c.isdigit())
    # Print taken out of the line (a box, a rule): the segmenter, which reads the ink as it
    # is, would take a box's wall for a 1, so the CTC reading stands.
    rec.number_reader = _FakeReader("99")
    rec.number_reader.reading.printed = True
    printed = rec.predict_number(strip)
    assert (printed.reader, printed.text) == ("ctc", "99")


def test_a_box_wall_is_no_digit_of_an_amount(recognizer, mnist_splits):
    # A 3-digit amount between a box's side walls (its top and bottom out of the crop): the
    # segmenter reads each wall as a 1 and finds more digits than the CTC reader, sure of
    # each; it must not answer for the line (before, "11341" from 3 digits).
    strip = np.concatenate([np.pad(mnist_splits.x_val[i], 6) for i in range(3)], axis=1)
    grey = np.pad(1.0 - strip.astype(np.float32) / 255.0, 12, constant_values=1.0)
    h, w = grey.shape
    grey[4 : h - 4, 6:8] = grey[4 : h - 4, w - 8 : w - 6] = 0.1  # the box's sides, 2 px
    segments = recognizer.predict_number(grey, reader="segmenter")
    read = recognizer.predict_number(grey)
    assert len(segments.digits) > 3 and not segments.uncertain  # the walls, read as 1s
    assert len(read.digits) == 3 and read.reader == "ctc"


@pytest.mark.parametrize("context", ["boxed", "rule", "cell"])
def test_amounts_in_a_forms_print_are_read(recognizer, mnist_splits, context):
    # An amount in a form's box, on a ruled line, in a cell cut by the crop: the print comes
    # out before the line is read. 30 validation lines of 3-5 digits: 28-29 read exactly;
    # before, 3 boxed, 18 ruled and 4 in cells (the walls read as 1s, the digits shrunk to
    # fit them in).
    gen = NumberLines.from_mnist(
        mnist_splits.x_val, mnist_splits.y_val, use_pen=False, use_photos=False, style="forms"
    )
    rng = np.random.default_rng(5)
    texts = gen.texts(30, rng, np.repeat([3, 4, 5], 10))
    right = 0
    for text in texts:
        scan = 1.0 - 0.85 * np.kron(gen.draw(text, rng), np.ones((2, 2), np.float32))
        grey = printed_context(np.pad(scan, 12, constant_values=1.0), context)
        right += recognizer.predict_number(grey).text == "".join(filter(str.isdigit, text))
    assert right >= 0.8 * len(texts)


@pytest.mark.parametrize(
    ("first", "other", "expected"),
    [
        # the ink off the edges left two sure digits of five read fairly surely: five win
        ([("2", 0.9), ("3", 0.8), ("1", 0.6), ("6", 0.9), ("5", 0.9)], [("2", 0.997)], "23165"),
        # a wall read unsurely as a 1 beside the number: the reading without it wins
        ([("1", 0.3), ("7", 0.95), ("8", 0.9)], [("7", 0.95), ("8", 0.92)], "78"),
    ],
)
def test_a_lines_reading_that_reads_more_of_it_surely_wins(monkeypatch, first, other, expected):
    from digitkit.vision import numbers

    reader = numbers.shipped_reader()
    if reader is None:
        pytest.skip("no number reader shipped")
    blank = numbers.Line(np.zeros((numbers.LINE_HEIGHT, 64), np.float32))
    readings = {}
    for key, chars in (("first", first), ("other", other)):
        found = [numbers.ReadDigit(int(d), p, 0, 1, [0.1] * 10) for d, p in chars]
        text = "".join(d for d, _ in chars)
        readings[key] = numbers.NumberReading(text, text, found, None)
    lines = [blank, numbers.Line(blank.image.copy())]
    monkeypatch.setattr(numbers, "prepare_lines", lambda *a, **k: lines)
    monkeypatch.setattr(
        reader, "_read_writing", lambda line: readings["first" if line is lines[0] else "other"]
    )
    assert reader.read(np.ones((40, 90), np.float32)).text == expected


@pytest.mark.parametrize(("kept_sure", "expected"), [(0.99, "7"), (0.55, "1")])
def test_a_line_is_also_read_with_its_printed_lines_left_in(monkeypatch, kept_sure, expected):
    # Line removal can take a digit's bar with a rule on a photographed line: where it took
    # ink, the line is read with its print left in too, and that reading wins only when it
    # is surer of its digits by READING_MARGIN (here: 0.5 against 0.99 or 0.55).
    from digitkit.vision import numbers

    reader = numbers.shipped_reader()
    if reader is None:
        pytest.skip("no number reader shipped")
    scan = np.ones((40, 90), np.float32)
    scan[8:32, 40:44] = 0.1  # a 1 (or a 7 whose bar went with the rule)
    grey = printed_context(scan, "rule")

    def has_rule(line) -> bool:  # a row of ink across the whole line
        return bool(((line.image > 0.5).sum(axis=1) > 0.8 * line.width).any())

    def read_line(line, phases=None):
        digit, sure = ("7", kept_sure) if has_rule(line) else ("1", 0.5)
        found = [numbers.ReadDigit(int(digit), sure, 0, 1, [0.1] * 10)]
        return numbers.NumberReading(digit, digit, found, None)

    monkeypatch.setattr(reader, "read_line", read_line)
    first, *others = numbers.prepare_lines(grey, alternatives=True)
    assert not has_rule(first) and sum(has_rule(line) for line in others) == 1
    assert reader.read(grey).text == expected


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
def test_photo_fraction_sets_the_share_of_photographed_lines(mnist_splits, fraction):
    # train-number --photo-fraction: lines photographed on paper (boxes, rules, light).
    gen = NumberLines.from_mnist(
        mnist_splits.x_val[:300], mnist_splits.y_val[:300], use_pen=False, photo_fraction=fraction
    )
    calls = []
    real = gen.photograph

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    gen.photograph = counted
    rng = np.random.default_rng(0)
    for text in gen.texts(40, rng, np.full(40, 3)):
        gen.line(text, rng)
    assert abs(len(calls) / 40 - fraction) <= 0.2
    assert NumberRecipe().replace(photo_fraction=fraction).photo_fraction == fraction


@pytest.mark.parametrize("distant", [0.0, 0.5])
def test_distant_sets_the_share_of_lines_photographed_from_afar(mnist_splits, distant):
    # train-number --distant: lines photographed at a low resolution, besides the usual
    # photos (here none, so every photo taken is a distant one).
    from digitkit.data.context import ContextStyle

    gen = NumberLines.from_mnist(
        mnist_splits.x_val[:300],
        mnist_splits.y_val[:300],
        use_pen=False,
        photo_fraction=0.0,
        distant=distant,
    )
    assert gen.photograph_distant.keywords["style"] == ContextStyle(p_lowres=1.0, p_perspective=0.0)
    calls = {"usual": 0, "distant": 0}

    def counted(name, camera):
        def take(*args, **kwargs):
            calls[name] += 1
            return camera(*args, **kwargs)

        return take

    gen.photograph = counted("usual", gen.photograph)
    gen.photograph_distant = counted("distant", gen.photograph_distant)
    rng = np.random.default_rng(0)
    for text in gen.texts(40, rng, np.full(40, 3)):
        gen.line(text, rng)
    assert calls["usual"] == 0
    assert abs(calls["distant"] / 40 - distant) <= 0.2
    assert NumberRecipe().replace(distant=distant).distant == distant
    with pytest.raises(ValueError, match="distant"):
        NumberLines(gen.pools, photograph_distant=gen.photograph_distant, distant=1.5)
    with pytest.raises(ValueError, match="photo_fraction \\+ distant"):
        NumberLines(gen.pools, photograph=gen.photograph, photo_fraction=0.6, distant=0.6)
    with pytest.raises(DigitkitError, match="photo_fraction \\+ distant"):
        NumberRecipe().replace(photo_fraction=0.6, distant=0.6)


@pytest.mark.parametrize("leaning", [0.0, 0.5, 1.0])
def test_leaning_sets_the_share_of_lines_in_an_italic_hand(mnist_splits, monkeypatch, leaning):
    # train-number --leaning: that share of lines leans right by LEAN_RANGE more than the
    # generator's own slant (sd SLANT_SD about upright).
    from digitkit.data import strings

    shears = []
    real = strings.slant
    monkeypatch.setattr(
        strings, "slant", lambda ink, shear: (shears.append(shear), real(ink, shear))[1]
    )
    gen = NumberLines.from_mnist(
        mnist_splits.x_val[:300], mnist_splits.y_val[:300], use_pen=False, leaning=leaning
    )
    rng = np.random.default_rng(0)
    for text in gen.texts(200, rng):
        gen.draw(text, rng)
    lean = np.mean(strings.LEAN_RANGE)
    assert abs(np.mean(shears) - leaning * lean) < 0.05
    italic = np.mean(np.array(shears) > 2.5 * strings.SLANT_SD)  # rare in an upright hand
    assert (italic > 0.1) == (leaning > 0)
    assert NumberRecipe().replace(leaning=leaning).leaning == leaning


def test_ink_running_into_the_edges_is_left_out_of_another_reading():
    # A photographed amount in a cell: its walls run into the image's edges, so line_inks
    # offers a version without them (the last), where only the digits' columns remain.
    from digitkit.vision import numbers

    scan = np.ones((40, 90), np.float32)
    scan[8:32, 30:34] = scan[8:32, 50:54] = 0.1  # two 1s
    cell = printed_context(scan, "cell")
    assert len(numbers.line_inks(scan, alternatives=True)[0]) == 1  # nothing to rule out
    inks, _, reason = numbers.line_inks(cell, alternatives=True)
    inner = inks[-1]
    assert reason is None and len(inks) >= 2 and inner is not None
    cols = np.flatnonzero(inner.max(axis=0) > 0.5)
    assert cols.min() >= 30 + 10 - 1 and cols.max() <= 54 + 10  # the cell's padding is 10 px


def test_a_blurred_boxs_walls_leave_a_photographed_line():
    # An amount in a box photographed out of focus: above the line's floor the walls are as
    # thick as pen strokes, so the first look finds no printed line; at the second look
    # (BLUR_LOW, as for single digits) their cores are thin again and they go.
    from digitkit.vision import numbers
    from digitkit.vision.preprocess.lines import clean_print

    ink = np.zeros((64, 200), np.float32)
    ink[7:9, 6:194] = ink[55:57, 6:194] = 1.0  # the box's top and bottom (2 px),
    ink[7:57, 6:8] = ink[7:57, 192:194] = 1.0  # its sides
    ink[22:42, 39:42] = ink[22:42, 119:122] = 1.0  # two 1s,
    ink[22:25, 74:92] = ink[22:42, 89:92] = 1.0  # a 7 (clear of the box by more than the
    # reach of a box's corner: a ruler-straight 1 whose ends come that near the top and
    # bottom is taken for a side; benchmarks/RESULTS.md, "Cornered sides must be outermost")
    ink = blurred(ink, 2.2)
    ink /= ink.max()
    assert (clean_print(ink[None], text_line=True).ink[0] == ink).all()  # the first look
    line, removed, empty = numbers._clean_line(ink, remove_printed=True)
    assert removed and not empty and line is not None
    assert line[:, :12].max() < 0.3 and line[:, 188:].max() < 0.3  # the sides went,
    assert line[:12].max() < 0.3 and line[52:].max() < 0.3  # the top and bottom too
    assert all(line[22:42, c].max() > 0.5 for c in (40, 80, 90, 120))  # the digits stay


@pytest.mark.parametrize("context", ["boxed", "cell"])
def test_an_empty_field_of_a_form_reads_as_no_number(recognizer, context):
    # A form's amount box left empty, and an empty cell cut by the crop: print alone, no
    # digit (before, the box was read as "0" and the cell as "5" in about half of them).
    for width in (96, 160, 300):
        grey = printed_context(np.ones((64, width), np.float32), context)
        read = recognizer.predict_number(grey)
        assert read.text == "" and read.reason == EMPTY_PRINT, (width, read)


def test_an_empty_field_on_a_printed_pattern_reads_as_no_number(recognizer):
    # A cheque's amount field left empty, its security print photographed: with nothing
    # written the pattern is at ink level, and such fields were read as a number a third of
    # the time (benchmarks/RESULTS.md, "Nothing written on a printed pattern").
    from dataclasses import replace

    from digitkit.data.context import ContextStyle, photograph
    from digitkit.vision.preprocess.ink import PATTERN_ONLY

    print_only = replace(ContextStyle.box_only(), p_box=0.0, p_shrink=0.0, p_pattern=1.0)
    fields = photograph(np.zeros((20, 64, 240), np.float32), np.random.default_rng(6), print_only)
    reads = [recognizer.predict_number(f / np.float32(255)) for f in fields]
    assert all(r.text == "" for r in reads)  # 9 of these 20 were read as a number before
    assert sum(r.reason == PATTERN_ONLY for r in reads) >= 8  # the others too light to see


def _field_frame(sides: str, tilt_right_wall: bool = False) -> np.ndarray:
    """Ink (64, 240) of a field's box with the walls ``sides`` (of "tblr"); a missing top or
    bottom lets the side walls run out of the crop, as a box cut by it does."""
    ink = np.zeros((64, 240), np.float32)
    top = 10 if "t" in sides else 0
    bottom = 54 if "b" in sides else 64
    if "t" in sides:
        ink[10:13, 40:200] = 1.0
    if "b" in sides:
        ink[52:55, 40:200] = 1.0
    if "l" in sides:
        ink[top:bottom, 40:43] = 1.0
    if "r" in sides:
        ink[top:bottom, 197:200] = 1.0
    if tilt_right_wall:  # the camera turned the box: its right wall runs into the crop's edge
        ink[10:64, 197:200] = 1.0
    return ink


@pytest.mark.parametrize(
    ("sides", "tilt"), [("tlr", False), ("blr", False), ("tbr", False), ("tblr", True)]
)
def test_an_empty_fields_box_cut_by_the_crop_is_print_alone(sides, tilt):
    # A field's box on three sides (one cut off by the crop) or with a wall running into the
    # crop's edge: print alone (these reached the reader, which read a wall as a 1).
    from digitkit.vision import numbers

    line, _, empty = numbers._clean_line(_field_frame(sides, tilt), remove_printed=True)
    assert empty and line is None


def test_a_number_in_a_box_cut_by_the_crop_is_not_print_alone():
    from digitkit.vision import numbers

    ink = _field_frame("tlr")
    ink[24:44, 100:103] = ink[24:27, 130:150] = ink[24:44, 147:150] = 1.0  # a 1 and a 7
    line, removed, empty = numbers._clean_line(ink, remove_printed=True)
    assert not empty and removed and line is not None
    assert line[:, 38:45].max() < 0.3 and line[:, 195:].max() < 0.3  # the walls went
    assert line[30, 101] > 0.5 and line[30, 148] > 0.5  # the digits stay


def test_a_narrow_digit_with_three_straight_sides_is_not_print_alone():
    # A 0 written as a rectangle with its foot cut by the crop: three straight sides, but
    # no wider than tall, so no field's frame.
    from digitkit.vision import numbers

    ink = np.zeros((64, 60), np.float32)
    ink[8:11, 14:46] = ink[8:64, 14:17] = ink[8:64, 43:46] = 1.0
    _, _, empty = numbers._clean_line(ink, remove_printed=True)
    assert not empty


def test_a_long_amount_in_a_box_is_not_an_empty_field(mnist_splits):
    # Removal would take a long boxed line's digits with its rules (their stubs are judged
    # at the whole line's scale), and then refuses to remove anything; the digits are still
    # there, so the field is not empty (two photographed 9-digit lines once read as "").
    from digitkit.data.context import ContextStyle, photograph
    from digitkit.vision.preprocess import extract_ink
    from digitkit.vision.preprocess.lines import clean_print

    gen = NumberLines.from_mnist(
        mnist_splits.x_val, mnist_splits.y_val, use_pen=False, use_photos=False, style="forms"
    )
    rng = np.random.default_rng(15)  # two of these six lines were found empty before
    for text in gen.texts(6, rng, np.array([8, 9, 10, 8, 9, 10])):
        ink = gen.draw(text, rng)
        big = np.kron(ink, np.ones((2, 2), np.float32))
        grey = np.asarray(photograph(big[None], rng, ContextStyle(p_box=1.0)))[0] / 255.0
        extracted = extract_ink(grey.astype(np.float32))
        assert not clean_print(extracted.ink[None]).empty[0], text


def test_a_blurred_lines_digits_are_not_taken_for_its_rule(mnist_splits):
    # A photographed amount on a ruled line: its digits touch and the camera blurred them.
    # Judged at the whole line's length, their bodies passed for one thick printed line
    # merged with the rule, so the rule stayed (removal would have taken the digits) or went
    # with part of them. At a line's scale (its height), the rule goes and the digits stay.
    from digitkit.data.context import _blur  # the photographer's own camera blur
    from digitkit.vision.preprocess.lines import clean_print

    gen = NumberLines.from_mnist(
        mnist_splits.x_val, mnist_splits.y_val, use_pen=False, use_photos=False, style="touching"
    )
    rng = np.random.default_rng(3)
    for text in gen.texts(6, rng, np.array([6, 7, 8, 9, 10, 8])):
        ink = np.kron(gen.draw(text, rng), np.ones((2, 2), np.float32))
        ink = np.clip(1.3 * _blur(ink[None], np.array([2.0]))[0], 0.0, 1.0).astype(np.float32)
        rule = np.zeros_like(ink)
        bottom = np.flatnonzero(ink.max(axis=1) > 0.1)[-1]
        rule[bottom - 4 : bottom - 1] = 0.9  # under the digits, touching their feet
        out = clean_print(np.maximum(ink, rule)[None], text_line=True).ink[0]
        digits, bare_rule = ink > 0.5, (rule > 0) & (ink < 0.1)
        assert (out[digits] > 0.1).mean() >= 0.98, text
        assert (out[bare_rule] <= 0.1).mean() >= 0.95, text


@pytest.mark.parametrize("enough_left", [True, False])
def test_a_line_without_its_edges_ink_is_judged_as_a_digit_is(monkeypatch, enough_left):
    # The reading without the ink off the image's edges is made where the single digit's
    # judge keeps it (what is left peaks at OFF_EDGE_MIN_PEAK of the ink's level): an empty
    # photographed field's paper grain, brought to ink's level, read as "8888".
    from digitkit.vision import numbers
    from digitkit.vision.preprocess import pipeline

    scan = np.ones((40, 90), np.float32)
    scan[8:32, 30:34] = scan[8:32, 50:54] = 0.1  # two 1s
    cell = printed_context(scan, "cell")
    real = pipeline.off_the_edges

    def judged(ink):
        out, _ = real(ink)
        return out, np.full(len(ink), enough_left)

    monkeypatch.setattr(pipeline, "off_the_edges", judged)
    inks, _, _ = numbers.line_inks(cell, alternatives=True)
    without_edges = [
        a for a in inks[1:] if a is not None and not (a[:, :5] > 0.5).any()
    ]  # the cell's left wall is gone only from that reading
    assert bool(without_edges) == enough_left


@pytest.mark.parametrize(("sure", "expected"), [(0.3, ""), (0.75, "83")])
def test_digits_read_unsurely_are_no_number(monkeypatch, sure, expected):
    # What a reader finds in an empty photographed field (a box's leftover strokes, a
    # shadow, paper grain) it reads as a few digits, none surely: that field holds no number.
    from digitkit.vision import numbers

    reader = numbers.shipped_reader()
    if reader is None:
        pytest.skip("no number reader shipped")

    def read_line(line, phases=None):
        found = [numbers.ReadDigit(d, sure, 0, 1, [0.1] * 10) for d in (8, 3)]
        return numbers.NumberReading("83", "83", found, None)

    monkeypatch.setattr(reader, "read_line", read_line)
    scan = np.ones((40, 90), np.float32)
    scan[8:32, 40:44] = 0.1
    read = reader.read(scan)
    assert read.text == expected
    assert (read.reason or "").startswith(numbers.UNSURE) == (expected == "")


@pytest.mark.parametrize(("written", "expected"), [("7", ""), ("70.000", "70000")])
def test_ink_too_flat_for_what_is_read_is_no_number(monkeypatch, written, expected):
    # A printed line's remnant or a shadow's edge, 15 times as wide as high, read as one
    # digit: no one writes that flat. Six characters over the same ink are writing.
    from digitkit.vision import numbers

    reader = numbers.shipped_reader()
    if reader is None:
        pytest.skip("no number reader shipped")

    def read_line(line, phases=None):
        found = [numbers.ReadDigit(int(c), 0.9, 0, 1, [0.1] * 10) for c in written if c.isdigit()]
        return numbers.NumberReading("".join(c for c in written if c.isdigit()), written, found)

    monkeypatch.setattr(reader, "read_line", read_line)
    scan = np.ones((40, 200), np.float32)
    scan[16:24, 40:160] = 0.1  # 8 rows high, 120 columns wide
    read = reader.read(scan)
    assert read.text == expected
    assert (read.reason == numbers.TOO_FLAT) == (expected == "")


def test_grain_over_a_whole_field_is_no_reading_without_the_edges():
    # An empty photographed field: what is left without the ink off its edges is grain
    # spread edge to edge, which a number clear of the edges cannot be ("718888888").
    from digitkit.vision import numbers

    rng = np.random.default_rng(0)
    field = np.ones((96, 300), np.float32)
    for y, x in zip(rng.integers(0, 96, 400), rng.integers(0, 300, 400), strict=True):
        field[y : y + 2, x : x + 2] = 0.2
    field[:, :4] = 0.0  # a wall along the left edge
    inks, _, _ = numbers.line_inks(field, alternatives=True)
    assert [a is not None and (a[:, :4] > 0.5).any() for a in inks[1:]] == [True]  # walls in


def _leaning_strokes(shear: float) -> np.ndarray:
    """Ink (60, 200): three strokes 40 rows tall leaning right by ``shear`` columns a row."""
    ink = np.zeros((60, 200), np.float32)
    for x in (50, 100, 150):
        for y in range(10, 50):
            c = int(round(x - shear * (y - 30)))
            ink[y, c - 2 : c + 2] = 1.0
    return ink


def test_set_upright_takes_the_lean_out_about_the_middle_row():
    from digitkit.vision.numbers import UPRIGHT_MIN, set_upright

    upright, pad, lean = set_upright(_leaning_strokes(0.4))
    assert lean == pytest.approx(0.4) and pad > 0
    for y in (12, 30, 47):  # every row's strokes stand where the middle row's did
        cols = np.flatnonzero(upright[y] > 0.5) - pad
        assert [c for c in (50, 100, 150) if np.abs(cols - c).min() <= 2] == [50, 100, 150]
    same, pad, lean = set_upright(_leaning_strokes(UPRIGHT_MIN / 2))
    assert (pad, lean) == (0, 0.0) and same is not None


def test_leaning_writing_is_also_read_upright():
    # Italic writing: one more reading of the line, set upright; it is no print, so the
    # reading does not say the line held print (the segmenter may still answer).
    from digitkit.vision import numbers

    grey = 1.0 - 0.9 * _leaning_strokes(0.4)
    first, *others = numbers.prepare_lines(grey, alternatives=True)
    assert first.lean == 0.0 and [line.lean for line in others] == [pytest.approx(0.4)]
    assert numbers.prepare_lines(grey)[0].lean == 0.0  # only where readings are compared
    upright = 1.0 - 0.9 * _leaning_strokes(0.0)
    assert len(numbers.prepare_lines(upright, alternatives=True)) == 1
    reader = numbers.shipped_reader()
    if reader is not None:
        assert reader.read(grey).printed is False
