"""Reading a whole for-credit course's gradebook through AGS 2.0, for final grades.

Built on ``AgsClient``'s token machinery (one client-credentials token per token URL, client id
and scope set, kept until shortly before it expires) but with its own requests, because a
section's gradebook is read differently from one learner's onboarding check:

- line items with their ``tag`` (the weight category) and ``endDateTime``, and each line item's
  results for every learner at once (no ``user_id`` filter), with exact decimal scores;
- pages followed by ``rel="next"`` (quoted or not); ``limit`` asked for, but a platform that
  ignores it and sends everything, or repeats entries across pages, is read correctly (entries
  are kept once by id);
- a 401 fetches a new token and retries that request once;
- 429 and ``403 Rate Limit Exceeded`` (Canvas's answer) wait (``Retry-After`` when given, else
  capped exponential backoff) and retry, up to a budget, rather than fail the read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from pylti1p3.registration import Registration

from lti_bridge.adapters.expiring import ExpiringMap
from lti_bridge.adapters.platform.ags import (
    LINEITEM_CONTAINER,
    RESULT_CONTAINER,
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    AgsClient,
    AgsError,
    next_page_url,
)
from lti_bridge.domain.grading import GradebookItem, ItemResult, SectionGradebook
from lti_bridge.services.grades_ports import GradingSetup

log = logging.getLogger("lti_bridge.ags.gradebook")

READ_SCOPES = (SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY)
#: Entries asked for per page; platforms may send fewer, or ignore it.
PAGE_LIMIT = 1000
#: Pages one listing follows before giving up (a loop guard, high enough for one per page).
MAX_PAGES = 20_000
#: How often one request is retried after a rate limit before the read fails.
RATE_LIMIT_RETRIES = 6
#: Waits between rate-limited attempts: base * 2**n seconds, capped.
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0


def parse_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def with_limit(url: str, limit: int) -> str:
    """Return ``url`` asking for ``limit`` entries per page, unless it already asks for some."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "limit" for key, _ in query):
        return url
    return urlunsplit(parts._replace(query=urlencode([*query, ("limit", str(limit))])))


def all_results_url(lineitem_id: str) -> str:
    """Return the line item's results service URL for every user (``…/lineitem/results?…``)."""
    parts = urlsplit(lineitem_id)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/results", fragment=""))


def retry_after_seconds(response: requests.Response, now: datetime | None = None) -> float | None:
    """Return the ``Retry-After`` wait in seconds (delta or HTTP date), if the answer has one."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    reference = now or datetime.now(when.tzinfo)
    return max(0.0, (when - reference).total_seconds())


def is_rate_limited(response: requests.Response) -> bool:
    """429, or Canvas's ``403 Forbidden (Rate Limit Exceeded)``."""
    if response.status_code == 429:
        return True
    return response.status_code == 403 and "rate limit exceeded" in response.text.lower()


def walk_pages(
    fetch: Callable[[str], requests.Response],
    url: str,
    *,
    limit: int,
    failure: Callable[[str, str, int | None], Exception],
    entries: Callable[[Any], Any] = lambda page: page,
    key: str = "id",
) -> Iterator[dict[str, Any]]:
    """Each entry of a paged AGS or NRPS listing once (by its ``key``, when it has one).

    Pages follow the ``Link: <…>; rel="next"`` header, quoted or not; ``limit`` is asked for
    and a platform that ignores it (one page) is fine. A page seen before ends the walk (some
    platforms loop); more than ``MAX_PAGES`` pages, or a page that is not a JSON array (after
    ``entries`` picks it out), raises ``failure(message, url, status)``.
    """
    seen_urls: set[str] = set()
    seen_ids: set[str] = set()
    next_url: str | None = with_limit(url, limit)
    while next_url is not None:
        if len(seen_urls) >= MAX_PAGES:
            raise failure(f"more than {MAX_PAGES} pages", url, None)
        if next_url in seen_urls:
            # A platform repeating a page it already sent: what it holds was read.
            log.warning("next page link loops back to %s; stopping there", next_url)
            return
        seen_urls.add(next_url)
        response = fetch(next_url)
        try:
            page = entries(response.json(parse_float=Decimal))
        except ValueError:
            raise failure("the answer is not JSON", next_url, response.status_code) from None
        if not isinstance(page, list):
            raise failure("expected a JSON array", next_url, response.status_code)
        for entry in page:
            if not isinstance(entry, dict):
                continue
            entry_id = entry.get(key)
            if isinstance(entry_id, str):
                if entry_id in seen_ids:
                    continue
                seen_ids.add(entry_id)
            yield entry
        next_url = next_page_url(response.headers.get("Link"))


