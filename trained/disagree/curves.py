"""Which score finds the drawn route's confident errors? On the digits the route answers as
shipped, each score's threshold is set so it refuses a given share of the pen validation
writers' drawings; the table gives the wrong answers among them and what the same threshold
does to the other sets. Usage: curves.py SEED DRAWS"""
import sys

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
from bench_pen_writers import diagnosis_sets
from digitkit.vision.recognize import Recognizer

seed, draws = int(sys.argv[1]), int(sys.argv[2])
named = diagnosis_sets(seed, pen_draws=draws)
sets = dict(zip(["pen", "letters", "MNIST canvases", "European"], named.values(), strict=True))

rec = Recognizer.load("default")
route = rec.drawn_reader
data = {}
for name, (x, y) in sets.items():
    preds, pre = rec._predict_preprocessed(x)
    routed = np.array([not p.blank and rec.reader_for(p.drawn, p.large) is route for p in pre])
    answered = np.array([p.digit is not None for p in preds]) & routed
    idx = np.flatnonzero(answered)
    read = np.array([preds[i].digit for i in idx])
    imgs = np.stack([pre[i].image for i in idx])
    mp = route.predictor.member_probs(imgs)  # (2, n, 11)
    ens = route.predictor.combine(mp)
    at = np.arange(len(idx))
    mine = mp[:, at, read].min(axis=0)
    top2 = np.sort(ens[:, :10], axis=1)
    scores = {
        "1 - p(read), the average": 1 - ens[at, read],
        "1 - the least sure member's p(read)": 1 - mine,
        "members disagree, then 1 - least p(read)": (mp[0, :, :10].argmax(1) != mp[1, :, :10].argmax(1)) + (1 - mine),
        "second digit's p": top2[:, -2],
        "p(not a digit)": ens[:, 10],
        "p(not a digit) + 1 - least p(read)": ens[:, 10] + 1 - mine,
    }
    wrong = None if y is None else read != y[idx]
    data[name] = (scores, wrong, len(x), len(idx))
    print(f"{name}: n={len(x)}, answered by the route {len(idx)}" + ("" if y is None else f", wrong {wrong.sum()}"))

pen_scores, pen_wrong, pen_n, pen_ans = data["pen"]
for score in pen_scores:
    print(f"\n### {score}")
    print("| pen refused more | pen: wrong among them; answered right | letters refused | MNIST canvases: refused more; answered right | European: refused more; answered right |")
    print("|---|---|---|---|---|")
    for share in (0.002, 0.004, 0.006, 0.008):
        k = int(round(share * pen_n))
        t = np.sort(pen_scores[score])[-k]
        cells = []
        for name, (scores, wrong, n, ans) in data.items():
            m = scores[score] >= t
            if wrong is None:
                cells.append(f"{100 * (1 - (ans - m.sum()) / n):.1f}%")
            else:
                right = 100 * (1 - wrong[~m].mean())
                cells.append(f"{100 * m.sum() / n:.2f}% ({int((m & wrong).sum())} wrong); {right:.2f}%" if name != "pen"
                             else f"{int((m & wrong).sum())} of {m.sum()}; {right:.2f}%")
        print(f"| {100 * share:.1f}% | " + " | ".join([cells[0], cells[1], cells[2], cells[3]]) + " |")
