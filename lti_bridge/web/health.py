"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from lti_bridge.web.context import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    problem = services().database_problem()
    if problem is not None:
        return jsonify(status="unavailable", database=problem), 503
    return jsonify(status="ok", database="ok")
