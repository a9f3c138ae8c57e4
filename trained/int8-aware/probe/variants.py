"""Rule Q8's probe: a number reader's int8 graph quantized other ways, each read on the 3,000
check lines of its export (run_line_sets(check_lines=3000)).

DIGITKIT_DATA=... python trained/int8-aware/probe/variants.py RUN base,head,first,adds,p9999,p99999,minmax,s8full,qdqu8
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

from digitkit.inference.export import _graph_logits, quantize_number_graph
from digitkit.train.sequence import evaluate_lines, run_line_sets

run = Path(sys.argv[1])
train_lines, check = run_line_sets(run, check_lines=3000)
rng = np.random.default_rng(0)
batches = [train_lines.batch(32, rng)[0] for _ in range(32)]  # 1,024 lines, as the export's
src = run / "model.onnx"
adds = [n.name for n in onnx.load(str(src)).graph.node if n.name.endswith("/Add")]
VARIANTS = {
    "base": {},
    "head": {"nodes_to_exclude": ["/head/Conv"]},
    "first": {"nodes_to_exclude": ["/features/features.0/Conv"]},
    "adds": {"nodes_to_exclude": adds},
    "p9999": {"extra_options": {"CalibPercentile": 99.99}},
    "p99999": {"extra_options": {"CalibPercentile": 99.9999}},
    "minmax": {"calibrate_method": CalibrationMethod.MinMax},
    # full 8-bit signed weights (saturate on CPUs without VNNI); QUInt8 is ignored for
    # per-channel convolutions by onnxruntime 1.32, which gives this very graph
    "s8full": {"reduce_range": False},
    "qdqu8": {"quant_format": QuantFormat.QDQ, "weight_type": QuantType.QUInt8, "reduce_range": False},
}


def exact(graph: Path) -> float:
    return round(evaluate_lines(_graph_logits(graph), check)["exact"], 6)


print("float32", exact(src), flush=True)
for name in sys.argv[2].split(","):
    dest = Path(f"/tmp/{run.name}-{name}.onnx")
    quantize_number_graph(src, dest, batches, overrides=VARIANTS[name])
    print(name, exact(dest), f"{dest.stat().st_size} B", flush=True)
