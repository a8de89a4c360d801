"""LTI Dynamic Registration: a platform registers the tool, and its deployment, in one visit."""

from __future__ import annotations

import logging

from flask import Blueprint, make_response, render_template, request
from flask.typing import ResponseReturnValue

from lti_bridge.adapters.lti.dynamic_registration import (
    DynamicRegistrationClient,
    PlatformResponseError,
)
from lti_bridge.services.platforms import register_platform
from lti_bridge.web.context import public_base_url, services
from lti_bridge.web.errors import render_problem

bp = Blueprint("register", __name__)
log = logging.getLogger("lti_bridge.register")


@bp.get("/lti/register")
def register() -> ResponseReturnValue:
    """Register the tool with the platform that opened this page, then store the platform."""
    svc = services()
    client = DynamicRegistrationClient(svc.http, timeout=svc.settings.http_timeout_seconds)
    result = client.register_tool(
        request.args.get("openid_configuration", ""),
        registration_token=request.args.get("registration_token") or None,
        tool_base_url=public_base_url(),
    )
    platform_id = register_platform(result.registration, uow=svc.uow(), now=svc.clock())
    registration = result.registration
    log.info(
        "dynamic registration platform=%s iss=%s client=%s deployment=%s product=%s",
        platform_id,
        registration.issuer,
        registration.client_id,
        ",".join(registration.deployment_ids),
        result.platform.product_family_code,
    )
    response = make_response(
        render_template(
            "lti/register_done.html", registration=registration, platform=result.platform
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(PlatformResponseError)
def _platform_failed(exc: PlatformResponseError) -> ResponseReturnValue:
    # The app's handler answers 4xx for every domain error; a platform that cannot be reached or
    # answers nonsense is a bad gateway, not a bad request.
    log.warning("%s %s refused: %s", request.method, request.path, exc)
    return render_problem(502, "Registration failed", exc.public_message, exc.admin_hint)
