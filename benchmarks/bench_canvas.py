"""CPU per canvas of the web page's path: decode (PNG -> grey) and preprocessing (grey ->
28x28), on the 200 canvases of benchmarks/bench_serve.py (MNIST validation digits drawn on
an opaque white 280x280 RGBA canvas, as the page's ``canvas.toBlob`` sends them).

    DIGITKIT_DATA=../shared/data/mnist OMP_NUM_THREADS=1 python benchmarks/bench_canvas.py
    python benchmarks/bench_canvas.py --compare /tmp/old/src   # the code before a change

Single-threaded CPU time (``time.process_time``), the best and the median of ``--rounds``
rounds over every canvas, printed side by side: without ``--compare`` this checkout with its
exact shortcuts off (``digitkit.vision.imageio.SHORTCUTS``,
``digitkit.vision.preprocess.shortcuts.ON``) and on, in one process; with ``--compare SRC`` a
process importing ``digitkit`` from SRC (e.g. ``git archive HEAD src | tar -x -C /tmp/old``)
against one importing this checkout, round by round in turn, so a busy machine's load hits
both. Every column also checks that its outputs are
the same as the first column's, bit for bit.

``--app`` measures the page's whole request instead: each canvas as the page's multipart
body to ``/api/predict?preview=true`` of the web app (``create_app``, every middleware, the
shipped model), called as ASGI in process by ``--concurrency`` clients at once (so the
server batches as under load; no HTTP server, no sockets). It prints the CPU per request of
the whole process and of the event loop's thread, and compares the response bodies.

    python benchmarks/bench_canvas.py --app --compare /tmp/old/src --rounds 7
    # what the preview costs: plain requests (before) against the page's, same code
    python benchmarks/bench_canvas.py --app --compare src --compare-query ""
    # what saying "drawing" saves: the canvas judged as a file (before) against the page's
    python benchmarks/bench_canvas.py --app --compare src --compare-query "preview=true"
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


# --------------------------------------------------------------------------- --app

BOUNDARY = "digitkitbench"
PAGE_QUERY = "preview=true&drawing=true"  # what the page asks for (its strokes: a drawing)


def page_body(png: bytes) -> bytes:
    """The page's multipart body of one canvas (as benchmarks/bench_serve.py sends it)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="drawing.png"\r\nContent-Type: image/png\r\n\r\n'
    )
    return head.encode() + png + f"\r\n--{BOUNDARY}--\r\n".encode()


async def asgi_post(app, body: bytes, query: str = PAGE_QUERY) -> bytes:
    """One page request through the app as ASGI; the response body (200 asserted)."""
    import asyncio

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/predict",
        "raw_path": b"/api/predict",
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    answer: list[bytes] = []
    status: list[int] = []

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.get_running_loop().create_future()  # the client never leaves
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        else:
            answer.append(message.get("body", b""))

    await app(scope, receive, send)
    assert status == [200], (status, b"".join(answer)[:200])
    return b"".join(answer)


async def app_round(
    app, bodies: list[bytes], reps: int, concurrency: int, query: str = PAGE_QUERY
) -> dict:
    """ms of CPU per request (process, event loop thread) and a digest of the answers."""
    import asyncio

    answers: list[bytes] = [b""] * len(bodies)
    todo = iter([i for _ in range(reps) for i in range(len(bodies))])

    async def client() -> None:
        for i in todo:
            answers[i] = await asgi_post(app, bodies[i], query)

    cpu0, loop0 = time.process_time(), time.thread_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    cpu1, loop1 = time.process_time(), time.thread_time()
    n = reps * len(bodies)
    return {
        "request": (cpu1 - cpu0) / n * 1e3,
        "event loop": (loop1 - loop0) / n * 1e3,
        "digest": hashlib.sha256(b"\0".join(answers)).hexdigest(),
    }


