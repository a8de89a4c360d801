"""Platforms' public keys, fetched once and kept parsed in memory.

pylti1p3 fetches the platform's key set on every launch. Here a key set is cached for its
``Cache-Control: max-age`` (default one hour); an unknown ``kid`` triggers at most one refetch per
``min_refetch`` seconds per key set, so a platform's key rotation works without a restart and a
flood of made-up ``kid``s cannot turn the tool into a request amplifier.

A platform whose key set is slow or down must not take the tool's workers with it:

- one fetch in flight per key set (single flight), run aside from the launches; every launch
  that needs it waits at most ``max_wait`` seconds, however long the fetch takes;
- a launch whose ``kid`` is known goes on with the last good keys when the refetch fails or
  is still running;
- a failure is remembered for ``min_refetch`` seconds: launches meanwhile fail at once (503 with
  ``Retry-After``) instead of each trying again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk

from lti_bridge import telemetry
from lti_bridge.domain.errors import LaunchError, UnavailableError

_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)
log = logging.getLogger("lti_bridge.platform_keys")


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
    #: Until when the last fetch's failure stands (no new fetch before).
    failed_until: float = -1e18
    failure: str = ""
    #: Set when the fetch in flight ends; None when none is running.
    inflight: threading.Event | None = None


class PlatformKeyCache:
    def __init__(
        self,
        http: requests.Session,
        *,
        timeout: float = 10.0,
        default_max_age: int = 3600,
        min_refetch: int = 30,
        max_wait: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._default_max_age = default_max_age
        self._min_refetch = min_refetch
        self._max_wait = max_wait
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
        fresh = now < entry.expires_at
        failing = now < entry.failed_until
        known = kid in entry.keys
        recently = now - entry.fetched_at < self._min_refetch
        if failing:
            if known:
                return entry.keys[kid]  # the last good keys, while the key set is down
            raise self._unavailable(key_set_url, entry, now)
        if fresh and not known and recently:
            raise self._unknown(kid, key_set_url)
        done = self._start_fetch(key_set_url, entry)
        finished = done.wait(self._max_wait)
        if kid in entry.keys:
            return entry.keys[kid]
        if not finished or self._clock() < entry.failed_until:
            raise self._unavailable(key_set_url, entry, self._clock(), waited=not finished)
        raise self._unknown(kid, key_set_url)

    def _start_fetch(self, url: str, entry: _KeySet) -> threading.Event:
        """The fetch in flight for ``url``: joined if running, else started aside."""
        with self._lock:
            if entry.inflight is not None:
                return entry.inflight
            done = entry.inflight = threading.Event()
        thread = threading.Thread(
            target=self._run_fetch, args=(url, entry, done), name="platform-jwks", daemon=True
        )
        thread.start()
        return done

    def _run_fetch(self, url: str, entry: _KeySet, done: threading.Event) -> None:
        try:
            self._fetch(url, entry)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, it is remembered
            entry.failure = f"{type(exc).__name__}: {exc}"[:500]
            entry.failed_until = self._clock() + self._min_refetch
            log.warning("platform key set %s not fetched: %s", url, entry.failure)
        finally:
            with self._lock:
                entry.inflight = None
            done.set()

    def _unavailable(
        self, url: str, entry: _KeySet, now: float, *, waited: bool = False
    ) -> UnavailableError:
        retry = entry.failed_until - now if not waited else self._timeout
        reason = (
            f"the platform's key set {url} did not answer within {self._max_wait:g} s"
            if waited
            else f"could not fetch the platform's key set {url}: {entry.failure}"
        )
        return UnavailableError(
            reason,
            retry_after=int(retry) + 1,
            public_message="The tool could not check this launch's signature right now: "
            "your course platform's keys are not reachable. Please try again in a minute.",
            admin_hint="Check that the platform's key set URL is reachable from the tool.",
        )

    @staticmethod
    def _unknown(kid: str, url: str) -> LaunchError:
        return LaunchError(
            f"no key with kid {kid!r} in the platform's key set {url}",
            public_message="The launch was signed with a key the tool does not know.",
            admin_hint="Check that the platform's key set URL registered with the tool is right.",
        )

    def _fetch(self, url: str, entry: _KeySet) -> None:
        entry.fetched_at = self._clock()
        with telemetry.outbound("platform_keys"):
            response = self._http.get(url, timeout=self._timeout)
            response.raise_for_status()
            document = response.json()
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
        entry.failed_until = -1e18
        entry.failure = ""
