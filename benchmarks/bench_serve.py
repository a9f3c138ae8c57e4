"""Load benchmark of the web app with what the drawing page really sends: 280x280 canvas PNGs
posted to ``/api/predict?preview=true``. Reports requests/s, latency percentiles, errors and
server CPU per request as a Markdown table (machine, date, load average).

The server runs in its own process (the app ``digitkit serve`` runs, with its uvicorn
limits), so client and server do not share a GIL; the client is a minimal asyncio HTTP/1.1
loop, so it costs the machine as little CPU as possible. Scenarios (``--scenarios``):

* ``rate``: an open-loop client offering ``--rate`` requests/s for ``--duration`` seconds.
  Latency counts from when a request was due, not from when a connection was free, so a
  slow server cannot hide its queue (no coordinated omission).
* ``saturation``: ``--concurrency`` closed-loop keep-alive clients, as fast as answered.
* ``adversarial``: ``rate`` while an attacker sends 5 requests/s of the worst inputs to both
  routes (a 16000x40 bar, a 600x600 dot grid, a 16 MP RGBA PNG, 2 MiB of ';'); the figures
  are the normal requests' (target p99 <= 250 ms).
* ``--soak SECONDS``: ``rate`` (plus the attacker with ``--soak-adversarial``) for that long,
  reporting the server's RSS at the start, the middle, the end and its peak: growth over the
  second half alone tells a leak from warm-up.

``--compare SRC`` runs every scenario against two servers, back to back: one importing
``digitkit`` from SRC (the code before a change: ``git worktree add /tmp/old HEAD``, then
``--compare /tmp/old/src``) and one from this checkout, so a busy machine's load hits both.

    python benchmarks/bench_serve.py                          # rate, saturation, adversarial
    python benchmarks/bench_serve.py --compare /tmp/old/src --rate 120 --duration 8
    python benchmarks/bench_serve.py --compare /tmp/old/src --scenarios saturation --repeat 5
    python benchmarks/bench_serve.py --scenarios saturation --images seven --size 28
    python benchmarks/bench_serve.py --soak 600 --rate 50 --scenarios none

Canvases need the MNIST data (``DIGITKIT_DATA``): validation digits drawn with a black brush
on an opaque white 280x280 RGBA canvas, as the page's ``canvas.toBlob`` sends them.
Target on a quiet 2-core machine: >= 250 req/s, p99 <= 100 ms, zero errors.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CANVAS_SIDE = 280
PAGE_PATH = "/api/predict?preview=true"  # what the page asks for a drawn digit
NUMBER_PATH = "/api/predict/number"
DIGIT_PATH = "/api/predict"
CANVAS_COUNT = 200  # distinct canvases, cycled through (one repeated body would flatter)
DIGIT_SIDES = (150, 230)  # the digit's 28 px frame is drawn this many px wide (MNIST: 20/28)
ADVERSARIAL_RATE = 5.0  # attacker requests per second, spread over both routes
ADVERSARIAL_P99_MS = 250.0
MAX_BODY = 2 * 1024 * 1024  # the server's body limit: the attacker's ';' stays just under
MAX_CONNECTIONS = 64  # the open-loop client's keep-alive connections, at most
REQUEST_TIMEOUT_S = 30.0  # a request unanswered this long counts as an error
WARMUP_REQUESTS = 50
RSS_SAMPLE_S = 1.0
SCENARIOS = ("rate", "saturation", "adversarial")


# --------------------------------------------------------------------------- inputs


def canvas_png(digit: np.ndarray, rng: np.random.Generator, side: int = CANVAS_SIDE) -> bytes:
    """A 28x28 MNIST digit as the page sends it: scaled up, drawn as solid black brush ink
    with anti-aliased edges at a random size and place, on an opaque white RGBA canvas."""
    from PIL import Image

    size = int(rng.integers(DIGIT_SIDES[0], DIGIT_SIDES[1] + 1))
    # Upscale at twice the size, threshold into solid ink, box-downscale: a browser's
    # anti-aliased brush edge.
    big = Image.fromarray(digit).resize((2 * size, 2 * size), Image.BILINEAR)
    solid = Image.fromarray(((np.asarray(big) >= 128) * 255).astype(np.uint8))
    ink = np.asarray(solid.resize((size, size), Image.BOX))
    canvas = np.full((side, side), 255, np.uint8)
    y, x = (int(v) for v in rng.integers(0, side - size + 1, 2))
    canvas[y : y + size, x : x + size] = 255 - ink
    rgba = np.dstack([canvas, canvas, canvas, np.full_like(canvas, 255)])
    return _png(Image.fromarray(rgba, "RGBA"))


def canvas_pngs(n: int = CANVAS_COUNT, seed: int = 0) -> list[bytes]:
    """``n`` canvases of MNIST validation digits (needs the MNIST files: DIGITKIT_DATA)."""
    from digitkit.data import load_splits

    digits = load_splits("mnist").x_val
    rng = np.random.default_rng(seed)
    return [canvas_png(digits[i], rng) for i in range(n)]


def digit_png(size: int = CANVAS_SIDE) -> bytes:
    """A hand-drawn-looking 7 in grey PNG (the benchmark's former input; ``--images seven``
    with ``--size 28`` gives the 28x28 figures of earlier RESULTS.md tables)."""
    from PIL import Image, ImageDraw

    k = size / 280
    img = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(img)
    pts = [(70, 55), (140, 52), (210, 55), (175, 125), (140, 190), (120, 235)]
    d.line([(x * k, y * k) for x, y in pts], fill=0, width=max(2, round(20 * k)), joint="curve")
    return _png(img)


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def adversarial_pngs() -> dict[str, bytes]:
    """The worst inputs found by the issue-14 probes (tests/vision/conftest.py)."""
    from PIL import Image, ImageDraw

    bar = Image.new("L", (16000, 40), 255)
    ImageDraw.Draw(bar).rectangle((10, 8, 15990, 31), fill=0)
    grid = np.full((600, 600), 255, np.uint8)
    for dy in (2, 3):
        for dx in (2, 3):
            grid[dy::6, dx::6] = 0
    # 4000 x 4000 RGBA: 16 MP, a 61 MiB buffer in Pillow, just under the decoding limit.
    rgba = Image.new("RGBA", (4000, 4000), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).line([(1950, 600), (2050, 3400)], fill=(0, 0, 0, 255), width=200)
    return {
        "bar 16000x40": _png(bar),
        "dot grid 600x600": _png(Image.fromarray(grid)),
        "RGBA 16 MP": _png(rgba),
    }


def adversarial_requests() -> list[bytes]:
    """Every worst input to both routes, and 2 MiB of ';' as a JSON data URL to both."""
    out = [
        build_request("multipart", png, path)
        for png in adversarial_pngs().values()
        for path in (NUMBER_PATH, DIGIT_PATH)
    ]
    head = b'{"image": "data:'
    semicolons = head + b";" * (MAX_BODY - len(head) - 2) + b'"}'
    out += [_request(path, "application/json", semicolons) for path in (NUMBER_PATH, DIGIT_PATH)]
    return out


# --------------------------------------------------------------------------- HTTP


def build_request(kind: str, png: bytes, path: str) -> bytes:
    """The full HTTP/1.1 request bytes: multipart (the page's form, field ``file``), a JSON
    data URL, or the raw PNG."""
    if kind == "multipart":
        boundary = "digitkitbench"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="drawing.png"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        body += png + f"\r\n--{boundary}--\r\n".encode()
        return _request(path, f"multipart/form-data; boundary={boundary}", body)
    if kind == "json":
        body = json.dumps({"image": "data:image/png;base64," + base64.b64encode(png).decode()})
        return _request(path, "application/json", body.encode())
    return _request(path, "image/png", png)


def _request(path: str, ctype: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            keep = False
    return status, await reader.readexactly(length), keep


class Connection:
    """One keep-alive connection; reopened when the server has closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, request: bytes) -> int:
        """The status of ``request``'s answer (0: no answer in time, or no connection)."""
        for _ in range(2):
            reused = self.streams is not None
            try:
                if not reused:
                    self.streams = await asyncio.open_connection("127.0.0.1", self.port)
                reader, writer = self.streams
                writer.write(request)
                await writer.drain()
                status, _, keep = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT_S)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                self.close()
                if reused and not isinstance(exc, TimeoutError):
                    continue  # the server closed an idle keep-alive connection: a new one
                return 0
            if not keep:
                self.close()
            return status
        return 0

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


