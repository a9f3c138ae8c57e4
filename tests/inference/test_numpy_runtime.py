"""The NumPy runtime (digitkit.inference.numpy_runtime): the shipped models give onnxruntime's
logits without onnxruntime, the predictors and the number reader use it exactly when
onnxruntime cannot be imported, and it runs only the weights the card pins."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from digitkit import runs
from digitkit._extras import MissingExtra
from digitkit.card import RunCard
from digitkit.errors import DigitkitError
from digitkit.inference import numpy_runtime, sessions
from digitkit.inference.numpy_runtime import NumpyGraph, load_graph
from digitkit.inference.predictor import WEIGHTS_DIR, load_predictor
from digitkit.vision.numbers import SHIPPED, NumberReader, prepare_line, shipped_reader_dirs
from tests.fakes import val_number_lines

ort = pytest.importorskip("onnxruntime")

# The members of the shipped "default", "drawings" and "mnist" ensembles.
DIGIT_MODELS = (
    "realworld-s0",
    "realworld-s1",
    "drawings-s0",
    "drawings-s1",
    "cnn-medium-s0",
    "cnn-medium-s1",
)
# The members of the shipped MNIST record ensemble ("ensemble"): An et al.'s simple CNNs, lean.
ENSEMBLE_MODELS = ("simplecnn-m3-s0", "simplecnn-m3-s1", "simplecnn-m5-s3", "simplecnn-m7-s0")
# Members shipped with their float graph (the others are lean: the int8 graph they run and
# the float32 weights the NumPy runtime runs, to keep the weights under their 10 MB budget).
FLOAT_GRAPH_MODELS = ("realworld-s0", "realworld-s1")


def _card(folder) -> dict:
    return json.loads((folder / "card.json").read_text(encoding="utf-8"))


def _ort_logits(folder, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.fixture
def no_onnxruntime(monkeypatch):
    """``import onnxruntime`` fails, as in a bare install."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert not numpy_runtime.onnxruntime_available()


@pytest.fixture(scope="module")
def number_lines(mnist_splits) -> np.ndarray:
    """Eight generated number lines of validation digits, (8, 32, W)."""
    gen = val_number_lines(mnist_splits, max_digits=8)
    images, _, _ = gen.batch(8, np.random.default_rng(0))
    return images


@pytest.mark.parametrize("name", FLOAT_GRAPH_MODELS)
def test_digit_model_logits_equal_onnxruntime(name, mnist_splits):
    folder = WEIGHTS_DIR / name
    card = RunCard.load(folder)
    x = card.input_spec.prepare(mnist_splits.x_val[:500])
    ours = load_graph(folder, card.doc).run(None, {"input": x})[0]
    theirs = _ort_logits(folder, x)
    assert ours.shape == theirs.shape == (500, len(card.label_list))
    assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.parametrize("name", DIGIT_MODELS + ENSEMBLE_MODELS)
def test_digit_model_logits_equal_torch(name, mnist_splits):
    # The lean members have no float graph to compare with: the reference is the model
    # itself, built by torch from the same weights.
    pytest.importorskip("torch")
    from digitkit.inference.predictor import load_torch_run

    folder = WEIGHTS_DIR / name
    card = RunCard.load(folder)
    if name not in FLOAT_GRAPH_MODELS:
        assert not (folder / "model.onnx").exists() and sessions.int8_path(folder, card)
    images = mnist_splits.x_val[:500]
    ours = load_graph(folder, card.doc).run(None, {"input": card.input_spec.prepare(images)})[0]
    theirs = load_torch_run(folder, card).logits(images)
    assert ours.shape == theirs.shape == (500, len(card.label_list))
    assert np.abs(ours - theirs).max() < 1e-3


