"""Which pen forms lines the deep pair loses (diagnosis on validation lines, after rule P2).

python trained/deep-pair/diag_pen_forms.py SEED [RUN,RUN]   (P2's pen column: 10438)
    (the candidate pair: P2's unless given; P3's: runs/deep2-styled-s0,runs/deep2-styled-s1)

Reads the pen validation writers' forms lines of ``bench_numbers.py --split val --digits pen
--styles forms --n 100 --seed SEED`` with the shipped pair and the P2 pair (as the bench
does, reader auto), and prints the lines one reads and the other does not, by kind of error.
"""

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_numbers import digit_images, make_lines  # noqa: E402
from digitkit.vision.numbers import NumberReader, shipped_reader  # noqa: E402
from digitkit.vision.recognize import Recognizer  # noqa: E402

P2 = ["runs/deep2-s0-last", "runs/deep2-s1"]


def kind(truth: str, read: str) -> str:
    if len(read) < len(truth):
        return "digit lost"
    if len(read) > len(truth):
        return "digit added"
    return " ".join(f"{a}->{b}" for a, b in zip(truth, read, strict=True) if a != b)


def main(seed: int, candidate: list[str] = P2) -> None:
    x, y = digit_images("pen", "val", seed)
    lines = make_lines(x, y, "forms", 100, seed)
    rec = Recognizer.load()
    reads = {}
    pairs = (("shipped", shipped_reader()), ("candidate", NumberReader.load_members(candidate)))
    for name, reader in pairs:
        rec.number_reader = reader
        reads[name] = [rec.predict_number(grey).text for grey, _ in lines]
    truths = [t for _, t in lines]
    for a, b in (("shipped", "candidate"), ("candidate", "shipped")):
        lost = [
            (t, reads[b][i]) for i, t in enumerate(truths) if reads[a][i] == t and reads[b][i] != t
        ]
        print(f"{len(lost)} lines {a} reads and {b} does not, by {b}'s error:")
        for k, n in Counter(kind(t, r) for t, r in lost).most_common():
            print(f"  {n:3d}  {k}")
        print("  e.g. " + ", ".join(f"{t}->{r}" for t, r in lost[:12]))


if __name__ == "__main__":
    main(int(sys.argv[1]), *([sys.argv[2].split(",")] if len(sys.argv) > 2 else []))
