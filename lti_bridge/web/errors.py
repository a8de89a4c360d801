"""Domain errors become answers here: a readable page for people, JSON for API clients."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

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

STATUS = {
    LaunchError: 400,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    ValidationError: 422,
    UnavailableError: 503,
}


def _wants_json() -> bool:
    return request.path.startswith(("/webhooks/", "/api/")) or (
        request.accept_mimetypes.best == "application/json"
    )


def return_url_with_error(return_url: str | None, message: str) -> str | None:
    """The LMS's return URL carrying ``lti_errormsg``, when it is an http(s) URL."""
    if not return_url or urlsplit(return_url).scheme not in {"http", "https"}:
        return None
    sep = "&" if "?" in return_url else "?"
    return return_url + sep + urlencode({"lti_errormsg": message})


def render_problem(
    status: int, title: str, message: str, hint: str = "", back_url: str | None = None
) -> tuple[Any, int]:
    if _wants_json():
        return jsonify(error=title, message=message), status
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
                status, "Try again shortly", exc.public_message, exc.admin_hint
            )
            return body, code, {"Retry-After": str(exc.retry_after)}
        back = return_url_with_error(getattr(exc, "return_url", None), exc.public_message)
        if back and not _wants_json():
            # A verified launch named its way back: the LMS shows the learner lti_errormsg.
            return redirect(back, code=303)
        return render_problem(status, "Request refused", exc.public_message, exc.admin_hint, back)

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
        )
