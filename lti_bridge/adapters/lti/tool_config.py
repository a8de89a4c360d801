"""pylti1p3 tool configuration read from the database (shaped like its DjangoDbToolConf)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from lti_bridge.adapters.db.tables import deployments, platforms
from lti_bridge.adapters.expiring import Expiring, ExpiringMap
from lti_bridge.adapters.lti import keys as tool_keys_module
from lti_bridge.adapters.lti.keys import ToolKey

log = logging.getLogger("lti_bridge.platforms")


class ToolKeyRing:
    """The tool's signing key, re-read at most every ``ttl`` seconds so rotation spreads fast."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], ttl: float = 30.0) -> None:
        self._engine = engine
        self._clock = clock
        self._key = Expiring(self._ensure, ttl)

    def _ensure(self) -> ToolKey:
        with self._engine.begin() as conn:
            return tool_keys_module.ensure_key(conn, self._clock())

    def signing_key(self) -> ToolKey:
        return self._key.get()

    def all_keys(self) -> tuple[list[ToolKey], ToolKey | None]:
        """Every key, and the one that signs (None before the first)."""
        with self._engine.connect() as conn:
            return tool_keys_module.list_keys(conn), tool_keys_module.signing_key(conn)

    def published_jwks(self) -> dict[str, Any]:
        """The key set platforms verify the tool's messages with; a new installation gets its
        first key on first use."""
        self.signing_key()
        with self._engine.connect() as conn:
            return tool_keys_module.published_jwks(conn)

    def rotate(self) -> ToolKey:
        """A new signing key; the previous one stays published until retired."""
        with self._engine.begin() as conn:
            key = tool_keys_module.generate_key(conn, self._clock())
        self._key.expire()
        return key

    def retire(self, kid: str) -> str:
        """Retire ``kid``: 'retired', 'unknown', 'already retired' or 'last key'."""
        with self._engine.begin() as conn:
            outcome = tool_keys_module.retire_key(conn, kid, self._clock())
        self._key.expire()
        return outcome


def origin_of(url: str | None) -> str:
    """``scheme://host[:port]`` of an http(s) URL, lower-cased; "" for anything else."""
    parts = urlsplit(url or "")
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


class PlatformRecord(Registration):
    """A pylti1p3 registration that also carries the row id and the allowed deployments."""

    def __init__(self, platform_id: int, deployment_ids: frozenset[str]) -> None:
        super().__init__()
        self.platform_id = platform_id
        self.deployment_ids = deployment_ids


