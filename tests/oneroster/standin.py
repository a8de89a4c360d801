"""A loopback OneRoster 1.2 gradebook: token endpoint, ``PUT``/``GET …/results/{sourcedId}``.

Checks what a real SIS checks (HTTP Basic client credentials at the token endpoint, a bearer
token with the right scope on each call, a body whose ``result.sourcedId`` is the one in the
URL), records every request it receives, and misbehaves on request:

- ``fail_rate`` / ``fail_status``: answer that share of result calls with that status (seeded);
- ``outage(seconds)``: refuse everything, the token endpoint too, with 503 for that long;
- ``script(sourced_id, "500", "429:3", "hang:2", "400", …)``: the next calls for one id, in order
  (``429:N`` sends ``Retry-After: N``; ``hang:S`` waits S seconds, then stores and answers 200,
  as a SIS whose answer was lost would);
- ``fail_next(n, status)``: the next n result calls, whatever their id;
- ``latency_ms``: every result call takes that long (a real SIS is not instant).

Run it in-process (``StandIn().start()``), or as ``python -m tests.oneroster`` for another
process, driven through ``POST /_control`` and read through ``GET /_records``.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

RESULTS_PREFIX = "/ims/oneroster/gradebook/v1p2/results/"
SCOPE_CREATEPUT = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createput"
SCOPE_READONLY = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.readonly"
CLIENT_ID = "standin-client"
CLIENT_SECRET = "standin-secret"


@dataclass
class Received:
    """One result call as the stand-in saw it."""

    method: str
    sourced_id: str
    body: Any
    status: int
    #: When the answer was sent, and when the request came in (time.time()).
    at: float
    started: float = 0.0

    def overlaps(self, other: Received) -> bool:
        return self.started < other.at and other.started < self.at


@dataclass
class StandInState:
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    token_lifetime: int = 3600
    fail_rate: float = 0.0
    fail_status: int = 500
    latency_ms: float = 0.0
    outage_until: float = 0.0
    seed: int = 13
    tokens: dict[str, tuple[frozenset[str], float]] = field(default_factory=dict)
    token_requests: int = 0
    results: dict[str, Any] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[str]] = field(default_factory=dict)
    next_faults: list[str] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Read by listen() in the constructor: a short backlog drops the SYNs of a burst of new
    # connections, and the kernel's retransmits then stall a client for 1, 3, 7 seconds.
    request_queue_size = 256


class StandIn:
    """The stand-in server; ``start()`` serves it on a loopback port in daemon threads."""

    def __init__(self, **settings: Any) -> None:
        self.state = StandInState(**settings)
        self.lock = threading.Lock()
        self._rng = random.Random(self.state.seed)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- life -----------------------------------------------------------------------------

    def start(self, port: int = 0) -> StandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        server = _Server(("127.0.0.1", port), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{server.server_port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    def tool_env(self) -> dict[str, str]:
        """The ``LTI_BRIDGE_SIS_*`` settings that point the tool at this stand-in."""
        return {
            "LTI_BRIDGE_SIS_BASE_URL": self.url,
            "LTI_BRIDGE_SIS_TOKEN_URL": self.token_url,
            "LTI_BRIDGE_SIS_CLIENT_ID": self.state.client_id,
            "LTI_BRIDGE_SIS_CLIENT_SECRET": self.state.client_secret,
        }

    # --- faults ---------------------------------------------------------------------------

    def configure(self, **settings: Any) -> None:
        with self.lock:
            for key, value in settings.items():
                if key == "seed":
                    self._rng = random.Random(value)
                if not hasattr(self.state, key):
                    raise ValueError(f"unknown stand-in setting {key!r}")
                setattr(self.state, key, value)

    def outage(self, seconds: float) -> None:
        with self.lock:
            self.state.outage_until = time.monotonic() + seconds

    def script(self, sourced_id: str, *faults: str) -> None:
        with self.lock:
            self.state.scripts.setdefault(sourced_id, []).extend(faults)

    def fail_next(self, count: int, status: int | str = 500) -> None:
        with self.lock:
            self.state.next_faults.extend([str(status)] * count)

    def revoke_tokens(self) -> None:
        with self.lock:
            self.state.tokens.clear()

    def reset(self) -> None:
        """Forget results, records and faults; keep the credentials and the latency."""
        with self.lock:
            self.state.results.clear()
            self.state.received.clear()
            self.state.scripts.clear()
            self.state.next_faults.clear()
            self.state.fail_rate = 0.0
            self.state.outage_until = 0.0

    # --- what it saw ----------------------------------------------------------------------

    @property
    def results(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.state.results)

    @property
    def received(self) -> list[Received]:
        with self.lock:
            return list(self.state.received)

    def puts(self, sourced_id: str | None = None) -> list[Received]:
        return [
            r
            for r in self.received
            if r.method == "PUT" and (sourced_id is None or r.sourced_id == sourced_id)
        ]

    def accepted_counts(self) -> Counter[str]:
        """How many PUTs of each id were answered 2xx."""
        return Counter(r.sourced_id for r in self.puts() if 200 <= r.status < 300)

    def records(self) -> dict[str, Any]:
        with self.lock:
            return {
                "results": dict(self.state.results),
                "received": [asdict(r) for r in self.state.received],
                "token_requests": self.state.token_requests,
            }

    # --- the answers ----------------------------------------------------------------------

    def _fault(self, sourced_id: str) -> str | None:
        with self.lock:
            script = self.state.scripts.get(sourced_id)
            if script:
                return script.pop(0)
            if self.state.next_faults:
                return self.state.next_faults.pop(0)
            if self.state.fail_rate and self._rng.random() < self.state.fail_rate:
                return str(self.state.fail_status)
        return None

    def in_outage(self) -> bool:
        return time.monotonic() < self.state.outage_until

    def issue_token(self, scopes: frozenset[str]) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.state.token_requests += 1
            self.state.tokens[token] = (scopes, time.monotonic() + self.state.token_lifetime)
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.state.token_lifetime,
            "scope": " ".join(sorted(scopes)),
        }

    def token_scopes(self, authorization: str | None) -> frozenset[str] | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        with self.lock:
            found = self.state.tokens.get(authorization[len("Bearer ") :])
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def record(
        self, method: str, sourced_id: str, body: Any, status: int, started: float = 0.0
    ) -> None:
        now = time.time()
        with self.lock:
            self.state.received.append(
                Received(method, sourced_id, body, status, now, started or now)
            )


def _status_info(description: str, code: str = "failure") -> dict[str, Any]:
    return {
        "imsx_codeMajor": code,
        "imsx_severity": "error",
        "imsx_description": description,
    }


class _Handler(BaseHTTPRequestHandler):
    owner: StandIn
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one send: written apart, Nagle's algorithm holds the body back
    # until the client's delayed ACK of the headers (40 ms on Linux) on every answer.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            # A client that gave up (a timeout, a killed relay) is no error of the stand-in's.
            self.close_connection = True

    def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout, or a relay killed mid-call): as with a real SIS,
            # what was stored stays stored.
            self.close_connection = True

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- routes ---------------------------------------------------------------------------

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        raw = self._body()
        if self.path == "/token":
            self._token(raw)
        elif self.path == "/_control":
            self._control(raw)
        else:
            self._answer(404, _status_info("no such endpoint"))

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/_records":
            self._answer(200, self.owner.records())
        elif self.path.startswith(RESULTS_PREFIX):
            self._result("GET", b"")
        else:
            self._answer(404, _status_info("no such endpoint"))

    def do_PUT(self) -> None:  # noqa: N802
        raw = self._body()
        if self.path.startswith(RESULTS_PREFIX):
            self._result("PUT", raw)
        else:
            self._answer(404, _status_info("no such endpoint"))

    def _token(self, raw: bytes) -> None:
        owner = self.owner
        if owner.in_outage():
            self._answer(503, _status_info("the SIS is down"))
            return
        auth = self.headers.get("Authorization", "")
        expected = f"{owner.state.client_id}:{owner.state.client_secret}".encode()
        if not auth.startswith("Basic ") or base64.b64decode(auth[6:]) != expected:
            self._answer(401, {"error": "invalid_client"})
            return
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            self._answer(400, {"error": "unsupported_grant_type"})
            return
        scopes = frozenset(form.get("scope", "").split())
        allowed = {SCOPE_CREATEPUT, SCOPE_READONLY}
        if not scopes or not scopes <= allowed:
            self._answer(400, {"error": "invalid_scope"})
            return
        self._answer(200, owner.issue_token(scopes))

    def _result(self, method: str, raw: bytes) -> None:
        owner = self.owner
        started = time.time()
        sourced_id = unquote(self.path[len(RESULTS_PREFIX) :])
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        if owner.in_outage():
            owner.record(method, sourced_id, body, 503, started)
            self._answer(503, _status_info("the SIS is down"))
            return
        scopes = owner.token_scopes(self.headers.get("Authorization"))
        wanted = SCOPE_CREATEPUT if method == "PUT" else SCOPE_READONLY
        if scopes is None or (wanted not in scopes and SCOPE_CREATEPUT not in scopes):
            owner.record(method, sourced_id, body, 401, started)
            self._answer(401, _status_info("missing, expired or insufficient bearer token"))
            return
        if owner.state.latency_ms:
            time.sleep(owner.state.latency_ms / 1000)
        fault = owner._fault(sourced_id) if method == "PUT" else None
        if fault is not None:
            kind, _, arg = fault.partition(":")
            if kind == "hang":
                time.sleep(float(arg or 30))
            else:
                status = int(kind)
                headers = {"Retry-After": arg} if arg else None
                owner.record(method, sourced_id, body, status, started)
                self._answer(status, _status_info(f"injected {status}"), headers)
                return
        if method == "GET":
            with owner.lock:
                found = owner.state.results.get(sourced_id)
            owner.record(method, sourced_id, None, 200 if found else 404, started)
            if found is None:
                self._answer(404, _status_info(f"no result {sourced_id}", "failure"))
            else:
                self._answer(200, found)
            return
        problem = _check_result(sourced_id, body)
        if problem:
            owner.record(method, sourced_id, body, 400, started)
            self._answer(400, _status_info(problem))
            return
        with owner.lock:
            created = sourced_id not in owner.state.results
            owner.state.results[sourced_id] = body
        owner.record(method, sourced_id, body, 201 if created else 200, started)
        self._answer(201 if created else 200, body)

    def _control(self, raw: bytes) -> None:
        try:
            command = json.loads(raw or b"{}")
            if "outage" in command:
                self.owner.outage(float(command.pop("outage")))
            if command.pop("reset", False):
                self.owner.reset()
            for sourced_id, faults in command.pop("script", {}).items():
                self.owner.script(sourced_id, *faults)
            self.owner.configure(**command)
        except (ValueError, TypeError) as exc:
            self._answer(400, {"error": str(exc)})
            return
        self._answer(204)


REQUIRED = ("sourcedId", "status", "lineItem", "student", "scoreStatus", "score", "textScore")


def _check_result(sourced_id: str, body: Any) -> str | None:
    """What a OneRoster 1.2 SIS would refuse about a ``PUT …/results/{id}`` body, if anything."""
    if not isinstance(body, dict) or not isinstance(body.get("result"), dict):
        return "the body must be a JSON object with a 'result' object"
    result = body["result"]
    missing = [name for name in REQUIRED if name not in result]
    if missing:
        return f"result lacks {', '.join(missing)}"
    if result["sourcedId"] != sourced_id:
        return f"result.sourcedId {result['sourcedId']!r} is not the URL's {sourced_id!r}"
    return None


def sample_result(
    sourced_id: str, *, section: str = "SEC-1", student: str = "stu-1", score: float = 91.5
) -> dict[str, Any]:
    """A CONTRACT §5 result body, for tests that need one without computing a grade."""
    return {
        "result": {
            "sourcedId": sourced_id,
            "status": "active",
            "dateLastModified": "2024-03-20T12:00:00Z",
            "lineItem": {"sourcedId": f"{section}-final"},
            "student": {"sourcedId": student},
            "class": {"sourcedId": section},
            "scoreStatus": "fully graded",
            "score": score,
            "textScore": "A-" if score >= 90 else "B",
            "scoreDate": "2024-03-20",
            "metadata": {
                "ext:termCode": "2024-S1",
                "ext:creditHours": 3,
                "ext:lastAttendDate": None,
                "ext:submissionVersion": 1,
                "ext:changeReason": None,
            },
        }
    }
