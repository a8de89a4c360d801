"""Platforms' public keys, fetched once and kept parsed in memory.

pylti1p3 fetches the platform's key set on every launch. Here a key set is cached for its
``Cache-Control: max-age`` (default one hour); an unknown ``kid`` triggers at most one refetch per
``min_refetch`` seconds per key set, so a platform's key rotation works without a restart and a
flood of made-up ``kid``s cannot turn the tool into a request amplifier.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk

from lti_bridge import telemetry
from lti_bridge.domain.errors import LaunchError

_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)


def _parsed(item: dict[str, Any]) -> rsa.RSAPublicKey | None:
    """A JWK parsed once per fetch for ``cryptography``'s verify; None unless it is RSA."""
    key = jwk.JWK(**item)
    public = key.get_op_key("verify") if key.get("kty") == "RSA" else None
    return public if isinstance(public, rsa.RSAPublicKey) else None


@dataclass
class _KeySet:
    keys: dict[str, rsa.RSAPublicKey | None]
    expires_at: float
    fetched_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class PlatformKeyCache:
    def __init__(
        self,
        http: requests.Session,
        *,
        timeout: float = 10.0,
        default_max_age: int = 3600,
        min_refetch: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._default_max_age = default_max_age
        self._min_refetch = min_refetch
        self._clock = clock
        self._sets: dict[str, _KeySet] = {}
        self._lock = threading.Lock()

    def rsa_key(self, key_set_url: str, kid: str) -> rsa.RSAPublicKey:
        """The RSA public key ``kid`` from ``key_set_url``, fetching only when needed."""
        public = self._find(key_set_url, kid)
        if public is None:
            raise LaunchError(
                f"the platform key {kid!r} in {key_set_url} is not an RSA key",
                public_message="The launch was signed with a key the tool cannot use.",
            )
        return public

    def _find(self, key_set_url: str, kid: str) -> rsa.RSAPublicKey | None:
        now = self._clock()
        entry = self._sets.get(key_set_url)
        if entry is not None and now < entry.expires_at and kid in entry.keys:
            return entry.keys[kid]
        if entry is None:
            with self._lock:
                entry = self._sets.setdefault(
                    key_set_url, _KeySet(keys={}, expires_at=0.0, fetched_at=-1e18)
                )
        with entry.lock:
            now = self._clock()
            fresh = now < entry.expires_at
            if fresh and kid in entry.keys:
                return entry.keys[kid]
            if not fresh or now - entry.fetched_at >= self._min_refetch:
                self._fetch(key_set_url, entry)
            if kid in entry.keys:
                return entry.keys[kid]
        raise LaunchError(
            f"no key with kid {kid!r} in the platform's key set {key_set_url}",
            public_message="The launch was signed with a key the tool does not know.",
            admin_hint="Check that the platform's key set URL registered with the tool is right.",
        )

    def _fetch(self, url: str, entry: _KeySet) -> None:
        entry.fetched_at = self._clock()
        try:
            with telemetry.outbound("platform_keys"):
                response = self._http.get(url, timeout=self._timeout)
                response.raise_for_status()
                document = response.json()
        except (requests.RequestException, ValueError) as exc:
            if entry.keys:
                # Keep serving known keys for a while rather than failing every launch.
                entry.expires_at = entry.fetched_at + self._min_refetch
                return
            raise LaunchError(
                f"could not fetch the platform's key set {url}: {exc}",
                public_message="The tool could not check this launch's signature.",
                admin_hint="Check that the platform's key set URL is reachable from the tool.",
            ) from exc
        keys: dict[str, rsa.RSAPublicKey | None] = {}
        for item in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(item, dict) or not item.get("kid") or item.get("use") == "enc":
                continue
            try:
                keys[str(item["kid"])] = _parsed(item)
            except Exception:  # noqa: BLE001 - one malformed key must not hide the others
                continue
        max_age = self._default_max_age
        match = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
        if match:
            max_age = min(int(match.group(1)), 86400)
        entry.keys = keys
        entry.expires_at = entry.fetched_at + max_age
