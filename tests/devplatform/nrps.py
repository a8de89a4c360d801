"""The dev platform's Names and Role Provisioning Services 2.0: the course's membership, paged.

``GET /nrps/<context_id>`` answers the membership container (``{"id", "context", "members"}``)
to a bearer token with the ``contextmembership.readonly`` scope. The members are the platform's
people (``platform.people``) less ``platform.nrps_hidden``, plus ``platform.nrps_extra`` (members
who never launched). Pages hold ``nrps_page_size`` members, or the tool's ``limit`` when
``nrps_honours_limit``; the ``Link`` header's ``rel`` is quoted or not (``nrps_quote_rel``);
``nrps_faults`` are answered first (429 with ``Retry-After``, a 401, ...).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue

from tests.devplatform.ags import _TokenConf

if TYPE_CHECKING:
    from tests.devplatform import DevPlatform, Person

MEMBERSHIP_CONTAINER = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
SCOPE_MEMBERSHIP = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


def member_entry(person: Person) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "status": "Active",
        "user_id": person.sub,
        "name": person.name,
        "email": person.email,
        "roles": list(person.roles),
    }
    if person.person_sourcedid:
        entry["lis_person_sourcedid"] = person.person_sourcedid
    return entry


def register_nrps_routes(app: Flask, platform: DevPlatform) -> None:
    """Add ``/nrps/<context_id>`` to the dev platform's app."""
    lock = threading.Lock()

    def require_token() -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            abort(401, "bearer token required")
        conf = _TokenConf(platform=platform)
        conf.get_registration()
        try:
            token = header[len("Bearer ") :]
            allowed = conf.validate_token(token, allowed_scopes=[SCOPE_MEMBERSHIP])
        except Exception as exc:  # noqa: BLE001 - any verification failure is the caller's
            abort(401, f"invalid token: {exc}")
        if not allowed:
            abort(403, "token lacks the membership scope")

    @app.get("/nrps/<context_id>")
    def memberships(context_id: str) -> ResponseReturnValue:
        with lock:
            platform.nrps_requests += 1
            fault = platform.nrps_faults.pop(0) if platform.nrps_faults else None
        if fault is not None:
            status, headers, body = fault
            return body, status, headers
        require_token()
        if context_id != platform.course.context_id:
            abort(404, "no such context")
        people = [p for p in platform.people.values() if p.sub not in platform.nrps_hidden]
        entries = [member_entry(p) for p in [*people, *platform.nrps_extra]]
        number = request.args.get("page", default=1, type=int)
        size = platform.nrps_page_size
        if platform.nrps_honours_limit and request.args.get("limit", type=int):
            size = request.args.get("limit", type=int) or size
        start = (number - 1) * size
        response = jsonify(
            {
                "id": request.url,
                "context": {"id": context_id, "label": platform.course.label,
                            "title": platform.course.title},
                "members": entries[start : start + size],
            }
        )
        response.headers["Content-Type"] = MEMBERSHIP_CONTAINER
        if start + size < len(entries):
            query = {k: v for k, v in request.args.items() if k != "page"} | {"page": number + 1}
            rel = 'rel="next"' if platform.nrps_quote_rel else "rel=next"
            response.headers["Link"] = f"<{request.base_url}?{urlencode(query)}>; {rel}"
        return response
