"""LTI Names and Role Provisioning Services 2.0: a for-credit context's membership, for the roster.

Read with the tool's client-credentials token (``AgsClient``'s cache) through ``PlatformReader``:
pages followed by ``rel="next"`` quoted or not, ``limit`` asked for but a platform that ignores
it read correctly, members kept once by ``user_id``, a refused token renewed once, and rate
limits (429, Canvas's 403) backed off. The membership is kept per platform and context for a
short time (``LTI_BRIDGE_ROSTER_MEMBERSHIP_TTL_SECONDS``), so an instructor paging, filtering
and exporting the roster costs the platform one read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pylti1p3.registration import Registration

from lti_bridge.adapters.platform.ags import AgsError
from lti_bridge.adapters.platform.gradebook import PlatformReader
from lti_bridge.services.roster_ports import Member, MembershipSource

log = logging.getLogger("lti_bridge.nrps")

SCOPE_MEMBERSHIP_READONLY = (
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
)
MEMBERSHIP_CONTAINER = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def member_of(entry: dict[str, Any]) -> Member | None:
    """One NRPS member entry as a ``Member``; None without a user id."""
    user_id = entry.get("user_id")
    if not isinstance(user_id, str | int) or isinstance(user_id, bool) or str(user_id) == "":
        return None
    roles = entry.get("roles")
    name = _text(entry.get("name")) or " ".join(
        p for p in (_text(entry.get("given_name")), _text(entry.get("family_name"))) if p
    )
    status = entry.get("status")
    return Member(
        user_id=str(user_id),
        roles=tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
        name=name or None,
        email=_text(entry.get("email")),
        person_sourcedid=_text(entry.get("lis_person_sourcedid")),
        # Members are active unless the platform says otherwise (NRPS 2.0, section 2.3).
        active=not isinstance(status, str) or status.strip().lower() == "active",
    )


def _members(page: Any) -> Any:
    return page.get("members") if isinstance(page, dict) else page


class NrpsMembership:
    """The ``CourseMembership`` port over NRPS, with a short cache per platform and context."""

    def __init__(
        self,
        reader: PlatformReader,
        find_registration: Callable[[str, str | None], Registration | None],
        *,
        ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._find = find_registration
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, tuple[Member, ...]]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def members(self, source: MembershipSource) -> tuple[Member, ...]:
        url = source.memberships_url
        if not url:
            raise AgsError("no NRPS endpoint known for the context", url="(none)")
        key = (source.issuer, url)
        cached = self._cache.get(key)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        # One read per context at a time: concurrent roster views wait for it, not the platform.
        with key_lock:
            cached = self._cache.get(key)
            if cached is not None and self._clock() < cached[0]:
                return cached[1]
            members = self._read(source, url)
            self._cache[key] = (self._clock() + self._ttl, members)
            return members

    def forget(self, source: MembershipSource) -> None:
        """Drop the cached membership of the context (the next view reads it again)."""
        self._cache.pop((source.issuer, source.memberships_url or ""), None)

    def _read(self, source: MembershipSource, url: str) -> tuple[Member, ...]:
        registration = self._find(source.issuer, source.client_id or None)
        if registration is None:
            raise AgsError(f"platform {source.issuer} is no longer registered", url=url)
        started = time.perf_counter()
        found: list[Member] = []
        for entry in self._reader.listing(
            registration,
            url,
            MEMBERSHIP_CONTAINER,
            scopes=(SCOPE_MEMBERSHIP_READONLY,),
            entries=_members,
            key="user_id",
        ):
            member = member_of(entry)
            if member is not None:
                found.append(member)
        log.info(
            "NRPS membership read context=%s members=%d in %.0f ms",
            source.context_id, len(found), (time.perf_counter() - started) * 1000,
        )
        return tuple(found)
