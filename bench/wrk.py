"""HTTP load from ``wrk`` (Debian's package): the benchmark's load generator.

The Python client in ``bench.load`` saturates before a bare Flask app does (on one machine it
gave hello 3,054/s where wrk gave 6,050/s), so it would flatten every ratio towards 1. wrk sends
each pre-built request once (``bench/each_once.lua``), over ``clients`` connections on
``threads`` threads, and stops when every request is answered or at the time limit.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.load import Req, Result

SCRIPT = Path(__file__).with_name("each_once.lua")
# No answer on any connection for this long ends the run; what was sent and not answered is
# reported as unanswered (see each_once.lua).
STALL_SECONDS = 3.0


def available() -> bool:
    return shutil.which("wrk") is not None


def raw(req: Req) -> bytes:
    """``req`` as the bytes of one HTTP/1.1 request."""
    parts = urlsplit(req.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{req.method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in req.headers]
    if req.body or req.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(req.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + req.body


def run(
    requests: list[Req], *, clients: int = 16, threads: int = 2, time_limit: float = 60.0
) -> Result:
    """Send each of ``requests`` once with wrk; the answered ones' statuses and latencies."""
    if not requests:
        return Result(count=0, errors=0, seconds=0.0, latencies=[], statuses={})
    if not available():
        raise SystemExit(
            "the benchmark drives its load with wrk: apt-get install wrk "
            "(or LTI_BRIDGE_BENCH_CLIENT=python for the slower Python client)"
        )
    threads = max(1, min(threads, len(requests)))
    clients = max(threads, min(clients, len(requests)))
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        folder = Path(tmp)
        for i in range(threads):
            with (folder / f"requests-{i}.bin").open("wb") as out:
                for req in requests[i::threads]:
                    data = raw(req)
                    out.write(b"%d\n" % len(data) + data)
        parts = urlsplit(requests[0].url)
        base = f"{parts.scheme}://{parts.netloc}/"
        proc = subprocess.Popen(
            ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{int(time_limit) + 1}s",
             "--timeout", "30s", "-s", str(SCRIPT), base, "--", str(folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + time_limit
        seen, quiet_since = "", time.monotonic()
        while proc.poll() is None:
            now = time.monotonic()
            progress = "".join(p.name + p.read_text() for p in sorted(folder.glob("progress-*")))
            if progress != seen:
                seen, quiet_since = progress, now
            done = all((folder / f"done-{i}").exists() for i in range(threads))
            if done or now > deadline or now - quiet_since > STALL_SECONDS:
                proc.send_signal(signal.SIGINT)  # wrk then stops its threads and reports
                break
            time.sleep(0.02)
        try:
            _, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit("wrk did not stop") from None
        summary = folder / "summary.txt"
        if not summary.exists():
            raise SystemExit(f"wrk wrote no summary: {stderr.decode(errors='replace')[-500:]}")
        return parse(summary.read_text())


def parse(text: str) -> Result:
    statuses: dict[int, int] = {}
    spans: list[tuple[float, float]] = []
    socket_errors = unanswered = 0
    percentiles: dict[int, float] = {}
    for line in text.splitlines():
        kind, *values = line.split()
        if kind == "thread":
            if float(values[1]) > 0:
                spans.append((float(values[1]), float(values[2])))
            unanswered += int(values[5]) - int(values[4])
        elif kind == "status":
            statuses[int(values[0])] = statuses.get(int(values[0]), 0) + int(values[1])
        elif kind == "socket_errors":
            socket_errors = int(values[0])
        elif kind == "latency_us":
            percentiles[int(values[0])] = int(values[1]) / 1e6
    ok = sum(n for status, n in statuses.items() if 200 <= status < 400)
    seconds = max(end for _, end in spans) - min(start for start, _ in spans) if spans else 0.0
    return Result(
        count=ok,
        errors=sum(statuses.values()) - ok + socket_errors,
        seconds=seconds,
        latencies=[],
        statuses=statuses,
        socket_errors=socket_errors,
        unanswered=unanswered,
        percentiles=percentiles,
    )
