"""CPU per canvas of the web page's path: decode (PNG -> grey) and preprocessing (grey ->
28x28), on the 200 canvases of benchmarks/bench_serve.py (MNIST validation digits drawn on
an opaque white 280x280 RGBA canvas, as the page's ``canvas.toBlob`` sends them).

    DIGITKIT_DATA=../shared/data/mnist OMP_NUM_THREADS=1 python benchmarks/bench_canvas.py
    python benchmarks/bench_canvas.py --compare /tmp/old/src   # the code before a change

Single-threaded CPU time (``time.process_time``), the best of ``--rounds`` rounds over every
canvas, printed side by side: without ``--compare`` this checkout with its exact shortcuts off
(``digitkit.vision.imageio.SHORTCUTS``, ``digitkit.vision.preprocess.shortcuts.ON``) and on,
in one process; with ``--compare SRC`` a process importing ``digitkit`` from SRC (e.g. ``git
archive HEAD src | tar -x -C /tmp/old``) against one importing this checkout, round by round
in turn, so a busy machine's load hits both. Every column also checks that its outputs are
the same as the first column's, bit for bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def _canvases(n: int) -> list[bytes]:
    sys.path.insert(0, str(HERE))
    from bench_serve import canvas_pngs

    return canvas_pngs(n)


def _switch(on: bool) -> None:
    """This checkout's exact shortcuts on or off (a digitkit without them: nothing to do)."""
    from digitkit.vision import imageio

    imageio.SHORTCUTS = on
    try:
        from digitkit.vision.preprocess import shortcuts
    except ImportError:
        return
    shortcuts.ON = on


def one_round(pngs: list[bytes], reps: int) -> dict:
    """ms of CPU per canvas for decoding and for preprocessing, and a digest of the outputs."""
    from digitkit.vision.imageio import load_image_reduced
    from digitkit.vision.preprocess import to_mnist_grey

    t0 = time.process_time()
    for _ in range(reps):
        reduced = [load_image_reduced(p) for p in pngs]
    t1 = time.process_time()
    for _ in range(reps):
        pre = [to_mnist_grey(r.grey, r.scale) for r in reduced]
    t2 = time.process_time()
    digest = hashlib.sha256()
    for r, p in zip(reduced, pre, strict=True):
        digest.update(r.grey.tobytes())
        digest.update(repr((r.scale, p.blank, p.reason, p.inverted, p.box)).encode())
        digest.update(b"" if p.image is None else p.image.tobytes())
    n = reps * len(pngs)
    return {
        "decode": (t1 - t0) / n * 1e3,
        "preprocess": (t2 - t1) / n * 1e3,
        "digest": digest.hexdigest(),
    }


def worker(count: int, reps: int) -> int:
    """Answer each line on stdin with one round as JSON (the digitkit on PYTHONPATH)."""
    pngs = _canvases(count)
    one_round(pngs, 1)  # warm up
    print("ready", flush=True)
    for _ in sys.stdin:
        print(json.dumps(one_round(pngs, reps)), flush=True)
    return 0


def _spawn(src: Path, count: int, reps: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    args = [sys.executable, __file__, "--worker", "--count", str(count), "--reps", str(reps)]
    proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _ask(proc: subprocess.Popen) -> dict:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200, help="canvases (default: 200)")
    ap.add_argument("--reps", type=int, default=3, help="passes over them per round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds; the best one counts")
    ap.add_argument("--compare", type=Path, help="a src folder with the code before")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.count, args.reps)
    if args.compare:
        labels = [f"before ({args.compare})", "after (this checkout)"]
        procs = [_spawn(args.compare, args.count, args.reps), _spawn(SRC, args.count, args.reps)]
        rounds: list[list[dict]] = [[], []]
        for _ in range(args.rounds):
            for i, proc in enumerate(procs):
                rounds[i].append(_ask(proc))
        for proc in procs:
            proc.communicate("")
    else:
        labels = ["shortcuts off", "shortcuts on"]
        pngs = _canvases(args.count)
        one_round(pngs, 1)
        rounds = [[], []]
        for _ in range(args.rounds):
            for i, on in enumerate((False, True)):
                _switch(on)
                rounds[i].append(one_round(pngs, args.reps))
        _switch(True)
    print(
        f"{args.count} canvases x {args.reps} passes, best of {args.rounds} rounds, "
        f"ms of CPU per canvas (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})"
    )
    print(f"{'':28s}{'decode':>10s}{'preprocess':>12s}{'total':>10s}  same outputs")
    first = rounds[0][0]["digest"]
    for label, rs in zip(labels, rounds, strict=True):
        dec = min(r["decode"] for r in rs)
        pre = min(r["preprocess"] for r in rs)
        same = all(r["digest"] == first for r in rs)
        print(f"{label:28.28s}{dec:10.3f}{pre:12.3f}{dec + pre:10.3f}  {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
