"""Send one signed SIS event to a tool, as the SIS would: ``lti-bridge events send`` (a
connection check for a new installation, and the walkthrough's stand-in for the SIS).

Registration-bearing types carry a full snapshot (CONTRACT §4) of one section in a session whose
enrollment window is open today; the tuition status follows the type. The sequence is the current
time in milliseconds, so a later send wins over an earlier one.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from lti_bridge.adapters.sis.signature import decode_secret, sign
from lti_bridge.domain.sis import SisEventType

TUITION_BY_TYPE = {
    "tuition.paid": "paid",
    "tuition.payment_failed": "failed",
    "tuition.refunded": "refunded",
}
STATUS_BY_TYPE = {
    "enrollment.dropped": "dropped",
    "enrollment.withdrawn": "withdrawn",
    "enrollment.canceled": "canceled",
}
EVENT_TYPES = tuple(sorted(item.value for item in SisEventType))


def session_around(today: date, code: str) -> dict[str, str]:
    """A session that started a week before ``today``, its enrollment window still open."""
    starts = today - timedelta(days=7)
    ends = starts + timedelta(days=55)
    return {
        "code": code,
        "starts_on": starts.isoformat(),
        "ends_on": ends.isoformat(),
        "enrollment_opens_at": f"{(starts - timedelta(days=14)).isoformat()}T00:00:00Z",
        "enrollment_closes_at": f"{(ends - timedelta(days=14)).isoformat()}T23:59:59Z",
    }


def build_event(
    event_type: str,
    student: str,
    *,
    section: str,
    course: str,
    session_code: str,
    tuition: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The body the SIS would send for ``event_type`` about ``student``."""
    now = now or datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    sequence = int(now.timestamp() * 1000)
    if event_type.startswith("student.") or event_type == "webhook.test":
        return {
            "type": event_type,
            "timestamp": stamp,
            "data": {"sequence": sequence, "student": {"sis_id": student}},
        }
    return {
        "type": event_type,
        "timestamp": stamp,
        "data": {
            "sequence": sequence,
            "student": {"sis_id": student, "email": None, "platform_user_id": None},
            "registration": {
                "sis_id": f"reg-{student}-{section}",
                "status": STATUS_BY_TYPE.get(event_type, "registered"),
                "enrolled_at": stamp,
                "section": {"sis_id": section, "course_code": course, "credit_hours": 3},
                "session": session_around(now.date(), session_code),
            },
            "tuition": {
                "status": TUITION_BY_TYPE.get(event_type, tuition or "unpaid"),
                "amount_cents": 200100,
                "currency": "USD",
            },
        },
    }


def webhook_url(url: str) -> str:
    """The tool's base URL or its webhook URL, as the webhook URL."""
    url = url.rstrip("/")
    return url if url.endswith("/webhooks/sis") else url + "/webhooks/sis"


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    webhook_id: str


def send_event(
    http: requests.Session, url: str, secret: str, event: dict[str, Any], *, timeout: float = 10
) -> Answer:
    """Sign ``event`` with ``secret`` (Standard Webhooks ``v1``) and POST it; return the answer.

    Raises ``SecretError`` for an unusable secret and ``requests.RequestException`` when the
    tool cannot be reached.
    """
    key = decode_secret(secret)
    body = json.dumps(event).encode()
    webhook_id = f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time())
    response = http.post(
        webhook_url(url),
        data=body,
        headers={
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(key, webhook_id, timestamp, body),
            "Content-Type": "application/json",
        },
        timeout=timeout,
    )
    return Answer(response.status_code, response.text, webhook_id)
