"""The roster API: ``GET /api/v1/sections/{sis_id}/roster`` for operator tokens (CONTRACT §2).

``Authorization: Bearer <token>`` from ``lti-bridge tokens create``. The token is checked and
its use recorded (a row and a log line) in one committed transaction before the roster is read,
so the read holds no write lock. Refusals are RFC 9457 problems: 401 (with
``WWW-Authenticate: Bearer``) for a missing, unknown or revoked token, 403 for a section outside
the token's scope (whether or not it exists), 404 for a section the tool does not know.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from lti_bridge.services.api_tokens import TokenOutcome, use_token
from lti_bridge.services.roster import (
    FILTERS,
    STATUS_LABELS,
    RosterEntry,
    RosterQuery,
    RowStatus,
    find_rows,
    section_roster,
)
from lti_bridge.telemetry import log_event
from lti_bridge.web.context import services
from lti_bridge.web.errors import problem
from lti_bridge.web.roster import CSV_COLUMNS, counts_of, csv_response

bp = Blueprint("api", __name__)
log = logging.getLogger("lti_bridge.api")

_CHALLENGE = 'Bearer realm="lti_bridge"'


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def learner_json(entry: RosterEntry) -> dict[str, Any]:
    """One roster row as the API answers it."""
    registration = entry.registration
    word, _icon, todo = STATUS_LABELS[entry.status]
    decision = entry.decision
    return {
        "student_sis_id": entry.student_sis_id or None,
        "name": entry.name,
        "email": entry.email,
        "email_on_sis_records": entry.email_records,
        "status": entry.status.value,
        "status_label": word,
        "action": todo or None,
        "platform_user_id": entry.member.user_id if entry.member else None,
        "launched": entry.launched,
        "registration": None
        if registration is None
        else {
            "sis_id": registration.sis_id,
            "status": registration.status.value,
            "tuition": registration.tuition_status.value,
            "first_opened_at": _iso(entry.first_opened_utc),
        },
        "onboarding_passed": entry.onboarding_passed if registration else None,
        "hold": {"active": entry.hold_active, "reason": entry.hold_reason},
        "access": None if decision is None else ("open" if decision.allowed else "closed"),
        "missing": [code.value for code in entry.reason_codes],
        "advisories": [a.code.value for a in decision.advisories] if decision else [],
    }


@bp.get("/api/v1/sections/<sis_id>/roster")
def section_roster_api(sis_id: str) -> ResponseReturnValue:
    """The section's credit roster as JSON, or CSV with ``?format=csv``."""
    svc = services()
    token = _bearer()
    if token is None:
        log_event(log, "roster API refused", level=logging.WARNING, section=sis_id,
                  outcome="no_token")
        return problem(
            401, "unauthorized", "Send an operator token: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    outcome, found = use_token(token, sis_id, uow=svc.uow(), now=svc.clock())
    log_event(
        log,
        "roster API token use",
        level=logging.INFO if outcome is TokenOutcome.ALLOWED else logging.WARNING,
        token=found.name if found else None,
        section=sis_id,
        outcome=outcome.value,
    )
    if outcome in (TokenOutcome.UNKNOWN, TokenOutcome.REVOKED):
        return problem(
            401, "unauthorized", "The token is unknown or revoked.",
            headers={"WWW-Authenticate": _CHALLENGE + ', error="invalid_token"'},
        )
    if outcome is TokenOutcome.OUT_OF_SCOPE:
        return problem(403, "forbidden", f"This token may not read section {sis_id}.")
    roster = section_roster(
        sis_id,
        uow=svc.uow(),
        settings=svc.gate_settings.current(),
        now=svc.clock(),
        link_by_email=svc.settings.link_learners_by_email,
        membership=svc.course_membership(),
    )
    if roster is None or roster.section is None:
        return problem(404, "not_found", f"The tool knows no section {sis_id}.")
    rows = find_rows(roster, RosterQuery.parse(request.args.to_dict()))
    if request.args.get("format") == "csv":
        return csv_response(rows, sis_id)
    section = roster.section
    response = jsonify(
        {
            "section": {
                "sis_id": section.sis_id,
                "course_code": section.course_code,
                "credit_hours": section.credit_hours,
                "session": section.session.code if section.session else None,
            },
            "generated_at": svc.clock().isoformat(),
            "membership": {"read": roster.membership_read, "error": roster.membership_error},
            "counts": dict(counts_of(roster)),
            "learners": [learner_json(entry) for entry in rows],
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/v1/openapi.json")
def openapi() -> ResponseReturnValue:
    """Describe the roster API as an OpenAPI 3 document."""
    return jsonify(openapi_document())


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The roster API as OpenAPI 3 (the webhook's is ``/webhooks/sis/openapi.json``)."""
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    problem_content = {"application/problem+json": {"schema": problem_ref}}
    nullable_text = {"type": "string", "nullable": True}
    learner = {
        "type": "object",
        "properties": {
            "student_sis_id": nullable_text,
            "name": nullable_text,
            "email": nullable_text,
            "email_on_sis_records": {"type": "integer"},
            "status": {"type": "string", "enum": [s.value for s in RowStatus]},
            "status_label": {"type": "string"},
            "action": nullable_text,
            "platform_user_id": nullable_text,
            "launched": {"type": "boolean"},
            "registration": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "sis_id": {"type": "string"},
                    "status": {"type": "string"},
                    "tuition": {"type": "string"},
                    "first_opened_at": {**nullable_text, "format": "date-time"},
                },
            },
            "onboarding_passed": {"type": "boolean", "nullable": True},
            "hold": {"type": "object", "properties": {
                "active": {"type": "boolean"}, "reason": nullable_text}},
            "access": {"type": "string", "nullable": True, "enum": ["open", "closed", None]},
            "missing": {"type": "array", "items": {"type": "string"}},
            "advisories": {"type": "array", "items": {"type": "string"}},
        },
    }
    parameters = [
        {"name": "sis_id", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}},
        {"name": "status", "in": "query", "description": "A row status or a missing condition.",
         "schema": {"type": "string", "enum": list(FILTERS)}},
        {"name": "q", "in": "query", "description": "Search name, SIS id or email.",
         "schema": {"type": "string"}},
        {"name": "sort", "in": "query", "schema": {"type": "string"}},
        {"name": "dir", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
    ]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "lti_bridge roster API",
            "version": "1",
            "description": "The credit roster for operators' scripts. Tokens come from "
            "`lti-bridge tokens create --name N [--section S]`; every use is recorded.",
        },
        "paths": {
            "/api/v1/sections/{sis_id}/roster": {
                "get": {
                    "summary": "The section's credit roster",
                    "security": [{"operatorToken": []}],
                    "parameters": parameters,
                    "responses": {
                        "200": {
                            "description": "The roster, rows needing action first.",
                            "content": {
                                "application/json": {"schema": {
                                    "type": "object",
                                    "properties": {
                                        "section": {"type": "object"},
                                        "generated_at": {"type": "string",
                                                         "format": "date-time"},
                                        "membership": {"type": "object"},
                                        "counts": {"type": "object", "additionalProperties": {
                                            "type": "integer"}},
                                        "learners": {"type": "array", "items": learner},
                                    },
                                }},
                                "text/csv": {"schema": {
                                    "type": "string",
                                    "description": "Columns: " + ", ".join(CSV_COLUMNS)
                                    + ". Cells starting with = + - @ are prefixed with '.",
                                }},
                            },
                        },
                        "401": {"description": "No, an unknown or a revoked token.",
                                "content": problem_content},
                        "403": {"description": "The token may not read this section.",
                                "content": problem_content},
                        "404": {"description": "No such section.", "content": problem_content},
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {"operatorToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "description": "RFC 9457 problem details, with a stable code in error.",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "error": {"type": "string"},
                    },
                    "required": ["type", "title", "status", "detail", "error"],
                }
            },
        },
    }
