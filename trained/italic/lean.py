"""Rule ITL's leaning columns: the shipped pair against the candidate on lines leaning 0.35
(touching, forms, joined; MNIST validation digits and the pen validation writers).

python trained/italic/lean.py DIR [BAR] [NAME]   (DIR/{shipped,NAME}-lean-{mnist,pen}.json;
    BAR 2.0 and NAME itl unless given: rule Q8 reads its columns with -0.5 and q8)
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


def main(folder: str, bar: float = BAR, name: str = "itl") -> None:
    base, cand = columns(Path(folder), "shipped"), columns(Path(folder), name)
    print(f"| validation, exact | shipped | {name} | difference |\n|---|---:|---:|---:|")
    for k in base:
        print(f"| {k} | {base[k]:.1f} | {cand[k]:.1f} | {cand[k] - base[k]:+.1f} |")
    mean = sum(cand[k] - base[k] for k in base) / len(base)
    ok = mean >= bar
    print(("PASS " if ok else "FAIL ") + f"leaning columns' mean {mean:+.2f} (bar >= {bar:+.1f})")


if __name__ == "__main__":
    main(sys.argv[1], *([float(sys.argv[2])] if len(sys.argv) > 2 else []), *sys.argv[3:4])
