"""Rules D, Q, P, P5, LR, ITL and Q8: a candidate reader set against the shipped pair on the deciding runs.

python trained/deep-reader/compare.py BASE CAND {D|Q|P|P5|LR|ITL|Q8} [DIR]
    (names of DIR/*-{mnist,pen,photo}.json; DIR defaults to this folder's val/)
"""

import json
import sys
from pathlib import Path

VAL = Path(__file__).parent / "val"
BARS = {  # mean of the six columns, any one of them, photographed mean, empty fields
    "D": (0.0, -1.0, -0.5, 0.5),
    "Q": (-0.3, -1.0, -0.5, 0.5),
    "P": (0.5, -1.0, -0.5, 0.5),  # trained/deep-pair/rule.md
}
BARS["P5"] = BARS["P"]  # rule P's bars; its time bar below is the same layout's
BARS["LR"] = (-0.3, -1.0, 1.5, 0.5)  # trained/distant/rule.md: the photographed columns must gain
BARS["ITL"] = BARS["Q"]  # trained/italic/rule.md; its leaning columns: trained/italic/lean.py
BARS["Q8"] = (0.3, -1.0, -0.5, 0.5)  # trained/int8-aware/rule.md; leaning: lean.py's bar -0.5
TIME_BARS = {"Q": 1.10, "P": 2.0, "P5": 1.10, "LR": 1.10, "ITL": 1.10, "Q8": 1.10}  # a line's time, candidate / base


def columns(name: str) -> tuple[dict, dict, dict, dict]:
    six, photo, times = {}, {}, {}
    for part in ("mnist", "pen"):
        for key, v in json.loads((VAL / f"{name}-{part}.json").read_text()).items():
            six[f"{part} {key}"] = v["auto"]["exact"]
            times[f"{part} {key}"] = v["auto"]["median_ms"]
    doc = json.loads((VAL / f"{name}-photo.json").read_text())
    empty = doc.pop("empty_read_as_number")
    for key, v in doc.items():
        photo[key] = v["auto"]["exact"]
        times[key] = v["auto"]["median_ms"]
    return six, photo, empty, times


def main(base: str, cand: str, rule: str, folder: str | None = None) -> None:
    global VAL
    if folder is not None:
        VAL = Path(folder)
    mean_bar, col_bar, photo_bar, empty_bar = BARS[rule]
    b6, bp, be, bt = columns(base)
    c6, cp, ce, ct = columns(cand)
    print(f"| validation, exact | {base} | {cand} | difference |\n|---|---:|---:|---:|")
    for k in [*b6, *bp]:
        b, c = {**b6, **bp}[k], {**c6, **cp}[k]
        print(f"| {k} | {b:.1f} | {c:.1f} | {c - b:+.1f} |")
    for k in be:
        print(f"| empty read as a number, {k} | {be[k]:.1f} | {ce[k]:.1f} | {ce[k] - be[k]:+.1f} |")
    mean6 = sum(c6[k] - b6[k] for k in b6) / len(b6)
    worst = min(c6[k] - b6[k] for k in b6)
    meanp = sum(cp[k] - bp[k] for k in bp) / len(bp)
    worst_empty = max(ce[k] - be[k] for k in be)
    time_ratio = sum(ct.values()) / sum(bt.values())
    checks = [
        (f"six columns' mean {mean6:+.2f} (bar >= {mean_bar:+.1f})", mean6 >= mean_bar),
        (f"worst column {worst:+.1f} (bar >= {col_bar:+.1f})", worst >= col_bar),
        (f"photographed mean {meanp:+.2f} (bar >= {photo_bar:+.1f})", meanp >= photo_bar),
        (f"empty fields {worst_empty:+.1f} (bar <= {empty_bar:+.1f})", worst_empty <= empty_bar),
    ]
    if rule in TIME_BARS:
        bar = TIME_BARS[rule]
        checks.append((f"time {time_ratio:.2f}x (bar <= {bar:.2f}x)", time_ratio <= bar))
    else:
        print(f"time of a line, candidate / base: {time_ratio:.2f}x")
    for text, ok in checks:
        print(("PASS " if ok else "FAIL ") + text)
    print(f"rule {rule}: " + ("passes" if all(ok for _, ok in checks) else "fails"))


if __name__ == "__main__":
    main(*sys.argv[1:5])
