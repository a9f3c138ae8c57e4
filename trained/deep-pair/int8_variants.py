"""Exploratory: which int8 settings keep a number reader's validation lines (rule P3's
members miss the export's gate by 4-5 of 600 lines).

python trained/deep-pair/int8_variants.py RUN [RUN ...]
    (the run's own validation lines only; calibration as `digitkit export --int8`: 1,024
    training lines of the run's recipe, rng 0)
"""

import contextlib
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from digitkit.inference.export import _graph_logits
from digitkit.train.sequence import evaluate_lines, run_line_sets

VARIANTS = {  # name: (keyword arguments, which Conv nodes stay float)
    "shipped settings": ({}, ()),
    "first conv float": ({}, (0,)),
    "last conv float": ({}, (-1,)),
    "first+last float": ({}, (0, -1)),
    "u8u8 full range": ({"weight_type": QuantType.QUInt8, "reduce_range": False}, ()),
    "percentile 99.99": ({"extra_options": {"CalibPercentile": 99.99}}, ()),
    "entropy": ({"calibrate_method": CalibrationMethod.Entropy}, ()),
}


def main(runs: list[str]) -> None:
    warnings.simplefilter("ignore")
    for run in map(Path, runs):
        train_lines, val_lines = run_line_sets(run)
        rng = np.random.default_rng(0)
        batches = [np.asarray(train_lines.batch(32, rng)[0], np.float32) for _ in range(32)]
        width = max(b.shape[-1] for b in batches)
        padded = [np.pad(b, ((0, 0), (0, 0), (0, width - b.shape[-1])))[:, None] for b in batches]
        source = run / "model.onnx"
        exact = evaluate_lines(_graph_logits(source), val_lines)["exact"]
        print(f"{run}: float32 {exact:.2%}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            shaped = Path(tmp) / "shaped.onnx"
            with contextlib.redirect_stdout(io.StringIO()):
                quant_pre_process(str(source), str(shaped))
            convs = [n.name for n in onnx.load(str(shaped)).graph.node if n.op_type == "Conv"]
            for name, (kwargs, float_convs) in VARIANTS.items():
                options = {
                    "quant_format": QuantFormat.QOperator,
                    "activation_type": QuantType.QUInt8,
                    "weight_type": QuantType.QInt8,
                    "per_channel": True,
                    "reduce_range": True,
                    "calibrate_method": CalibrationMethod.Percentile,
                    "nodes_to_exclude": [convs[i] for i in float_convs],
                    **kwargs,
                }

                class Batches(CalibrationDataReader):
                    def __init__(self, batches: list[np.ndarray]) -> None:
                        self.it = iter(batches)

                    def get_next(self) -> dict | None:
                        b = next(self.it, None)
                        return None if b is None else {"line": b}

                dest = Path(tmp) / "int8.onnx"
                t = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    quantize_static(str(shaped), str(dest), Batches(padded), **options)
                q = evaluate_lines(_graph_logits(dest), val_lines)["exact"]
                size = dest.stat().st_size / 1e6
                print(
                    f"  {name:18s} int8 {q:.2%} ({100 * (q - exact):+.2f}) {size:.2f} MB "
                    f"{time.perf_counter() - t:.0f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main(sys.argv[1:])
