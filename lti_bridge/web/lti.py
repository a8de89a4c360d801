"""LTI 1.3 endpoints: OIDC login, launch, the tool's JWKS."""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, jsonify, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue
from pylti1p3.contrib.flask import FlaskCookieService, FlaskRequest, FlaskSessionService
from pylti1p3.contrib.flask.redirect import FlaskRedirect

from lti_bridge import telemetry
from lti_bridge.adapters.lti import deep_linking
from lti_bridge.adapters.lti.claims import launch_context_from_claims
from lti_bridge.adapters.lti.launch import (
    STORAGE_KEY_PREFIX,
    HardenedOIDCLogin,
    PlatformStorageCheck,
    origin_of,
)
from lti_bridge.domain.deep_linking import place_item
from lti_bridge.domain.errors import LaunchError, LtiBridgeError, ValidationError
from lti_bridge.domain.model import LaunchContext, LinkAccess, MessageType
from lti_bridge.domain.policy import Decision
from lti_bridge.services.launches import record_launch
from lti_bridge.telemetry import log_event
from lti_bridge.web import csrf, security
from lti_bridge.web.carryover import TEMPLATE_VALUES as CARRYOVER_VALUES
from lti_bridge.web.carryover import is_carryover_launch, learner_carryover
from lti_bridge.web.context import public_base_url, services
from lti_bridge.web.onboarding import is_onboarding_launch, onboarding_launch
from lti_bridge.web.roster import credit_roster_page

bp = Blueprint("lti", __name__)
log = logging.getLogger("lti_bridge.launch")


class PartitionedCookieService(FlaskCookieService):  # type: ignore[misc]
    """pylti1p3's cookies, also ``Partitioned`` (CHIPS) when secure.

    A partitioned cookie is kept per top-level site, so browsers that block third-party cookies
    still return the state cookie to the tool inside the LMS's iframe.
    """

    def update_response(self, response: Response) -> None:
        secure = bool(self._request.is_secure())
        for key, data in self._cookie_data_to_set.items():
            response.set_cookie(
                key=key,
                value=data["value"],
                max_age=data["exp"],
                secure=secure,
                httponly=True,
                path="/",
                samesite="None" if secure else "Lax",
                partitioned=secure,
            )


class FlaskOIDCLogin(HardenedOIDCLogin):
    def get_redirect(self, url: str) -> FlaskRedirect:
        return FlaskRedirect(url, self._cookie_service)

    def get_response(self, html: str) -> ResponseReturnValue:
        return make_response(html)


_FRAME_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _lti_request() -> FlaskRequest:
    # Behind a TLS-terminating proxy the request looks like http; the public URL says otherwise,
    # and the state cookie must then be SameSite=None; Secure to survive the platform's POST.
    # Browsers treat loopback as a secure context and keep Secure cookies from it, so a tool on
    # 127.0.0.1 (development, tests) gets the same SameSite=None cookies as one behind https.
    secure = (
        request.is_secure
        or services().settings.public_url.startswith("https://")
        or request.host.rsplit(":", 1)[0] in _LOOPBACK_HOSTS
    )
    return FlaskRequest(request_is_secure=secure)


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


