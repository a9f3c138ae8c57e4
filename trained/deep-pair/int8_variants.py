"""Exploratory: which int8 settings keep a number reader's validation lines (rule P3's
members miss the export's gate by 4-5 of 600 lines).

python trained/deep-pair/int8_variants.py RUN [RUN ...]
    (the run's own validation lines only; calibration as `digitkit export --int8`: 1,024
    training lines of the run's recipe, rng 0; each setting overrides the export's own
    `quantize_static` arguments)
"""

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationMethod, QuantType

from digitkit.inference.export import _graph_logits, quantize_number_graph
from digitkit.train.sequence import evaluate_lines, run_line_sets

VARIANTS = {  # name: (quantize_static overrides, which Conv nodes stay float)
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
        source = run / "model.onnx"
        exact = evaluate_lines(_graph_logits(source), val_lines)["exact"]
        print(f"{run}: float32 {exact:.2%}", flush=True)
        convs = [n.name for n in onnx.load(str(source)).graph.node if n.op_type == "Conv"]
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "int8.onnx"
            for name, (overrides, float_convs) in VARIANTS.items():
                excluded = {"nodes_to_exclude": [convs[i] for i in float_convs]}
                t = time.perf_counter()
                quantize_number_graph(source, dest, batches, {**overrides, **excluded})
                q = evaluate_lines(_graph_logits(dest), val_lines)["exact"]
                print(
                    f"  {name:18s} int8 {q:.2%} ({100 * (q - exact):+.2f}) "
                    f"{dest.stat().st_size / 1e6:.2f} MB {time.perf_counter() - t:.0f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main(sys.argv[1:])