def test_number_readers_logits_equal_torch(number_lines, mnist_splits):
    # The shipped readers are lean (their int8 graph, no float graph): the reference is the
    # model itself, built by torch from the same weights.
    torch = pytest.importorskip("torch")
    from digitkit.train.sequence import load_number_model

    strip = np.concatenate(list(mnist_splits.x_val[:6]), axis=1).astype(np.float32) / 255
    real = prepare_line(strip).image  # a line as the reader prepares one (width not / 4)
    for folder in shipped_reader_dirs():
        card = _card(folder)
        assert not (folder / "model.onnx").exists() and runs.recorded_int8(folder, card)
        graph, model = load_graph(folder, card), load_number_model(folder)
        for x in (number_lines[:, None], real[None, None, :, : real.shape[1] // 4 * 4]):
            with torch.inference_mode():
                theirs = model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
            ours = graph(x)
            assert ours.shape == theirs.shape == (len(x), x.shape[-1] // 4, 18)
            assert np.abs(ours - theirs).max() < 1e-4


@pytest.mark.parametrize("depth", [2, 3])
def test_deeper_number_readers_logits_equal_torch(depth):
    # A reader deepened with train-number --depth: the stages' convolutions are read from
    # its weights, and the folded norms of convolutions between a stage's first and its pool.
    torch = pytest.importorskip("torch")
    from digitkit.models import build_model

    torch.manual_seed(depth)
    model = build_model("crnn-ctc", width=32, depth=depth)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.eval()
    weights = numpy_runtime._Weights({k: v.numpy() for k, v in model.state_dict().items()}, "run")
    graph = numpy_runtime.NumpyGraph("run", numpy_runtime.crnn_ctc(weights))
    weights.check_all_used()
    x = np.random.default_rng(0).random((2, 1, 32, 64), dtype=np.float32)
    with torch.inference_mode():
        assert np.abs(graph(x) - model(torch.from_numpy(x)).numpy()).max() < 1e-4
    del weights.tensors["features.4.weight"]  # a stage's conv missing: not crnn-ctc's stages
    with pytest.raises(DigitkitError, match="stages"):
        numpy_runtime.crnn_ctc(weights)


def test_recognizer_answers_the_same_without_onnxruntime(mnist_splits, monkeypatch):
    from digitkit.vision.recognize import Recognizer

    monkeypatch.setenv("DIGITKIT_INT8", "0")  # float32 on both sides: the same model
    images = list(mnist_splits.x_val[:300])
    fast = Recognizer.load("default")
    assert {m.runtime for m in fast.predictor.members} == {"onnxruntime"}
    # Lean members have no float graph: asked for float32, they run on the NumPy runtime
    # even where onnxruntime is installed.
    assert {m.runtime for m in fast.drawn_reader.predictor.members} == {"numpy"}
    assert {m.runtime for m in Recognizer.load("mnist").predictor.members} == {"numpy"}
    expected = fast.predict_batch(images)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    rec = Recognizer.load("default")
    assert {m.runtime for m in rec.predictor.members} == {"numpy"}
    got = rec.predict_batch(images)
    assert [p.digit for p in got] == [p.digit for p in expected]
    assert [p.uncertain for p in got] == [p.uncertain for p in expected]
    pairs = zip(got, expected, strict=True)
    assert max(abs(a.confidence - b.confidence) for a, b in pairs) < 1e-4


def test_the_shipped_ensemble_reads_mnist_as_recorded_with_and_without_onnxruntime(
    mnist_splits, monkeypatch
):
    # "ensemble" (issue 15): its int8 graphs on onnxruntime, or its float32 weights on the
    # NumPy runtime in a bare install; both read the validation digits as its card says.
    from digitkit.vision.recognize import Recognizer

    x, y = mnist_splits.x_val[:1000], mnist_splits.y_val[:1000]
    fast = Recognizer.load("ensemble")
    assert {(m.runtime, m.precision) for m in fast.predictor.members} == {("onnxruntime", "int8")}
    fast_probs = fast.predictor.predict_proba(x)
    assert (fast_probs.argmax(1) == y).mean() >= 0.996  # 99.70% on all 5,000 (its card)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    bare = Recognizer.load("ensemble")
    assert {m.runtime for m in bare.predictor.members} == {"numpy"}
    bare_probs = bare.predictor.predict_proba(x[:200])
    assert (bare_probs.argmax(1) == fast_probs[:200].argmax(1)).mean() >= 0.995


def test_number_line_is_read_the_same_without_onnxruntime(mnist_splits, monkeypatch):
    fast = NumberReader.load(SHIPPED)  # its int8 graph on onnxruntime
    monkeypatch.setenv("DIGITKIT_INT8", "0")  # float32: lean, so the NumPy runtime runs it
    assert isinstance(NumberReader.load(SHIPPED).session, NumpyGraph)
    monkeypatch.delenv("DIGITKIT_INT8")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    slow = NumberReader.load(SHIPPED)
    assert isinstance(slow.session, NumpyGraph) and not isinstance(fast.session, NumpyGraph)
    for start in (0, 7, 20):
        strip = np.concatenate(list(mnist_splits.x_val[start : start + 5]), axis=1)
        a, b = fast.read(strip), slow.read(strip)
        assert a.text == b.text and len(a.text) >= 4
        # A space is a gap judged wide enough to be one: int8 and float32 may judge a gap at
        # the edge differently (a digit or another separator may not differ)
        assert a.formatted.replace(" ", "") == b.formatted.replace(" ", "")
        for da, db in zip(a.digits, b.digits, strict=True):  # int8 against float32
            assert abs(da.x0 - db.x0) <= 4 and abs(da.x1 - db.x1) <= 4
            assert abs(da.confidence - db.confidence) < 0.05


def test_without_onnxruntime_the_numpy_runtime_does_the_work(no_onnxruntime, monkeypatch):
    # Neither onnxruntime nor torch: a silent fall-back to anything else would fail here, and
    # the count shows that the answers come from the NumPy graphs.
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)
    calls = []
    run = NumpyGraph.run
    monkeypatch.setattr(NumpyGraph, "run", lambda self, *a: calls.append(self) or run(self, *a))
    ensemble = load_predictor("default")
    assert all(isinstance(m.session, NumpyGraph) for m in ensemble.members)
    assert all(m.precision == "float32" for m in ensemble.members)  # no int8 graph
    probs = ensemble.predict_proba(np.zeros((3, 28, 28), np.float32))
    assert probs.shape == (3, 11) and len(calls) == 2


def test_only_the_pinned_weights_run(tmp_path, no_onnxruntime):
    run = tmp_path / "run"
    shutil.copytree(WEIGHTS_DIR / "cnn-medium-s0", run)
    data = bytearray((run / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (run / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(DigitkitError, match="sha256 differs"):
        load_graph(run, _card(run))
    card = _card(run)
    del card["onnx"]["weights_sha256"]
    with pytest.raises(DigitkitError, match="pins no weights"):
        load_graph(run, card)


def test_other_architectures_name_the_fast_extra(tmp_path, no_onnxruntime):
    run = tmp_path / "run"
    shutil.copytree(WEIGHTS_DIR / "cnn-medium-s0", run)
    card = _card(run)
    card["architecture"]["name"] = "cnn-fast"
    (run / "card.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(MissingExtra, match=r"pip install 'digitkit\[fast\]'"):
        load_predictor(run)
    # Weights of another architecture are refused, not half used.
    with pytest.raises(DigitkitError, match="no tensor"):
        load_graph(SHIPPED, {**_card(SHIPPED), "architecture": {"name": "cnn-medium"}})


def test_the_runtime_multiplies_on_one_blas_thread(mnist_splits):
    from threadpoolctl import threadpool_info

    seen = []

    def spy(x):
        seen.append(
            [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        )
        return x

    graph = load_graph(WEIGHTS_DIR / DIGIT_MODELS[0], _card(WEIGHTS_DIR / DIGIT_MODELS[0]))
    graph.layers.insert(1, spy)
    graph(mnist_splits.x_val[:2, None].astype(np.float32) / 255)
    assert seen and all(threads == [1] * len(threads) for threads in seen)
    assert seen[0], "no BLAS library found: the limit was not checked"


def test_a_run_shipped_without_its_float_graph_runs_int8_or_the_numpy_runtime(
    tmp_path, mnist_splits, monkeypatch
):
    run = tmp_path / "run"
    shutil.copytree(WEIGHTS_DIR / "realworld-s0", run)
    x = mnist_splits.x_val[:200].astype(np.float32) / 255
    whole = load_predictor(run)
    (run / "model.onnx").unlink()  # a lean copy keeps only the graph it runs
    lean = load_predictor(run)
    assert (
        (lean.precision, lean.runtime)
        == ("int8", "onnxruntime")
        == (
            whole.precision,
            whole.runtime,
        )
    )
    assert np.array_equal(lean.predict_proba(x), whole.predict_proba(x))
    # float32 asked for: the NumPy runtime on the pinned weights, the float graph's answers.
    monkeypatch.setenv("DIGITKIT_INT8", "0")
    floats = load_predictor(run)
    assert (floats.precision, floats.runtime) == ("float32", "numpy")
    card = RunCard.load(run)
    reference = ort.InferenceSession(
        str(WEIGHTS_DIR / "realworld-s0" / "model.onnx"), providers=["CPUExecutionProvider"]
    ).run(None, {"input": card.input_spec.prepare(x)})[0]
    assert np.abs(floats.logits(x) - reference).max() < 1e-4
    # An int8 graph quantized from another float graph is not trusted.
    doc = _card(run)
    doc["int8"]["source_sha256"] = "0" * 64
    (run / "card.json").write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.delenv("DIGITKIT_INT8")
    assert load_predictor(run).runtime == "numpy"
    # Weights changed since the export: no export is used (torch loads the run).
    data = bytearray((run / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (run / "model.safetensors").write_bytes(bytes(data))
    assert sessions.open_session(run, RunCard.load(run)) is None
