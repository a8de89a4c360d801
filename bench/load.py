"""Bounded concurrent load from separate processes: N clients, each a thread, each request once.

Each client sends its share of a pre-built list of requests (so every launch is unique) over its
own connection, reconnecting when the server closes it (gunicorn's sync workers do after each
response). Stops at the end of the list or at the time limit, whichever comes first.
"""

from __future__ import annotations

import http.client
import multiprocessing
import statistics
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Req:
    method: str
    url: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Result:
    count: int
    errors: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    server_cpu_ms: float = 0.0
    database_cpu_ms: float = 0.0
    socket_errors: int = 0
    # Requests the load generator lost or never sent before the run ended (wrk, see
    # bench/wrk.py): not measured, and not counted as the server's errors.
    unanswered: int = 0
    # Latency percentiles (seconds) when the load generator reports them rather than each
    # latency (wrk does).
    percentiles: dict[int, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            if not self.percentiles:
                return 0.0
            # The nearest reported percentile at or above ``p``.
            above = [q for q in sorted(self.percentiles) if q >= p]
            return self.percentiles[above[0] if above else max(self.percentiles)]
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    @classmethod
    def combined(cls, parts: list[Result]) -> Result:
        """One figure from several rounds of it: counts, time and CPU added up."""
        statuses: dict[int, int] = {}
        for part in parts:
            for status, n in part.statuses.items():
                statuses[status] = statuses.get(status, 0) + n
        count = sum(part.count for part in parts)
        percentiles = {
            # Of rounds of about the same size, the worst round's figure: an upper bound.
            q: max(part.percentiles.get(q, 0.0) for part in parts)
            for q in {q for part in parts for q in part.percentiles}
        }
        return cls(
            count=count,
            errors=sum(part.errors for part in parts),
            seconds=sum(part.seconds for part in parts),
            latencies=[lat for part in parts for lat in part.latencies],
            statuses=statuses,
            server_cpu_ms=sum(part.server_cpu_ms * part.count for part in parts) / max(1, count),
            database_cpu_ms=sum(part.database_cpu_ms * part.count for part in parts)
            / max(1, count),
            socket_errors=sum(part.socket_errors for part in parts),
            unanswered=sum(part.unanswered for part in parts),
            percentiles=percentiles,
        )

    def summary(self) -> str:
        med = self.percentile(50) * 1000
        if self.latencies:
            med = statistics.median(self.latencies) * 1000
        return (
            f"{self.count} requests in {self.seconds:.2f}s = {self.throughput:.0f}/s; "
            f"p50 {med:.1f} ms, p99 {self.percentile(99) * 1000:.1f} ms; errors {self.errors}; "
            f"statuses {dict(sorted(self.statuses.items()))}"
            + (f"; unanswered {self.unanswered}" if self.unanswered else "")
        )


def _client(requests: list[Req], deadline: float, out: list[tuple[float, int]]) -> None:
    conn: http.client.HTTPConnection | None = None
    for req in requests:
        if time.time() > deadline:
            break
        parts = urlsplit(req.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        started = time.perf_counter()
        status = 0
        for _attempt in range(2):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                conn.request(req.method, path, body=req.body or None, headers=dict(req.headers))
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                break
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                status = 0
        out.append((time.perf_counter() - started, status))
    if conn is not None:
        conn.close()


def _process(requests: list[Req], clients: int, time_limit: float, queue: object) -> None:
    deadline = time.time() + time_limit
    outs: list[list[tuple[float, int]]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(target=_client, args=(requests[i::clients], deadline, outs[i]))
        for i in range(clients)
    ]
    began = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ended = time.time()
    queue.put(([item for out in outs for item in out], began, ended))  # type: ignore[attr-defined]


def run(
    requests: list[Req], *, clients: int = 16, processes: int = 2, time_limit: float = 60.0
) -> Result:
    """Send ``requests`` with ``clients`` concurrent clients spread over ``processes``."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    per_process = max(1, clients // processes)
    procs = [
        ctx.Process(
            target=_process, args=(requests[i::processes], per_process, time_limit, queue)
        )
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    items: list[tuple[float, int]] = []
    spans: list[tuple[float, float]] = []
    for _ in procs:
        got, began, ended = queue.get(timeout=time_limit + 120)
        items.extend(got)
        spans.append((began, ended))
    # Measured from the first client's start to the last one's end, not counting process spawn.
    seconds = max(end for _, end in spans) - min(start for start, _ in spans)
    for proc in procs:
        proc.join(timeout=10)
    statuses: dict[int, int] = {}
    for _latency, status in items:
        statuses[status] = statuses.get(status, 0) + 1
    ok = [lat for lat, status in items if 200 <= status < 400]
    return Result(
        count=len(ok),
        errors=len(items) - len(ok),
        seconds=seconds,
        latencies=ok,
        statuses=statuses,
    )
