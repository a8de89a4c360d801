"""Platforms, deployments, learners, contexts and resource links in SQL."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.tables import contexts, deployments, learners, platforms, resource_links
from lti_bridge.adapters.db.upsert import insert_or_update
from lti_bridge.domain.model import LaunchContext, PlatformRegistration


class SqlAlchemyLtiRepository:
    def __init__(self, conn: Connection, recent: RecentWrites | None = None) -> None:
        self.conn = conn
        self._recent = recent
        #: Writes to remember once the transaction commits (see ``RecentWrites``).
        self.pending: list[tuple[Hashable, Hashable, Any]] = []

    def _upsert_unless_recent(
        self, key: Hashable, values: dict[str, Any], stamps: tuple[str, ...], **upsert: Any
    ) -> Any:
        digest = tuple(sorted((k, repr(v)) for k, v in values.items() if k not in stamps))
        if self._recent is not None:
            seen, result = self._recent.get(key, digest)
            if seen:
                return result
        result = insert_or_update(self.conn, values=values, **upsert)
        self.pending.append((key, digest, result))
        return result

    def save_platform(self, registration: PlatformRegistration, now: datetime) -> int:
        values = {
            "issuer": registration.issuer,
            "client_id": registration.client_id,
            "auth_login_url": registration.auth_login_url,
            "auth_token_url": registration.auth_token_url,
            "key_set_url": registration.key_set_url,
            "auth_audience": registration.auth_audience,
            "created_at": now,
            "updated_at": now,
        }
        update = [k for k in values if k not in {"issuer", "client_id", "created_at"}]
        return int(
            insert_or_update(
                self.conn, platforms, values, keys=["issuer", "client_id"], update=update
            )
        )

    def add_deployment(self, platform_id: int, deployment_id: str, now: datetime) -> bool:
        added = insert_or_update(
            self.conn,
            deployments,
            {"platform_id": platform_id, "deployment_id": deployment_id, "created_at": now},
            keys=["platform_id", "deployment_id"],
            update=[],
            returning=None,
        )
        return bool(added)

    def list_platforms(self) -> list[PlatformRegistration]:
        rows = self.conn.execute(select(platforms).order_by(platforms.c.id)).mappings().all()
        deps: dict[int, list[str]] = {}
        for platform_id, deployment_id in self.conn.execute(
            select(deployments.c.platform_id, deployments.c.deployment_id).order_by(
                deployments.c.id
            )
        ):
            deps.setdefault(platform_id, []).append(deployment_id)
        return [
            PlatformRegistration(
                id=row["id"],
                issuer=row["issuer"],
                client_id=row["client_id"],
                auth_login_url=row["auth_login_url"],
                auth_token_url=row["auth_token_url"],
                key_set_url=row["key_set_url"],
                auth_audience=row["auth_audience"],
                deployment_ids=tuple(deps.get(row["id"], ())),
            )
            for row in rows
        ]

    def record_launch(self, platform_id: int, launch: LaunchContext, now: datetime) -> int:
        stamps = ("created_at", "updated_at", "last_launch_at")
        learner_id = self._upsert_unless_recent(
            ("learner", platform_id, launch.user_sub),
            {
                "platform_id": platform_id,
                "sub": launch.user_sub,
                "person_sourcedid": launch.person_sourcedid,
                "email": launch.email,
                "name": launch.display_name if (launch.name or launch.given_name) else None,
                "created_at": now,
                "last_launch_at": now,
            },
            stamps,
            table=learners,
            keys=["platform_id", "sub"],
            update=["person_sourcedid", "email", "name", "last_launch_at"],
        )
        if launch.context_id:
            self._upsert_unless_recent(
                ("context", platform_id, launch.context_id),
                {
                    "platform_id": platform_id,
                    "deployment_id": launch.deployment_id,
                    "context_id": launch.context_id,
                    "label": launch.context_label,
                    "title": launch.context_title,
                    "course_section_sourcedid": launch.course_section_sourcedid,
                    "nrps_memberships_url": launch.nrps_memberships_url,
                    "ags_lineitems_url": launch.ags_lineitems_url,
                    "created_at": now,
                    "updated_at": now,
                },
                stamps,
                table=contexts,
                keys=["platform_id", "context_id"],
                update=[
                    "deployment_id",
                    "label",
                    "title",
                    "course_section_sourcedid",
                    "nrps_memberships_url",
                    "ags_lineitems_url",
                    "updated_at",
                ],
                returning=None,
            )
        if launch.resource_link_id:
            self._upsert_unless_recent(
                ("link", platform_id, launch.resource_link_id),
                {
                    "platform_id": platform_id,
                    "context_id": launch.context_id,
                    "resource_link_id": launch.resource_link_id,
                    "title": launch.resource_link_title,
                    "custom": dict(launch.custom),
                    "created_at": now,
                    "updated_at": now,
                },
                stamps,
                table=resource_links,
                keys=["platform_id", "resource_link_id"],
                update=["context_id", "title", "custom", "updated_at"],
                returning=None,
            )
        return int(learner_id)
