"""The schema, as SQLAlchemy Core tables. Migrations create them; nothing else does.

Core tables with explicit repositories rather than mapped classes: the use cases need upserts
and single-statement consumes (``DELETE … WHERE``) that read plainer in Core than through an ORM
identity map, and the domain keeps its own frozen dataclasses.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
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
    # Onboarding passed as read from the platform's gradebook (AGS); stays set (DOMAIN R2).
    _ts("onboarding_passed_at", nullable=True),
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
    # The AGS scopes the context's launches granted (carry-over asks for no more).
    Column("ags_scopes", JSON, nullable=True),
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

# --- SIS state (webhooks, CONTRACT §4) -----------------------------------------------------------
# Keyed by the SIS's own ids, without foreign keys: each webhook carries a full snapshot, so the
# rows of one event are written together in one transaction, in whatever order is cheapest.

sis_students = Table(
    "sis_students",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sis_id", String(255), nullable=False, unique=True),
    Column("email", String(320), nullable=True),
    Column("platform_user_id", String(255), nullable=True),
    # The issuer of the platform ``platform_user_id`` belongs to, when the SIS named it; else
    # the setting ``sis_platform_issuer`` names it. Matched only within that platform.
    Column("platform_issuer", String(512), nullable=True),
    Column("hold_active", Boolean, nullable=False, default=False),
    Column("hold_reason", Text, nullable=True),
    # Holds and onboarding each carry their own per-student sequence.
    Column("hold_sequence", BigInteger, nullable=True),
    _ts("onboarding_passed_at", nullable=True),
    Column("onboarding_sequence", BigInteger, nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_sis_students_platform_user_id", "platform_user_id"),
)

sis_sessions = Table(
    "sis_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    _ts("enrollment_opens_at"),
    _ts("enrollment_closes_at"),
)

sis_sections = Table(
    "sis_sections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sis_id", String(255), nullable=False, unique=True),
    Column("course_code", String(64), nullable=False),
    Column("credit_hours", Integer, nullable=False),
    Column("session_code", String(64), nullable=False),
)

registrations = Table(
    "registrations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sis_id", String(255), nullable=False, unique=True),
    Column("student_sis_id", String(255), nullable=False),
    Column("section_sis_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    _ts("enrolled_at", nullable=True),
    Column("tuition_status", String(16), nullable=False),
    Column("tuition_amount_cents", BigInteger, nullable=True),
    Column("tuition_currency", String(3), nullable=True),
    # The SIS's per-registration sequence of the stored snapshot: only newer ones replace it.
    Column("sequence", BigInteger, nullable=False),
    # DOMAIN R9: set by the credit gate, never by a webhook.
    _ts("first_restricted_access_at", nullable=True),
    _ts("updated_at"),
    Index("ix_registrations_student_sis_id", "student_sis_id"),
    Index("ix_registrations_section_sis_id", "section_sis_id"),
)

# Every accepted delivery, kept for audit and replay. The unique webhook id, written in the same
# transaction as the effect, is what makes a delivery apply exactly once.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("webhook_id", String(255), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("sequence", BigInteger, nullable=True),
    _ts("received_at"),
    Column("outcome", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("error", Text, nullable=True),
    # The SIS student the event names (``data.student.sis_id``), for a learner's history.
    Column("student_sis_id", String(255), nullable=True),
    Index("ix_webhook_deliveries_student_sis_id", "student_sis_id"),
)

# The catalog (``lti-bridge catalog import``): which platform context is the for-credit (and the
# non-credit) experience of which SIS section, with the course's grade scale and weights.
# Sessions and sections themselves live in sis_sessions / sis_sections, filled by the catalog and
# by SIS events alike.
offerings = Table(
    "offerings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("section_sis_id", String(255), nullable=False, unique=True),
    Column("for_credit_context_id", String(255), nullable=False),
    Column("non_credit_context_id", String(255), nullable=True),
    # The issuer of the platform the contexts belong to; "" for any registered platform.
    Column("issuer", String(512), nullable=False, server_default=text("''")),
    Column("grade_scale", JSON, nullable=False),
    Column("weights", JSON, nullable=False),
    # Per-item categories and the incomplete's default grade and extension date (issue 13).
    Column("grading", JSON, nullable=True),
    _ts("updated_at"),
    Index("ix_offerings_non_credit_context_id", "non_credit_context_id"),
    UniqueConstraint(
        "for_credit_context_id", "issuer", name="uq_offerings_for_credit_context_id_issuer"
    ),
)

# The catalog's university-wide part (payment and help URLs, limits, onboarding course), one row.
catalog_settings = Table(
    "catalog_settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("document", JSON, nullable=False),
    _ts("imported_at"),
)

# --- the outbox (issue 13) ------------------------------------------------------------------------
# Messages to other systems, written in the same transaction as the state they carry and delivered
# by the relay (``services/relay.py``). ``key`` is the idempotency key (for SIS results the
# OneRoster sourcedId); ``payload`` is frozen at enqueue so every retry sends the same body.
# ``state``: queued -> sent (claimed, in flight under ``lease_until``) -> accepted | rejected |
# dead, or back to queued with a later ``next_attempt_at``. ``claim_token`` fences a claim: only
# the relay holding the current token may record an outcome. Finished rows stay, for audit.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("key", String(255), nullable=False, unique=True),
    Column("payload", JSON, nullable=False),
    Column("section_sis_id", String(255), nullable=True),
    Column("registration_sis_id", String(255), nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    _ts("next_attempt_at"),
    _ts("lease_until", nullable=True),
    Column("claim_token", String(64), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("finished_at", nullable=True),
    Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_outbox_section_sis_id_registration_sis_id", "section_sis_id", "registration_sis_id"),
)

# --- final grades (issue 13) ----------------------------------------------------------------------
# What the tool sent or will send to the SIS: one row per submission, versioned per registration.
# A change after a release is a new row with a higher version and a reason (DOMAIN R13); the row
# and its outbox message (keyed by ``sourced_id``) commit in one transaction.
grade_submissions = Table(
    "grade_submissions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("section_sis_id", String(255), nullable=False),
    Column("registration_sis_id", String(255), nullable=False),
    Column("student_sis_id", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sourced_id", String(255), nullable=False, unique=True),
    Column("letter", String(16), nullable=False),
    # The percentage as exact text ("87.50"); None for a grade without a score.
    Column("percent", String(16), nullable=True),
    Column("last_attended", Date, nullable=True),
    Column("incomplete_grade", String(16), nullable=True),
    Column("incomplete_until", Date, nullable=True),
    Column("reason", Text, nullable=True),
    Column("released_by", String(512), nullable=False),
    _ts("released_at"),
    UniqueConstraint(
        "registration_sis_id", "version", name="uq_grade_submissions_registration_version"
    ),
    Index("ix_grade_submissions_section_sis_id", "section_sis_id"),
)

# The instructor's standing decisions per registration: a letter override (with its reason) and
# an incomplete mark. Their history is in grade_audit.
grade_adjustments = Table(
    "grade_adjustments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("registration_sis_id", String(255), nullable=False, unique=True),
    Column("section_sis_id", String(255), nullable=False),
    Column("override_letter", String(16), nullable=True),
    Column("override_reason", Text, nullable=True),
    Column("incomplete", Boolean, nullable=False, default=False),
    Column("incomplete_reason", Text, nullable=True),
    Column("updated_by", String(512), nullable=False),
    _ts("updated_at"),
)

# Every release, override and incomplete mark: who, when, what and why. Append-only.
grade_audit = Table(
    "grade_audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("section_sis_id", String(255), nullable=False),
    Column("registration_sis_id", String(255), nullable=True),
    Column("action", String(32), nullable=False),
    Column("letter", String(16), nullable=True),
    Column("reason", Text, nullable=True),
    Column("detail", JSON, nullable=True),
    Column("actor", String(512), nullable=False),
    _ts("at"),
    Index("ix_grade_audit_section_sis_id", "section_sis_id"),
)

# --- carry-over (issue 14) ------------------------------------------------------------------------
# One report per learner (student) and section: ``status`` waiting -> queued -> planned, or
# canceled / failed; ``generation`` counts plannings (each plan's outbox key names it). Its items
# are the plan's decisions, with the outbox key of each carried score.
carryover_reports = Table(
    "carryover_reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("section_sis_id", String(255), nullable=False),
    Column("student_sis_id", String(255), nullable=False),
    Column("registration_sis_id", String(255), nullable=False),
    Column("platform_id", Integer, nullable=True),
    Column("learner_sub", String(255), nullable=True),
    Column("status", String(16), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("error", Text, nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("planned_at", nullable=True),
    UniqueConstraint(
        "section_sis_id", "student_sis_id", name="uq_carryover_reports_section_student"
    ),
    Index("ix_carryover_reports_student_sis_id", "student_sis_id"),
)

carryover_items = Table(
    "carryover_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "report_id",
        Integer,
        ForeignKey("carryover_reports.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("label", String(512), nullable=False),
    Column("non_credit_item_id", String(1024), nullable=True),
    Column("for_credit_item_id", String(1024), nullable=True),
    # Exact decimals as text, like grade_submissions.percent.
    Column("score_given", String(32), nullable=True),
    Column("score_maximum", String(32), nullable=True),
    _ts("result_at", nullable=True),
    Column("message", Text, nullable=True),
    Column("outbox_key", String(255), nullable=True),
    Index("ix_carryover_items_report_id", "report_id"),
)

# --- the roster API's operator tokens (issue 15) -------------------------------------------------
# A token is shown once when created and kept only as its SHA-256; ``sections`` lists the SIS
# sections it may read (NULL: all). Revoked tokens stay, for the audit of their uses.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("sections", JSON, nullable=True),
    _ts("created_at"),
    _ts("revoked_at", nullable=True),
    _ts("last_used_at", nullable=True),
)

# Every use of a token, allowed or refused: which token, which section, when. Append-only.
api_token_uses = Table(
    "api_token_uses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_name", String(128), nullable=False),
    Column("section_sis_id", String(255), nullable=True),
    Column("outcome", String(16), nullable=False),
    _ts("at"),
    Index("ix_api_token_uses_token_name", "token_name"),
)
