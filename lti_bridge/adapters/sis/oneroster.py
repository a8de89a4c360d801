"""The SIS's OneRoster 1.2 gradebook over HTTP (CONTRACT §5): ``OneRosterGradebook``.

The bearer token comes from the SIS's token endpoint by the OAuth 2 client-credentials grant
(client id and secret in HTTP Basic, RFC 6749 §2.3.1, as OneRoster 1.2 asks), one per scope set,
kept until shortly before ``expires_in``. A 401 on a call drops the token and tries once more
with a new one. Every request has a timeout; no answer at all raises ``SisUnavailableError``
(the relay retries), any answer comes back as a ``SisReply`` for the relay to judge.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests

from lti_bridge.domain.errors import LtiBridgeError, SisUnavailableError
from lti_bridge.domain.outbox import SisReply

log = logging.getLogger("lti_bridge.sis")

SCOPE_GRADEBOOK_CREATEPUT = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createput"
SCOPE_GRADEBOOK_READONLY = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.readonly"
RESULTS_PATH = "/ims/oneroster/gradebook/v1p2/results/"
#: A token is renewed this many seconds before the SIS says it expires.
TOKEN_EARLY_RENEWAL = 30
DEFAULT_EXPIRES_IN = 3600


class SisError(LtiBridgeError):
    """The SIS answered something the tool cannot use (a read that failed for good)."""

    public_message = "The student information system answered something unexpected."
    admin_hint = "Check LTI_BRIDGE_SIS_BASE_URL and the SIS's OneRoster gradebook service."

    def __init__(self, reason: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(reason + (f": {body}" if body else ""))
        self.status = status
        self.body = body


def _excerpt(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def sis_message(response: requests.Response) -> str:
    """The SIS's own words: OneRoster's ``imsx_description`` if given, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        info = body.get("imsx_statusInfo", body)
        if isinstance(info, dict):
            for key in ("imsx_description", "description", "message", "error_description"):
                value = info.get(key)
                if isinstance(value, str) and value.strip():
                    return _excerpt(value)
    return _excerpt(response.text) or (response.reason or "")


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Parse ``Retry-After`` (delay seconds or an HTTP date, RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass
class _Token:
    value: str
    renew_at: datetime


class OneRosterGradebook:
    """``SisGradebook`` over HTTP; one instance per process shares its tokens across threads."""

    def __init__(
        self,
        http: requests.Session,
        *,
        base_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        timeout: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout
        self._clock = clock
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self._lock = threading.Lock()

    def result_url(self, sourced_id: str) -> str:
        return self._base + RESULTS_PATH + quote(sourced_id, safe="")

    # --- the port -----------------------------------------------------------------------------

    def put_result(
        self, sourced_id: str, body: Mapping[str, Any], *, deadline: datetime | None = None
    ) -> SisReply:
        response = self._call(
            "PUT", self.result_url(sourced_id), (SCOPE_GRADEBOOK_CREATEPUT,), body, deadline
        )
        if 200 <= response.status_code < 300:
            return SisReply(response.status_code)
        return SisReply(
            response.status_code,
            sis_message(response),
            retry_after_seconds(response.headers.get("Retry-After"), self._clock()),
        )

    def get_result(self, sourced_id: str) -> Mapping[str, Any] | None:
        url = self.result_url(sourced_id)
        response = self._call("GET", url, (SCOPE_GRADEBOOK_READONLY,), None)
        if response.status_code == 404:
            return None
        if not 200 <= response.status_code < 300:
            raise SisError(
                f"GET {url} answered {response.status_code}",
                status=response.status_code,
                body=sis_message(response),
            )
        try:
            document = response.json()
        except ValueError:
            raise SisError(f"GET {url} did not answer JSON", body=_excerpt(response.text)) from None
        result = document.get("result") if isinstance(document, dict) else None
        if not isinstance(result, dict):
            raise SisError(f"GET {url} answered no result object", body=_excerpt(response.text))
        return result

    # --- HTTP ---------------------------------------------------------------------------------

    def _before_request(self, deadline: datetime | None, what: str) -> None:
        """Start no request that could outlast ``deadline`` (the relay's lease)."""
        # requests applies the timeout to the connect and to each read: twice it bounds a call.
        if deadline is not None and self._clock() + timedelta(seconds=2 * self._timeout) > deadline:
            raise SisUnavailableError(f"{what} not started: the claim's lease is running out")

    def _call(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        body: Mapping[str, Any] | None,
        deadline: datetime | None = None,
    ) -> requests.Response:
        for attempt in (1, 2):
            token = self.access_token(scopes, deadline=deadline)
            self._before_request(deadline, f"{method} {url}")
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            try:
                response = self._http.request(
                    method, url, json=body, headers=headers, timeout=self._timeout
                )
            except requests.RequestException as exc:
                raise SisUnavailableError(f"{type(exc).__name__} on {method} {url}") from exc
            if response.status_code == 401 and attempt == 1:
                # Revoked or expired early: one more try with a new token, then the answer
                # stands (a second 401 is the SIS's, not a stale cache's).
                log.info("SIS refused the token on %s %s; fetching a new one", method, url)
                self.forget_token(scopes)
                continue
            return response
        return response

    def access_token(self, scopes: Iterable[str], *, deadline: datetime | None = None) -> str:
        """Return a bearer token for ``scopes``, from the cache while it has 30 s or more left."""
        wanted = tuple(sorted(set(scopes)))
        with self._lock:
            cached = self._tokens.get(wanted)
            if cached is not None and self._clock() < cached.renew_at:
                return cached.value
            # Under the lock: the relay's threads then cost one token request, not one each.
            self._before_request(deadline, "the token request")
            token = self._fetch_token(wanted)
            self._tokens[wanted] = token
            return token.value

    def forget_token(self, scopes: Iterable[str]) -> None:
        with self._lock:
            self._tokens.pop(tuple(sorted(set(scopes))), None)

    def _fetch_token(self, scopes: tuple[str, ...]) -> _Token:
        if not self._token_url:
            raise SisUnavailableError(
                "no SIS token URL is configured", admin_hint="Set LTI_BRIDGE_SIS_TOKEN_URL."
            )
        requested_at = self._clock()
        try:
            response = self._http.post(
                self._token_url,
                data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
                auth=(self._client_id, self._client_secret),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise SisUnavailableError(
                f"{type(exc).__name__} on the SIS token endpoint {self._token_url}"
            ) from exc
        if not 200 <= response.status_code < 300:
            # Retried, not rejected: wrong credentials are fixed by an operator, and the grades
            # must still go out afterwards.
            raise SisUnavailableError(
                f"the SIS token endpoint {self._token_url} answered {response.status_code}: "
                f"{sis_message(response)}",
                admin_hint="Check LTI_BRIDGE_SIS_TOKEN_URL, LTI_BRIDGE_SIS_CLIENT_ID and "
                "LTI_BRIDGE_SIS_CLIENT_SECRET.",
            )
        try:
            document = response.json()
        except ValueError:
            document = None
        value = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(value, str) or not value:
            raise SisUnavailableError(
                f"the SIS token endpoint {self._token_url} answered no access_token: "
                f"{_excerpt(response.text)}"
            )
        expires_in = document.get("expires_in") if isinstance(document, dict) else None
        lifetime = (
            float(expires_in)
            if isinstance(expires_in, int | float)
            and not isinstance(expires_in, bool)
            and expires_in > 0
            else DEFAULT_EXPIRES_IN
        )
        renew_at = requested_at + timedelta(seconds=max(0.0, lifetime - TOKEN_EARLY_RENEWAL))
        log.info(
            "SIS token fetched from %s for %s (expires in %ss)", self._token_url, scopes, lifetime
        )
        return _Token(value, renew_at)
