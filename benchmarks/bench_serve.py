"""Load benchmark of the web app: a bounded number of single-digit PNG requests from
concurrent keep-alive clients on 127.0.0.1; reports requests/s and latency percentiles.

The server runs in its own process (``digitkit serve``'s app on uvicorn), so client and
server do not share a GIL; the client is a minimal asyncio HTTP/1.1 loop, so it costs the
2-core machine as little CPU as possible.

    python benchmarks/bench_serve.py                       # 2000 multipart POSTs, 8 clients
    python benchmarks/bench_serve.py --requests 4000 --concurrency 16 --body raw
    python benchmarks/bench_serve.py --json                # one JSON line, for RESULTS.md

Target on the 2-core reference machine: >= 300 req/s, p99 <= 50 ms, zero errors.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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


def digit_png(size: int = 280) -> bytes:
    """A hand-drawn-looking 7 as the page's canvas sends it: black strokes on white."""
    from PIL import Image, ImageDraw

    k = size / 280
    img = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(img)
    pts = [(70, 55), (140, 52), (210, 55), (175, 125), (140, 190), (120, 235)]
    d.line([(x * k, y * k) for x, y in pts], fill=0, width=max(2, round(20 * k)), joint="curve")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def build_request(kind: str, png: bytes, path: str) -> bytes:
    """The full HTTP/1.1 request bytes (identical for every request of a run)."""
    if kind == "multipart":
        boundary = "digitkitbench"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"digit.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
        body += png + f"\r\n--{boundary}--\r\n".encode()
        ctype = f"multipart/form-data; boundary={boundary}"
    elif kind == "json":
        body = json.dumps({"image": "data:image/png;base64," + base64.b64encode(png).decode()})
        body, ctype = body.encode(), "application/json"
    else:
        body, ctype = png, "image/png"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    return status, await reader.readexactly(length)


async def client(port: int, request: bytes, count: int, latencies: list[float],
                 statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status, _ = await read_response(reader)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def load(port: int, request: bytes, total: int, concurrency: int
               ) -> tuple[float, list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    share = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]
    t0 = time.perf_counter()
    await asyncio.gather(*(client(port, request, n, latencies, statuses) for n in share if n))
    return time.perf_counter() - t0, latencies, statuses


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # fields from "state" on


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process and its descendants (the uvicorn workers)
    from Linux /proc, None elsewhere. Server CPU per request is the figure that survives a
    busy machine, unlike wall-clock req/s."""
    try:
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
        ticks = 0
        for p in tree:
            try:
                fields = _stat(p)
                ticks += int(fields[11]) + int(fields[12])
            except (OSError, ValueError, IndexError):
                continue
        return ticks / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, model: str | None, workers: int, processes: int) -> None:
    """Server process: the same app ``digitkit serve`` runs (same defaults)."""
    import uvicorn

    from digitkit.serve import app as serve_app

    os.environ[serve_app.ENV_MODEL] = model or ""
    os.environ[serve_app.ENV_WORKERS] = str(workers)
    os.environ[serve_app.ENV_TORCH_THREADS] = "1"
    uvicorn.run("digitkit.serve.app:app_from_env", factory=True, host="127.0.0.1", port=port,
                workers=processes if processes > 1 else None, log_level="warning",
                access_log=False)


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server not ready in time (is the shipped model there?)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="measured requests (bounded)")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent keep-alive clients")
    ap.add_argument("--warmup", type=int, default=100, help="unmeasured requests first")
    ap.add_argument("--body", choices=["multipart", "raw", "json"], default="multipart")
    ap.add_argument("--path", default="/api/predict")
    ap.add_argument("--size", type=int, default=280, help="side of the PNG (the canvas: 280)")
    ap.add_argument("--model", default=None, help="model name (default: shipped default)")
    ap.add_argument("--workers", type=int, default=2, help="server inference threads")
    ap.add_argument("--processes", type=int, default=1, help="server processes")
    ap.add_argument("--url-port", type=int, default=None,
                    help="benchmark a server already running on this port instead")
    ap.add_argument("--server-pid", type=int, default=None,
                    help="with --url-port: that server's pid, to report its CPU per request")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.model, args.workers, args.processes)
        return 0
    if not 0 < args.requests <= 100_000 or not 0 < args.concurrency <= 256:
        ap.error("--requests must be 1..100000 and --concurrency 1..256")

    proc = None
    port = args.url_port
    pid = args.server_pid
    if port is None:
        port = free_port()
        cmd = [sys.executable, __file__, "--serve", str(port), "--workers", str(args.workers),
               "--processes", str(args.processes)]
        if args.model:
            cmd += ["--model", args.model]
        proc = subprocess.Popen(cmd)
        pid = proc.pid
    try:
        wait_ready(port, proc) if proc else None
        request = build_request(args.body, digit_png(args.size), args.path)
        if args.warmup:
            asyncio.run(load(port, request, args.warmup, args.concurrency))
        cpu0 = process_cpu_s(pid) if pid else None
        wall, lat, statuses = asyncio.run(load(port, request, args.requests, args.concurrency))
        cpu1 = process_cpu_s(pid) if pid else None
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    errors = sum(n for s, n in statuses.items() if s != 200)
    ms = [v * 1000 for v in lat]
    report = {
        "requests": len(lat), "concurrency": args.concurrency, "body": args.body,
        "path": args.path, "png_side": args.size, "server_workers": args.workers,
        "server_processes": args.processes,
        "req_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(percentile(ms, 50), 2), "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2), "errors": errors,
        "server_cpu_ms_per_req": (round((cpu1 - cpu0) * 1000 / len(lat), 3)
                                  if cpu0 is not None and cpu1 is not None else None),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['requests']} requests, {args.concurrency} clients, {args.body} PNG "
              f"{args.size}px -> {report['req_per_s']} req/s, p50 {report['p50_ms']} ms, "
              f"p90 {report['p90_ms']} ms, p99 {report['p99_ms']} ms, max {report['max_ms']} "
              f"ms, errors {errors} {report['statuses']}; server CPU "
              f"{report['server_cpu_ms_per_req']} ms/req (load avg {report['load_avg_1m']} on "
              f"{report['cpus']} CPUs)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
