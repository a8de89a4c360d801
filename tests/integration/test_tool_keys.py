"""The tool's own signing keys: ``lti-bridge keys rotate/list/retire`` and ``/lti/jwks``."""

from __future__ import annotations

from typing import Any

from jwcrypto import jws


def cli(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def published(client: Any) -> list[str]:
    response = client.get("/lti/jwks")
    assert response.status_code == 200
    return [key["kid"] for key in response.get_json()["keys"]]


def test_jwks_publishes_a_key_from_the_first_request(client: Any) -> None:
    kids = published(client)

    assert len(kids) == 1
    assert client.get("/.well-known/jwks.json").get_json()["keys"][0]["kid"] == kids[0]


def test_rotate_publishes_a_new_signing_key_and_keeps_the_old_one(app: Any, client: Any) -> None:
    (old,) = published(client)

    result = cli(app, "keys", "rotate")

    assert result.exit_code == 0, result.output
    kids = published(client)
    assert old in kids and len(kids) == 2
    new = next(kid for kid in kids if kid != old)
    listing = cli(app, "keys", "list").output
    assert f"{new}" in listing and "signing" in listing
    svc = app.extensions["lti_bridge"]
    svc.keyring._loaded_at = -1e18  # what 30 seconds would do
    assert svc.keyring.signing_key().kid == new


def test_tokens_signed_with_the_new_key_verify_against_the_published_set(
    app: Any, client: Any
) -> None:
    published(client)
    cli(app, "keys", "rotate")
    svc = app.extensions["lti_bridge"]
    svc.keyring._loaded_at = -1e18
    key = svc.keyring.signing_key()
    from jwcrypto import jwk

    signer = jwk.JWK.from_pem(key.private_key_pem.encode())
    token = jws.JWS(b"payload")
    token.add_signature(signer, alg="RS256", protected={"alg": "RS256", "kid": key.kid})
    keyset = jwk.JWKSet.from_json(client.get("/lti/jwks").get_data(as_text=True))

    verifier = jws.JWS()
    verifier.deserialize(token.serialize(compact=True))
    verifier.verify(keyset.get_key(key.kid))
    assert verifier.payload == b"payload"


def test_retire_removes_the_old_key_from_the_jwks(app: Any, client: Any) -> None:
    (old,) = published(client)
    cli(app, "keys", "rotate")

    result = cli(app, "keys", "retire", old)

    assert result.exit_code == 0, result.output
    assert old not in published(client)
    assert len(published(client)) == 1


def test_the_last_active_key_cannot_be_retired(app: Any, client: Any) -> None:
    (only,) = published(client)

    result = cli(app, "keys", "retire", only)

    assert result.exit_code != 0
    assert "rotate first" in result.output
    assert published(client) == [only]


def test_retiring_an_unknown_key_says_so(app: Any, client: Any) -> None:
    published(client)

    result = cli(app, "keys", "retire", "no-such-kid")

    assert result.exit_code != 0
    assert "no key no-such-kid" in result.output
    assert "Traceback" not in result.output
