"""Which score of the drawn route separates letters from drawn digits best? Validation only.

Digits: the pen validation writers drawn twice and MNIST validation digits 2500-4999 as
canvases. Letters: writer 8's (UJI) drawn 8 times, and Hershey stroke-font letters drawn as
the pen renderer draws (no shipped model trained on them). For each score, the letters
refused at equal shares of drawn digits refused.  Args: SEED MODEL
"""
import sys
import numpy as np
sys.path.insert(0, "/work/main/benchmarks")
from bench_pen_writers import _drawn
from bench_realworld import CANVAS, _canvas
from digitkit.data import load_splits
from digitkit.data.render import PenStyle, mnist_canvases, render
from digitkit.data.sources import HERSHEY_BEND, _hershey_letters, pen_parts
from digitkit.vision.recognize import Recognizer

rng = np.random.default_rng(int(sys.argv[1]))
parts = pen_parts()
lx = _drawn(parts["letters_val"], 8, rng)
pts, down = _hershey_letters(1500, parts["letters_train"].points.shape[1], rng)
hx = _canvas(render((pts, down), size=CANVAS, rng=rng, style=PenStyle(bend=HERSHEY_BEND)))
dx = np.concatenate([_drawn(parts["pen_val"], 2, rng),
                     mnist_canvases(load_splits("mnist").x_val[2500:5000], 140)])
rec = Recognizer.load(sys.argv[2])
reader = rec.drawn_reader or rec

def member_probs(x):
    pre = [p for p in rec.preprocess_batch(list(x)) if not p.blank]
    imgs = np.stack([p.image for p in pre]).astype(np.float32)
    return reader.predictor.member_probs(imgs)  # (M, N, 11)

def scores(mp):
    mean = mp.mean(0)
    dig = mean[:, :10] / np.maximum(mean[:, :10].sum(1, keepdims=True), 1e-9)
    am = mp[:, :, :10].argmax(2)
    disagree = (am[0] != am[1]).astype(float)
    return {
        "p_nad (now)": mean[:, 10],
        "1 - max digit p": 1 - mean[:, :10].max(1),
        "max over members p_nad": mp[:, :, 10].max(0),
        "p_nad + 1 - max digit": mean[:, 10] + 1 - mean[:, :10].max(1),
        "1 - max of renormalized digits": 1 - dig.max(1),
        "p_nad + 0.5 disagreement": mean[:, 10] + 0.5 * disagree,
        "1 - min over members max digit": 1 - mp[:, :, :10].max(2).min(0),
    }

sd, sl, sh = scores(member_probs(dx)), scores(member_probs(lx)), scores(member_probs(hx))
print(f"digits {len(dx)}, writer-8 letters {len(lx)}, Hershey letters {len(hx)}")
for k in sd:
    row = []
    for share in (0.0025, 0.005, 0.01):
        t = np.quantile(sd[k], 1 - share)
        row.append(f"@{100*share:.2f}%: {100*(sl[k] > t).mean():.1f} / {100*(sh[k] > t).mean():.1f}")
    print(f"{k:34s} " + " | ".join(row))
