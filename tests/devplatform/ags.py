"""The dev platform's Assignment and Grade Services: a token endpoint and a read-only gradebook.

``/token`` is lti1p3platform's client-credentials grant (``get_access_token``: it checks the
tool's client assertion against the tool's JWKS URL); on top, the assertion's ``iss``/``sub``
must be the client id, its ``aud`` the token URL, and its ``jti`` unused, as the 1EdTech
Security Framework asks of a platform. The AGS endpoints check the bearer token with the
platform's key and scopes, and page one entry at a time so a tool's ``rel="next"`` handling is
exercised on every call.

The gradebook is ``platform.gradebook[context_id][line_item_label] = {user_sub: score}``, every
line item out of 100. Line item ids take Moodle's shape, a query string included
(``…/lineitems/2/lineitem?type_id=1``), so a tool must add ``/results`` to the path, not the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import jwt
from flask import Flask, abort, jsonify, request
from flask.typing import ResponseReturnValue
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.registration import Registration

if TYPE_CHECKING:
    from tests.devplatform import DevPlatform

SCORE_MAXIMUM = 100
LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"


class _TokenConf(LTI1P3PlatformConfAbstract):  # type: ignore[misc]
    def init_platform_config(self, **kwargs: Any) -> None:
        self._platform: DevPlatform = kwargs["platform"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._platform.registration()


def _oauth_error(status: int, error: str, description: str) -> ResponseReturnValue:
    return jsonify(error=error, error_description=description), status


def register_ags_routes(app: Flask, platform: DevPlatform) -> None:
    """Add ``/token`` and the AGS line item and result endpoints to the dev platform's app."""
    used_jtis: set[str] = set()
    lock = threading.Lock()

    def lineitems_url(context_id: str) -> str:
        return f"{platform.issuer}/ags/{quote(context_id, safe='')}/lineitems"

    def lineitem_id(context_id: str, number: int) -> str:
        return f"{lineitems_url(context_id)}/{number}/lineitem?type_id=1"

    verdicts: dict[tuple[str, tuple[str, ...]], bool] = {}

    def require_token(*scopes: str) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            abort(401, "bearer token required")
        if platform.ags_cache_tokens and verdicts.get((header, scopes)):
            return  # a token checked before (the benchmark's platform, like a real one, caches)
        conf = _TokenConf(platform=platform)
        conf.get_registration()
        try:
            allowed = conf.validate_token(header[len("Bearer ") :], allowed_scopes=list(scopes))
        except Exception as exc:  # noqa: BLE001 - any verification failure is the caller's
            abort(401, f"invalid token: {exc}")
        if not allowed:
            abort(403, f"token lacks any of the scopes {list(scopes)}")
        if platform.ags_cache_tokens:
            verdicts[header, scopes] = True

    def gradebook(context_id: str) -> dict[str, dict[str, float]]:
        book = platform.gradebook.get(context_id)
        if book is None:
            abort(404, f"no gradebook for context {context_id}")
        return book

    def fault() -> ResponseReturnValue | None:
        """The next injected failure, if a test queued one (429, 401, 403 rate limit, …)."""
        with lock:
            platform.ags_requests += 1
            if not platform.ags_faults:
                return None
            status, headers, body = platform.ags_faults.pop(0)
        return body, status, headers

    @contextmanager
    def metered() -> Iterator[ResponseReturnValue | None]:
        """One request in the platform's bucket: a throttling answer above the limit."""
        with lock:
            platform.ags_calls += 1
            platform.ags_in_flight += 1
            platform.ags_max_in_flight_seen = max(
                platform.ags_max_in_flight_seen, platform.ags_in_flight
            )
            over = (
                platform.ags_throttle_above is not None
                and platform.ags_in_flight > platform.ags_throttle_above
            )
            if over:
                platform.ags_throttled += 1
        try:
            if platform.ags_delay:
                time.sleep(platform.ags_delay)
            if over:
                yield (
                    "403 Forbidden (Rate Limit Exceeded)",
                    403,
                    {"X-Rate-Limit-Remaining": "0.0"},
                )
            else:
                yield None
        finally:
            with lock:
                platform.ags_in_flight -= 1

    def bucket(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            with metered() as refused:
                if refused is not None:
                    return refused
                return view(*args, **kwargs)

        return wrapper

    def page(entries: list[dict[str, Any]], media_type: str) -> ResponseReturnValue:
        """``ags_page_size`` entries per page (one by default; the tool's ``limit`` when the
        platform honours it), with ``Link: <…>; rel="next"`` while more remain."""
        number = request.args.get("page", default=1, type=int)
        if number < 1:
            abort(400, "page must be 1 or more")
        size = platform.ags_page_size
        if platform.ags_honours_limit and request.args.get("limit", type=int):
            size = min(request.args.get("limit", type=int) or size, platform.ags_page_cap)
        start = (number - 1) * size
        response = jsonify(entries[start : start + size])
        response.headers["Content-Type"] = media_type
        if start + size < len(entries):
            query = {k: v for k, v in request.args.items() if k != "page"} | {"page": number + 1}
            target = f"{request.base_url}?{urlencode(query)}"
            rel = "rel=next" if platform.ags_link_unquoted else 'rel="next"'
            response.headers["Link"] = f"<{target}>; {rel}"
        return response

    @app.post("/token")
    @bucket
    def token() -> ResponseReturnValue:
        form = dict(request.form.items())
        conf = _TokenConf(platform=platform)
        conf.get_registration()
        try:
            answer = conf.get_access_token(form)
        except Exception as exc:  # noqa: BLE001 - the library signals refusals with assorted types
            return _oauth_error(400, "invalid_grant", f"{type(exc).__name__}: {exc}")
        claims = jwt.decode(form["client_assertion"], options={"verify_signature": False})
        if claims.get("iss") != platform.client_id or claims.get("sub") != platform.client_id:
            return _oauth_error(401, "invalid_client", "iss and sub must be the client id")
        if claims.get("aud") not in (platform.issuer + "/token", [platform.issuer + "/token"]):
            return _oauth_error(401, "invalid_client", "aud must be the token URL")
        jti = claims.get("jti")
        with lock:
            if not isinstance(jti, str) or jti in used_jtis:
                return _oauth_error(401, "invalid_client", "jti missing or already used")
            used_jtis.add(jti)
        if not answer["scope"]:
            return _oauth_error(400, "invalid_scope", "none of the requested scopes is offered")
        return jsonify(answer)

    @app.get("/ags/<context_id>/lineitems")
    @bucket
    def lineitems(context_id: str) -> ResponseReturnValue:
        failed = fault()
        if failed is not None:
            return failed
        require_token(SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY)
        book = gradebook(context_id)
        meta = platform.lineitem_meta.get(context_id, {})
        items = [
            {
                "id": lineitem_id(context_id, number),
                "label": label,
                "scoreMaximum": SCORE_MAXIMUM,
                **meta.get(label, {}),
            }
            for number, label in enumerate(book, start=1)
        ]
        return page(items, LINEITEM_CONTAINER)

    @app.get("/ags/<context_id>/lineitems/<int:number>/lineitem/results")
    @bucket
    def results(context_id: str, number: int) -> ResponseReturnValue:
        failed = fault()
        if failed is not None:
            return failed
        require_token(SCOPE_RESULT_READONLY)
        if request.args.get("type_id") != "1":
            abort(400, "the line item's own query (type_id) is missing")
        labels = list(gradebook(context_id))
        if not 1 <= number <= len(labels):
            abort(404, "no such line item")
        item = lineitem_id(context_id, number)
        label = labels[number - 1]
        scores = platform.gradebook[context_id][label]
        maximum = platform.lineitem_meta.get(context_id, {}).get(label, {}).get(
            "scoreMaximum", SCORE_MAXIMUM
        )
        user_id = request.args.get("user_id")
        entries = [
            {
                "id": f"{lineitems_url(context_id)}/{number}/lineitem/results/{quote(sub)}",
                "scoreOf": item,
                "userId": sub,
                "resultScore": score,
                "resultMaximum": maximum,
                **(
                    {"timestamp": platform.result_timestamps[context_id, label, sub]}
                    if (context_id, label, sub) in platform.result_timestamps
                    else {}
                ),
                **platform.result_progress.get((context_id, label, sub), {}),
            }
            for sub, score in list(scores.items())
            if user_id is None or sub == user_id
        ]
        return page(entries, RESULT_CONTAINER)

    @app.post("/ags/<context_id>/lineitems/<int:number>/lineitem/scores")
    @bucket
    def scores(context_id: str, number: int) -> ResponseReturnValue:
        """AGS score publish: the score becomes the user's result on the line item."""
        failed = fault()
        if failed is not None:
            return failed
        require_token(SCOPE_SCORE)
        if request.args.get("type_id") != "1":
            abort(400, "the line item's own query (type_id) is missing")
        if request.mimetype != SCORE_MEDIA_TYPE:
            abort(415, f"Content-Type must be {SCORE_MEDIA_TYPE}")
        body = request.get_json(force=True)
        labels = list(gradebook(context_id))
        if not 1 <= number <= len(labels):
            abort(404, "no such line item")
        for field in ("userId", "activityProgress", "gradingProgress", "timestamp"):
            if not body.get(field):
                abort(400, f"{field} is required")
        label = labels[number - 1]
        with lock:
            platform.scores_posted.append((context_id, label, body))
            if body.get("scoreGiven") is not None:
                platform.gradebook[context_id][label][body["userId"]] = body["scoreGiven"]
        return "", 204
