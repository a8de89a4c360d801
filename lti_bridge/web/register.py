"""LTI Dynamic Registration: a platform registers the tool, and its deployment, in one visit."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, make_response, render_template, request
from flask.typing import ResponseReturnValue

from lti_bridge.adapters.lti.dynamic_registration import (
    DynamicRegistrationClient,
    PlatformResponseError,
)
from lti_bridge.domain.errors import ForbiddenError
from lti_bridge.services.platforms import register_platform
from lti_bridge.web.context import public_base_url, services
from lti_bridge.web.errors import render_problem

bp = Blueprint("register", __name__)
log = logging.getLogger("lti_bridge.register")


@bp.get("/lti/register")
def register() -> ResponseReturnValue:
    """Register the tool with the platform that opened this page, then store the platform."""
    svc = services()
    allowed = svc.settings.registration_issuers
    configuration_url = request.args.get("openid_configuration", "")
    # Anyone who can open this page could otherwise register a platform, and a registered
    # platform vouches for its learners' SIS identities: only named issuers may register.
    _check_allowed(configuration_url, allowed)
    client = DynamicRegistrationClient(svc.http, timeout=svc.settings.http_timeout_seconds)
    result = client.register_tool(
        configuration_url,
        registration_token=request.args.get("registration_token") or None,
        tool_base_url=public_base_url(),
    )
    _check_allowed(result.registration.issuer, allowed)
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


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _check_allowed(url: str, allowed: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if "*" in allowed or parts.scheme not in {"http", "https"} or not parts.netloc:
        # Not a URL at all: the registration client refuses it with the precise reason.
        return
    if not allowed:
        raise ForbiddenError(
            "dynamic registration attempted while LTI_BRIDGE_REGISTRATION_ISSUERS is empty",
            public_message="This tool does not accept dynamic registration.",
            admin_hint="Set LTI_BRIDGE_REGISTRATION_ISSUERS to the platform's issuer URL to "
            "allow it, or register the platform with: lti-bridge platform add …",
        )
    if _origin(url) not in {_origin(issuer) for issuer in allowed}:
        raise ForbiddenError(
            f"dynamic registration from {_origin(url)} not in LTI_BRIDGE_REGISTRATION_ISSUERS",
            public_message="This platform is not allowed to register the tool.",
            admin_hint=f"Add {_origin(url)} to LTI_BRIDGE_REGISTRATION_ISSUERS to allow it.",
        )


@bp.errorhandler(PlatformResponseError)
def _platform_failed(exc: PlatformResponseError) -> ResponseReturnValue:
    # The app's handler answers 4xx for every domain error; a platform that cannot be reached or
    # answers nonsense is a bad gateway, not a bad request.
    log.warning("%s %s refused: %s", request.method, request.path, exc)
    return render_problem(502, "Registration failed", exc.public_message, exc.admin_hint)
