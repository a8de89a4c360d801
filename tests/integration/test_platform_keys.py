"""The platform key cache against a real JWKS server on loopback."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from jwcrypto import jwk
from werkzeug.wrappers import Request, Response

from lti_bridge.adapters.lti.platform_keys import PlatformKeyCache
from lti_bridge.domain.errors import LaunchError, UnavailableError
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


def test_unreachable_key_set_is_unavailable_for_now_not_a_bad_launch():
    cache = make_cache(Clock())
    with pytest.raises(UnavailableError, match="could not fetch") as caught:
        cache.rsa_key("http://127.0.0.1:9/jwks", "k1")
    assert 1 <= caught.value.retry_after <= 31


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


# --- a key set that is slow or down ----------------------------------------------------------


class SlowJwks(JwksServer):
    """A key set server that answers only after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def __call__(self, environ, start_response):
        time.sleep(self.delay)
        return super().__call__(environ, start_response)


def test_concurrent_launches_against_a_hanging_key_set_share_one_fetch_and_wait_a_bounded_time():
    server = SlowJwks(delay=2.0)
    with serve(server) as url:
        cache = make_cache(time.monotonic, max_wait=0.3, timeout=5.0)
        outcomes: list[tuple[str, float]] = []

        def launch() -> None:
            started = time.monotonic()
            try:
                cache.rsa_key(url + "/jwks", "k1")
                outcomes.append(("ok", time.monotonic() - started))
            except UnavailableError:
                outcomes.append(("unavailable", time.monotonic() - started))

        threads = [threading.Thread(target=launch) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Not 2, 4, 6, 8 s one after another: each is told within the bounded wait.
        assert [o for o, _ in outcomes] == ["unavailable"] * 4
        assert max(seconds for _, seconds in outcomes) < 1.0
        # The one fetch finishes aside; the next launch finds its keys.
        time.sleep(2.2)
        assert served(cache.rsa_key(url + "/jwks", "k1")) == server.public("k1")
        assert server.fetches == 1


def test_a_failed_fetch_is_remembered_for_the_refetch_interval(jwks):
    clock = Clock()
    jwks.status = 500
    cache = make_cache(clock, min_refetch=30)
    for _ in range(5):
        with pytest.raises(UnavailableError):
            cache.rsa_key(jwks.url, "k1")
    assert jwks.fetches == 1
    jwks.status = 200
    clock.now += 31
    assert served(cache.rsa_key(jwks.url, "k1")) == jwks.public("k1")
    assert jwks.fetches == 2


def test_known_keys_serve_while_a_slow_refetch_runs():
    server = SlowJwks(delay=0.0)
    with serve(server) as url:
        clock = Clock()
        server.cache_control = "max-age=10"
        cache = make_cache(clock, max_wait=0.2)
        cache.rsa_key(url + "/jwks", "k1")
        server.delay = 1.5
        clock.now += 11
        started = time.monotonic()
        assert served(cache.rsa_key(url + "/jwks", "k1")) == server.public("k1")
        assert time.monotonic() - started < 1.0