@dataclass
class Sample:
    """What one load shape measured."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    wall_s: float = 0.0

    def record(self, status: int, started: float) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.statuses[status] += 1


async def closed_loop(
    port: int, requests: list[bytes], concurrency: int, duration_s: float, total: int | None = None
) -> Sample:
    """``concurrency`` clients, each sending its next request when answered, until
    ``duration_s`` has passed (or ``total`` requests were sent)."""
    sample = Sample()
    deadline = time.perf_counter() + duration_s
    counter = iter(range(total if total is not None else 1 << 62))

    async def client(offset: int) -> None:
        conn = Connection(port)
        try:
            for i in counter:
                if total is None and time.perf_counter() >= deadline:
                    break
                started = time.perf_counter()
                sample.record(await conn.send(requests[(i + offset) % len(requests)]), started)
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    sample.wall_s = time.perf_counter() - t0
    return sample


async def open_loop(port: int, requests: list[bytes], rate: float, duration_s: float) -> Sample:
    """``rate`` requests/s at even intervals for ``duration_s``, each on an idle keep-alive
    connection (a new one while fewer than MAX_CONNECTIONS are open). Latency counts from
    when the request was due."""
    sample = Sample()
    # Idle connections are reused oldest first, so the load spreads over all of them as it
    # does from many users; reusing the newest would keep a few hot connections, all on one
    # process of a multi-process server (each connection stays with the process that
    # accepted it), and leave the others idle.
    idle: deque[Connection] = deque()
    slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def one(request: bytes, due: float) -> None:
        async with slots:
            conn = idle.popleft() if idle else Connection(port)
            sample.record(await conn.send(request), due)
            idle.append(conn)

    t0 = time.perf_counter()
    tasks = []
    for i in range(int(rate * duration_s)):
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.ensure_future(one(requests[i % len(requests)], due)))
    await asyncio.gather(*tasks)
    sample.wall_s = time.perf_counter() - t0
    for conn in idle:
        conn.close()
    return sample


async def attacker(port: int, requests: list[bytes], rate: float, stop: asyncio.Event) -> Counter:
    """The worst inputs in turn at ``rate`` per second (a new connection each, as a hostile
    client would) until ``stop``; returns their statuses."""
    statuses: Counter = Counter()
    running: set[asyncio.Task] = set()

    async def one(request: bytes) -> None:
        conn = Connection(port)
        try:
            statuses[await conn.send(request)] += 1
        finally:
            conn.close()

    i = 0
    t0 = time.perf_counter()
    while not stop.is_set():
        task = asyncio.ensure_future(one(requests[i % len(requests)]))
        running.add(task)
        task.add_done_callback(running.discard)
        i += 1
        with contextlib.suppress(TimeoutError):  # the next attack is due
            await asyncio.wait_for(stop.wait(), max(0.0, t0 + i / rate - time.perf_counter()))
    await asyncio.gather(*running)
    return statuses


async def with_attacker(port: int, load, attack: list[bytes]) -> tuple[Sample, Counter]:
    """Run the coroutine ``load`` while the attacker sends ``attack``."""
    stop = asyncio.Event()
    attack_task = asyncio.ensure_future(attacker(port, attack, ADVERSARIAL_RATE, stop))
    try:
        sample = await load
    finally:
        stop.set()
    return sample, await attack_task


# --------------------------------------------------------------------------- the server


def _process_tree(pid: int) -> set[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(_stat(int(entry))[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, grew = {pid}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # fields from "state" on


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process and its descendants (the uvicorn workers)
    from Linux /proc, None elsewhere. Server CPU per request is the figure that survives a
    busy machine, unlike wall-clock req/s."""
    try:
        ticks = 0
        for p in _process_tree(pid):
            try:
                fields = _stat(p)
                ticks += int(fields[11]) + int(fields[12])
            except (OSError, ValueError, IndexError):
                continue
        return ticks / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def process_rss_mib(pid: int) -> float | None:
    """Resident memory (MiB) of a process and its descendants, from Linux /proc."""
    try:
        total_kib = 0
        for p in _process_tree(pid):
            try:
                with open(f"/proc/{p}/status") as f:
                    total_kib += next(
                        int(line.split()[1]) for line in f if line.startswith("VmRSS:")
                    )
            except (OSError, StopIteration, ValueError):
                continue
        return total_kib / 1024
    except OSError:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, model: str | None, workers: int, processes: int) -> None:
    """Server process: the app ``digitkit serve`` runs, with its uvicorn limits."""
    import uvicorn

    from digitkit.serve import app as serve_app

    try:  # the limits `digitkit serve` applies (a baseline tree may predate them)
        from digitkit.serve.server import ServerSettings

        options = ServerSettings().uvicorn_options()
    except ImportError:
        options = {}
    os.environ[serve_app.ENV_MODEL] = model or ""
    os.environ[serve_app.ENV_WORKERS] = str(workers)
    os.environ[serve_app.ENV_TORCH_THREADS] = "1"
    uvicorn.run(
        "digitkit.serve.app:app_from_env",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=processes if processes > 1 else None,
        log_level="warning",
        access_log=False,
        **options,
    )


