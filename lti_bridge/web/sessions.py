"""No cookie session: the tool keeps no state in Flask's session.

Launch state lives in the shared store, bound to the browser by the state cookie or the
platform's postMessage storage; CSRF tokens are HMACs of what a form acts on. Flask's default
session would still build a signing serializer on every request to look for a cookie nobody
sets, which costs a launch about as much as its database work. This interface opens none, and
a write to ``flask.session`` fails loudly instead of being dropped.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Flask, Request, Response
from flask.sessions import NullSession, SessionInterface


class NoSession(NullSession):
    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError(
            "lti_bridge keeps no state in flask.session: put it in the shared launch store"
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail


class NoSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> NoSession:
        return NoSession()

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None
