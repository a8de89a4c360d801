"""What operators see: one structured log line per event, and Prometheus metrics.

Any layer may use it: it needs only the standard library until a metric is first touched, and
then ``prometheus_client``. Metrics are created lazily on purpose: under gunicorn the CLI sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers fork, and ``prometheus_client`` picks its
multiprocess storage once, when it is first imported.

Log lines carry their fields in ``extra={"fields": {...}}`` (see ``log_event``): as one JSON
object per line with ``LTI_BRIDGE_LOG_FORMAT=json``, else as ``key=value`` pairs after the
message. Metric names (all prefixed ``lti_bridge_``):

- ``launches_total{outcome,role}``: LTI launches by what the tool answered;
- ``gate_decisions_total{reason}``: credit gate decisions, ``allowed`` or each refusal reason;
- ``webhooks_total{type,status}``: SIS webhook deliveries by type and HTTP answer;
- ``outbound_request_seconds{service,outcome}``: calls out (``platform_keys``, ``ags``,
  ``sis``, ``registration``);
- ``outbox_deliveries_total{kind,outcome}`` and ``outbox_delivery_seconds{kind}``: one per
  outbox delivery attempt (``log_outbox_delivery``);
- ``outbox_depth{state}`` and ``outbox_oldest_age_seconds{state}``: read at scrape time from
  the callable given to ``register_outbox_probe``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

LOG_FORMATS = ("text", "json")
_HANDLER_MARK = "_lti_bridge_handler"

#: What ``register_outbox_probe`` takes: state -> (rows in that state, age in seconds of the
#: oldest, or None when there is none).
OutboxProbe = Callable[[], Mapping[str, tuple[int, float | None]]]
_outbox_probe: OutboxProbe | None = None


# --- logs ---------------------------------------------------------------------------------------


def log_event(
    logger: logging.Logger, message: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """Log ``message`` with structured ``fields`` (rendered as JSON keys or ``key=value``)."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"fields": fields})


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(item) for item in value) or "-"
    text = str(value)
    if not text:
        return '""'
    return json.dumps(text) if any(ch.isspace() or ch in '"=' for ch in text) else text


class TextFormatter(logging.Formatter):
    """A readable line: ``TIME LEVEL LOGGER message key=value …``."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, record.name, record.getMessage()]
        parts += [f"{key}={_text_value(value)}" for key, value in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    """Send the ``lti_bridge`` loggers to stderr in ``log_format`` (once per process)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    root = logging.getLogger("lti_bridge")
    root.setLevel(level.upper())
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    for handler in root.handlers:
        if getattr(handler, _HANDLER_MARK, False):
            handler.setFormatter(formatter)
            return
    handler = _StderrHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(formatter)
    root.addHandler(handler)


# --- metrics ------------------------------------------------------------------------------------


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.launches = Counter(
            "lti_bridge_launches_total", "LTI launches by outcome.", ["outcome", "role"]
        )
        self.gate_decisions = Counter(
            "lti_bridge_gate_decisions_total",
            "Credit gate decisions: allowed, or each reason a launch was refused.",
            ["reason"],
        )
        self.webhooks = Counter(
            "lti_bridge_webhooks_total", "SIS webhook deliveries by answer.", ["type", "status"]
        )
        self.outbound = Histogram(
            "lti_bridge_outbound_request_seconds",
            "Requests the tool makes, by service (platform_keys, ags, sis, registration).",
            ["service", "outcome"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        self.outbox_deliveries = Counter(
            "lti_bridge_outbox_deliveries_total",
            "Outbox delivery attempts by kind and outcome.",
            ["kind", "outcome"],
        )
        self.outbox_delivery_seconds = Histogram(
            "lti_bridge_outbox_delivery_seconds", "Outbox delivery attempts' duration.", ["kind"]
        )


_metrics: _Metrics | None = None
_metrics_lock = threading.Lock()


def metrics() -> _Metrics:
    """The process's metrics, created on first use (with the default registry).

    Created once under a lock: a fresh gunicorn thread-pool worker's first requests arrive
    together, and a second registration of the same names would fail each one but the first.
    """
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                created = _Metrics()
                if not multiprocess_dir():
                    from prometheus_client import REGISTRY

                    REGISTRY.register(_OutboxCollector())
                _metrics = created
    return _metrics


def multiprocess_dir() -> str:
    """Where gunicorn's workers share their metrics, or "" in a single process."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def register_outbox_probe(probe: OutboxProbe | None) -> None:
    """Have ``/metrics`` report outbox depth and oldest age per state by calling ``probe``."""
    global _outbox_probe
    _outbox_probe = probe


class _OutboxCollector:
    """Outbox depth and oldest age, read when Prometheus scrapes (nothing kept in between)."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        probe = _outbox_probe
        if probe is None:
            return
        depth = GaugeMetricFamily(
            "lti_bridge_outbox_depth", "Outbox rows per state.", labels=["state"]
        )
        oldest = GaugeMetricFamily(
            "lti_bridge_outbox_oldest_age_seconds",
            "Age of the oldest outbox row per state.",
            labels=["state"],
        )
        try:
            reading = probe()
        except Exception:  # noqa: BLE001 - a broken probe must not break the whole scrape
            logging.getLogger("lti_bridge.metrics").exception("outbox probe failed")
            return
        for state, (count, age) in sorted(reading.items()):
            depth.add_metric([state], count)
            oldest.add_metric([state], 0.0 if age is None else age)
        yield depth
        yield oldest

    def describe(self) -> list[Any]:
        # Nothing described up front: the registry then does not call collect() on register.
        return []


def render_metrics() -> tuple[bytes, str]:
    """The exposition text of every metric (all gunicorn workers' in multiprocess mode)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    metrics()
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_OutboxCollector())
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def count_launch(outcome: str, role: str, reasons: tuple[str, ...] | None) -> None:
    """Count one launch, and the gate's decision when it made one."""
    found = metrics()
    found.launches.labels(outcome=outcome, role=role).inc()
    if reasons is not None:
        for reason in reasons or ("allowed",):
            found.gate_decisions.labels(reason=reason).inc()


def count_webhook(type: str, status: int) -> None:
    """Count one SIS webhook delivery by its type (``-`` before the body is read) and answer."""
    metrics().webhooks.labels(type=type, status=str(status)).inc()


@contextmanager
def outbound(service: str) -> Iterator[None]:
    """Time one outgoing request to ``service``; an exception counts as outcome ``error``."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except BaseException:
        outcome = "error"
        raise
    finally:
        metrics().outbound.labels(service=service, outcome=outcome).observe(
            time.perf_counter() - started
        )


def log_outbox_delivery(
    *,
    kind: str,
    key: str,
    target: str,
    attempt: int,
    outcome: str,
    duration_seconds: float,
    status: int | None = None,
    error: str | None = None,
) -> None:
    """Log and count one outbox delivery attempt (one line per delivery, for the relay)."""
    found = metrics()
    found.outbox_deliveries.labels(kind=kind, outcome=outcome).inc()
    found.outbox_delivery_seconds.labels(kind=kind).observe(duration_seconds)
    log_event(
        logging.getLogger("lti_bridge.outbox"),
        "outbox delivery",
        level=logging.INFO if outcome in {"accepted", "sent"} else logging.WARNING,
        kind=kind,
        key=key,
        target=target,
        attempt=attempt,
        outcome=outcome,
        status=status,
        duration_ms=round(duration_seconds * 1000, 1),
        error=error,
    )
