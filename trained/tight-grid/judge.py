"""Rule TG/TG2's bars from the deciding runs' JSON: judge.py REALWORLD_OLD REALWORLD_NEW NUMBERS_OLD NUMBERS_NEW"""
import json
import re
import sys

old, new = (json.load(open(p))[0] for p in sys.argv[1:3])
nold, nnew = (json.load(open(p)) for p in sys.argv[3:5])
CONTEXT = re.compile(r"photographed|in a printed box|in a wide cell|in pencil|on a printed pattern")
groups = {"tight": [], "context": [], "empty": [], "other": []}
for name, a in old.items():
    if name == "model":
        continue
    b = new[name]
    if "accuracy" in a:
        d = 100 * (b["accuracy"] - a["accuracy"])
        group = "tight" if "cut tight" in name else "context" if CONTEXT.search(name) else "other"
    elif "blank" in a and "letters" not in name:  # empty sets: the share read as a digit, lower is better
        read = lambda r: 100 * (1 - r["refused"] - r["blank"])  # noqa: E731
        d = read(b) - read(a)
        group = "empty"
    else:  # letters: share refused, higher is better
        d = 100 * (b["refused"] - a["refused"])
        group = "other"
    groups[group].append((name, round(d, 2)))
for g, rows in groups.items():
    ds = [d for _, d in rows]
    print(f"## {g}: n={len(ds)}, mean {sum(ds) / max(1, len(ds)):+.3f}, min {min(ds):+.2f}, max {max(ds):+.2f}")
    for name, d in rows:
        print(f"   {d:+.2f}  {name}")
print("## number lines (exact, all lengths)")
diffs = []
for col in nold:
    if col.startswith("empty") or not isinstance(nold[col], dict) or "auto" not in nold[col]:
        continue
    d = nnew[col]["auto"]["exact"] - nold[col]["auto"]["exact"]
    diffs.append(d)
    print(f"   {d:+.2f}  {col}: {nold[col]['auto']['exact']:.2f} -> {nnew[col]['auto']['exact']:.2f}")
print(f"   mean {sum(diffs) / len(diffs):+.3f}")
for k in nold:
    if k not in nnew or isinstance(nold[k], dict) and "auto" in nold[k]:
        continue
    print("   ", k, nold[k], "->", nnew[k])
