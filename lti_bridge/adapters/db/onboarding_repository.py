"""Onboarding in SQL: the catalog's onboarding course, and learners' passes (DOMAIN R2).

A pass is written with ``… WHERE onboarding_passed_at IS NULL``: set once, never moved or
cleared, and two workers recording the same pass at once leave the first one's time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update

from lti_bridge.adapters.db.tables import catalog_settings, learners, sis_students
from lti_bridge.domain.catalog import OnboardingCourse

log = logging.getLogger("lti_bridge.onboarding")


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything the tool stores is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def onboarding_from_document(document: Any) -> OnboardingCourse | None:
    """Return the onboarding course of a stored catalog settings document, if it holds one."""
    section = document.get("onboarding") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        return None
    context_id = section.get("context_id")
    items = section.get("line_items")
    threshold = section.get("pass_threshold")
    if (
        not isinstance(context_id, str)
        or not context_id
        or not isinstance(items, list)
        or not items
        or not all(isinstance(item, str) and item for item in items)
        or isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 < threshold <= 1
    ):
        # The importer validated it; a hand-edited row must not open or close anything.
        log.error("catalog_settings.document.onboarding is malformed: %r", section)
        return None
    issuer, url = section.get("issuer"), section.get("url")
    return OnboardingCourse(
        context_id,
        tuple(items),
        float(threshold),
        issuer if isinstance(issuer, str) and issuer else None,
        url if isinstance(url, str) and url else None,
    )


class SqlAlchemyOnboardingRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def onboarding_course(self) -> OnboardingCourse | None:
        document = self.conn.execute(
            select(catalog_settings.c.document).order_by(catalog_settings.c.id).limit(1)
        ).scalar()
        return None if document is None else onboarding_from_document(document)

    def _learner(self, platform_id: int, learner_sub: str) -> Any:
        return self.conn.execute(
            select(
                learners.c.id, learners.c.person_sourcedid, learners.c.onboarding_passed_at
            ).where(learners.c.platform_id == platform_id, learners.c.sub == learner_sub)
        ).first()

    def passed_at(self, platform_id: int, learner_sub: str) -> datetime | None:
        row = self._learner(platform_id, learner_sub)
        return None if row is None else _utc(row.onboarding_passed_at)

    def record_pass(
        self, platform_id: int, learner_sub: str, now: datetime
    ) -> tuple[datetime, bool] | None:
        newly = self.conn.execute(
            update(learners)
            .where(
                learners.c.platform_id == platform_id,
                learners.c.sub == learner_sub,
                learners.c.onboarding_passed_at.is_(None),
            )
            .values(onboarding_passed_at=now)
        ).rowcount
        row = self._learner(platform_id, learner_sub)
        if row is None:
            return None
        passed_at = _utc(row.onboarding_passed_at)
        assert passed_at is not None
        if row.person_sourcedid:
            # The SIS student this learner is (CONTRACT §3: person_sourcedid is the SIS id).
            # No sequence is written: that orders the SIS's own onboarding events.
            self.conn.execute(
                update(sis_students)
                .where(
                    and_(
                        sis_students.c.sis_id == row.person_sourcedid,
                        sis_students.c.onboarding_passed_at.is_(None),
                    )
                )
                .values(onboarding_passed_at=passed_at, updated_at=now)
            )
        return passed_at, bool(newly)
