"""Export a torch run to ONNX for fast CPU inference elsewhere (onnxruntime, browsers, C++).

The exported graph takes the *prepared* input (N, 1, S, S) float32, i.e. after the run's input
spec (padding, normalization), which is stored in the ONNX metadata as JSON so a consumer can
reproduce it; it outputs logits (N, 10). The export is checked against torch before it is kept.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from digitkit import atomic, runs
from digitkit.errors import DigitkitError


def export_onnx(run_dir: str | Path, out: str | Path | None = None, opset: int = 17,
                atol: float = 1e-4) -> tuple[Path, float]:
    """Write ``model.onnx`` for a torch run; return its path and the largest difference
    between onnxruntime's and torch's logits on random inputs."""
    import onnx
    import onnxruntime as ort
    import torch

    from digitkit.predictor import load_torch_run

    run_dir = runs.require_run_dir(run_dir)
    card = runs.read_card(run_dir)
    if card.get("engine") != "torch":
        raise DigitkitError(f"{run_dir}: only torch runs export to ONNX (this one is "
                            f"{card.get('engine')})")
    predictor = load_torch_run(run_dir, card)
    size = predictor.input_spec.size
    out = Path(out) if out else run_dir / "model.onnx"
    example = torch.zeros(1, 1, size, size)
    with atomic.atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            predictor.module, (example,), str(tmp), dynamo=False, opset_version=opset,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
        model = onnx.load(str(tmp))
        meta = {"digitkit_input": json.dumps(card["input"]),
                "digitkit_architecture": json.dumps(card["architecture"])}
        for key, value in meta.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(tmp))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((8, 1, size, size)).astype(np.float32)
        with torch.inference_mode():
            expected = predictor.module(torch.from_numpy(x)).numpy()
        diff = float(np.abs(session.run(None, {"input": x})[0] - expected).max())
        if diff > atol:
            raise DigitkitError(f"ONNX export of {run_dir} differs from torch by {diff:.2e}")
    return out, diff
