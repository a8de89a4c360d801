"""The composition root: settings in, one ``Services`` bundle out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import requests
from sqlalchemy import Engine

from lti_bridge.adapters.db.engine import database_problem, make_engine
from lti_bridge.adapters.db.gate_repository import CatalogGateSettings, facts_read_ahead
from lti_bridge.adapters.db.outbox_repository import SqlAlchemyOutboxRepository
from lti_bridge.adapters.db.read_ahead import ReadAhead
from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.uow import SqlAlchemyUnitOfWork
from lti_bridge.adapters.expiring import ExpiringMap
from lti_bridge.adapters.lti.launch import HardenedMessageLaunch
from lti_bridge.adapters.lti.platform_keys import PlatformKeyCache
from lti_bridge.adapters.lti.store import RedisLaunchStore, SharedLaunchStore, SqlLaunchStore
from lti_bridge.adapters.lti.tool_config import DbToolConf, PlatformRegistrationCache, ToolKeyRing
from lti_bridge.adapters.platform.ags import AgsClient, AgsGradebook
from lti_bridge.adapters.platform.carryover import (
    AgsCarryover,
    AgsLimiter,
    EnvironmentOnceSession,
)
from lti_bridge.adapters.platform.gradebook import (
    AgsSectionGradebook,
    PlatformCourseGradebook,
    PlatformReader,
    ShownCourseGradebook,
)
from lti_bridge.adapters.platform.nrps import NrpsMembership
from lti_bridge.adapters.sis.oneroster import OneRosterGradebook
from lti_bridge.config import Settings
from lti_bridge.domain.carryover import AGS_SCORE, CARRYOVER_PLAN
from lti_bridge.domain.model import LaunchContext
from lti_bridge.domain.outbox import OutboxEntry, RetryPolicy, SisReply
from lti_bridge.domain.policy import GateSettings
from lti_bridge.services.carryover import run_plan
from lti_bridge.services.relay import RelaySettings, Sender

#: How old the scores shown on a roster filtered, searched or sorted again may be (a staff launch
#: reads them afresh, and releasing grades always does).
SHOWN_GRADEBOOK_SECONDS = 30.0


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
    platform_registrations: PlatformRegistrationCache
    ags: AgsClient
    gate_settings: CatalogGateSettings
    statements: ThreadConnections
    #: The SIS's gradebook; None without LTI_BRIDGE_SIS_BASE_URL (grades queue, nothing sends).
    gradebook: OneRosterGradebook | None = None
    recent_writes: RecentWrites = field(default_factory=RecentWrites)
    clock: Callable[[], datetime] = field(default=utc_now)
    _membership: NrpsMembership | None = field(default=None, repr=False)

    def uow(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            self.engine, self.recent_writes, self.statements, self.settings.sis_platform_issuer
        )

    def database_problem(self) -> str | None:
        """None when the database answers; else the name of its error (``/readyz``, ``/``)."""
        return database_problem(self.engine)

    def message_launch(
        self, request: Any, session: Any, cookies: Any, *, storage_proof: str | None
    ) -> HardenedMessageLaunch:
        """The launch message of a request (pylti1p3's request, session and cookie services)."""
        return HardenedMessageLaunch(
            request,
            self.tool_conf(),
            session,
            cookies,
            store=self.store,
            key_cache=self.key_cache,
            # The process's session: pylti1p3 otherwise builds a requests.Session per launch.
            requests_session=self.http,
            leeway=self.settings.jwt_leeway_seconds,
            storage_proof=storage_proof,
            # The credit gate's read rides with the state consume (one round trip for both).
            read_ahead=self._gate_read_ahead,
        )

    def _gate_read_ahead(self, platform_id: int, launch: LaunchContext) -> ReadAhead | None:
        return facts_read_ahead(
            platform_id,
            launch,
            link_by_email=self.settings.link_learners_by_email,
            sis_platform_issuer=self.settings.sis_platform_issuer,
        )

    def launch_gradebook(self, context: LaunchContext) -> AgsGradebook:
        """The gradebook of a launch's context, through the AGS endpoints and scopes the launch
        carried (the onboarding check reads it while the learner waits)."""
        return AgsGradebook(
            self.ags,
            self.tool_conf().find(context.issuer, context.client_id),
            context.ags_lineitems_url,
            context.ags_scopes,
            deadline_seconds=self.settings.ags_check_deadline_seconds,
        )

    def tool_conf(self) -> DbToolConf:
        return DbToolConf(self.keyring, self.platform_registrations)

    def course_membership(self) -> NrpsMembership:
        """The platform's course membership (NRPS), cached briefly per context, one per process."""
        if self._membership is None:
            conf = self.tool_conf()
            self._membership = NrpsMembership(
                PlatformReader(self.ags, self.http, self.settings.http_timeout_seconds),
                lambda issuer, client_id: conf.find_registration_by_params(issuer, client_id),
                ttl_seconds=self.settings.roster_membership_ttl_seconds,
            )
        return self._membership

    def course_gradebook(self) -> PlatformCourseGradebook:
        """A for-credit course's whole gradebook, read through AGS (final grades)."""
        reader = AgsSectionGradebook(self.ags, self.http, self.settings.http_timeout_seconds)
        conf = self.tool_conf()
        return PlatformCourseGradebook(
            reader, lambda issuer, client_id: conf.find_registration_by_params(issuer, client_id)
        )

    def shown_course_gradebook(self, *, fresh: bool) -> ShownCourseGradebook:
        """The same, for showing scores on the roster: unless ``fresh``, what a read within
        ``SHOWN_GRADEBOOK_SECONDS`` found (releasing reads ``course_gradebook``)."""
        return ShownCourseGradebook(self.course_gradebook(), self._shown_gradebooks, fresh=fresh)

    @cached_property
    def _shown_gradebooks(self) -> ExpiringMap[Any, Any]:
        return ExpiringMap(SHOWN_GRADEBOOK_SECONDS, max_entries=64)

    @cached_property
    def ags_carryover(self) -> AgsCarryover:
        """Carry-over's AGS reads and score posts, bounded per platform (docs/carryover.md)."""
        s = self.settings
        http = EnvironmentOnceSession()
        http.headers["User-Agent"] = "lti-bridge/0.1"
        size = max(10, s.relay_concurrency, 2 * s.ags_max_in_flight)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=size)
        http.mount("http://", adapter)
        http.mount("https://", adapter)
        conf = self.tool_conf()
        return AgsCarryover(
            self.ags,
            http,
            s.http_timeout_seconds,
            lambda issuer, client_id: conf.find_registration_by_params(issuer, client_id),
            AgsLimiter(s.ags_max_in_flight),
        )

    def carryover_next_due(self) -> datetime | None:
        """When carry-over's next outbox message comes due, read on the thread's autocommitted
        connection: an idle relay's check opens no transaction (on SQLite none takes the write
        lock, and a worker forked meanwhile inherits none)."""
        with self.statements.connection() as conn:
            return SqlAlchemyOutboxRepository(conn).next_due((CARRYOVER_PLAN, AGS_SCORE))

    def carryover_senders(self) -> dict[str, Sender]:
        """The relay's senders for carry-over's outbox kinds."""
        ags = self.ags_carryover

        def plan(entry: OutboxEntry, deadline: datetime) -> SisReply:
            return run_plan(entry.payload, uow=self.uow, gradebook=ags, clock=self.clock)

        return {CARRYOVER_PLAN: plan, AGS_SCORE: ags.post_score}

    def relay_settings(self) -> RelaySettings:
        s = self.settings
        return RelaySettings(
            batch_size=s.relay_batch_size,
            lease_seconds=float(s.relay_lease_seconds),
            # connect + read: requests applies the timeout to each.
            request_timeout_seconds=2 * s.http_timeout_seconds,
            policy=RetryPolicy(
                base_seconds=s.relay_backoff_base_seconds,
                cap_seconds=s.relay_backoff_cap_seconds,
                max_attempts=s.relay_max_attempts,
            ),
        )


def build_http_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "lti-bridge/0.1"
    return session


def build_gradebook(
    settings: Settings, clock: Callable[[], datetime]
) -> OneRosterGradebook | None:
    """The SIS's OneRoster gradebook client, or None when no SIS base URL is set (CONTRACT §1)."""
    if not settings.sis_base_url:
        return None
    # Its own pool, as large as the relay's concurrency: the relay's threads share it.
    http = build_http_session()
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=2, pool_maxsize=max(10, settings.relay_concurrency)
    )
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return OneRosterGradebook(
        http,
        base_url=settings.sis_base_url,
        token_url=settings.sis_token_url,
        client_id=settings.sis_client_id,
        client_secret=settings.sis_client_secret,
        timeout=settings.http_timeout_seconds,
        clock=clock,
    )


def build_services(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> Services:
    """Wire the adapters for ``settings``; opens no connection until first use."""
    engine = make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        pool_timeout=settings.database_pool_timeout_seconds,
    )
    statements = ThreadConnections(engine)
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
        platform_registrations=PlatformRegistrationCache(engine),
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
        gradebook=build_gradebook(settings, clock),
        clock=clock,
    )