@dataclass
class Server:
    label: str
    port: int
    proc: subprocess.Popen | None
    pid: int | None


def start_server(label: str, src: str | None, args: argparse.Namespace) -> Server:
    """A server process importing digitkit from ``src`` (None: this checkout)."""
    port = free_port()
    cmd = [
        sys.executable,
        __file__,
        "--serve",
        str(port),
        "--workers",
        str(args.workers),
        "--processes",
        str(args.processes),
    ]
    if args.model:
        cmd += ["--model", args.model]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    if src:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(src).resolve()), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
    proc = subprocess.Popen(cmd, env=env)
    return Server(label, port, proc, proc.pid)


def wait_ready(server: Server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            raise SystemExit(f"server {server.label} exited with {server.proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server {server.label} not ready in time (is the shipped model there?)")


# --------------------------------------------------------------------------- scenarios


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _ms_per_answer(seconds: float | None, sample: Sample) -> float | None:
    """CPU ``seconds`` per answered (200) request, in ms (None when unknown or none)."""
    if seconds is None or not sample.statuses[200]:
        return None
    return round(seconds * 1000 / sample.statuses[200], 2)


def _row(
    scenario: str,
    server: Server,
    offered: str,
    sample: Sample,
    cpu_s: float | None,
    attack: Counter | None = None,
    client_cpu_s: float | None = None,
) -> dict:
    ms = sample.latencies_ms or [float("nan")]
    errors = sum(n for s, n in sample.statuses.items() if s != 200)
    row = {
        "scenario": scenario,
        "code": server.label,
        "offered": offered,
        "requests": len(sample.latencies_ms),
        "req_per_s": round(sample.statuses[200] / sample.wall_s, 1) if sample.wall_s else 0.0,
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(sample.statuses.items())},
        # Per answered (200) request: a 503 costs next to nothing, and under attack the
        # attacker's work is part of what each answer cost.
        "server_cpu_ms_per_req": _ms_per_answer(cpu_s, sample),
        # The load generator runs on the same cores as the server: what it costs per answer
        # is what the server cannot have (the machine's ceiling is cores / (server + client)).
        "client_cpu_ms_per_req": _ms_per_answer(client_cpu_s, sample),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if attack is not None:
        row["attacker_statuses"] = {str(k): v for k, v in sorted(attack.items())}
    return row


def run_scenario(
    name: str, server: Server, requests: list[bytes], attack: list[bytes], args: argparse.Namespace
) -> dict:
    """One scenario against one server; its row of the table."""
    cpu0 = process_cpu_s(server.pid) if server.pid else None
    client0 = time.process_time()
    attack_statuses = None
    if name == "rate":
        offered = f"{args.rate:g}/s"
        sample = asyncio.run(open_loop(server.port, requests, args.rate, args.duration))
    elif name == "saturation":
        offered = f"{args.concurrency} clients"
        sample = asyncio.run(
            closed_loop(server.port, requests, args.concurrency, args.duration, args.requests)
        )
    elif name == "adversarial":
        offered = f"{args.rate:g}/s + attacker {ADVERSARIAL_RATE:g}/s"
        sample, attack_statuses = asyncio.run(
            with_attacker(
                server.port, open_loop(server.port, requests, args.rate, args.duration), attack
            )
        )
    else:
        raise SystemExit(f"unknown scenario {name!r}: choose from {', '.join(SCENARIOS)}")
    cpu1 = process_cpu_s(server.pid) if server.pid else None
    cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    client = time.process_time() - client0
    return _row(name, server, offered, sample, cpu, attack_statuses, client)


def soak(
    server: Server, requests: list[bytes], attack: list[bytes], args: argparse.Namespace
) -> dict:
    """``rate`` (and the attacker with --soak-adversarial) for --soak seconds, sampling the
    server's RSS every RSS_SAMPLE_S."""
    rss: list[float] = []

    async def sampled() -> tuple[Sample, Counter | None]:
        async def sample_rss() -> None:
            while True:
                value = process_rss_mib(server.pid) if server.pid else None
                if value is not None:
                    rss.append(value)
                await asyncio.sleep(RSS_SAMPLE_S)

        sampler = asyncio.ensure_future(sample_rss())
        load = open_loop(server.port, requests, args.rate, args.soak)
        try:
            if args.soak_adversarial:
                return await with_attacker(server.port, load, attack)
            return await load, None
        finally:
            sampler.cancel()

    cpu0 = process_cpu_s(server.pid) if server.pid else None
    client0 = time.process_time()
    sample, attack_statuses = asyncio.run(sampled())
    cpu1 = process_cpu_s(server.pid) if server.pid else None
    client = time.process_time() - client0
    offered = f"{args.rate:g}/s for {args.soak:g} s" + (
        f" + attacker {ADVERSARIAL_RATE:g}/s" if args.soak_adversarial else ""
    )
    row = _row(
        "soak",
        server,
        offered,
        sample,
        cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None,
        attack_statuses,
        client,
    )
    if rss:
        row.update(
            rss_start_mib=round(rss[0], 1),
            rss_peak_mib=round(max(rss), 1),
            rss_end_mib=round(rss[-1], 1),
            rss_growth_mib=round(rss[-1] - rss[0], 1),
            # Warm-up (allocator arenas, caches) happens early; a leak keeps going. Growth
            # over the second half alone tells the two apart.
            rss_mid_mib=round(rss[len(rss) // 2], 1),
            rss_second_half_growth_mib=round(rss[-1] - rss[len(rss) // 2], 1),
        )
    return row


# --------------------------------------------------------------------------- report


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    return (
        f"{platform.machine()} {model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )


def markdown(rows: list[dict], header: str) -> str:
    lines = [
        header,
        "",
        "| scenario | code | offered | answered req/s | p50 ms | p99 ms | max ms | errors "
        "(statuses) | server CPU ms per answer | client CPU ms per answer | attacker statuses "
        "| RSS MiB start -> middle -> end (peak) | load avg |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---|---|---:|",
    ]
    for r in rows:
        rss = (
            f"{r['rss_start_mib']} -> {r['rss_mid_mib']} -> {r['rss_end_mib']} "
            f"({r['rss_peak_mib']})"
            if "rss_start_mib" in r
            else ""
        )
        attack = ", ".join(f"{k}: {v}" for k, v in r.get("attacker_statuses", {}).items())
        statuses = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
        lines.append(
            f"| {r['scenario']} | {r['code']} | {r['offered']} | {r['req_per_s']} | "
            f"{r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['errors']} "
            f"({statuses}) | {r['server_cpu_ms_per_req']} | {r['client_cpu_ms_per_req']} | "
            f"{attack} | {rss} | "
            f"{r['load_avg_1m']} |"
        )
    return "\n".join(lines)


def median_rows(rows: list[dict]) -> list[dict]:
    """One row per scenario and server: the median of each figure over its repeats."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["code"], r["offered"]), []).append(r)
    out = []
    for rs in groups.values():
        row = dict(rs[0])
        for key in (
            "req_per_s",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "server_cpu_ms_per_req",
            "client_cpu_ms_per_req",
        ):
            values = [r[key] for r in rs if r.get(key) is not None]
            row[key] = round(statistics.median(values), 2) if values else None
        row["errors"] = sum(r["errors"] for r in rs)
        row["statuses"] = dict(sum((Counter(r["statuses"]) for r in rs), Counter()))
        row["load_avg_1m"] = round(statistics.median(r["load_avg_1m"] for r in rs), 2)
        out.append(row)
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from {', '.join(SCENARIOS)}; 'none' for a soak only",
    )
    ap.add_argument(
        "--rate",
        type=float,
        default=100.0,
        help="offered requests/s of the rate and adversarial scenarios",
    )
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per scenario")
    ap.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="closed-loop keep-alive clients of the saturation scenario",
    )
    ap.add_argument(
        "--requests",
        type=int,
        default=None,
        help="saturation: send exactly this many instead of --duration seconds",
    )
    ap.add_argument(
        "--soak",
        type=float,
        default=None,
        metavar="SECONDS",
        help="also run the rate load this long, reporting the server's RSS",
    )
    ap.add_argument(
        "--soak-adversarial",
        action="store_true",
        help="with --soak: the attacker runs during the soak too",
    )
    ap.add_argument(
        "--images",
        choices=["canvas", "seven"],
        default="canvas",
        help="canvas: MNIST validation digits on 280x280 canvases (the page's "
        "PNGs); seven: one drawn 7 of --size pixels (the former input)",
    )
    ap.add_argument("--size", type=int, default=CANVAS_SIDE, help="side of --images seven")
    ap.add_argument("--body", choices=["multipart", "raw", "json"], default="multipart")
    ap.add_argument(
        "--path",
        default=PAGE_PATH,
        help=f"route (default {PAGE_PATH}, the page's; plain {DIGIT_PATH} is "
        "batched by the server)",
    )
    ap.add_argument(
        "--compare",
        metavar="SRC",
        default=None,
        help="also run every scenario against a server importing digitkit from "
        "SRC (e.g. a worktree's src/ of the code before a change)",
    )
    ap.add_argument("--model", default=None, help="model name (default: shipped default)")
    ap.add_argument("--workers", type=int, default=2, help="server inference threads")
    ap.add_argument("--processes", type=int, default=1, help="server processes")
    ap.add_argument(
        "--url-port",
        type=int,
        default=None,
        help="benchmark a server already running on this port instead",
    )
    ap.add_argument(
        "--server-pid",
        type=int,
        default=None,
        help="with --url-port: that server's pid, for its CPU and RSS",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each scenario this many times per server, alternating which goes first, "
        "and also print the medians (a busy machine's figures vary run to run)",
    )
    ap.add_argument("--json", action="store_true", help="also print the rows as JSON")
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve is None:
        if args.rate <= 0 or args.duration <= 0 or not 0 < args.concurrency <= 256:
            ap.error("--rate and --duration must be positive, --concurrency 1..256")
        if args.requests is not None and not 0 < args.requests <= 100_000:
            ap.error("--requests must be 1..100000")
        if not 0 < args.repeat <= 100:
            ap.error("--repeat must be 1..100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.model, args.workers, args.processes)
        return 0
    scenarios = [s for s in args.scenarios.split(",") if s and s != "none"]
    pngs = canvas_pngs() if args.images == "canvas" else [digit_png(args.size)]
    requests = [build_request(args.body, png, args.path) for png in pngs]
    attack = adversarial_requests()
    load_before = os.getloadavg()
    if args.url_port is not None:
        servers = [Server("running", args.url_port, None, args.server_pid)]
    else:
        servers = []
        if args.compare:
            servers.append(start_server("before", args.compare, args))
        servers.append(start_server("after" if args.compare else "this", None, args))
    rows: list[dict] = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        for server in servers:
            wait_ready(server)
            asyncio.run(closed_loop(server.port, requests, args.concurrency, 60.0, WARMUP_REQUESTS))
        # Scenario by scenario, each server in turn: load changes hit both alike. Repeats
        # alternate which server goes first.
        for name in scenarios:
            for k in range(args.repeat):
                for server in servers if k % 2 == 0 else servers[::-1]:
                    rows.append(run_scenario(name, server, requests, attack, args))
        if args.soak:
            rows += [soak(server, requests, attack, args) for server in servers]
    finally:
        for server in servers:
            if server.proc is not None:
                server.proc.terminate()
                server.proc.wait(10)
    header = (
        f"bench_serve.py, {started}, {machine()}; load average "
        f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after; "
        f"{len(pngs)} {args.images} PNG(s) as {args.body} to {args.path}; server: "
        f"{args.processes} process(es), {args.workers} inference threads"
    )
    print(markdown(rows, header))
    if args.repeat > 1:
        print("\n" + markdown(median_rows(rows), "Medians of the repeats:"))
    if args.json:
        print(json.dumps(rows))
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
