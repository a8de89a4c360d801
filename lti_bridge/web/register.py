"""LTI Dynamic Registration: a platform registers the tool, and its deployment, in one visit.

The page is open to anyone who has its URL, so it trusts nothing it is given: only allowed
issuers, the platform's one-time registration token required, URLs on public addresses and the
issuer's own origin, never an update of a registered platform, and nothing of what the platform
answered shown to the caller (it goes to the log, with every attempt).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, make_response, render_template, request
from flask.typing import ResponseReturnValue

from lti_bridge.adapters.lti.dynamic_registration import (
    DynamicRegistrationClient,
    PlatformResponseError,
)
from lti_bridge.domain.errors import ConflictError, ForbiddenError, LtiBridgeError
from lti_bridge.services.platforms import add_new_platform
from lti_bridge.web.context import public_base_url, services
from lti_bridge.web.errors import STATUS, render_problem

bp = Blueprint("register", __name__)
log = logging.getLogger("lti_bridge.register")

#: Shown instead of what went wrong in detail: that comes from the platform, or names it.
_LOGGED_HINT = "The reason is in the tool's log (lti_bridge.register), with this attempt's time."


@bp.get("/lti/register")
def register() -> ResponseReturnValue:
    """Register the tool with the platform that opened this page, then store the platform."""
    svc = services()
    settings = svc.settings
    allowed = settings.registration_issuers
    configuration_url = request.args.get("openid_configuration", "")
    token = request.args.get("registration_token") or None
    log.info(
        "dynamic registration attempt from %s configuration=%s token=%s",
        request.remote_addr,
        _origin(configuration_url) or "-",
        "yes" if token else "no",
    )
    # Anyone who can open this page could otherwise register a platform, and a registered
    # platform vouches for its learners' SIS identities: only named issuers may register.
    _check_allowed(configuration_url, allowed)
    if token is None and settings.registration_token_required:
        raise ForbiddenError(
            "dynamic registration without a registration_token",
            public_message="Start the registration from the platform, which adds its token.",
            admin_hint="LTI_BRIDGE_REGISTRATION_TOKEN_REQUIRED=false accepts registrations "
            "without a platform token.",
        )
    client = DynamicRegistrationClient(
        svc.http,
        timeout=settings.http_timeout_seconds,
        allow_private_networks=settings.registration_allow_private_networks,
    )
    result = client.register_tool(
        configuration_url, registration_token=token, tool_base_url=public_base_url()
    )
    _check_allowed(result.registration.issuer, allowed)
    platform_id = add_new_platform(result.registration, uow=svc.uow(), now=svc.clock())
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
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else ""


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
            admin_hint="Add the platform's issuer to LTI_BRIDGE_REGISTRATION_ISSUERS to allow it.",
        )


@bp.errorhandler(LtiBridgeError)
def _refused(exc: LtiBridgeError) -> ResponseReturnValue:
    # A platform that cannot be reached or answers nonsense is a bad gateway, not a bad request.
    # The caller is anonymous: the public message only; the details, the platform's own words
    # included, go to the log for the operator.
    status = (
        502
        if isinstance(exc, PlatformResponseError)
        else next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    )
    log.warning(
        "dynamic registration refused (%d) from %s: %s%s",
        status,
        request.remote_addr,
        exc,
        f" [{exc.admin_hint}]" if exc.admin_hint else "",
    )
    # Refusals by the tool's own rules carry hints about its settings and CLI, nothing else.
    own_rule = isinstance(exc, ForbiddenError | ConflictError)
    hint = exc.admin_hint if own_rule and exc.admin_hint else _LOGGED_HINT
    return render_problem(status, "Registration failed", exc.public_message, hint)
