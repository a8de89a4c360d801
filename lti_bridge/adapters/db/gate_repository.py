"""The credit gate's reads: one query from the launching learner to their SIS registrations.

On PostgreSQL the query rides in the launch's state consume (``facts_read_ahead``); elsewhere, or
when what was read ahead was not for this learner, it runs on its own.

Isolation: everything starts from the launch's own identity: the ``learners`` row of its
platform (platform id and ``sub``), and SIS records reached only through the launch's
``person_sourcedid``, or the platform user id the SIS gave (or, where allowed, the email) when
the SIS's record names the launch's platform. A section comes from the LIS claim only when the
catalog binds it to the launch's platform or to any; else from the catalog's mapping of the
platform's context (CONTRACT §3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import lru_cache, partial
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    FromClause,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)

from lti_bridge.adapters.db.catalog_repository import ANY_PLATFORM, section_for_context
from lti_bridge.adapters.db.driver import DriverStatement
from lti_bridge.adapters.db.read_ahead import ReadAhead
from lti_bridge.adapters.db.tables import (
    catalog_settings,
    learners,
    offerings,
    registrations,
    sis_sections,
    sis_sessions,
    sis_students,
)
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.expiring import Expiring
from lti_bridge.domain.model import LaunchContext, LinkAccess
from lti_bridge.domain.policy import (
    GateSettings,
    RegistrationStatus,
    SectionInfo,
    SessionWindow,
    TuitionStatus,
    default_window,
)
from lti_bridge.domain.student import (
    CourseRegistration,
    SectionView,
    StudentRecord,
    the_student,
)
from lti_bridge.domain.student import learner_state as student_learner_state
from lti_bridge.services.gate_ports import GateFacts

_T = TypeVar("_T")


def _facts_select(anchor: FromClause, *, by_email: bool) -> Select[Any]:
    """The learner's onboarding and SIS registrations, as outer joins from ``anchor``'s row."""
    issuer = bindparam("issuer", type_=String)
    email = bindparam("email", type_=String)
    match = or_(
        sis_students.c.sis_id == bindparam("person_sourcedid", type_=String),
        and_(
            sis_students.c.platform_user_id == bindparam("sub", type_=String), on_platform(issuer)
        ),
        *(
            [and_(func.lower(sis_students.c.email) == func.lower(email), on_platform(issuer))]
            if by_email
            else []
        ),
    )
    own_learner = and_(
        learners.c.platform_id == bindparam("platform_id", type_=Integer),
        learners.c.sub == bindparam("sub", type_=String),
    )
    return select(*FACT_COLUMNS, _LIS_SECTION_ISSUER).select_from(
        with_registrations(anchor.outerjoin(learners, own_learner).outerjoin(sis_students, match))
    )


def on_platform(issuer: Any) -> Any:
    """Whether an SIS student's platform user id (and email) are identities on ``issuer``: the
    platform the SIS named for them, else the one the setting names for the SIS's ids."""
    return func.coalesce(
        sis_students.c.platform_issuer, bindparam("sis_platform_issuer", type_=String)
    ) == issuer


#: The platform the catalog binds the LIS claim's section to: "" any, NULL not in the catalog.
_LIS_SECTION_ISSUER = (
    select(offerings.c.issuer)
    .where(offerings.c.section_sis_id == bindparam("lis_section", type_=String))
    .scalar_subquery()
    .label("lis_section_issuer")
)


def honours_section(bound_issuer: str | None, issuer: str) -> bool:
    """Whether a section the catalog binds to ``bound_issuer`` may be named by a launch of the
    platform ``issuer`` (None: a section the catalog does not bind to any platform)."""
    return bound_issuer in (None, ANY_PLATFORM, issuer)


#: A section with its session, as ``_section`` reads them.
_SECTION_COLUMNS = (
    sis_sections.c.course_code,
    sis_sections.c.credit_hours,
    sis_sections.c.session_code,
    sis_sessions.c.starts_on,
    sis_sessions.c.ends_on,
    sis_sessions.c.enrollment_opens_at,
    sis_sessions.c.enrollment_closes_at,
)
#: What the policy needs of an SIS student, row by row: one row per registration.
STUDENT_COLUMNS = (
    sis_students.c.sis_id.label("student_sis_id"),
    sis_students.c.platform_user_id,
    sis_students.c.hold_active,
    sis_students.c.hold_reason,
    sis_students.c.onboarding_passed_at,
    registrations.c.sis_id.label("registration_sis_id"),
    registrations.c.section_sis_id,
    registrations.c.status,
    registrations.c.tuition_status,
    registrations.c.enrolled_at,
    registrations.c.first_restricted_access_at,
    *_SECTION_COLUMNS,
)
#: The same with the launching learner's onboarding pass read from the platform's gradebook.
FACT_COLUMNS = (
    learners.c.onboarding_passed_at.label("learner_onboarding_passed_at"),
    *STUDENT_COLUMNS,
)


