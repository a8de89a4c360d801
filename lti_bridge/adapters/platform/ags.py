"""LTI Assignment and Grade Services (AGS 2.0): reading line items and results from the platform.

The access token comes from the platform's token endpoint by the client-credentials grant with a
signed JWT client assertion (1EdTech Security Framework 1.0, section 4.1), and is kept per token
URL, client id and scopes until shortly before it expires, like pylti1p3's ``ServiceConnector``.
Every error carries the status and the start of the body, so a 502 page and the log can say what
the platform answered.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from jwcrypto import jwk, jwt
from pylti1p3.registration import Registration

from lti_bridge import telemetry
from lti_bridge.adapters.lti.keys import ToolKey
from lti_bridge.domain.errors import LaunchError, LtiBridgeError
from lti_bridge.domain.onboarding import LineItem, ResultScore, match_required, score_fraction
from lti_bridge.services.onboarding_ports import GradebookView

log = logging.getLogger("lti_bridge.ags")

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"

LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: How many ``rel="next"`` pages one listing follows before giving up (a loop guard).
MAX_PAGES = 50
#: A token is renewed this many seconds before the platform says it expires.
TOKEN_EARLY_RENEWAL = 30
#: Used when the token response has no ``expires_in`` (the Security Framework recommends 3600).
DEFAULT_EXPIRES_IN = 3600
ASSERTION_LIFETIME = 300


class AgsError(LtiBridgeError):
    """The platform's token or AGS endpoint failed or answered something unusable."""

    public_message = "The course platform's gradebook could not be read."
    admin_hint = (
        "Check that Assignment and Grade Services are enabled for the tool on the platform, "
        "and that the platform's token URL and audience are registered correctly."
    )

    def __init__(
        self,
        reason: str,
        *,
        url: str,
        status: int | None = None,
        body: str = "",
        response: requests.Response | None = None,
    ) -> None:
        answered = f" answered {status}" if status is not None else ""
        super().__init__(f"{reason}: {url}{answered}" + (f": {body}" if body else ""))
        self.url = url
        self.status = status
        self.body = body
        self.response = response


