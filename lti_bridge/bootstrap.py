"""The composition root: settings in, one ``Services`` bundle out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from sqlalchemy import Engine

from lti_bridge.adapters.db.companion import Companion
from lti_bridge.adapters.db.engine import make_engine
from lti_bridge.adapters.db.gate_repository import CatalogGateSettings, facts_companion
from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.statements import StatementConnections
from lti_bridge.adapters.db.uow import SqlAlchemyUnitOfWork
from lti_bridge.adapters.lti.platform_keys import PlatformKeyCache
from lti_bridge.adapters.lti.store import RedisLaunchStore, SharedLaunchStore, SqlLaunchStore
from lti_bridge.adapters.lti.tool_config import DbToolConf, RegistrationCache, ToolKeyRing
from lti_bridge.adapters.platform.ags import AgsClient
from lti_bridge.config import Settings
from lti_bridge.domain.model import LaunchContext
from lti_bridge.domain.policy import GateSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything a view or command needs, built once per process."""

    settings: Settings
    engine: Engine
    http: requests.Session
    store: SharedLaunchStore
    key_cache: PlatformKeyCache
    keyring: ToolKeyRing
    registrations: RegistrationCache
    ags: AgsClient
    gate_settings: CatalogGateSettings
    statements: StatementConnections
    recent_writes: RecentWrites = field(default_factory=RecentWrites)
    clock: Callable[[], datetime] = field(default=utc_now)

    def uow(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            self.engine, self.recent_writes, self.statements, self.settings.sis_platform_issuer
        )

    def gate_companion(self, platform_id: int, launch: LaunchContext) -> Companion | None:
        """The credit gate's read, for a launch's state consume to carry."""
        return facts_companion(
            platform_id,
            launch,
            link_by_email=self.settings.link_learners_by_email,
            sis_platform_issuer=self.settings.sis_platform_issuer,
        )

    def tool_conf(self) -> DbToolConf:
        return DbToolConf(self.keyring, self.registrations)


def build_http_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "lti-bridge/0.1"
    return session


def build_services(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> Services:
    """Wire the adapters for ``settings``; opens no connection until first use."""
    engine = make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        pool_timeout=settings.database_pool_timeout_seconds,
    )
    statements = StatementConnections(engine)
    http = build_http_session()
    store: SharedLaunchStore
    if settings.redis_url:
        import redis

        store = RedisLaunchStore(redis.Redis.from_url(settings.redis_url))
    else:
        store = SqlLaunchStore(engine, clock, statements)
    key_cache = PlatformKeyCache(
        http,
        timeout=settings.http_timeout_seconds,
        default_max_age=settings.platform_jwks_max_age_seconds,
        min_refetch=settings.platform_jwks_min_refetch_seconds,
        max_wait=settings.platform_jwks_max_wait_seconds,
    )
    keyring = ToolKeyRing(engine, clock)
    return Services(
        settings=settings,
        engine=engine,
        http=http,
        store=store,
        key_cache=key_cache,
        keyring=keyring,
        registrations=RegistrationCache(engine),
        ags=AgsClient(http, settings.http_timeout_seconds, keyring.signing_key, clock),
        gate_settings=CatalogGateSettings(
            engine,
            GateSettings(
                max_courses_per_session=settings.max_credit_courses_per_session,
                max_program_years=settings.max_program_years,
                payment_url=settings.payment_url,
                help_url=settings.help_url,
            ),
        ),
        statements=statements,
        clock=clock,
    )
