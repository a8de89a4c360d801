"""Platforms, deployments, learners, contexts and resource links in SQL."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from lti_bridge.adapters.db.recent import RecentWrites
from lti_bridge.adapters.db.tables import contexts, deployments, learners, platforms, resource_links
from lti_bridge.adapters.db.thread_connections import ThreadConnections
from lti_bridge.adapters.db.upsert import insert_or_update
from lti_bridge.domain.model import LaunchContext, PlatformRegistration

_STAMPS = ("created_at", "updated_at", "last_launch_at")


class SqlAlchemyLtiRepository:
    def __init__(
        self,
        connect: Callable[[], Connection],
        statements: ThreadConnections,
        recent: RecentWrites | None = None,
    ) -> None:
        self._connect = connect
        self._statements = statements
        self._recent = recent

    @property
    def conn(self) -> Connection:
        """The unit of work's connection (and transaction), opened on first use."""
        return self._connect()

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

    def add_platform(self, registration: PlatformRegistration, now: datetime) -> int | None:
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
        # ON CONFLICT DO NOTHING: an existing (issuer, client id) is left exactly as it was.
        found = insert_or_update(
            self.conn, platforms, values, keys=["issuer", "client_id"], update=[]
        )
        return None if found is None else int(found)

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
        """Upsert the learner, context and link; return the learner's id.

        Launch bookkeeping: each upsert is its own statement on the thread's statement
        connection, and one whose values this process wrote lately is skipped (``RecentWrites``),
        so a relaunch usually writes nothing.
        """
        upserts = [_learner_upsert(platform_id, launch, now)]
        if launch.context_id:
            upserts.append(_context_upsert(platform_id, launch, now))
        if launch.resource_link_id:
            upserts.append(_link_upsert(platform_id, launch, now))
        results: dict[str, Any] = {}
        todo = []
        for kind, key, values, upsert in upserts:
            digest = tuple(sorted((k, repr(v)) for k, v in values.items() if k not in _STAMPS))
            seen, result = self._recent.get(key, digest) if self._recent else (False, None)
            if seen:
                results[kind] = result
            else:
                todo.append((kind, key, digest, values, upsert))
        if todo:
            written = []
            with self._statements.connection(write=True) as conn:
                for kind, key, digest, values, upsert in todo:
                    results[kind] = insert_or_update(conn, values=values, **upsert)
                    written.append((key, digest, results[kind]))
            if self._recent is not None:
                self._recent.remember(written)
        return int(results["learner"])


_Upsert = tuple[str, Hashable, dict[str, Any], dict[str, Any]]


def _learner_upsert(platform_id: int, launch: LaunchContext, now: datetime) -> _Upsert:
    values = {
        "platform_id": platform_id,
        "sub": launch.user_sub,
        "person_sourcedid": launch.person_sourcedid,
        "email": launch.email,
        "name": launch.display_name if (launch.name or launch.given_name) else None,
        "created_at": now,
        "last_launch_at": now,
    }
    upsert = {
        "table": learners,
        "keys": ["platform_id", "sub"],
        "update": ["person_sourcedid", "email", "name", "last_launch_at"],
    }
    return "learner", ("learner", platform_id, launch.user_sub), values, upsert


def _context_upsert(platform_id: int, launch: LaunchContext, now: datetime) -> _Upsert:
    values = {
        "platform_id": platform_id,
        "deployment_id": launch.deployment_id,
        "context_id": launch.context_id,
        "label": launch.context_label,
        "title": launch.context_title,
        "course_section_sourcedid": launch.course_section_sourcedid,
        "nrps_memberships_url": launch.nrps_memberships_url,
        "ags_lineitems_url": launch.ags_lineitems_url,
        # Rides on the context's upsert: remembering the scopes costs the launch no statement.
        "ags_scopes": sorted(launch.ags_scopes) if launch.ags_scopes else None,
        "created_at": now,
        "updated_at": now,
    }
    upsert = {
        "table": contexts,
        "keys": ["platform_id", "context_id"],
        "update": [
            "deployment_id",
            "label",
            "title",
            "course_section_sourcedid",
            "nrps_memberships_url",
            "ags_lineitems_url",
            "ags_scopes",
            "updated_at",
        ],
        "returning": None,
    }
    return "context", ("context", platform_id, launch.context_id), values, upsert


def _link_upsert(platform_id: int, launch: LaunchContext, now: datetime) -> _Upsert:
    values = {
        "platform_id": platform_id,
        "context_id": launch.context_id,
        "resource_link_id": launch.resource_link_id,
        "title": launch.resource_link_title,
        "custom": dict(launch.custom),
        "created_at": now,
        "updated_at": now,
    }
    upsert = {
        "table": resource_links,
        "keys": ["platform_id", "resource_link_id"],
        "update": ["context_id", "title", "custom", "updated_at"],
        "returning": None,
    }
    return "link", ("link", platform_id, launch.resource_link_id), values, upsert
