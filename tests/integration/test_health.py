from __future__ import annotations


def test_healthz_answers_ok_without_touching_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_readyz_answers_503_when_the_database_is_unreachable(tmp_path):
    from lti_bridge.web import create_app

    app = create_app(
        {
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "instance_path": str(tmp_path),
            "secret_key": "x" * 32,
        }
    )
    response = app.test_client().get("/readyz")
    app.extensions["lti_bridge"].engine.dispose()
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_jwks_publishes_the_tool_signing_key(client):
    keys = client.get("/lti/jwks").get_json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
    assert "d" not in keys[0], "the private exponent must never be published"
    assert client.get("/.well-known/jwks.json").get_json() == {"keys": keys}
