"""The platform key cache against a real JWKS server on loopback."""

from __future__ import annotations

import json

import pytest
import requests
from jwcrypto import jwk
from werkzeug.wrappers import Request, Response

from lti_bridge.adapters.lti.platform_keys import PlatformKeyCache
from lti_bridge.domain.errors import LaunchError
from tests.fixtures.loopback import serve


class JwksServer:
    def __init__(self) -> None:
        self.keys = [self.new_key("k1")]
        self.fetches = 0
        self.cache_control = ""
        self.status = 200

    def public(self, kid: str) -> dict[str, str]:
        key = next(k for k in self.keys if k.kid == kid)
        return {name: json.loads(key.export_public())[name] for name in ("n", "e")}

    @staticmethod
    def new_key(kid: str) -> jwk.JWK:
        return jwk.JWK.generate(kty="RSA", size=2048, kid=kid)

    def __call__(self, environ, start_response):
        Request(environ)
        self.fetches += 1
        body = {"keys": [json.loads(k.export_public()) for k in self.keys]}
        response = Response(json.dumps(body), status=self.status, mimetype="application/json")
        if self.cache_control:
            response.headers["Cache-Control"] = self.cache_control
        return response(environ, start_response)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def jwks():
    server = JwksServer()
    with serve(server) as url:
        server.url = url + "/jwks"
        yield server


def served(public_key) -> dict[str, str]:
    """An RSA public key's modulus and exponent, as its JWK gives them."""
    exported = json.loads(jwk.JWK.from_pyca(public_key).export_public())
    return {name: exported[name] for name in ("n", "e")}


def make_cache(clock, **kwargs):
    return PlatformKeyCache(requests.Session(), clock=clock, **kwargs)


def test_key_set_is_fetched_once_and_reused(jwks):
    cache = make_cache(Clock())
    for _ in range(5):
        assert served(cache.rsa_key(jwks.url, "k1")) == jwks.public("k1")
    assert jwks.fetches == 1


def test_max_age_is_honoured(jwks):
    clock = Clock()
    jwks.cache_control = "public, max-age=60"
    cache = make_cache(clock)
    cache.rsa_key(jwks.url, "k1")
    clock.now += 59
    cache.rsa_key(jwks.url, "k1")
    assert jwks.fetches == 1
    clock.now += 2
    cache.rsa_key(jwks.url, "k1")
    assert jwks.fetches == 2


def test_rotation_is_picked_up_on_the_first_unknown_kid(jwks):
    clock = Clock()
    cache = make_cache(clock, min_refetch=30)
    cache.rsa_key(jwks.url, "k1")
    jwks.keys.append(jwks.new_key("k2"))
    clock.now += 31
    assert served(cache.rsa_key(jwks.url, "k2")) == jwks.public("k2")
    assert jwks.fetches == 2


def test_a_flood_of_unknown_kids_causes_at_most_one_refetch(jwks):
    clock = Clock()
    cache = make_cache(clock, min_refetch=30)
    cache.rsa_key(jwks.url, "k1")
    clock.now += 31
    for i in range(50):
        with pytest.raises(LaunchError, match="no key with kid"):
            cache.rsa_key(jwks.url, f"made-up-{i}")
    assert jwks.fetches == 2


def test_unreachable_key_set_is_a_launch_error():
    cache = make_cache(Clock())
    with pytest.raises(LaunchError, match="could not fetch"):
        cache.rsa_key("http://127.0.0.1:9/jwks", "k1")


def test_known_keys_survive_a_failing_refetch(jwks):
    clock = Clock()
    jwks.cache_control = "max-age=10"
    cache = make_cache(clock, min_refetch=5)
    cache.rsa_key(jwks.url, "k1")
    jwks.status = 500
    clock.now += 11
    assert served(cache.rsa_key(jwks.url, "k1")) == jwks.public("k1")


def test_a_key_that_is_not_rsa_is_refused_by_name(jwks):
    jwks.keys.append(jwk.JWK.generate(kty="EC", crv="P-256", kid="ec1"))
    cache = make_cache(Clock())
    with pytest.raises(LaunchError, match="'ec1' .* is not an RSA key"):
        cache.rsa_key(jwks.url, "ec1")
    # The RSA key beside it is still served.
    assert served(cache.rsa_key(jwks.url, "k1")) == jwks.public("k1")
