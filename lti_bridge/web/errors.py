"""Every refusal is answered here: a readable page for people, a problem document for clients.

API clients (``/webhooks/``, ``/api/``, or anyone asking for JSON) get one shape, RFC 9457's
``application/problem+json``: ``type`` (``about:blank``), ``title`` (the status's phrase),
``status``, ``detail`` (a sentence), and two members of our own: ``error``, a stable code to
branch on (``invalid_signature``, ``not_found``, …), and, for input that names bad fields,
``errors`` mapping each field to what is wrong with it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from lti_bridge.domain.errors import (
    ConflictError,
    ForbiddenError,
    LaunchError,
    LtiBridgeError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)

log = logging.getLogger("lti_bridge.web")

PROBLEM_JSON = "application/problem+json"

#: Each family of the tool's errors: its status and its ``error`` code.
STATUS = {
    LaunchError: 400,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    ValidationError: 422,
    UnavailableError: 503,
}
CODE = {
    LaunchError: "launch_refused",
    ForbiddenError: "forbidden",
    NotFoundError: "not_found",
    ConflictError: "conflict",
    ValidationError: "invalid_input",
    UnavailableError: "unavailable",
}


def problem(
    status: int,
    error: str,
    detail: str,
    *,
    errors: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An RFC 9457 problem document: ``error`` is the stable code, ``detail`` the sentence."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "error": error,
    }
    if errors:
        body["errors"] = dict(errors)
    response = jsonify(body)
    response.status_code = status
    response.content_type = PROBLEM_JSON
    response.headers.update(headers or {})
    return response


def _wants_json() -> bool:
    if request.path.startswith(("/webhooks/", "/api/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in {"application/json", PROBLEM_JSON}


def _code(exc: LtiBridgeError) -> str:
    return next((code for cls, code in CODE.items() if isinstance(exc, cls)), "refused")


def return_url_with_error(return_url: str | None, message: str) -> str | None:
    """The LMS's return URL carrying ``lti_errormsg``, when it is an http(s) URL."""
    if not return_url or urlsplit(return_url).scheme not in {"http", "https"}:
        return None
    sep = "&" if "?" in return_url else "?"
    return return_url + sep + urlencode({"lti_errormsg": message})


def render_problem(
    status: int,
    title: str,
    message: str,
    hint: str = "",
    back_url: str | None = None,
    *,
    error: str = "",
    fields: Mapping[str, str] | None = None,
) -> tuple[Any, int]:
    """A page titled ``title`` for people; for API clients, ``problem`` with code ``error``."""
    if _wants_json():
        code = error or "_".join(HTTP_STATUS_CODES.get(status, "error").lower().split())
        return problem(status, code, message, errors=fields), status
    page = render_template("error.html", title=title, message=message, hint=hint, back_url=back_url)
    return page, status


def register(app: Flask) -> None:
    @app.errorhandler(LtiBridgeError)
    def _domain_error(exc: LtiBridgeError) -> ResponseReturnValue:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
        if request.endpoint != "lti.launch":  # a launch logs its own line, refusals included
            log.warning("%s %s refused: %s", request.method, request.path, exc)
        if isinstance(exc, UnavailableError):
            # Nothing wrong with the request: the learner (or client) tries again later.
            body, code = render_problem(
                status, "Try again shortly", exc.public_message, exc.admin_hint, error=_code(exc)
            )
            return body, code, {"Retry-After": str(exc.retry_after)}
        back = return_url_with_error(getattr(exc, "return_url", None), exc.public_message)
        if back and not _wants_json():
            # A verified launch named its way back: the LMS shows the learner lti_errormsg.
            return redirect(back, code=303)
        return render_problem(
            status,
            "Request refused",
            exc.public_message,
            exc.admin_hint,
            back,
            error=_code(exc),
            fields=exc.fields if isinstance(exc, ValidationError) else None,
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        return render_problem(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_problem(
            500,
            "Internal error",
            "The tool hit an unexpected error. Please try again; if it persists, tell your "
            "university's support.",
            error="internal_error",
        )
