"""Writer 8's letters and the pen validation writers' digits through each model's drawn
route: letters refused at equal shares of digits refused, and which letters pass."""
import collections, sys
import numpy as np
sys.path.insert(0, "/work/main/benchmarks")
from bench_pen_writers import _drawn
from digitkit.data.sources import pen_parts
from digitkit.vision.recognize import Recognizer

rng = np.random.default_rng(int(sys.argv[1]))
parts = pen_parts()
letters = parts["letters_val"]
lx = _drawn(letters, 8, rng); ll = np.tile(letters.labels, 8)
dx = _drawn(parts["pen_val"], 2, rng)
from digitkit.data import load_splits
from digitkit.data.render import mnist_canvases
mv = load_splits("mnist").x_val[2500:5000]
mx = mnist_canvases(mv, 140)
dx = np.concatenate([dx, mx]); nmn = len(mx)
for name in sys.argv[2:]:
    rec = Recognizer.load(name)
    def pnad(x):
        pre = rec.preprocess_batch(list(x))
        ok = [p for p in pre if not p.blank]
        reader = rec.drawn_reader or rec
        pr = np.asarray(reader._read(ok))
        out = np.ones(len(pre)); k = 0
        for i, p in enumerate(pre):
            if not p.blank:
                out[i] = pr[k, 10]; k += 1
        return out, (reader.refuse_drawn_above if reader.refuse_drawn_above is not None else reader.refuse_above)
    pl, op = pnad(lx); pd, _ = pnad(dx)
    pm = pd[-nmn:]
    print(f"  MNIST canvases refused at op: {100*(pm>=op).mean():.2f}%, pen digits {100*(pd[:-nmn]>=op).mean():.2f}%")
    row = [f"{name}: op {op}: letters {100*(pl>=op).mean():.1f}% digits {100*(pd>=op).mean():.2f}%"]
    for share in (0.0025, 0.005, 0.01, 0.02):
        t = np.quantile(pd, 1 - share)
        row.append(f"@{100*share:.2f}% digits (p>={t:.3f}): letters {100*(pl>=t).mean():.1f}%")
    print(" | ".join(row))
    passed = collections.Counter(ll[pl < op].tolist())
    print("  passing letters (of 8 draws):", dict(passed.most_common()))
