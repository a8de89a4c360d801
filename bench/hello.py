"""The baseline: a bare Flask app that answers "hello", served exactly like the tool."""

from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/hello")
    def hello() -> str:
        return "hello"

    @app.post("/hello")
    def hello_post() -> str:
        return "hello"

    return app
