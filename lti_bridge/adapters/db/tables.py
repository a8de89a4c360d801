"""The schema, as SQLAlchemy Core tables. Migrations create them; nothing else does.

Core tables with explicit repositories rather than mapped classes: the use cases need upserts
and single-statement consumes (``DELETE … WHERE``) that read plainer in Core than through an ORM
identity map, and the domain keeps its own frozen dataclasses.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _ts(name: str, *, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


platforms = Table(
    "platforms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("issuer", String(512), nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("auth_login_url", String(1024), nullable=False),
    Column("auth_token_url", String(1024), nullable=False),
    Column("key_set_url", String(1024), nullable=False),
    Column("auth_audience", String(1024), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    UniqueConstraint("issuer", "client_id", name="uq_platforms_issuer_client_id"),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform_id", Integer, ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
    Column("deployment_id", String(255), nullable=False),
    _ts("created_at"),
    UniqueConstraint("platform_id", "deployment_id", name="uq_deployments_platform_deployment"),
)

tool_keys = Table(
    "tool_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kid", String(64), nullable=False, unique=True),
    Column("private_key_pem", Text, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    # The newest active key signs; active keys are published; retired keys are neither.
    Column("active", Boolean, nullable=False, default=True),
    _ts("created_at"),
    _ts("retired_at", nullable=True),
)

learners = Table(
    "learners",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform_id", Integer, ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
    Column("sub", String(255), nullable=False),
    Column("person_sourcedid", String(255), nullable=True),
    Column("email", String(320), nullable=True),
    Column("name", String(512), nullable=True),
    _ts("created_at"),
    _ts("last_launch_at"),
    UniqueConstraint("platform_id", "sub", name="uq_learners_platform_sub"),
    Index("ix_learners_person_sourcedid", "person_sourcedid"),
)

contexts = Table(
    "contexts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform_id", Integer, ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
    Column("deployment_id", String(255), nullable=False),
    Column("context_id", String(255), nullable=False),
    Column("label", String(255), nullable=True),
    Column("title", String(512), nullable=True),
    Column("course_section_sourcedid", String(255), nullable=True),
    Column("nrps_memberships_url", String(1024), nullable=True),
    Column("ags_lineitems_url", String(1024), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    UniqueConstraint("platform_id", "context_id", name="uq_contexts_platform_context"),
)

resource_links = Table(
    "resource_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform_id", Integer, ForeignKey("platforms.id", ondelete="CASCADE"), nullable=False),
    Column("context_id", String(255), nullable=True),
    Column("resource_link_id", String(255), nullable=False),
    Column("title", String(512), nullable=True),
    Column("custom", JSON, nullable=False, default=dict),
    _ts("created_at"),
    _ts("updated_at"),
    UniqueConstraint("platform_id", "resource_link_id", name="uq_resource_links_platform_link"),
)

# Login state, nonces and launch data shared by every worker (pylti1p3's launch data storage).
# A nonce or state is consumed by deleting its row: the DELETE's row count makes it single-use.
lti_store = Table(
    "lti_store",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("value", JSON, nullable=True),
    _ts("expires_at"),
    Index("ix_lti_store_expires_at", "expires_at"),
)
