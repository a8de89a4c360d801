"""The 1EdTech LTI Advantage tool certification launch cases, each through the full login flow.

Known-bad payloads are refused with a 4xx page and write nothing; the valid learner and
instructor variants are accepted. Plus the checks the certification leaves to the tool: atomic
nonce use, exp/iat leeway, aud lists with azp, several client ids under one issuer.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import unquote_plus

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jwcrypto import jwk
from sqlalchemy import func, select

from lti_bridge.adapters.db.tables import learners
from tests.fixtures.platform import REMOVE, ROLE, ScriptedPlatform, scripted_platform


@pytest.fixture
def platform(app):
    with scripted_platform() as p:
        p.register(app)
        yield p


def learner_rows(app):
    with app.extensions["lti_bridge"].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(learners)).scalar()


def refused(app, response, *words):
    page = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, page
    for word in words:
        assert word in page, f"{word!r} not in the refusal page"
    assert learner_rows(app) == 0, "a refused launch must write nothing"


# --- the known-bad payloads -------------------------------------------------------------------


def test_no_kid_in_the_header_is_refused(app, client, platform):
    login = platform.login(client)
    token = platform.sign(platform.claims(login), header={"alg": "RS256"})
    refused(app, platform.post_launch(client, login, token), "signature")


def test_unknown_kid_is_refused(app, client, platform):
    login = platform.login(client)
    stranger = jwk.JWK.generate(kty="RSA", size=2048, kid="not-published")
    token = platform.sign(platform.claims(login), key=stranger)
    refused(app, platform.post_launch(client, login, token), "key")


def test_wrong_lti_version_is_refused(app, client, platform):
    refused(app, platform.launch(client, version="1.2.0"))


def test_missing_lti_version_is_refused(app, client, platform):
    refused(app, platform.launch(client, version=REMOVE))


def test_a_token_that_is_not_a_jwt_is_refused(app, client, platform):
    login = platform.login(client)
    refused(app, platform.post_launch(client, login, "this-is-not-a-jwt"))


def test_a_jwt_without_lti_claims_is_refused(app, client, platform):
    login = platform.login(client)
    now = int(time.time())
    bare = {"iss": platform.issuer, "aud": platform.client_id, "sub": "u", "exp": now + 60,
            "iat": now, "nonce": login.nonce}
    refused(app, platform.post_launch(client, login, platform.sign(bare)))


@pytest.mark.parametrize(
    "times",
    [{"exp": -3600, "iat": -7200}, {"exp": 7200, "iat": 3600}],
    ids=["expired", "issued-in-the-future"],
)
def test_bad_iat_or_exp_is_refused(app, client, platform, times):
    now = int(time.time())
    refused(app, platform.launch(client, exp=now + times["exp"], iat=now + times["iat"]))


def test_missing_message_type_is_refused(app, client, platform):
    refused(app, platform.launch(client, message_type=REMOVE))


def test_missing_roles_claim_is_refused(app, client, platform):
    refused(app, platform.launch(client, roles=REMOVE))


def test_missing_deployment_id_is_refused(app, client, platform):
    refused(app, platform.launch(client, deployment_id=REMOVE), "deployment")


def test_missing_resource_link_id_is_refused(app, client, platform):
    refused(app, platform.launch(client, resource_link={"title": "no id"}))


def test_missing_sub_is_refused(app, client, platform):
    refused(app, platform.launch(client, sub=REMOVE))


def test_alg_none_is_refused(app, client, platform):
    login = platform.login(client)
    def b64(part):
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none', 'kid': 'p1'})}.{b64(platform.claims(login))}."
    refused(app, platform.post_launch(client, login, token))


def _b64(part) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def test_a_payload_changed_after_signing_is_refused(app, client, platform):
    login = platform.login(client)
    header, _payload, signature = platform.sign(platform.claims(login)).split(".")
    forged = _b64(platform.claims(login, sub="someone-else"))
    refused(app, platform.post_launch(client, login, f"{header}.{forged}.{signature}"),
            "signature")


def test_hs256_keyed_with_the_platforms_public_key_is_refused(app, client, platform):
    login = platform.login(client)
    public = jwk.JWK.from_json(platform.key.export_public())
    secret = jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(
        public.export_to_pem()).rstrip(b"=").decode())
    token = platform.sign(platform.claims(login), header={"alg": "HS256", "kid": "p1"},
                          key=secret)
    refused(app, platform.post_launch(client, login, token), "signature")


def test_a_header_with_critical_extensions_is_refused(app, client, platform):
    login = platform.login(client)
    # Signed by hand: jwcrypto will not sign with an extension it does not know either.
    header = {"alg": "RS256", "kid": "p1", "crit": ["exp-ext"], "exp-ext": 1}
    signing_input = f"{_b64(header)}.{_b64(platform.claims(login))}"
    signature = platform.key.get_op_key("sign").sign(
        signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    refused(app, platform.post_launch(client, login, token), "signature")


@pytest.mark.parametrize("damage", ["padding", "alphabet"])
def test_a_token_that_is_not_base64url_is_refused(app, client, platform, damage):
    login = platform.login(client)
    header, payload, signature = platform.sign(platform.claims(login)).split(".")
    if damage == "padding":
        payload += "=" * (-len(payload) % 4 or 4)
    else:
        payload = payload.replace("-", "+").replace("_", "/") + "+/"
    refused(app, platform.post_launch(client, login, f"{header}.{payload}.{signature}"))


# --- the valid variants -----------------------------------------------------------------------

LEARNER, INSTRUCTOR = "Learner", "Instructor"


@pytest.mark.parametrize("role", [LEARNER, INSTRUCTOR])
@pytest.mark.parametrize(
    "variant",
    [
        {"context": REMOVE},
        {"email": REMOVE},
        {"name": REMOVE, "given_name": "Ada", "family_name": "Byron"},
        {"name": REMOVE, "email": REMOVE},
        {"name": REMOVE, "email": REMOVE, "lis": REMOVE},
    ],
    ids=["no-context", "names-only", "given-and-family-names", "no-name-no-email",
         "no-personal-data"],
)
def test_valid_variants_are_accepted(client, platform, role, variant):
    response = platform.launch(client, role=role, **variant)
    assert response.status_code == 200, response.get_data(as_text=True)
    marker = 'id="section-title"' if role == INSTRUCTOR else 'id="item-title"'
    assert marker in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "roles, staff",
    [
        ([], False),
        (["http://purl.imsglobal.org/vocab/lis/v2/membership#Unknown"], False),
        ([ROLE + "Learner", ROLE + "Mentor"], False),
        ([ROLE + "Learner", ROLE + "Instructor"], True),
        (["http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"], True),
        (["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"], False),
    ],
    ids=["empty", "unknown", "several-learner", "several-with-instructor", "administrator",
         "institution-administrator"],
)
def test_empty_unknown_and_several_roles_are_accepted(client, platform, roles, staff):
    response = platform.launch(client, roles=roles)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert ('id="section-title"' in page) is staff


# --- beyond the library -----------------------------------------------------------------------


def test_iat_three_seconds_ahead_is_accepted(client, platform):
    assert platform.launch(client, iat=int(time.time()) + 3).status_code == 200


def test_leeway_is_configurable(app_config, client):
    from lti_bridge.web import create_app

    strict_app = create_app({**app_config, "jwt_leeway_seconds": 0})
    try:
        strict = strict_app.test_client()
        with scripted_platform() as p:
            p.register(strict_app)
            assert p.launch(strict, iat=int(time.time()) + 30).status_code == 400
    finally:
        strict_app.extensions["lti_bridge"].engine.dispose()


def test_aud_list_holding_the_client_id_with_azp_is_accepted(client, platform):
    response = platform.launch(client, aud=["another-audience", platform.client_id],
                               azp=platform.client_id)
    assert response.status_code == 200


def test_azp_naming_another_client_is_refused(app, client, platform):
    refused(app, platform.launch(client, azp="another-client"))


def test_aud_without_our_client_id_is_refused(app, client, platform):
    refused(app, platform.launch(client, aud=["another-client"]))


def test_several_client_ids_under_one_issuer_each_launch(app, client, platform):
    second = ScriptedPlatform(issuer=platform.issuer, client_id="tool-client-2",
                              key=platform.key)
    second.jwks_url = platform.jwks_url
    second.register(app)
    assert second.launch(client).status_code == 200
    assert platform.launch(client).status_code == 200


def test_login_without_client_id_is_refused_when_the_issuer_has_several(app, client, platform):
    second = ScriptedPlatform(issuer=platform.issuer, client_id="tool-client-2")
    second.jwks_url = platform.jwks_url
    second.register(app)
    response = client.post("/lti/login", data={"iss": platform.issuer, "login_hint": "x"})
    assert response.status_code == 400
    assert "client" in response.get_data(as_text=True)


def test_unknown_deployment_can_be_allowed_with_one_command(app, client, platform):
    assert platform.launch(client, deployment_id="dep-new").status_code == 400
    result = app.test_cli_runner().invoke(
        args=["platform", "allow-deployment", "--issuer", platform.issuer, "--client-id",
         platform.client_id, "--deployment-id", "dep-new"],
    )
    assert result.exit_code == 0, result.output
    assert platform.launch(client, deployment_id="dep-new").status_code == 200


def test_platform_key_rotation_works_without_a_restart(app, client, platform):
    assert platform.launch(client).status_code == 200
    new_key = jwk.JWK.generate(kty="RSA", size=2048, kid="p2")
    platform.extra_keys.append(new_key)
    login = platform.login(client)
    cache = app.extensions["lti_bridge"].key_cache
    cache._min_refetch = 0  # the rate limit is tested in test_platform_keys
    response = platform.post_launch(client, login,
                                    platform.sign(platform.claims(login), key=new_key))
    assert response.status_code == 200


def test_concurrent_replays_of_one_launch_succeed_once(app, platform):
    import threading

    client = app.test_client()
    login = platform.login(client)
    token = platform.sign(platform.claims(login))
    cookie = client.get_cookie(login.state, domain="localhost") or client.get_cookie(
        "lti1p3-" + login.state)
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def post() -> None:
        other = app.test_client()
        other.set_cookie(cookie.key, cookie.value)
        barrier.wait()
        statuses.append(platform.post_launch(other, login, token).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] + [400] * 5


def test_refused_signed_launch_sends_the_learner_back_with_lti_errormsg(app, client, platform):
    back = platform.issuer + "/course/return?tab=1"

    response = platform.launch(
        client, deployment_id="dep-unknown", launch_presentation={"return_url": back}
    )

    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(back + "&lti_errormsg=")
    assert "dep-unknown" in unquote_plus(location)
    assert learner_rows(app) == 0


def test_unsigned_launch_never_redirects_to_its_return_url(app, client, platform):
    stranger = jwk.JWK.generate(kty="RSA", size=2048, kid=platform.key.kid)
    login = platform.login(client)
    claims = platform.claims(
        login, launch_presentation={"return_url": "https://evil.example.com/phish"}
    )

    response = platform.post_launch(client, login, platform.sign(claims, key=stranger))

    assert response.status_code == 400
    assert "evil.example.com" not in response.get_data(as_text=True)
    assert learner_rows(app) == 0
