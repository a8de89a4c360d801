"""Standard Webhooks 1.0 signatures (symmetric ``v1``), checked over the raw body bytes.

Framework-free on purpose: the view hands in headers and bytes, and gets the webhook id back or a
``SignatureError`` saying why not. The reference library's ``verify`` decodes the body as text and
accepts fractional timestamps; this one signs exactly the bytes received and wants whole seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lti_bridge.domain.errors import LtiBridgeError

SECRET_PREFIX = "whsec_"
# Bounded so a hostile header cannot make us hash or store unbounded input, and printable ASCII so
# the id is safe to log and to use as a key.
_WEBHOOK_ID = re.compile(r"[\x21-\x7e]{1,255}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MAX_SIGNATURES = 16


class SignatureError(LtiBridgeError):
    """A delivery's signature headers are missing, malformed, stale or do not match."""

    public_message = "The webhook signature could not be verified."


class SecretError(LtiBridgeError):
    """A configured webhook secret is not a ``whsec_`` base64 key."""


def decode_secret(secret: str) -> bytes:
    """Return the HMAC key of a ``whsec_…`` secret (base64 after the prefix)."""
    body = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        # Secrets are sometimes shared without their base64 padding; restore it.
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("webhook secret is not valid base64 after whsec_") from None
    if not key:
        raise SecretError("webhook secret is empty")
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``v1,<base64>`` signature of ``body`` for ``webhook_id`` at ``timestamp``."""
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class WebhookVerifier:
    """Verify deliveries against one or more keys (several during secret rotation)."""

    keys: tuple[bytes, ...]
    tolerance_seconds: int = 300

    @classmethod
    def from_secrets(cls, secrets: Iterable[str], tolerance_seconds: int = 300) -> WebhookVerifier:
        """Build a verifier from ``whsec_…`` secrets."""
        return cls(tuple(decode_secret(s) for s in secrets), tolerance_seconds)

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> str:
        """Return the delivery's webhook id, or raise ``SignatureError`` saying why not."""
        webhook_id = headers.get("webhook-id") or ""
        raw_timestamp = (headers.get("webhook-timestamp") or "").strip()
        raw_signatures = headers.get("webhook-signature") or ""
        missing = [
            name
            for name, value in (
                ("webhook-id", webhook_id),
                ("webhook-timestamp", raw_timestamp),
                ("webhook-signature", raw_signatures),
            )
            if not value
        ]
        if missing:
            raise SignatureError(f"missing header(s): {', '.join(missing)}")
        if not _WEBHOOK_ID.fullmatch(webhook_id):
            raise SignatureError("webhook-id must be 1-255 printable ASCII characters")
        if not _TIMESTAMP.fullmatch(raw_timestamp):
            raise SignatureError("webhook-timestamp must be whole unix seconds")
        timestamp = int(raw_timestamp)
        if timestamp < now - self.tolerance_seconds:
            raise SignatureError(f"webhook-timestamp {timestamp} is too old (now {int(now)})")
        if timestamp > now + self.tolerance_seconds:
            raise SignatureError(f"webhook-timestamp {timestamp} is in the future (now {int(now)})")

        offered = self._offered(raw_signatures)
        if not offered:
            raise SignatureError("webhook-signature holds no v1 signature")
        for key in self.keys:
            expected = base64.b64decode(sign(key, webhook_id, timestamp, body)[3:])
            # Every offered signature is compared in constant time; one match is enough.
            if any(hmac.compare_digest(expected, candidate) for candidate in offered):
                return webhook_id
        raise SignatureError("no signature matches a configured secret")

    @staticmethod
    def _offered(header: str) -> list[bytes]:
        offered: list[bytes] = []
        for item in header.split()[:_MAX_SIGNATURES]:
            version, _, value = item.partition(",")
            # Other versions (v1a, asymmetric) are skipped, as the specification asks.
            if version != "v1" or not value:
                continue
            try:
                offered.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                continue
        return offered