def with_registrations(students: FromClause) -> FromClause:
    """``students`` (a FROM holding ``sis_students``) outer-joined to each student's
    registrations, their sections and sessions: what ``FACT_COLUMNS`` reads."""
    return (
        students.outerjoin(registrations, registrations.c.student_sis_id == sis_students.c.sis_id)
        .outerjoin(sis_sections, sis_sections.c.sis_id == registrations.c.section_sis_id)
        .outerjoin(sis_sessions, sis_sessions.c.code == sis_sections.c.session_code)
    )


# A read on its own starts from a one-row anchor; one riding with the consume, from its row.
_ANCHOR = select(literal_column("1").label("anchor")).subquery("launch")
_BUILD = {by_email: partial(_facts_select, by_email=by_email) for by_email in (False, True)}
_FACTS = {by_email: DriverStatement(build(_ANCHOR)) for by_email, build in _BUILD.items()}


def _identity(platform_id: int, launch: LaunchContext, sis_platform_issuer: str) -> dict[str, Any]:
    # Who the launch says the learner is. The gate reads by these values rather than through
    # the ``learners`` row, which the launch's own upsert sets to the same values: so the read
    # need not wait for the upsert, and can ride with the state consume (``facts_read_ahead``).
    return {
        "platform_id": platform_id,
        "issuer": launch.issuer,
        "sub": launch.user_sub,
        "person_sourcedid": launch.person_sourcedid,
        "email": launch.email,
        "sis_platform_issuer": sis_platform_issuer or None,
        "lis_section": launch.sis_section_id,
    }


def facts_read_ahead(
    platform_id: int,
    launch: LaunchContext,
    *,
    link_by_email: bool,
    sis_platform_issuer: str = "",
) -> ReadAhead | None:
    """The gate's read for a learner's launch of restricted content, to ride with the consume.

    None for a launch the gate does not see (open content, staff).
    """
    if launch.access is not LinkAccess.FOR_CREDIT or launch.is_staff:
        return None
    return ReadAhead(
        name=("gate-facts", link_by_email),
        build=_BUILD[link_by_email],
        params=_identity(platform_id, launch, sis_platform_issuer),
    )


_SECTION = (
    select(sis_sections.c.sis_id, *_SECTION_COLUMNS)
    .select_from(sis_sections)
    .outerjoin(sis_sessions, sis_sessions.c.code == sis_sections.c.session_code)
)

# The first access, written when the unit of work commits. Asked to be durable on PostgreSQL,
# the one statement waits for the WAL flush although it runs on a statement connection that
# relaxes its commits: ``set_config(…, true)`` lasts to the end of the statement's own
# transaction and is evaluated for the row it updates, so durability costs no round trip.
_FIRST_ACCESS = {
    (dialect, durable): DriverStatement(
        update(registrations)
        .where(
            registrations.c.sis_id == bindparam("rid"),
            registrations.c.first_restricted_access_at.is_(None),
            *(
                [func.set_config("synchronous_commit", "on", True) == literal("on")]
                if dialect == "postgresql" and durable
                else []
            ),
        )
        .values(first_restricted_access_at=bindparam("now"))
    )
    for dialect in ("postgresql", "sqlite")
    for durable in (False, True)
}


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _session(row: Any) -> SessionWindow | None:
    return _session_window(
        row.session_code,
        row.starts_on,
        row.ends_on,
        row.enrollment_opens_at,
        row.enrollment_closes_at,
    )


def _section(row: Any, sis_id: str) -> SectionInfo:
    return _section_info(
        sis_id,
        row.course_code,
        row.credit_hours,
        row.session_code,
        row.starts_on,
        row.ends_on,
        row.enrollment_opens_at,
        row.enrollment_closes_at,
    )


