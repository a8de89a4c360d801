"""Carry-over through AGS 2.0: one learner's line items and results in two contexts, and the
score posts that carry them.

- Every request to a platform (token requests included) holds one of that platform's slots
  (``AgsLimiter``, ``LTI_BRIDGE_AGS_MAX_IN_FLIGHT``): Canvas meters all of a client id's AGS,
  NRPS and token calls through one leaky bucket and refuses above about a dozen in flight, so
  the relay's threads never ask more at once than the platform serves.
- A throttled answer (429, or Canvas's ``403 Forbidden (Rate Limit Exceeded)``) is waited out
  (``Retry-After`` when given, else a short doubling pause, outside the slot) and asked again a
  few times; still throttled, the outbox message is retried later (429), never failed.
- 5xx, 408 and no answer are worth retrying (the outbox retries the whole plan or post); a 401
  fetches a new token once; any other 4xx is a refusal for good.
- Listings follow ``rel="next"`` (quoted or not), ask for ``limit`` and read a platform that
  ignores it; entries are kept once by id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from pylti1p3.registration import Registration

from lti_bridge.adapters.platform.ags import (
    LINEITEM_CONTAINER,
    RESULT_CONTAINER,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    AgsClient,
    AgsError,
    results_url,
)
from lti_bridge.adapters.platform.gradebook import (
    is_rate_limited,
    parse_decimal,
    parse_timestamp,
    retry_after_seconds,
    walk_pages,
)
from lti_bridge.domain.carryover import CourseItem, LearnerResult, PlatformGradebookError
from lti_bridge.domain.outbox import OutboxEntry, SisReply
from lti_bridge.services.carryover_ports import Endpoint, PlanSetup

log = logging.getLogger("lti_bridge.ags.carryover")

SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
PAGE_LIMIT = 100
#: Throttled answers to one request waited out in place before the message is retried later.
THROTTLE_RETRIES = 3
THROTTLE_BASE_SECONDS = 0.05
THROTTLE_CAP_SECONDS = 10.0


class EnvironmentOnceSession(requests.Session):
    """A session that reads the proxy and CA bundle environment once per origin.

    ``requests`` scans ``os.environ`` for proxies on every request (a third of a millisecond
    here, more than the rest of the client's work on a loopback call); the environment does not
    change under a running process, so the answer is kept per origin.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if proxies or not self.trust_env:
            return dict(super().merge_environment_settings(url, proxies, stream, verify, cert))
        parts = urlsplit(str(url))
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        found = self._environment.get(key)
        if found is None:
            found = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = found
        return {k: dict(v) if isinstance(v, dict) else v for k, v in found.items()}


class AgsLimiter:
    """At most ``max_in_flight`` requests at once per platform (issuer and client id)."""

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max(1, max_in_flight)
        self._slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, registration: Registration) -> Iterator[None]:
        key = (str(registration.get_issuer()), str(registration.get_client_id()))
        with self._lock:
            semaphore = self._slots.get(key)
            if semaphore is None:
                semaphore = self._slots[key] = threading.BoundedSemaphore(self.max_in_flight)
        with semaphore:
            yield


def _scopes(granted: Sequence[str]) -> tuple[str, ...]:
    """Read line items and results, post scores: no more than the context's launches granted
    (a platform that granted only the full line item scope is asked for that one)."""
    wanted = [SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE]
    if not granted:
        return tuple(wanted)
    held = set(granted)
    if SCOPE_LINEITEM_READONLY not in held and SCOPE_LINEITEM in held:
        wanted[0] = SCOPE_LINEITEM
    return tuple(scope for scope in wanted if scope in held) or tuple(wanted)


