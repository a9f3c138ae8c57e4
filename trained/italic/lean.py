"""Rule ITL's leaning columns: the shipped pair against the candidate on lines leaning 0.35
(touching, forms, joined; MNIST validation digits and the pen validation writers).

python trained/italic/lean.py DIR   (DIR/{shipped,itl}-lean-{mnist,pen}.json)
"""

import json
import sys
from pathlib import Path

BAR = 2.0  # the six leaning columns' mean gain, points


def columns(folder: Path, name: str) -> dict[str, float]:
    out = {}
    for part in ("mnist", "pen"):
        doc = json.loads((folder / f"{name}-lean-{part}.json").read_text())
        out.update({f"{part} {key} lean 0.35": v["auto"]["exact"] for key, v in doc.items()})
    return out


def main(folder: str) -> None:
    base, cand = columns(Path(folder), "shipped"), columns(Path(folder), "itl")
    print("| validation, exact | shipped | itl | difference |\n|---|---:|---:|---:|")
    for k in base:
        print(f"| {k} | {base[k]:.1f} | {cand[k]:.1f} | {cand[k] - base[k]:+.1f} |")
    mean = sum(cand[k] - base[k] for k in base) / len(base)
    ok = mean >= BAR
    print(("PASS " if ok else "FAIL ") + f"leaning columns' mean {mean:+.2f} (bar >= {BAR:+.1f})")


if __name__ == "__main__":
    main(sys.argv[1])
