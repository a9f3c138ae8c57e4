"""Rules W1/W2's bars from the deciding runs' JSON: judge.py REALWORLD_OLD REALWORLD_NEW NUMBERS_OLD NUMBERS_NEW"""
import json
import sys

old, new = (json.load(open(p))[0] for p in sys.argv[1:3])
nold, nnew = (json.load(open(p)) for p in sys.argv[3:5])
groups = {"wide": [], "other digit sets": [], "empty (read as a digit)": [], "letters refused": []}
for name, a in old.items():
    if name == "model":
        continue
    b = new[name]
    if "accuracy" in a:
        group = "wide" if "wide cell" in name else "other digit sets"
        groups[group].append((name, 100 * (b["accuracy"] - a["accuracy"])))
    elif "letters" in name:
        groups["letters refused"].append((name, 100 * (b["refused"] - a["refused"])))
    else:
        read = lambda r: 100 * (1 - r["refused"] - r["blank"])  # noqa: E731
        groups["empty (read as a digit)"].append((name, read(b) - read(a)))
for g, rows in groups.items():
    ds = [d for _, d in rows]
    print(f"## {g}: n={len(ds)}, mean {sum(ds) / len(ds):+.3f}, min {min(ds):+.2f}, max {max(ds):+.2f}")
    for name, d in rows:
        if abs(d) > 1e-9 or g == "wide":
            print(f"   {d:+.2f}  {name}")
diffs = [nnew[c]["auto"]["exact"] - nold[c]["auto"]["exact"] for c in nold if isinstance(nold[c], dict) and "auto" in nold[c]]
print(f"## number lines: {['%+.2f' % d for d in diffs]}, mean {sum(diffs) / len(diffs):+.3f}")
print("   empty fields read as a number:", nold.get("empty_read_as_number"), "->", nnew.get("empty_read_as_number"))