class PlatformReader:
    """GETs from a platform's LTI Advantage services (AGS, NRPS) with the tool's token: a 401
    renews the token once, rate limits back off and retry, paged listings are followed.

    One per process is enough; the tokens live in the shared ``AgsClient``.
    """

    def __init__(
        self,
        client: AgsClient,
        http: requests.Session,
        timeout: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        page_limit: int = PAGE_LIMIT,
    ) -> None:
        self._client = client
        self._http = http
        self._timeout = timeout
        self._sleep = sleep
        self.page_limit = page_limit

    def listing(
        self,
        registration: Registration,
        url: str,
        media_type: str,
        *,
        scopes: tuple[str, ...] = READ_SCOPES,
        entries: Callable[[Any], Any] = lambda page: page,
        key: str = "id",
    ) -> Iterator[dict[str, Any]]:
        """Yield each entry of a paged listing once (by its ``key``, when it has one).

        ``entries`` picks the list out of a page (AGS pages are arrays; an NRPS page is an
        object holding ``members``).
        """
        yield from walk_pages(
            lambda page_url: self.get(registration, page_url, media_type, scopes=scopes),
            url,
            limit=self.page_limit,
            entries=entries,
            key=key,
            failure=lambda message, at, status: AgsError(message, url=at, status=status),
        )

    def get(
        self,
        registration: Registration,
        url: str,
        media_type: str,
        *,
        scopes: tuple[str, ...] = READ_SCOPES,
    ) -> requests.Response:
        """GET ``url`` with a bearer token for ``scopes``; AgsError unless it answers 2xx."""
        renewed = False
        limited = 0
        while True:
            token = self._client.access_token(registration, scopes)
            try:
                response = self._http.get(
                    url,
                    headers={"Accept": media_type, "Authorization": f"Bearer {token}"},
                    timeout=self._timeout,
                )
            except requests.RequestException as exc:
                raise AgsError(f"{type(exc).__name__} calling the platform", url=url) from exc
            if response.status_code == 401 and not renewed:
                # A token the platform stopped honouring before its time: one fresh try.
                log.warning("platform token refused at %s; fetching a new one", url)
                self._client.forget_token(registration, scopes)
                renewed = True
                continue
            if is_rate_limited(response) and limited < RATE_LIMIT_RETRIES:
                wait = retry_after_seconds(response)
                if wait is None:
                    wait = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**limited)
                wait = min(wait, BACKOFF_CAP_SECONDS)
                limited += 1
                log.warning(
                    "platform rate limit at %s (%s); waiting %.1fs (%d/%d)",
                    url, response.status_code, wait, limited, RATE_LIMIT_RETRIES,
                )
                self._sleep(wait)
                continue
            if not 200 <= response.status_code < 300:
                text = " ".join(response.text.split())[:300]
                raise AgsError(
                    "the platform refused",
                    url=url,
                    status=response.status_code,
                    body=text,
                    response=response,
                )
            return response


class AgsSectionGradebook:
    """Reads a course's line items and every learner's results; one per process is enough."""

    def __init__(
        self,
        client: AgsClient,
        http: requests.Session,
        timeout: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        page_limit: int = PAGE_LIMIT,
    ) -> None:
        self._reader = PlatformReader(client, http, timeout, sleep=sleep, page_limit=page_limit)

    def read(self, registration: Registration, lineitems_url: str) -> SectionGradebook:
        """Return the context's gradebook: every line item and every result on it."""
        items: list[GradebookItem] = []
        for entry in self._reader.listing(registration, lineitems_url, LINEITEM_CONTAINER):
            item_id = entry.get("id")
            if not isinstance(item_id, str) or not item_id:
                log.warning("AGS line item without an id skipped at %s", lineitems_url)
                continue
            label, tag = entry.get("label"), entry.get("tag")
            items.append(
                GradebookItem(
                    id=item_id,
                    label=label if isinstance(label, str) else "",
                    score_maximum=parse_decimal(entry.get("scoreMaximum")) or Decimal(0),
                    tag=tag if isinstance(tag, str) and tag else None,
                    ends_at=parse_timestamp(entry.get("endDateTime")),
                )
            )
        results: dict[str, dict[str, ItemResult]] = {}
        for item in items:
            url = all_results_url(item.id)
            for entry in self._reader.listing(registration, url, RESULT_CONTAINER):
                user = entry.get("userId")
                if user is None:
                    continue
                results.setdefault(str(user), {})[item.id] = ItemResult(
                    item_id=item.id,
                    score=parse_decimal(entry.get("resultScore")),
                    maximum=parse_decimal(entry.get("resultMaximum")),
                    timestamp=parse_timestamp(entry.get("timestamp")),
                )
        return SectionGradebook(tuple(items), results)


class PlatformCourseGradebook:
    """The ``CourseGradebook`` port: the section's gradebook on the platform it was launched
    from, read with that platform's registration."""

    def __init__(
        self,
        reader: AgsSectionGradebook,
        find_registration: Callable[[str, str | None], Registration | None],
    ) -> None:
        self._reader = reader
        self._find = find_registration

    def read(self, setup: GradingSetup) -> SectionGradebook:
        if setup.issuer is None or not setup.lineitems_url:
            raise AgsError(
                "no AGS endpoint known for the for-credit context "
                f"{setup.for_credit_context_id}",
                url="(none)",
            )
        registration = self._find(setup.issuer, setup.client_id)
        if registration is None:
            raise AgsError(f"platform {setup.issuer} is no longer registered", url="(none)")
        return self._reader.read(registration, setup.lineitems_url)


class ShownCourseGradebook:
    """A ``CourseGradebook`` for showing scores: what a fresh read (a staff launch) found is
    kept for the cache's ttl, and a read that need not be fresh (the roster filtered, searched
    or sorted again) takes it, so those clicks do not read the whole gradebook from the platform
    again. Releasing grades reads through ``PlatformCourseGradebook`` itself: what is sent to
    the SIS is never older than the release."""

    def __init__(
        self, inner: PlatformCourseGradebook, cache: ExpiringMap[Any, Any], *, fresh: bool
    ) -> None:
        self._inner = inner
        self._cache = cache
        self._fresh = fresh

    def read(self, setup: GradingSetup) -> SectionGradebook:
        key = (setup.issuer, setup.client_id, setup.lineitems_url)
        found: SectionGradebook | None = None if self._fresh else self._cache.get(key)
        if found is None:
            found = self._inner.read(setup)
            self._cache.put(key, found)
        return found
