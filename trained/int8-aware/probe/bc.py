"""Rule Q8's probe: empirical bias correction (Nagel et al. 2019, sec. 4.2) for the int8
graph's 7-bit weights, conv by conv; the corrected float graph quantized as the export does,
read on the export's 3,000 check lines. Needs RUN/model.int8.onnx (its weights).

DIGITKIT_DATA=... python trained/int8-aware/probe/bc.py RUN
"""
import sys, time
from pathlib import Path
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper, helper
from digitkit.inference.export import quantize_number_graph, _graph_logits
from digitkit.train.sequence import run_line_sets, evaluate_lines

run = Path(sys.argv[1])
train_lines, check = run_line_sets(run, check_lines=3000)
rng = np.random.default_rng(0)
batches = [train_lines.batch(32, rng)[0] for _ in range(32)]
ex = lambda g: round(evaluate_lines(_graph_logits(g), check)["exact"], 6)
src = run / "model.onnx"
F = onnx.load(str(src))
Q = onnx.load(str(run / "model.int8.onnx"))
qinit = {t.name: numpy_helper.to_array(t) for t in Q.graph.initializer}
convs = [n for n in F.graph.node if n.op_type == "Conv"]
finit = {t.name: t for t in F.graph.initializer}

def with_outputs(model):
    m = onnx.ModelProto(); m.CopyFrom(model)
    del m.graph.output[:]
    for n in convs:
        m.graph.output.append(helper.make_tensor_value_info(n.output[0], onnx.TensorProto.FLOAT, None))
    return m

def means(model):
    s = ort.InferenceSession(with_outputs(model).SerializeToString(), providers=["CPUExecutionProvider"])
    tot = None; cnt = 0
    for b in batches:
        outs = s.run(None, {"line": b[:, None].astype(np.float32)})
        ms = [o.mean(axis=(0,) + tuple(range(2, o.ndim))) for o in outs]
        tot = ms if tot is None else [a + c for a, c in zip(tot, ms)]
        cnt += 1
    return [t / cnt for t in tot]

def set_init(model, name, arr):
    for t in model.graph.initializer:
        if t.name == name:
            t.CopyFrom(numpy_helper.from_array(arr.astype(np.float32), name)); return
    raise KeyError(name)

# FQ: float graph with the int8 graph's dequantized weights
FQ = onnx.ModelProto(); FQ.CopyFrom(F)
for n in convs:
    w = n.input[1]; q = qinit[w + "_quantized"].astype(np.float32); sc = qinit[w + "_scale"]
    zp = qinit[w + "_zero_point"].astype(np.float32)
    shape = (-1,) + (1,) * (q.ndim - 1)
    set_init(FQ, w, (q - zp.reshape(shape)) * sc.reshape(shape))
p = Path("/tmp/fq.onnx"); onnx.save(FQ, str(p)); print("fq weights (ORT's)", ex(p), flush=True)
t = time.time(); ref = means(F); print("means", f"{time.time()-t:.1f}s", flush=True)
deltas = {}
for k, n in enumerate(convs):
    cur = means(FQ)
    d = ref[k] - cur[k]
    b = n.input[2]
    newb = numpy_helper.to_array(finit[b]) + sum(deltas.get(b, [0])) + d
    deltas[b] = [sum(deltas.get(b, [0])) + d]
    set_init(FQ, b, newb)
    print(k, n.name, f"|d| max {np.abs(d).max():.4f} mean {np.abs(d).mean():.4f}", flush=True)
onnx.save(FQ, str(p)); print("fq weights + bias correction", ex(p), flush=True)
C = onnx.ModelProto(); C.CopyFrom(F)
for b, (d,) in deltas.items():
    set_init(C, b, numpy_helper.to_array(finit[b]) + d)
cp = Path(f"/tmp/{run.name}-bc.onnx"); onnx.save(C, str(cp))
dest = Path(f"/tmp/{run.name}-bc.int8.onnx")
quantize_number_graph(cp, dest, batches)
print("int8 of the corrected graph", ex(dest), flush=True)