class PlatformRegistrationCache:
    """Registrations by issuer and client id, shared by one process's requests for ``ttl`` s.

    A launch then costs no query for its registration. Changes made with the CLI reach every
    worker within ``ttl``; a deployment the cached entry does not know is looked up again at
    once (``DbToolConf.find_deployment_by_params``), so ``platform allow-deployment`` works on
    the very next launch. Misses are not cached: a new ``platform add`` needs no waiting either.
    """

    def __init__(self, engine: Engine, ttl: float = 30.0) -> None:
        self._engine = engine
        self._entries: ExpiringMap[tuple[str, str], tuple[PlatformRecord, list[str]]] = (
            ExpiringMap(ttl)
        )
        # Read again after ``ttl`` whatever happens: a header must not take a request down
        # with the database, and the origins last read (or none) serve meanwhile.
        self._origins: Expiring[frozenset[str]] = Expiring(
            self._read_origins,
            ttl,
            initial=frozenset(),
            keep_on=(SQLAlchemyError,),
            on_error=lambda exc: log.warning(
                "platform origins not read (frame-ancestors kept): %s", exc
            ),
        )

    def frame_origins(self) -> frozenset[str]:
        """The origins of every registered platform (issuer and login URL), which may frame
        the tool: read at most every ``ttl`` s, and at once for a platform a login just found."""
        return self._origins.get()

    def _read_origins(self) -> frozenset[str]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(platforms.c.issuer, platforms.c.auth_login_url)).all()
        return frozenset(origin_of(url) for row in rows for url in row) - {""}

    def _saw(self, record: PlatformRecord) -> None:
        found = {origin_of(record.get_issuer()), origin_of(record.get_auth_login_url())} - {""}
        self._origins.amend(lambda origins: (origins or frozenset()) | found)

    def get(
        self, iss: str, client_id: str | None, *, fresh: bool = False
    ) -> tuple[PlatformRecord | None, list[str]]:
        """The registration (or None) and the client ids the issuer has."""
        key = (iss, client_id or "")
        entry = self._entries.get(key)
        if entry is not None and not fresh:
            return entry
        record, candidates = self._load(iss, client_id)
        if record is None:
            self._entries.pop(key)
        else:
            self._saw(record)
            self._entries.put(key, (record, candidates))
        return record, candidates

    def _load(self, iss: str, client_id: str | None) -> tuple[PlatformRecord | None, list[str]]:
        stmt = (
            select(platforms, deployments.c.deployment_id)
            .outerjoin(deployments, deployments.c.platform_id == platforms.c.id)
            .where(platforms.c.issuer == iss)
        )
        if client_id:
            stmt = stmt.where(platforms.c.client_id == client_id)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        by_platform: dict[int, list[Any]] = {}
        for row in rows:
            by_platform.setdefault(row["id"], []).append(row)
        candidates = sorted({row["client_id"] for row in rows})
        if len(by_platform) != 1:
            # None, or several client ids under one issuer and the login did not say which.
            return None, candidates
        ((platform_id, platform_rows),) = by_platform.items()
        first = platform_rows[0]
        record = PlatformRecord(
            platform_id,
            frozenset(r["deployment_id"] for r in platform_rows if r["deployment_id"]),
        )
        record.set_issuer(first["issuer"]).set_client_id(first["client_id"])
        record.set_auth_login_url(first["auth_login_url"])
        record.set_auth_token_url(first["auth_token_url"])
        record.set_key_set_url(first["key_set_url"])
        if first["auth_audience"]:
            record.set_auth_audience(first["auth_audience"])
        return record, candidates


class DbToolConf(ToolConfAbstract[Any]):
    """Registrations and deployments from the ``platforms`` and ``deployments`` tables.

    One issuer may hold several client ids (Canvas-style), so every lookup is by issuer and
    client id. A launch's registration and its deployments come back in one query and are kept
    on this (per-request) object, so validating the deployment costs no second round trip.
    """

    def __init__(self, keyring: ToolKeyRing, cache: PlatformRegistrationCache) -> None:
        super().__init__()
        self._keyring = keyring
        self._cache = cache
        self._found: dict[tuple[str, str], PlatformRecord | None] = {}
        self.candidates: list[str] = []

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find(
        self, iss: str, client_id: str | None, *, fresh: bool = False
    ) -> PlatformRecord | None:
        key = (iss, client_id or "")
        if fresh or key not in self._found:
            self._found[key], self.candidates = self._cache.get(iss, client_id, fresh=fresh)
        return self._found[key]

    def _with_tool_key(self, record: PlatformRecord | None) -> PlatformRecord | None:
        if record is not None and record.get_tool_private_key() is None:
            key = self._keyring.signing_key()
            record.set_tool_private_key(key.private_key_pem)
        return record

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        return self._with_tool_key(self.find(iss, None))  # type: ignore[return-value]

    def find_registration_by_params(
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Registration:
        return self._with_tool_key(self.find(iss, client_id))  # type: ignore[return-value]

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        record = self.find(iss, client_id)
        if record is not None and deployment_id not in record.deployment_ids:
            # Allowed since the cache was filled? The database says, once.
            record = self._with_tool_key(self.find(iss, client_id, fresh=True))
        if record is None or deployment_id not in record.deployment_ids:
            return None
        return Deployment().set_deployment_id(deployment_id)

    def get_jwks(self, iss: str | None = None, client_id: str | None = None, **kwargs: Any) -> Any:
        return {"keys": [self._keyring.signing_key().public_jwk]}