def app_worker(count: int, reps: int, concurrency: int, query: str) -> int:
    """``worker`` for ``--app``: one app for every round, answering each line on stdin."""
    import asyncio

    from digitkit.serve.app import create_app

    bodies = [page_body(p) for p in _canvases(count)]
    app = create_app(access_log=False, allowed_hosts=["127.0.0.1"])

    async def serve_rounds() -> None:
        async with app.router.lifespan_context(app):
            await app_round(app, bodies, 1, concurrency, query)  # warm up: model, pools
            print("ready", flush=True)
            for _ in sys.stdin:
                result = await app_round(app, bodies, reps, concurrency, query)
                print(json.dumps(result), flush=True)

    asyncio.run(serve_rounds())
    return 0


def _spawn(src: Path, args: argparse.Namespace, query: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--worker", "--count", str(args.count)]
    cmd += ["--reps", str(args.reps), "--concurrency", str(args.concurrency)]
    cmd += ["--app", "--query", query] if args.app else []
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _ask(proc: subprocess.Popen) -> dict:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def compared_rounds(args: argparse.Namespace) -> tuple[list[str], list[list[dict]]]:
    """Rounds of the code in ``--compare`` and of this checkout, in turn (alternating which
    goes first, so neither always meets the machine right after the other)."""
    labels = [f"before ({args.compare})", "after (this checkout)"]
    before_query = args.query if args.compare_query is None else args.compare_query
    procs = [_spawn(args.compare, args, before_query), _spawn(SRC, args, args.query)]
    rounds: list[list[dict]] = [[], []]
    for k in range(args.rounds):
        for i in (0, 1) if k % 2 == 0 else (1, 0):
            rounds[i].append(_ask(procs[i]))
    for proc in procs:
        proc.communicate("")
    return labels, rounds


def switched_rounds(args: argparse.Namespace) -> tuple[list[str], list[list[dict]]]:
    """Rounds of this checkout with its exact shortcuts off and on, in one process."""
    pngs = _canvases(args.count)
    one_round(pngs, 1)
    rounds: list[list[dict]] = [[], []]
    for _ in range(args.rounds):
        for i, on in enumerate((False, True)):
            _switch(on)
            rounds[i].append(one_round(pngs, args.reps))
    _switch(True)
    return ["shortcuts off", "shortcuts on"], rounds


def report(labels: list[str], rounds: list[list[dict]], args: argparse.Namespace) -> None:
    """Best and median of each column per label, and whether every output matched."""
    what = "request" if args.app else "canvas"
    print(
        f"{args.count} canvases x {args.reps} passes, {args.rounds} rounds, ms of CPU per "
        f"{what}, best / median (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
        f"load average {os.getloadavg()[0]:.2f})"
    )
    columns = ["request", "event loop"] if args.app else ["decode", "preprocess"]
    print(f"{'':28s}" + "".join(f"{c:>18s}" for c in columns) + "  same outputs")
    first = rounds[0][0]["digest"]
    for label, rs in zip(labels, rounds, strict=True):
        cells = []
        for c in columns:
            values = sorted(r[c] for r in rs)
            cells.append(f"{values[0]:9.3f} /{values[len(values) // 2]:7.3f}")
        same = all(r["digest"] == first for r in rs)
        print(f"{label:28.28s}" + "".join(f"{c:>18s}" for c in cells) + f"  {same}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200, help="canvases (default: 200)")
    ap.add_argument("--reps", type=int, default=3, help="passes over them per round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds; the best one counts")
    ap.add_argument("--compare", type=Path, help="a src folder with the code before")
    ap.add_argument("--app", action="store_true", help="the page's request through the app")
    ap.add_argument("--concurrency", type=int, default=8, help="--app: clients at once")
    ap.add_argument(
        "--query", default=PAGE_QUERY, help=f"--app: the query string (default {PAGE_QUERY})"
    )
    ap.add_argument("--compare-query", help="--app: the query string of --compare's requests")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        if args.app:
            return app_worker(args.count, args.reps, args.concurrency, args.query)
        return worker(args.count, args.reps)
    if args.app and not args.compare:
        ap.error("--app compares two trees: give --compare SRC")
    labels, rounds = compared_rounds(args) if args.compare else switched_rounds(args)
    report(labels, rounds, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
