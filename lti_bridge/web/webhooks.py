"""``POST /webhooks/sis``: signed SIS events (CONTRACT §4), and their OpenAPI description.

Order matters: size, then signature over the raw bytes, then JSON, then schema, then one
transaction that records the webhook id and applies the effect. Nothing rejected is stored.
"""

from __future__ import annotations

import json
import logging
import math
import time
from functools import lru_cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Response, jsonify, make_response, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from lti_bridge import telemetry
from lti_bridge.adapters.sis.signature import SecretError, SignatureError, WebhookVerifier
from lti_bridge.domain.errors import ConcurrentWriteError, StorageUnavailableError
from lti_bridge.domain.sis import DeliveryOutcome
from lti_bridge.services.sis_events import apply_sis_event
from lti_bridge.telemetry import log_event
from lti_bridge.web import schemas
from lti_bridge.web.context import services
from lti_bridge.web.errors import PROBLEM_JSON, problem

bp = Blueprint("webhooks", __name__)
log = logging.getLogger("lti_bridge.webhooks")

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def _reject(
    seen: dict[str, Any],
    status: int,
    error: str,
    detail: str,
    *,
    errors: dict[str, Any] | None = None,
) -> ResponseReturnValue:
    seen.update(error=error, detail=errors or detail)
    return problem(status, error, detail, errors=errors)


@lru_cache(maxsize=8)
def _verifier(secrets: tuple[str, ...], tolerance: int) -> WebhookVerifier:
    # Decoding the secrets once per process, not per delivery.
    return WebhookVerifier.from_secrets(secrets, tolerance)


