"""Rule Q8's probe: a number reader's float graph with its weights alone rounded (per channel,
symmetric, 7 and 8 bits; with a third argument, one convolution at a time), read on its
export's 3,000 check lines. The 7-bit rounding here is max|w|/63 a step (the export's: /64).

DIGITKIT_DATA=... python trained/int8-aware/probe/wq.py RUN 3000 [per]
"""
import sys
from pathlib import Path
import numpy as np, onnx
from onnx import numpy_helper
from digitkit.inference.export import _graph_logits
from digitkit.train.sequence import run_line_sets, evaluate_lines

run = Path(sys.argv[1]); n_check = int(sys.argv[2])
_, check = run_line_sets(run, check_lines=n_check)
src = run / "model.onnx"
m = onnx.load(str(src))
weights = {n.input[1] for n in m.graph.node if n.op_type == "Conv"}
def fq(bits, only=None):
    mm = onnx.load(str(src)); q = 2 ** (bits - 1) - 1
    for init in mm.graph.initializer:
        if init.name in weights and (only is None or init.name == only):
            w = numpy_helper.to_array(init)
            s = np.abs(w).reshape(len(w), -1).max(1) / q
            s = s.reshape((-1,) + (1,) * (w.ndim - 1)); s[s == 0] = 1
            init.CopyFrom(numpy_helper.from_array((np.round(w / s) * s).astype(np.float32), init.name))
    p = Path("/tmp/fq.onnx"); onnx.save(mm, str(p)); return p
ex = lambda g: round(evaluate_lines(_graph_logits(g), check)["exact"], 6)
print("float", ex(src))
for bits in (7, 8):
    print("weights", bits, "bits", ex(fq(bits)), flush=True)
if len(sys.argv) > 3:
    conv_w = [n.input[1] for n in m.graph.node if n.op_type == "Conv"]
    sizes = {i.name: int(np.prod(i.dims)) for i in m.graph.initializer}
    for w in conv_w:
        print("only", w, sizes[w], ex(fq(7, only=w)), flush=True)
