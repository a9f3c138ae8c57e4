"""Do the drawn route's errors show as disagreement? For each drawn validation set: the
route's reading as shipped, then which answered digits each extra refusal signal would
refuse (right ones and wrong ones), and the share of letters it adds.

Signals: the route's two members read different digits; the general pair (`default`'s own
members) reads another digit than the route; a one-pixel shift of the image changes the
route's digit. Usage: diag.py SEED"""
import sys

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_pen_writers import diagnosis_sets
from digitkit.vision.recognize import Recognizer, _shift

seed = int(sys.argv[1])
sets = diagnosis_sets(seed, pen_draws=4)

rec = Recognizer.load("default")
route = rec.drawn_reader
SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))
for name, (x, y) in sets.items():
    preds, pre = rec._predict_preprocessed(x)
    routed = np.array([not p.blank and rec.reader_for(p.drawn, p.large) is route for p in pre])
    answered = np.array([p.digit is not None for p in preds]) & routed
    read = np.array([p.digit if p.digit is not None else -1 for p in preds])
    idx = np.flatnonzero(answered)
    imgs = np.stack([pre[i].image for i in idx])
    members = route.predictor.member_probs(imgs)[:, :, :10].argmax(axis=2)
    general = rec.predictor.predict_proba(imgs)[:, :10].argmax(axis=1)
    shifted = np.stack([route.predictor.predict_proba(_shift(imgs, dy, dx))[:, :10].argmax(axis=1) for dy, dx in SHIFTS])
    r = read[idx]
    signals = {
        "members disagree": members[0] != members[1],
        "general pair reads another digit": general != r,
        "a 1 px shift reads another digit": (shifted != r).any(axis=0),
        "members or general": (members[0] != members[1]) | (general != r),
    }
    n = len(x)
    print(f"\n## {name}: n={n}, routed {routed.sum()}, answered by the route {len(idx)}")
    if y is None:
        print(f"refused as shipped: {100 * (1 - answered.sum() / n):.1f}% (of all {n})")
        for s, m in signals.items():
            print(f"| {s} | adds {m.sum()} refused -> {100 * (1 - (answered.sum() - m.sum()) / n):.1f}% |")
        continue
    wrong = r != y[idx]
    print(f"answered wrong as shipped: {wrong.sum()} of {len(idx)} ({100 * (1 - wrong.mean()):.2f}% answered right)")
    for s, m in signals.items():
        keep = ~m
        print(f"| {s} | refuses {m.sum()} ({100 * m.sum() / n:.2f}% of all), {int((m & wrong).sum())} of them wrong"
              f" | answered right {100 * (1 - wrong[keep].mean()):.2f}% |")