def _excerpt(response: requests.Response, limit: int = 300) -> str:
    text = " ".join(response.text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def next_page_url(link_header: str | None) -> str | None:
    """Return the ``rel="next"`` target of an RFC 8288 ``Link`` header, if it has one."""
    if not link_header:
        return None
    for link in requests.utils.parse_header_links(link_header):
        if "next" in link.get("rel", "").lower().split() and link.get("url"):
            return link["url"]
    return None


def results_url(lineitem_id: str, user_id: str) -> str:
    """Return the line item's results service URL for one user (AGS 2.0, section 3.3.1).

    The line item URL may carry a query string of its own; ``/results`` goes on its path and
    ``user_id`` joins the existing query.
    """
    parts = urlsplit(lineitem_id)
    path = parts.path.rstrip("/") + "/results"
    query = "&".join(q for q in (parts.query, urlencode({"user_id": user_id})) if q)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class Deadline:
    """The time one onboarding check may take in all: token, listings and results together."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ends_at = clock() + seconds
        self.seconds = seconds

    def remaining(self, url: str) -> float:
        """Seconds left; AgsError naming ``url`` (the call that would start late) when none."""
        left = self._ends_at - self._clock()
        if left <= 0:
            raise AgsError(f"the check's {self.seconds:g} s deadline passed", url=url)
        return left


@dataclass
class _Token:
    value: str
    renew_at: datetime


class AgsClient:
    """Reads line items and results through AGS; one instance per process shares the tokens."""

    def __init__(
        self,
        http: requests.Session,
        timeout: float,
        signing_key: Callable[[], ToolKey],
        clock: Callable[[], datetime],
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._signing_key = signing_key
        self._clock = clock
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _Token] = {}
        # One lock per token key: concurrent checks of one platform cost one token request,
        # and a slow platform keeps no other platform's checks waiting.
        self._key_locks: dict[tuple[str, str, tuple[str, ...]], threading.Lock] = {}
        self._lock = threading.Lock()

    # --- tokens ------------------------------------------------------------------------------

    def client_assertion(self, registration: Registration) -> str:
        """Return the signed JWT that authenticates the tool at the platform's token URL."""
        key = self._signing_key()
        client_id = registration.get_client_id()
        token_url = registration.get_auth_token_url()
        now = int(self._clock().timestamp())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": registration.get_auth_audience() or token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.JWT(header={"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims=claims)
        token.make_signed_token(jwk.JWK.from_pem(key.private_key_pem.encode()))
        return str(token.serialize())

    def access_token(
        self, registration: Registration, scopes: Iterable[str], *, deadline: Deadline | None = None
    ) -> str:
        """Return a bearer token for ``scopes``, from the cache while it has 30 s or more left."""
        token_url = str(registration.get_auth_token_url() or "")
        client_id = str(registration.get_client_id() or "")
        wanted = tuple(sorted(set(scopes)))
        key = (token_url, client_id, wanted)
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.renew_at:
            return cached.value
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        wait = deadline.remaining(token_url) if deadline is not None else -1
        if not key_lock.acquire(timeout=wait):
            raise AgsError("the token request of another check took too long", url=token_url)
        try:
            cached = self._tokens.get(key)
            if cached is not None and self._clock() < cached.renew_at:
                return cached.value
            token = self._fetch_token(registration, token_url, wanted, deadline)
            self._tokens[key] = token
            return token.value
        finally:
            key_lock.release()

    def forget_token(self, registration: Registration, scopes: Iterable[str]) -> None:
        """Drop a cached token the platform refused before its time (revoked, key rotated)."""
        key = (
            str(registration.get_auth_token_url() or ""),
            str(registration.get_client_id() or ""),
            tuple(sorted(set(scopes))),
        )
        with self._lock:
            self._tokens.pop(key, None)

    def _fetch_token(
        self,
        registration: Registration,
        token_url: str,
        scopes: tuple[str, ...],
        deadline: Deadline | None = None,
    ) -> _Token:
        if not token_url:
            raise AgsError("the platform has no token URL registered", url="(none)")
        data = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.client_assertion(registration),
            "scope": " ".join(scopes),
        }
        requested_at = self._clock()
        response = self._send(
            "POST", token_url, deadline, data=data, headers={"Accept": "application/json"}
        )
        body = self._json(response, token_url)
        value = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise AgsError(
                "the token response has no access_token",
                url=token_url,
                status=response.status_code,
                body=_excerpt(response),
                response=response,
            )
        expires_in = _number(body.get("expires_in"))
        lifetime = expires_in if expires_in is not None and expires_in > 0 else DEFAULT_EXPIRES_IN
        renew_at = requested_at + timedelta(seconds=lifetime - TOKEN_EARLY_RENEWAL)
        log.info("AGS token fetched from %s for %s (expires in %ss)", token_url, scopes, lifetime)
        return _Token(value, renew_at)

    # --- the services ------------------------------------------------------------------------

    def line_items(
        self, lineitems_url: str, token: str, *, deadline: Deadline | None = None
    ) -> list[LineItem]:
        """Return every line item of the context, following ``rel="next"`` pages."""
        items: list[LineItem] = []
        for entry in self._pages(lineitems_url, token, LINEITEM_CONTAINER, deadline):
            item_id = entry.get("id")
            maximum = _number(entry.get("scoreMaximum"))
            if not isinstance(item_id, str) or not item_id:
                log.warning("AGS line item without an id skipped at %s", lineitems_url)
                continue
            label = entry.get("label")
            items.append(
                LineItem(
                    item_id,
                    label if isinstance(label, str) else "",
                    maximum if maximum is not None else 0.0,
                )
            )
        return items

    def results(
        self, lineitem_url: str, user_id: str, token: str, *, deadline: Deadline | None = None
    ) -> list[ResultScore]:
        """Return the user's results on one line item (usually one, or none before grading)."""
        url = results_url(lineitem_url, user_id)
        scores: list[ResultScore] = []
        for entry in self._pages(url, token, RESULT_CONTAINER, deadline):
            # The filter is the platform's to apply; a sloppy one must not leak others' scores.
            user = entry.get("userId")
            if user is not None and str(user) != user_id:
                continue
            scores.append(
                ResultScore(_number(entry.get("resultScore")), _number(entry.get("resultMaximum")))
            )
        return scores

    # --- HTTP --------------------------------------------------------------------------------

    def _pages(
        self, url: str, token: str, media_type: str, deadline: Deadline | None
    ) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            if len(seen) >= MAX_PAGES:
                raise AgsError(f"more than {MAX_PAGES} pages", url=url)
            if next_url in seen:
                raise AgsError("the next page link loops back", url=next_url)
            seen.add(next_url)
            response = self._send(
                "GET",
                next_url,
                deadline,
                headers={"Accept": media_type, "Authorization": f"Bearer {token}"},
            )
            page = self._json(response, next_url)
            if not isinstance(page, list):
                raise AgsError(
                    "expected a JSON array",
                    url=next_url,
                    status=response.status_code,
                    body=_excerpt(response),
                    response=response,
                )
            yield from (entry for entry in page if isinstance(entry, dict))
            next_url = next_page_url(response.headers.get("Link"))

    def _send(
        self, method: str, url: str, deadline: Deadline | None = None, **kwargs: Any
    ) -> requests.Response:
        with telemetry.outbound("ags"):
            timeout = self._timeout
            if deadline is not None:
                timeout = min(timeout, deadline.remaining(url))
            try:
                response = self._http.request(method, url, timeout=timeout, **kwargs)
            except requests.RequestException as exc:
                if deadline is not None and timeout < self._timeout and isinstance(
                    exc, requests.Timeout
                ):
                    passed = f"the check's {deadline.seconds:g} s deadline passed"
                    raise AgsError(passed, url=url) from exc
                raise AgsError(f"{type(exc).__name__} calling the platform", url=url) from exc
            if not 200 <= response.status_code < 300:
                raise AgsError(
                    "the platform refused",
                    url=url,
                    status=response.status_code,
                    body=_excerpt(response),
                    response=response,
                )
        return response

    @staticmethod
    def _json(response: requests.Response, url: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise AgsError(
                "the answer is not JSON",
                url=url,
                status=response.status_code,
                body=_excerpt(response),
                response=response,
            ) from None


class AgsGradebook:
    """One launch's view of the onboarding course's gradebook, through AGS (``Gradebook``)."""

    def __init__(
        self,
        client: AgsClient,
        registration: Registration | None,
        lineitems_url: str | None,
        granted_scopes: tuple[str, ...] = (),
        *,
        deadline_seconds: float | None = None,
    ) -> None:
        self._client = client
        self._registration = registration
        self._lineitems_url = lineitems_url
        self._granted = granted_scopes
        #: The total time one check may take (every request of it), or None for no limit.
        self._deadline_seconds = deadline_seconds

    def _scopes(self) -> tuple[str, ...]:
        # Ask for no more than reading needs; a platform that granted only the full line item
        # scope (which includes reading) gets asked for that one.
        granted = set(self._granted)
        lineitem = SCOPE_LINEITEM_READONLY
        if granted and SCOPE_LINEITEM_READONLY not in granted and SCOPE_LINEITEM in granted:
            lineitem = SCOPE_LINEITEM
        if granted and SCOPE_RESULT_READONLY not in granted:
            raise LaunchError(
                f"the launch's AGS claim grants {sorted(granted)}, not the results service",
                public_message="The course platform does not let this tool read grades here.",
                admin_hint="Enable the Assignment and Grade Services results service "
                "(scope result.readonly) for the tool on the onboarding course.",
            )
        return (lineitem, SCOPE_RESULT_READONLY)

    def results_for(self, learner_sub: str, required: tuple[str, ...]) -> GradebookView:
        if self._registration is None:
            raise LaunchError(
                "the launch's platform is no longer registered",
                public_message="This course platform is not registered with the tool.",
            )
        if not self._lineitems_url:
            raise LaunchError(
                "the onboarding launch carries no AGS line items URL",
                public_message="The course platform does not let this tool read grades here.",
                admin_hint="Enable Assignment and Grade Services for the tool on the onboarding "
                "course: the launch must carry the AGS endpoint claim with a lineitems URL.",
            )
        scopes = self._scopes()
        deadline = Deadline(self._deadline_seconds) if self._deadline_seconds else None
        try:
            return self._read(learner_sub, required, scopes, deadline)
        except AgsError as exc:
            if exc.status != 401:
                raise
            # A token the platform stopped honouring before its time: one fresh try.
            log.warning("AGS token refused (%s); fetching a new one", exc)
            self._client.forget_token(self._registration, scopes)
            return self._read(learner_sub, required, scopes, deadline)

    def _read(
        self,
        learner_sub: str,
        required: tuple[str, ...],
        scopes: tuple[str, ...],
        deadline: Deadline | None,
    ) -> GradebookView:
        assert self._registration is not None and self._lineitems_url
        token = self._client.access_token(self._registration, scopes, deadline=deadline)
        items = tuple(self._client.line_items(self._lineitems_url, token, deadline=deadline))
        results: dict[str, ResultScore | None] = {}
        for matches in match_required(items, required).values():
            for item in matches:
                if item.id in results:
                    continue
                found = self._client.results(item.id, learner_sub, token, deadline=deadline)
                results[item.id] = max(
                    found, key=lambda r: score_fraction(item, r) or -1.0, default=None
                )
        return GradebookView(items, results)
