"""A rule's bars from its deciding runs' JSON, set by set (candidate minus shipped, points):
judge.py REALWORLD_OLD REALWORLD_NEW NUMBERS_OLD NUMBERS_NEW (rules TG, TG2, TG3; rules W1
and W2 group the sets their own way: trained/wide-one/judge.py)."""
import json
import re
import sys

CONTEXT = re.compile(r"photographed|in a printed box|in a wide cell|in pencil|on a printed pattern")


def read_as_digit(r: dict) -> float:
    """An empty set's share read as a digit (neither refused nor blank), in %."""
    return 100 * (1 - r["refused"] - r["blank"])


def tight_groups(name: str, a: dict) -> str:
    """Rules TG-TG3's groups of the benchmark's sets."""
    if "accuracy" in a:
        return "tight" if "cut tight" in name else "context" if CONTEXT.search(name) else "other"
    return "other" if "letters" in name else "empty"


def judge(argv: list[str], group_of=tight_groups) -> None:
    """Print each group's changes (accuracy; for empty sets the share read as a digit, lower
    is better; for letters the share refused) and the number lines' exact columns."""
    old, new = (json.load(open(p))[0] for p in argv[:2])
    nold, nnew = (json.load(open(p)) for p in argv[2:4])
    groups: dict[str, list[tuple[str, float]]] = {}
    for name, a in old.items():
        if name == "model":
            continue
        b = new[name]
        if "accuracy" in a:
            d = 100 * (b["accuracy"] - a["accuracy"])
        elif "letters" in name:
            d = 100 * (b["refused"] - a["refused"])
        else:
            d = read_as_digit(b) - read_as_digit(a)
        groups.setdefault(group_of(name, a), []).append((name, round(d, 2)))
    for g, rows in groups.items():
        ds = [d for _, d in rows]
        print(f"## {g}: n={len(ds)}, mean {sum(ds) / len(ds):+.3f}, min {min(ds):+.2f}, max {max(ds):+.2f}")
        for name, d in rows:
            print(f"   {d:+.2f}  {name}")
    print("## number lines (exact, all lengths)")
    diffs = []
    for col, a in nold.items():
        if isinstance(a, dict) and "auto" in a:
            diffs.append(nnew[col]["auto"]["exact"] - a["auto"]["exact"])
            print(f"   {diffs[-1]:+.2f}  {col}: {a['auto']['exact']:.2f} -> {nnew[col]['auto']['exact']:.2f}")
    print(f"   mean {sum(diffs) / len(diffs):+.3f}")
    print("   empty fields read as a number:", nold.get("empty_read_as_number"), "->", nnew.get("empty_read_as_number"))


if __name__ == "__main__":
    judge(sys.argv[1:5])