def scores_url(lineitem_id: str) -> str:
    """The line item's score service URL (``…/lineitem/scores``, its own query kept)."""
    parts = urlsplit(lineitem_id)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores", fragment=""))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class AgsCarryover:
    """The ``CarryoverGradebook`` port, and the ``ags.score`` sender; one per process."""

    def __init__(
        self,
        client: AgsClient,
        http: requests.Session,
        timeout: float,
        find_registration: Callable[[str, str | None], Registration | None],
        limiter: AgsLimiter,
        *,
        sleep: Callable[[float], None] = time.sleep,
        page_limit: int = PAGE_LIMIT,
    ) -> None:
        self._client = client
        self._http = http
        self._timeout = timeout
        self._find = find_registration
        self._limiter = limiter
        self._sleep = sleep
        self._page_limit = page_limit
        #: Throttled answers seen, and the most one request met in a row (for the operator
        #: and the benchmark; plain counters, good enough without a lock).
        self.throttled = 0
        self.max_throttled_in_a_row = 0

    # --- reading (CarryoverGradebook) ---------------------------------------------------------

    def _registration(self, issuer: str | None, client_id: str | None) -> Registration:
        registration = self._find(issuer or "", client_id) if issuer else None
        if registration is None:
            raise PlatformGradebookError(
                f"platform {issuer} is no longer registered", retryable=False
            )
        return registration

    def line_items(self, setup: PlanSetup, endpoint: Endpoint) -> list[CourseItem]:
        registration = self._registration(setup.issuer, setup.client_id)
        scopes = _scopes(endpoint.scopes)
        items = []
        listing = self._listing(registration, scopes, endpoint.lineitems_url, LINEITEM_CONTAINER)
        for entry in listing:
            item_id = _text(entry.get("id"))
            if item_id is None:
                continue
            items.append(
                CourseItem(
                    id=item_id,
                    label=_text(entry.get("label")) or "",
                    score_maximum=parse_decimal(entry.get("scoreMaximum")) or Decimal(0),
                    tag=_text(entry.get("tag")),
                    resource_id=_text(entry.get("resourceId")),
                )
            )
        return items

    def results(
        self, setup: PlanSetup, endpoint: Endpoint, item: CourseItem, user_ids: Sequence[str]
    ) -> list[LearnerResult]:
        registration = self._registration(setup.issuer, setup.client_id)
        scopes = _scopes(endpoint.scopes)
        found = []
        for user_id in user_ids:
            url = results_url(item.id, user_id)
            for entry in self._listing(registration, scopes, url, RESULT_CONTAINER):
                # The filter is the platform's to apply; a sloppy one must not leak others'.
                if str(entry.get("userId")) not in user_ids:
                    continue
                found.append(
                    LearnerResult(
                        item_id=item.id,
                        score=parse_decimal(entry.get("resultScore")),
                        maximum=parse_decimal(entry.get("resultMaximum")),
                        timestamp=parse_timestamp(entry.get("timestamp")),
                        activity_progress=_text(entry.get("activityProgress")),
                        grading_progress=_text(entry.get("gradingProgress")),
                    )
                )
        return found

    def _listing(
        self, registration: Registration, scopes: tuple[str, ...], url: str, media_type: str
    ) -> Iterator[dict[str, Any]]:
        yield from walk_pages(
            lambda page_url: self._request(
                registration, scopes, "GET", page_url, headers={"Accept": media_type}
            ),
            url,
            limit=self._page_limit,
            failure=lambda message, at, status: PlatformGradebookError(
                f"{message} at {at}", status=status
            ),
        )

    # --- HTTP ---------------------------------------------------------------------------------

    def _request(
        self,
        registration: Registration,
        scopes: tuple[str, ...],
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        **kwargs: Any,
    ) -> requests.Response:
        renewed = False
        throttled = 0
        while True:
            with self._limiter.slot(registration):
                try:
                    token = self._client.access_token(registration, scopes)
                except AgsError as exc:
                    raise self._error(exc) from exc
                try:
                    response = self._http.request(
                        method,
                        url,
                        headers={**headers, "Authorization": f"Bearer {token}"},
                        timeout=self._timeout,
                        **kwargs,
                    )
                except requests.RequestException as exc:
                    raise PlatformGradebookError(
                        f"{type(exc).__name__} calling {url}", retryable=True
                    ) from exc
            status = response.status_code
            if status == 401 and not renewed:
                log.warning("AGS token refused at %s; fetching a new one", url)
                self._client.forget_token(registration, scopes)
                renewed = True
                continue
            if is_rate_limited(response):
                self.throttled += 1
                self.max_throttled_in_a_row = max(self.max_throttled_in_a_row, throttled + 1)
                wait = retry_after_seconds(response)
                if throttled >= THROTTLE_RETRIES:
                    raise PlatformGradebookError(
                        f"{url} answered {status} (rate limit) {throttled + 1} times",
                        status=status,
                        throttled=True,
                        retry_after=wait,
                    )
                if wait is None:
                    wait = THROTTLE_BASE_SECONDS * 2**throttled
                throttled += 1
                log.info("AGS rate limit at %s (%s); waiting %.2fs", url, status, wait)
                self._sleep(min(wait, THROTTLE_CAP_SECONDS))
                continue
            if 200 <= status < 300:
                return response
            body = " ".join(response.text.split())[:300]
            raise PlatformGradebookError(
                f"{method} {url} answered {status}: {body}",
                status=status,
                retryable=status in (408, 409) or status >= 500,
                retry_after=retry_after_seconds(response),
            )

    @staticmethod
    def _error(exc: AgsError) -> PlatformGradebookError:
        status = exc.status
        retryable = status is None or status in (408, 429) or status >= 500
        throttled = exc.response is not None and is_rate_limited(exc.response)
        return PlatformGradebookError(
            str(exc), status=status, retryable=retryable or throttled, throttled=throttled
        )

    # --- the ags.score sender -----------------------------------------------------------------

    def post_score(self, entry: OutboxEntry, deadline: datetime | None = None) -> SisReply:
        """POST one carried score; the answer as the relay judges it (429 for throttling)."""
        payload = entry.payload
        try:
            registration = self._registration(payload.get("issuer"), payload.get("client_id"))
            response = self._request(
                registration,
                _scopes(payload.get("scopes") or ()),
                "POST",
                scores_url(str(payload["lineitem"])),
                headers={"Content-Type": SCORE_MEDIA_TYPE},
                json=payload["score"],
            )
        except PlatformGradebookError as exc:
            if exc.throttled:
                return SisReply(429, str(exc), exc.retry_after)
            if exc.retryable:
                status = exc.status if exc.status is not None and exc.status >= 500 else 503
                return SisReply(status, str(exc), exc.retry_after)
            return SisReply(exc.status or 422, str(exc))
        return SisReply(response.status_code)
