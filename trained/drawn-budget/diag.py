"""The shipped route's drawn operating point, threshold by threshold, on validation drawings:
for each drawn digit set the share refused and the accuracy on the digits answered, and the
share of writer 8's letters refused. Usage: diag.py SEED [MODEL]"""
import sys
import numpy as np
sys.path.insert(0, "/work/main/benchmarks")
from bench_pen_writers import diagnosis_sets
from digitkit.vision.recognize import Recognizer

seed = int(sys.argv[1])
model = sys.argv[2] if len(sys.argv) > 2 else "default"
sets = diagnosis_sets(seed, pen_draws=4)

rec = Recognizer.load(model)
reader = rec.drawn_reader or rec
print(f"{model}: general point {reader.refuse_above}, drawn point {reader.refuse_drawn_above}")
out = {}
for name, (x, y) in sets.items():
    preds, pre = rec._predict_preprocessed(x)
    ok = np.array([not p.blank for p in pre])
    drawn = np.array([p.drawn for p in pre])
    digits_p = np.array([p.probabilities if len(p.probabilities) == 10 else np.zeros(10) for p in preds])
    nad = 1.0 - digits_p.sum(axis=1)
    nad[~ok] = 1.0  # blank: answered with a reason, never a digit
    read = digits_p.argmax(axis=1)
    out[name] = (nad, read, y, drawn, ok)
    print(f"  {name}: n={len(x)}, blank {(~ok).sum()}, not drawn {(ok & ~drawn).sum()}")

general = reader.refuse_above
print("| point on drawings | " + " | ".join(out) + " |")
for t in [general, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05]:
    cells = []
    for name, (nad, read, y, drawn, ok) in out.items():
        th = np.where(drawn, t, general)
        refused = nad >= th
        if y is None:
            cells.append(f"{100 * refused.mean():.1f}% refused")
        else:
            right = (read == y) & ~refused
            cells.append(
                f"{100 * right.mean():.2f}% all, {100 * right.sum() / max(1, (~refused).sum()):.2f}% answered, "
                f"{100 * refused.mean():.2f}% refused ({int((refused & (read != y)).sum())} of them wrong anyway)"
            )
    print(f"| {t} | " + " | ".join(cells) + " |")
