"""Carry-over in SQL: who may have their non-credit work carried, where the gradebooks are, and
the reports with their items and the outbox state of each plan and score post."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update

from lti_bridge.adapters.db.catalog_repository import ANY_PLATFORM, read_catalog_settings
from lti_bridge.adapters.db.tables import (
    carryover_items,
    carryover_reports,
    contexts,
    grade_audit,
    learners,
    offerings,
    outbox,
    platforms,
    registrations,
    sis_students,
)
from lti_bridge.adapters.db.upsert import insert_or_update
from lti_bridge.domain.carryover import AGS_SCORE, Outcome, PlannedItem, ReportStatus, plan_key
from lti_bridge.domain.outbox import OutboxState
from lti_bridge.services.carryover_ports import (
    Candidate,
    Endpoint,
    PlanSetup,
    Report,
    ReportItem,
)


def _decimal(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _candidates_select() -> Any:
    return (
        select(
            registrations.c.sis_id,
            registrations.c.student_sis_id,
            registrations.c.section_sis_id,
            registrations.c.status,
            registrations.c.tuition_status,
            registrations.c.updated_at,
            sis_students.c.onboarding_passed_at,
            sis_students.c.platform_user_id,
            carryover_reports.c.status.label("report_status"),
            carryover_reports.c.generation,
        )
        .select_from(
            registrations.join(
                offerings,
                and_(
                    offerings.c.section_sis_id == registrations.c.section_sis_id,
                    offerings.c.non_credit_context_id.is_not(None),
                ),
            )
            .outerjoin(sis_students, sis_students.c.sis_id == registrations.c.student_sis_id)
            .outerjoin(
                carryover_reports,
                and_(
                    carryover_reports.c.section_sis_id == registrations.c.section_sis_id,
                    carryover_reports.c.student_sis_id == registrations.c.student_sis_id,
                ),
            )
        )
        .order_by(registrations.c.updated_at, registrations.c.id)
    )


# Built once: every SIS registration event asks (``arm``), and building the statement cost
# more than running it.
_BY_STUDENTS = _candidates_select().where(
    registrations.c.student_sis_id.in_(bindparam("students", expanding=True))
)
_BY_SECTION = _candidates_select().where(
    registrations.c.section_sis_id == bindparam("section")
)


class SqlAlchemyCarryoverRepository:
    def __init__(self, conn: Connection, sis_platform_issuer: str = "") -> None:
        self.conn = conn
        self._sis_platform_issuer = sis_platform_issuer

    def record_action(
        self, candidate: Candidate, action: str, actor: str, now: datetime
    ) -> None:
        # The roster's staff actions, beside releases and overrides (``grade_audit``).
        self.conn.execute(
            insert(grade_audit).values(
                section_sis_id=candidate.section_sis_id,
                registration_sis_id=candidate.registration_sis_id,
                action=action,
                actor=actor,
                at=now,
            )
        )

    # --- who ----------------------------------------------------------------------------------

    def _candidates(self, stmt: Any, params: dict[str, Any]) -> list[Candidate]:
        rows = self.conn.execute(stmt, params).all()
        # One registration per student and section: a registered one wins, else the latest.
        chosen: dict[tuple[str, str], Any] = {}
        for row in rows:
            key = (row.section_sis_id, row.student_sis_id)
            held = chosen.get(key)
            if held is None or row.status == "registered" or held.status != "registered":
                chosen[key] = row
        onboarded = self._onboarded_by_learner(
            [r for r in chosen.values() if r.onboarding_passed_at is None]
        )
        plan_states = self._states(
            plan_key(r.section_sis_id, r.student_sis_id, r.generation)
            for r in chosen.values()
            if r.generation
        )
        return [
            Candidate(
                section_sis_id=r.section_sis_id,
                student_sis_id=r.student_sis_id,
                registration_sis_id=r.sis_id,
                status=r.status,
                tuition_status=r.tuition_status,
                onboarded=r.onboarding_passed_at is not None or r.student_sis_id in onboarded,
                report=ReportStatus(r.report_status) if r.report_status else None,
                generation=r.generation or 0,
                plan_state=plan_states.get(
                    plan_key(r.section_sis_id, r.student_sis_id, r.generation)
                )
                if r.generation
                else None,
            )
            for r in chosen.values()
        ]

    def _onboarded_by_learner(self, rows: Sequence[Any]) -> set[str]:
        """Students whose platform learner passed the onboarding check (recorded from AGS)."""
        if not rows:
            return set()
        ids = [r.student_sis_id for r in rows]
        by_user = {r.platform_user_id: r.student_sis_id for r in rows if r.platform_user_id}
        match = [learners.c.person_sourcedid.in_(ids)]
        if by_user:
            match.append(learners.c.sub.in_(list(by_user)))
        found: set[str] = set()
        for person, sub in self.conn.execute(
            select(learners.c.person_sourcedid, learners.c.sub).where(
                learners.c.onboarding_passed_at.is_not(None), or_(*match)
            )
        ):
            if person in ids:
                found.add(person)
            elif sub in by_user:
                found.add(by_user[sub])
        return found

    def candidates(self, student_sis_ids: Sequence[str]) -> list[Candidate]:
        return self._candidates(_BY_STUDENTS, {"students": list(student_sis_ids)})

    def section_candidates(self, section_sis_id: str) -> list[Candidate]:
        return self._candidates(_BY_SECTION, {"section": section_sis_id})

    def students_of_learner(self, platform_id: int, learner_sub: str) -> list[str]:
        row = self.conn.execute(
            select(learners.c.person_sourcedid, platforms.c.issuer)
            .select_from(learners.join(platforms, platforms.c.id == learners.c.platform_id))
            .where(learners.c.platform_id == platform_id, learners.c.sub == learner_sub)
        ).first()
        found: list[str] = []
        if row is not None and row.person_sourcedid:
            found.append(row.person_sourcedid)
        issuer = row.issuer if row is not None else None
        for sis_id, student_issuer in self.conn.execute(
            select(sis_students.c.sis_id, sis_students.c.platform_issuer).where(
                sis_students.c.platform_user_id == learner_sub
            )
        ):
            # A platform user id is an identifier on one platform only (CONTRACT §3).
            if (student_issuer or self._sis_platform_issuer) == issuer and sis_id not in found:
                found.append(sis_id)
        return found

    # --- the report's state -------------------------------------------------------------------

    def set_status(
        self,
        candidate: Candidate,
        status: ReportStatus,
        generation: int,
        now: datetime,
        error: str | None = None,
    ) -> None:
        insert_or_update(
            self.conn,
            carryover_reports,
            {
                "section_sis_id": candidate.section_sis_id,
                "student_sis_id": candidate.student_sis_id,
                "registration_sis_id": candidate.registration_sis_id,
                "status": status.value,
                "generation": generation,
                "error": error,
                "created_at": now,
                "updated_at": now,
            },
            keys=("section_sis_id", "student_sis_id"),
            update=("registration_sis_id", "status", "generation", "error", "updated_at"),
            returning=None,
        )

    def _fenced(self, setup: PlanSetup, now: datetime, **values: Any) -> int | None:
        """Update the report while it is queued at the setup's generation; its id, or None."""
        return self.conn.execute(
            update(carryover_reports)
            .where(
                carryover_reports.c.section_sis_id == setup.section_sis_id,
                carryover_reports.c.student_sis_id == setup.student_sis_id,
                carryover_reports.c.status == ReportStatus.QUEUED.value,
                carryover_reports.c.generation == setup.generation,
            )
            .values(updated_at=now, **values)
            .returning(carryover_reports.c.id)
        ).scalar()

    def record_plan(
        self,
        setup: PlanSetup,
        learner_sub: str,
        items: Sequence[tuple[PlannedItem, str | None]],
        now: datetime,
    ) -> bool:
        report_id = self._fenced(
            setup,
            now,
            status=ReportStatus.PLANNED.value,
            planned_at=now,
            error=None,
            platform_id=setup.platform_id,
            learner_sub=learner_sub,
        )
        if report_id is None:
            return False
        if setup.generation > 1:
            # An earlier planning's items give way to this one's.
            self.conn.execute(
                delete(carryover_items).where(carryover_items.c.report_id == report_id)
            )
        rows = [
            {
                "report_id": report_id,
                "position": position,
                "outcome": item.outcome.value,
                "label": item.label[:512],
                "non_credit_item_id": item.non_credit.id if item.non_credit else None,
                "for_credit_item_id": item.for_credit.id if item.for_credit else None,
                "score_given": str(item.score_given) if item.score_given is not None else None,
                "score_maximum": (
                    str(item.score_maximum) if item.score_maximum is not None else None
                ),
                "result_at": item.result_at,
                "message": item.message or None,
                "outbox_key": key,
            }
            for position, (item, key) in enumerate(items)
        ]
        if rows:
            self.conn.execute(insert(carryover_items), rows)
        return True

    def key_states(self, keys: Sequence[str]) -> dict[str, OutboxState]:
        """The state of each of ``keys`` the outbox already holds (one statement)."""
        return self._states(keys)

    def fail(self, setup: PlanSetup, error: str, now: datetime) -> bool:
        return self._fenced(setup, now, status=ReportStatus.FAILED.value, error=error) is not None

    def cancel(self, setup: PlanSetup, reason: str, now: datetime) -> bool:
        canceled = self._fenced(setup, now, status=ReportStatus.CANCELED.value, error=reason)
        return canceled is not None

    def withdraw_posts(self, candidate: Candidate, reason: str, now: datetime) -> int:
        result = self.conn.execute(
            update(outbox)
            .where(
                outbox.c.kind == AGS_SCORE,
                outbox.c.section_sis_id == candidate.section_sis_id,
                outbox.c.registration_sis_id == candidate.registration_sis_id,
                outbox.c.state == OutboxState.QUEUED.value,
            )
            .values(
                state=OutboxState.REJECTED.value,
                last_error=reason,
                finished_at=now,
                updated_at=now,
            )
        )
        return int(result.rowcount or 0)

    # --- where the gradebooks are -------------------------------------------------------------

    def plan_setup(self, section_sis_id: str, student_sis_id: str) -> PlanSetup | None:
        row = self.conn.execute(
            select(
                carryover_reports.c.status,
                carryover_reports.c.generation,
                carryover_reports.c.registration_sis_id,
                offerings.c.for_credit_context_id,
                offerings.c.non_credit_context_id,
                offerings.c.issuer,
                registrations.c.status.label("registration_status"),
                registrations.c.tuition_status,
                sis_students.c.platform_user_id,
                sis_students.c.platform_issuer,
            )
            .select_from(
                carryover_reports.join(
                    offerings, offerings.c.section_sis_id == carryover_reports.c.section_sis_id
                )
                .outerjoin(
                    registrations,
                    registrations.c.sis_id == carryover_reports.c.registration_sis_id,
                )
                .outerjoin(
                    sis_students, sis_students.c.sis_id == carryover_reports.c.student_sis_id
                )
            )
            .where(
                carryover_reports.c.section_sis_id == section_sis_id,
                carryover_reports.c.student_sis_id == student_sis_id,
            )
        ).first()
        if row is None:
            return None
        where = [
            contexts.c.context_id == row.for_credit_context_id,
            contexts.c.ags_lineitems_url.is_not(None),
        ]
        if row.issuer != ANY_PLATFORM:
            where.append(platforms.c.issuer == row.issuer)
        launched = self.conn.execute(
            select(
                contexts.c.platform_id,
                contexts.c.ags_lineitems_url,
                contexts.c.ags_scopes,
                platforms.c.issuer,
                platforms.c.client_id,
            )
            .select_from(contexts.join(platforms, platforms.c.id == contexts.c.platform_id))
            .where(*where)
            .order_by(contexts.c.updated_at.desc(), contexts.c.id.desc())
            .limit(1)
        ).first()
        non_credit = None
        subs: list[str] = []
        if launched is not None:
            source = self.conn.execute(
                select(contexts.c.ags_lineitems_url, contexts.c.ags_scopes).where(
                    contexts.c.platform_id == launched.platform_id,
                    contexts.c.context_id == row.non_credit_context_id,
                    contexts.c.ags_lineitems_url.is_not(None),
                )
            ).first()
            if source is not None:
                non_credit = Endpoint(source.ags_lineitems_url, tuple(source.ags_scopes or ()))
            match = [learners.c.person_sourcedid == student_sis_id]
            user_issuer = row.platform_issuer or self._sis_platform_issuer
            if row.platform_user_id and user_issuer == launched.issuer:
                match.append(learners.c.sub == row.platform_user_id)
            subs = list(
                self.conn.execute(
                    select(learners.c.sub)
                    .where(learners.c.platform_id == launched.platform_id, or_(*match))
                    .order_by(learners.c.last_launch_at.desc())
                ).scalars()
            )
        settings = read_catalog_settings(self.conn) or {}
        kinds = dict((settings.get("carryover") or {}).get("kinds") or {})
        return PlanSetup(
            section_sis_id=section_sis_id,
            student_sis_id=student_sis_id,
            registration_sis_id=row.registration_sis_id,
            status=ReportStatus(row.status),
            generation=row.generation,
            platform_id=launched.platform_id if launched else None,
            issuer=launched.issuer if launched else None,
            client_id=launched.client_id if launched else None,
            non_credit=non_credit,
            for_credit=(
                Endpoint(launched.ags_lineitems_url, tuple(launched.ags_scopes or ()))
                if launched
                else None
            ),
            learner_subs=tuple(subs),
            kinds=kinds,
            active=row.registration_status == "registered" and row.tuition_status == "paid",
        )

    # --- the reports --------------------------------------------------------------------------

    def _states(self, keys: Iterable[str]) -> dict[str, OutboxState]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        found: dict[str, OutboxState] = {}
        for start in range(0, len(wanted), 500):
            for key, state in self.conn.execute(
                select(outbox.c.key, outbox.c.state).where(
                    outbox.c.key.in_(wanted[start : start + 500])
                )
            ):
                found[key] = OutboxState(state)
        return found

    def _reports(self, *where: Any) -> list[Report]:
        rows = self.conn.execute(
            select(carryover_reports)
            .where(*where)
            .order_by(carryover_reports.c.section_sis_id, carryover_reports.c.student_sis_id)
        ).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        items: dict[int, list[Any]] = {}
        for start in range(0, len(ids), 500):
            for item in self.conn.execute(
                select(carryover_items)
                .where(carryover_items.c.report_id.in_(ids[start : start + 500]))
                .order_by(carryover_items.c.report_id, carryover_items.c.position)
            ):
                items.setdefault(item.report_id, []).append(item)
        post_keys = [i.outbox_key for group in items.values() for i in group if i.outbox_key]
        errors: dict[str, str | None] = {}
        states = self._states(
            [plan_key(r.section_sis_id, r.student_sis_id, r.generation) for r in rows]
        )
        if post_keys:
            for start in range(0, len(post_keys), 500):
                for key, state, error in self.conn.execute(
                    select(outbox.c.key, outbox.c.state, outbox.c.last_error).where(
                        outbox.c.key.in_(post_keys[start : start + 500])
                    )
                ):
                    states[key] = OutboxState(state)
                    errors[key] = error
        return [
            Report(
                section_sis_id=r.section_sis_id,
                student_sis_id=r.student_sis_id,
                registration_sis_id=r.registration_sis_id,
                status=ReportStatus(r.status),
                generation=r.generation,
                created_at=r.created_at,
                updated_at=r.updated_at,
                planned_at=r.planned_at,
                error=r.error,
                learner_sub=r.learner_sub,
                plan_state=states.get(plan_key(r.section_sis_id, r.student_sis_id, r.generation)),
                items=tuple(
                    ReportItem(
                        position=i.position,
                        outcome=Outcome(i.outcome),
                        label=i.label,
                        score_given=_decimal(i.score_given),
                        score_maximum=_decimal(i.score_maximum),
                        result_at=i.result_at,
                        message=i.message,
                        non_credit_item_id=i.non_credit_item_id,
                        for_credit_item_id=i.for_credit_item_id,
                        outbox_key=i.outbox_key,
                        post_state=states.get(i.outbox_key) if i.outbox_key else None,
                        post_error=errors.get(i.outbox_key) if i.outbox_key else None,
                    )
                    for i in items.get(r.id, [])
                ),
            )
            for r in rows
        ]

    def reports(self, section_sis_id: str, student_sis_id: str | None = None) -> list[Report]:
        where = [carryover_reports.c.section_sis_id == section_sis_id]
        if student_sis_id is not None:
            where.append(carryover_reports.c.student_sis_id == student_sis_id)
        return self._reports(*where)

    def learner_reports(self, platform_id: int, learner_sub: str, context_id: str) -> list[Report]:
        students = self.students_of_learner(platform_id, learner_sub)
        mine = [
            and_(
                carryover_reports.c.platform_id == platform_id,
                carryover_reports.c.learner_sub == learner_sub,
            )
        ]
        if students:
            mine.append(carryover_reports.c.student_sis_id.in_(students))
        # The context as this platform names it: an offering bound to another platform's
        # context of the same id is not this course (tenancy, STYLE 12).
        issuer = select(platforms.c.issuer).where(platforms.c.id == platform_id).scalar_subquery()
        sections = select(offerings.c.section_sis_id).where(
            offerings.c.for_credit_context_id == context_id,
            or_(offerings.c.issuer == ANY_PLATFORM, offerings.c.issuer == issuer),
        )
        return self._reports(carryover_reports.c.section_sis_id.in_(sections), or_(*mine))

    def statuses(self, section_sis_id: str) -> dict[str, Report]:
        return {r.student_sis_id: r for r in self.reports(section_sis_id)}

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(carryover_reports)).scalar())
