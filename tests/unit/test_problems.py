"""Every refusal an API client sees has one shape: RFC 9457 problem details."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

import lti_bridge.web
from lti_bridge.domain.errors import (
    ForbiddenError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from lti_bridge.web import errors, security

JSON = {"Accept": "application/json"}


@pytest.fixture
def client():
    templates = Path(lti_bridge.web.__file__).parent / "templates"
    app = Flask("problems", template_folder=str(templates))
    errors.register(app)
    app.context_processor(lambda: {"csp_nonce": security.nonce})

    @app.get("/api/v1/invalid")
    def invalid():
        raise ValidationError(
            "sections[2].credit_hours: must be a positive integer",
            public_message="The catalog has 1 problem.",
            fields={"sections[2].credit_hours": "must be a positive integer"},
        )

    @app.get("/api/v1/forbidden")
    def forbidden():
        raise ForbiddenError("token scoped elsewhere", public_message="Not your section.")

    @app.get("/api/v1/missing")
    def missing():
        raise NotFoundError("no section X")

    @app.get("/api/v1/busy")
    def busy():
        raise UnavailableError("database down", retry_after=7)

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.get("/page")
    def page():
        raise ForbiddenError("nope")

    return app.test_client()


def test_a_validation_error_names_each_bad_field():
    error = ValidationError("x", fields={"title": "required"})
    assert error.fields == {"title": "required"}
    assert ValidationError("x").fields == {}


def test_an_invalid_request_answers_a_problem_document_with_its_fields(client):
    response = client.get("/api/v1/invalid")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.get_json() == {
        "type": "about:blank",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "The catalog has 1 problem.",
        "error": "invalid_input",
        "errors": {"sections[2].credit_hours": "must be a positive integer"},
    }


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/forbidden", 403, "forbidden"),
        ("/api/v1/missing", 404, "not_found"),
        ("/api/v1/busy", 503, "unavailable"),
        ("/api/v1/nowhere", 404, "not_found"),
        ("/api/v1/boom", 500, "internal_error"),
    ],
)
def test_each_refusal_of_an_api_client_has_the_same_shape(client, path, status, code):
    response = client.get(path)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert set(body) == {"type", "title", "status", "detail", "error"}
    assert (body["status"], body["error"]) == (status, code)
    assert "secret internals" not in response.get_data(as_text=True)


def test_an_unavailable_answer_says_when_to_try_again(client):
    assert client.get("/api/v1/busy").headers["Retry-After"] == "7"


def test_a_client_asking_for_json_gets_the_problem_a_browser_gets_a_page(client):
    assert client.get("/page", headers=JSON).content_type == "application/problem+json"
    assert client.get(
        "/page", headers={"Accept": "application/problem+json"}
    ).content_type == "application/problem+json"
    page = client.get("/page", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 403
    assert page.content_type.startswith("text/html")