# Sections and sessions as the policy sees them, built once per distinct set of stored values:
# the same few sections come back launch after launch, and building one (time zones checked,
# window validated) costs more than the rest of a decision. The values are the whole key, so a
# changed session is a new entry, never a stale one.
@lru_cache(maxsize=4096)
def _section_info(
    sis_id: str,
    course_code: str,
    credit_hours: int,
    session_code: str | None,
    starts_on: date | None,
    ends_on: date | None,
    opens_at: datetime | None,
    closes_at: datetime | None,
) -> SectionInfo:
    session = _session_window(session_code, starts_on, ends_on, opens_at, closes_at)
    return SectionInfo(sis_id, course_code, int(credit_hours), session)


@lru_cache(maxsize=4096)
def _session_window(
    code: str | None,
    starts_on: date | None,
    ends_on: date | None,
    opens_at: datetime | None,
    closes_at: datetime | None,
) -> SessionWindow | None:
    if code is None or starts_on is None or ends_on is None:
        return None
    opens, closes = _aware(opens_at), _aware(closes_at)
    if opens is None or closes is None:
        return default_window(code, starts_on, ends_on)
    return SessionWindow(code, starts_on, ends_on, opens, closes)


class SqlAlchemyGateRepository:
    def __init__(self, statements: ThreadConnections, sis_platform_issuer: str = "") -> None:
        self._statements = statements
        self._sis_platform_issuer = sis_platform_issuer
        #: First accesses to write when the unit of work commits.
        self.pending: list[dict[str, Any]] = []

    def facts(
        self,
        platform_id: int,
        launch: LaunchContext,
        *,
        link_by_email: bool,
    ) -> GateFacts:
        """Everything a decision needs: rows read with the state consume when they were read
        for this launch's learner, else one statement (two more on the refusal path) on the
        thread's statement connection: no transaction, no write lock, no pool checkout.
        """
        read = facts_read_ahead(
            platform_id,
            launch,
            link_by_email=link_by_email,
            sis_platform_issuer=self._sis_platform_issuer,
        )
        rows = self._statements.read_ahead.take(read) if read is not None else None
        if rows is None:
            identity = _identity(platform_id, launch, self._sis_platform_issuer)
            rows = self._read(partial(_FACTS[link_by_email].rows, params=identity))
        return self._facts(rows, launch)

    def _read(self, statement: Callable[[Connection], _T]) -> _T:
        with self._statements.connection() as conn:
            return statement(conn)

    def _facts(self, rows: Sequence[Any], launch: LaunchContext) -> GateFacts:
        # Rows reach here only by a match the query allowed on this launch's platform.
        student = the_student(
            student_records(rows),
            person_sourcedid=launch.person_sourcedid,
            user_sub=launch.user_sub,
        )
        first = rows[0] if rows else None
        # Onboarding passed in the SIS, or read from this platform's gradebook (R2).
        onboarding = bool(
            first is not None and first.learner_onboarding_passed_at is not None
        ) or bool(student is not None and student.onboarding_passed)
        # The LIS claim names the section only where the catalog lets this platform name it.
        claimed = launch.sis_section_id
        if claimed and first is not None and not honours_section(
            first.lis_section_issuer, launch.issuer
        ):
            claimed = None
        section_id = claimed or (
            self._read(
                partial(section_for_context, context_id=launch.context_id, issuer=launch.issuer)
            )
            if launch.context_id
            else None
        )
        found = student.seen_from(section_id) if student is not None else SectionView()
        section = found.section
        upcoming: tuple[SessionWindow, ...] = ()
        if section is None and section_id:
            # Refusal path (not registered here): the section and later sessions of its course.
            section = self._read(partial(section_by_id, sis_id=section_id))
            if section is not None and found.registration is None:
                upcoming = self._read(partial(_sessions_offering, course_code=section.course_code))
        learner = student_learner_state(student, found, section, onboarding_passed=onboarding)
        return GateFacts(learner, section, found.registration, upcoming)

    def record_first_access(self, registration_sis_id: str, now: datetime) -> None:
        """Record the first opening of restricted content (DOMAIN R9) when the unit of work
        commits; later ones change nothing (the IS NULL guard keeps a concurrent first access
        from moving it)."""
        self.pending.append({"rid": registration_sis_id, "now": now})

    def flush(self, *, durable: bool) -> int:
        """Write what waits for the commit, each as one statement on the thread's statement
        connection (no transaction, no pool checkout); how many first accesses were new."""
        written = 0
        statement = _FIRST_ACCESS[(self._statements.dialect_name, durable)]
        for params in self.pending:
            with self._statements.connection(write=True) as conn:
                written += statement.execute(conn, params)[1]
        self.pending = []
        return written