def _read_body(limit: int) -> bytes | None:
    """Return the body, or None when it is larger than ``limit`` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    # Read one byte more than allowed: a body without (or lying about) its length is caught too.
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else body


def _reject_constant(value: str) -> None:
    raise ValueError(f"{value} is not JSON")


def _finite_float(text: str) -> float:
    # 1e400 parses to inf, which no JSON column (nor the SIS) could take back.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


MAX_NESTING = 32


def _body_problem(value: Any, limit: int = MAX_NESTING) -> str | None:
    """What keeps the parsed body from being stored as it is, or None.

    Arrays and objects nesting deeper than ``limit``; a NUL character or an unpaired surrogate
    in any string, key or value, ignored fields included: the body is kept for audit, and
    PostgreSQL refuses both in its JSON where SQLite would store them.
    """
    # Checked without recursion: a body the parser just managed could still overflow the stack
    # when it is serialised again for storage, many frames further down.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "the body holds a NUL character (\\u0000)"
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return "the body holds an unpaired surrogate: not valid Unicode"
        elif isinstance(item, dict | list):
            if depth > limit:
                return f"the body nests deeper than {limit} levels"
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


@bp.post("/webhooks/sis")
def receive_sis_event() -> ResponseReturnValue:
    """Verify, validate and apply one SIS event; log one line and count it, whatever the answer."""
    started = time.perf_counter()
    seen: dict[str, Any] = {}
    response = make_response(_receive(seen))
    status = response.status_code
    event_type = str(seen.get("type") or "-")[:64]
    telemetry.count_webhook(event_type, status)
    log_event(
        log,
        "SIS delivery",
        level=logging.INFO if status < 400 else logging.WARNING,
        type=event_type,
        webhook_id=(request.headers.get("webhook-id") or "")[:255] or None,
        sequence=seen.get("sequence"),
        answer=status,
        outcome=seen.get("outcome") or seen.get("error"),
        detail=seen.get("detail"),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return response


def _receive(seen: dict[str, Any]) -> ResponseReturnValue:
    svc = services()
    settings = svc.settings
    if not settings.webhook_secrets:
        return _reject(seen, 503, "webhooks_disabled", "no webhook secret is configured")
    try:
        verifier = _verifier(settings.webhook_secrets, settings.webhook_tolerance_seconds)
    except SecretError as exc:
        log.error("LTI_BRIDGE_WEBHOOK_SECRETS is unusable: %s", exc)
        return _reject(seen, 503, "webhooks_misconfigured", "the webhook secret is not usable")

    limit = settings.webhook_max_body_bytes
    body = _read_body(limit)
    if body is None:
        return _reject(seen, 413, "payload_too_large", f"the body must be at most {limit} bytes")

    try:
        webhook_id = verifier.verify(request.headers, body, time.time())
    except SignatureError as exc:
        return _reject(seen, 401, "invalid_signature", str(exc))

    try:
        # NaN and Infinity are not JSON, whatever Python's parser allows by default.
        payload = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        return _reject(seen, 400, "invalid_json", f"the body is not JSON: {exc}")
    if isinstance(payload, dict) and isinstance(payload.get("type"), str):
        seen["type"] = payload["type"]
    problem_text = _body_problem(payload)
    if problem_text is not None:
        return _reject(seen, 400, "invalid_json", problem_text)

    try:
        event = schemas.load_event(payload)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return _reject(
            seen, 422, "invalid_event", "the event does not match the schema", errors=messages
        )

    seen.update(type=event.type.value, sequence=event.sequence)
    try:
        applied = apply_sis_event(event, webhook_id, uow=svc.uow(), clock=svc.clock)
    except ConcurrentWriteError as exc:
        # Concurrent copies of one delivery never get here (the webhook id insert is ON CONFLICT
        # DO NOTHING and answers 204). Anything else is retried rather than acknowledged: the
        # retry is then applied, or found to be a duplicate, and never lost.
        seen.update(error="conflict", detail=str(exc))
        return problem(
            503, "conflict", "try again later", headers={"Retry-After": str(exc.retry_after)}
        )
    except StorageUnavailableError as exc:
        # The database is down or restarting, the pool is exhausted, or PostgreSQL broke a
        # deadlock: nothing was acknowledged, so the SIS retries and nothing is lost. Never a
        # 500, which some senders stop retrying.
        seen.update(error="database_unavailable", detail=str(exc))
        return problem(
            503,
            "database_unavailable",
            "try again later",
            headers={"Retry-After": str(exc.retry_after)},
        )

    seen.update(outcome=applied.outcome.value, detail=applied.reason or None)
    if applied.outcome is DeliveryOutcome.IGNORED:
        return jsonify(outcome=applied.outcome.value, detail=applied.reason), 202
    return Response(status=204)


@bp.get("/webhooks/sis/openapi.json")
def openapi() -> ResponseReturnValue:
    """Describe the webhook endpoint as an OpenAPI 3 document."""
    return jsonify(openapi_document())


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """Build the OpenAPI 3 document of ``POST /webhooks/sis`` from the marshmallow schemas."""
    spec = APISpec(
        title="lti_bridge SIS webhooks",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Signed per Standard Webhooks 1.0; unknown fields are ignored.",
        },
    )
    events = {
        "RegistrationEvent": schemas.RegistrationEventSchema,
        "StudentEvent": schemas.StudentEventSchema,
        "IgnoredEvent": schemas.IgnoredEventSchema,
    }
    for name, schema in events.items():
        spec.components.schema(name, schema=schema)
    spec.components.schema(
        "Problem",
        {
            "type": "object",
            "description": "RFC 9457 problem details, with a stable code in error.",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "error": {"type": "string"},
                "errors": {"type": "object", "description": "Each bad field: what is wrong."},
            },
            "required": ["type", "title", "status", "detail", "error"],
        },
    )
    headers = [
        {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
        for name in SIGNATURE_HEADERS
    ]

    def answer(text: str) -> dict[str, Any]:
        return {
            "description": text,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }

    spec.path(
        path="/webhooks/sis",
        operations={
            "post": {
                "operationId": "receiveSisEvent",
                "summary": "Receive one signed SIS event",
                "parameters": headers,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": f"#/components/schemas/{name}"} for name in events
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "204": {"description": "Applied, already applied, or an older sequence."},
                    "202": {"description": "A known type the tool does not act on."},
                    "400": answer("The body is not JSON."),
                    "401": answer("Missing or bad signature, or a stale timestamp."),
                    "413": answer("The body is too large."),
                    "422": answer("Schema error; errors names each bad field."),
                    "503": answer("No webhook secret configured, or the database is down."),
                },
            }
        },
    )
    return spec.to_dict()