@bp.route("/lti/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    svc = services()
    lti_request = _lti_request()
    base = public_base_url()
    cookies = PartitionedCookieService(lti_request)
    oidc = FlaskOIDCLogin(
        lti_request,
        svc.tool_conf(),
        FlaskSessionService(lti_request),
        cookies,
        store=svc.store,
        tool_base_url=base,
    )
    oidc.state_ttl = svc.settings.launch_state_ttl_seconds
    if oidc.storage_target and not _FRAME_NAME.match(oidc.storage_target):
        raise LaunchError(
            f"lti_storage_target {oidc.storage_target!r} is not a frame name",
            public_message="The platform's login request was malformed.",
        )
    auth_url = oidc.get_redirect_object(base + "/lti/launch").get_redirect_url()
    if oidc.storage_target:
        # LTI client-side postMessage storage: put the proof in the platform's frame, then go.
        response = make_response(
            render_template(
                "lti/storage_login.html",
                auth_url=auth_url,
                target=oidc.storage_target,
                platform_origin=origin_of(auth_url),
                key=STORAGE_KEY_PREFIX + (oidc.state or ""),
                value=oidc.storage_proof,
            )
        )
    elif request.headers.get("Sec-Fetch-Dest") == "iframe" and not request.args.get("new_window"):
        # In an iframe without platform storage: check that cookies stick before going on, and
        # offer a new window if they do not.
        response = make_response(
            render_template(
                "lti/cookie_check.html",
                auth_url=auth_url,
                new_window_url=_login_url_in_new_window(),
                secure=bool(lti_request.is_secure()),
            )
        )
    else:
        response = redirect(auth_url, code=302)
    cookies.update_response(response)
    response.headers["Cache-Control"] = "no-store"
    return response


def _login_url_in_new_window() -> str:
    params = request.values.to_dict()
    params["new_window"] = "1"
    return public_base_url() + "/lti/login?" + urlencode(params)


@bp.post("/lti/launch")
def launch() -> ResponseReturnValue:
    """Validate a launch and answer it, with one log line (and metrics) whatever the outcome."""
    started = time.perf_counter()
    seen: dict[str, Any] = {}
    try:
        response = _launch(seen)
    except LtiBridgeError as exc:
        _log_launch(seen, "invalid", started, error=str(exc))
        raise
    except Exception as exc:
        # Logged with its traceback by the error handler; here it still counts as a launch.
        _log_launch(seen, "error", started, error=type(exc).__name__)
        raise
    _log_launch(seen, seen.get("outcome", "opened"), started)
    return response


def _log_launch(seen: dict[str, Any], outcome: str, started: float, error: str = "") -> None:
    context: LaunchContext | None = seen.get("context")
    decision: Decision | None = seen.get("decision")
    reasons = None if decision is None else tuple(str(code) for code in decision.reason_codes)
    role = "-" if context is None else ("staff" if context.is_staff else "learner")
    telemetry.count_launch(outcome, role, reasons)
    log_event(
        log,
        "launch",
        level=logging.INFO if error == "" else logging.WARNING,
        platform=None if context is None else context.issuer,
        platform_id=seen.get("platform_id"),
        deployment=None if context is None else context.deployment_id,
        role=role,
        roles=None if context is None else sorted(context.short_roles),
        user=None if context is None else context.user_sub,
        link=None if context is None else context.resource_link_id,
        access=None if context is None else context.access.value,
        outcome=outcome,
        reasons=reasons if reasons is None else (reasons or ("allowed",)),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        **({"error": error} if error else {}),
    )


def _launch(seen: dict[str, Any]) -> ResponseReturnValue:
    svc = services()
    lti_request = _lti_request()
    message = svc.message_launch(
        lti_request,
        FlaskSessionService(lti_request),
        PartitionedCookieService(lti_request),
        storage_proof=request.form.get("lti_storage_proof") or None,
    )
    try:
        message.validate()
    except PlatformStorageCheck as check:
        seen["outcome"] = "storage_check"
        # The login that stored this check found the platform registered: its page frames us.
        security.allow_framing_by(check.platform_origin)
        return render_template(
            "lti/storage_launch.html",
            check=check,
            id_token=request.form.get("id_token", ""),
        )
    context = message.launch_context()
    seen.update(context=context, platform_id=message.platform_id)
    recorded = record_launch(
        context,
        platform_id=message.platform_id,
        uow=svc.uow(),
        now=svc.clock(),
        gate=svc.gate_settings.current(),
        link_by_email=svc.settings.link_learners_by_email,
    )
    decision = recorded.decision
    seen["decision"] = decision
    if context.message_type is MessageType.DEEP_LINKING:
        deep_linking.return_url(message.get_launch_data())  # refused now, not after the picking
        seen["outcome"] = "deep_linking"
        return _deep_linking_picker(context, message.get_launch_id())
    if context.is_staff:
        seen["outcome"] = "roster"
        return _credit_roster(context, message.platform_id)
    if is_onboarding_launch(context):
        seen["outcome"] = "onboarding"
        return onboarding_launch(context, message.platform_id)
    refused = context.access is LinkAccess.FOR_CREDIT and (
        decision is None or not decision.allowed
    )
    seen["outcome"] = "refused" if refused else "opened"
    return _learner_view(context, decision, message.platform_id)


def _credit_roster(context: LaunchContext, platform_id: int) -> ResponseReturnValue:
    """Staff see the section's credit roster: each learner's registration, tuition, onboarding,
    hold, first access and load advice, and whether the gate opens for them now."""
    return credit_roster_page(context, platform_id)


def _safe_content_url(context: LaunchContext) -> str | None:
    url = context.custom.get("content_url")
    if url and urlsplit(url).scheme in {"http", "https"} and urlsplit(url).netloc:
        return url
    return None


def _learner_view(
    context: LaunchContext, decision: Decision | None, platform_id: int
) -> ResponseReturnValue:
    if context.access is LinkAccess.FOR_CREDIT and (decision is None or not decision.allowed):
        # Restricted content stays shut, and the learner reads why and what to do (DOMAIN R1).
        return render_template("lti/restricted.html", launch=context, decision=decision), 403
    url = _safe_content_url(context)
    if url:
        return redirect(url, code=303)
    # The carry-over report only on the item placed for it: other launches read nothing more.
    carryover = learner_carryover(context, platform_id) if is_carryover_launch(context) else None
    return render_template(
        "lti/item.html", launch=context, decision=decision, carryover=carryover, **CARRYOVER_VALUES
    )


def _deep_linking_picker(
    context: LaunchContext,
    launch_id: str,
    *,
    values: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
) -> ResponseReturnValue:
    if not context.is_staff:
        raise LaunchError(
            f"deep linking launch by non-staff roles {sorted(context.short_roles)}",
            public_message="Only instructors can place items from this tool.",
        )
    return render_template(
        "lti/deep_linking.html",
        launch=context,
        launch_id=launch_id,
        csrf_token=csrf.token_for("deep-link", launch_id),
        values=values or {"access": "open"},
        problems=problems or {},
    ), (422 if problems else 200)


@bp.post("/lti/deep-link")
def deep_link_response() -> ResponseReturnValue:
    """Sign the instructor's chosen item and send it back to the platform."""
    svc = services()
    launch_id = request.form.get("launch_id", "")
    csrf.check("deep-link", launch_id, request.form.get("csrf_token", ""))
    claims = svc.store.get_value(launch_id)
    if not claims:
        raise LaunchError(
            "deep linking launch data missing or expired",
            public_message="This placement has expired. Please start again from the course.",
        )
    context = launch_context_from_claims(claims)
    values = {k: request.form.get(k, "") for k in ("title", "item", "access", "content_url")}
    try:
        item = place_item(**values)
    except ValidationError as exc:
        return _deep_linking_picker(
            context, launch_id, values=values, problems=getattr(exc, "fields", {})
        )
    if svc.store.consume(launch_id) is None:
        raise LaunchError(
            "deep linking launch already answered",
            public_message="This placement was already sent. Please start again from the course.",
        )
    registration = svc.tool_conf().find(context.issuer, context.client_id)
    if registration is None:
        raise LaunchError(f"platform {context.issuer} no longer registered")
    token = deep_linking.response_jwt(
        claims, registration, svc.keyring.signing_key(), item, public_base_url() + "/lti/launch"
    )
    log.info(
        "deep link placed item=%s access=%s by sub=%s", item.item, item.access, context.user_sub
    )
    return render_template(
        "lti/deep_link_return.html", action=deep_linking.return_url(claims), jwt=token, item=item
    )


@bp.get("/lti/jwks")
@bp.get("/.well-known/jwks.json")
def jwks() -> ResponseReturnValue:
    response = jsonify(services().keyring.published_jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
