"""``GET /metrics``: Prometheus metrics, off unless enabled or guarded by a token."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, request
from flask.typing import ResponseReturnValue

from lti_bridge import telemetry
from lti_bridge.web.context import services

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Expose every worker's metrics when ``LTI_BRIDGE_METRICS`` or a token is set."""
    settings = services().settings
    token = settings.metrics_token
    if not token and not settings.metrics:
        abort(404)
    if token:
        offered = request.headers.get("Authorization", "")
        if not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
            return Response(
                "metrics need Authorization: Bearer <LTI_BRIDGE_METRICS_TOKEN>\n",
                status=401,
                mimetype="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    body, content_type = telemetry.render_metrics()
    return Response(body, content_type=content_type)