_SECTION_BY_ID = DriverStatement(_SECTION.where(sis_sections.c.sis_id == bindparam("sis_id")))
_SECTIONS_OF_COURSE = DriverStatement(
    _SECTION.where(
        and_(sis_sections.c.course_code == bindparam("course"), sis_sessions.c.code.isnot(None))
    )
)


def section_by_id(conn: Connection, sis_id: str) -> SectionInfo | None:
    """The section with its session, as the policy sees it; None when the SIS never named it."""
    rows = _SECTION_BY_ID.rows(conn, {"sis_id": sis_id})
    return _section(rows[0], sis_id) if rows else None


def _sessions_offering(conn: Connection, course_code: str) -> tuple[SessionWindow, ...]:
    rows = _SECTIONS_OF_COURSE.rows(conn, {"course": course_code})
    windows = {row.session_code: _session(row) for row in rows}
    return tuple(w for w in windows.values() if w is not None)


def student_records(rows: Sequence[Any]) -> list[StudentRecord]:
    """Rows of ``STUDENT_COLUMNS`` (one per registration, students in any order) as one
    ``StudentRecord`` per student, in the order the students first appear."""
    by_student: dict[str, list[Any]] = {}
    for row in rows:
        if row.student_sis_id is not None:
            by_student.setdefault(row.student_sis_id, []).append(row)
    return [_record(group) for group in by_student.values()]


def _record(rows: Sequence[Any]) -> StudentRecord:
    first = rows[0]
    return StudentRecord(
        sis_id=first.student_sis_id,
        platform_user_id=first.platform_user_id,
        hold_active=bool(first.hold_active),
        hold_reason=first.hold_reason,
        onboarding_passed=any(r.onboarding_passed_at is not None for r in rows),
        registrations=tuple(_course(r) for r in rows if r.registration_sis_id is not None),
    )


def _course(row: Any) -> CourseRegistration:
    return CourseRegistration(
        sis_id=row.registration_sis_id,
        section_sis_id=row.section_sis_id,
        status=RegistrationStatus(row.status),
        tuition_status=TuitionStatus(row.tuition_status),
        enrolled_at=_aware(row.enrolled_at),
        first_restricted_access_at=_aware(row.first_restricted_access_at),
        course_code=row.course_code,
        session_code=row.session_code,
        starts_on=row.starts_on,
        section=(
            _section(row, row.section_sis_id)
            if row.course_code is not None and row.section_sis_id is not None
            else None
        ),
    )


class CatalogGateSettings:
    """The gate's links and limits: the imported catalog's, over the environment's defaults.

    Read at most every ``ttl`` seconds per process, so a launch pays no query for them and a
    new ``lti-bridge catalog import`` reaches every worker within ``ttl``.
    """

    def __init__(self, engine: Engine, defaults: GateSettings, ttl: float = 30.0) -> None:
        self._engine = engine
        self._defaults = defaults
        self._value = Expiring(self._read, ttl)

    def current(self) -> GateSettings:
        return self._value.get()

    def _read(self) -> GateSettings:
        with self._engine.connect() as conn:
            document = conn.execute(
                select(catalog_settings.c.document).order_by(catalog_settings.c.id.desc()).limit(1)
            ).scalar()
        return _merge(self._defaults, document or {})


def _merge(defaults: GateSettings, document: dict[str, Any]) -> GateSettings:
    university = document.get("university") or {}
    limits = document.get("limits") or {}
    onboarding = document.get("onboarding") or {}
    return replace(
        defaults,
        payment_url=university.get("payment_url") or defaults.payment_url,
        help_url=university.get("help_url") or defaults.help_url,
        max_courses_per_session=int(
            limits.get("max_courses_per_session") or defaults.max_courses_per_session
        ),
        max_program_years=int(limits.get("max_program_years") or defaults.max_program_years),
        onboarding_url=onboarding.get("url") or defaults.onboarding_url,
    )
