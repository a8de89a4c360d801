"""Launches through the full login flow against a scripted platform, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lti_bridge.adapters.db.tables import contexts, learners, lti_store, resource_links
from tests.fixtures.platform import REMOVE, scripted_platform


@pytest.fixture
def platform(app):
    with scripted_platform() as p:
        p.register(app)
        yield p


def count(app, table):
    with app.extensions["lti_bridge"].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_learner_launch_of_an_open_link_shows_the_item_and_records_the_learner(app, client,
                                                                                 platform):
    response = platform.launch(client)
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "Week 1 reading" in page and "week1-reading" in page
    with app.extensions["lti_bridge"].engine.connect() as conn:
        learner = conn.execute(select(learners)).mappings().one()
        context = conn.execute(select(contexts)).mappings().one()
        link = conn.execute(select(resource_links)).mappings().one()
    assert (learner["sub"], learner["person_sourcedid"], learner["email"]) == (
        "learner-1", "110123456", "ab12@example.edu")
    assert context["course_section_sourcedid"] == "DTSA5509-100-2024S1"
    assert link["custom"] == {"access": "open", "item": "week1-reading"}


def test_open_link_with_content_url_redirects_there(client, platform):
    response = platform.launch(
        client, custom={"access": "open", "content_url": "https://content.example.edu/w1"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "https://content.example.edu/w1"


def test_instructor_launch_shows_the_section_page(client, platform):
    response = platform.launch(client, role="Instructor")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="section-title"' in page and "DTSA5509-100-2024S1" in page


def test_for_credit_link_stays_shut_for_a_learner_without_a_gate_decision(client, platform):
    response = platform.launch(client, custom={"access": "for_credit", "item": "final-exam"})
    assert response.status_code == 403


def test_a_second_launch_updates_rather_than_duplicates(app, client, platform):
    platform.launch(client)
    platform.launch(client, email="new@example.edu")
    assert count(app, learners) == 1
    with app.extensions["lti_bridge"].engine.connect() as conn:
        assert conn.execute(select(learners.c.email)).scalar() == "new@example.edu"


def test_login_by_get_works_too(client, platform):
    login = platform.login(client, method="GET")
    response = platform.post_launch(client, login, platform.sign(platform.claims(login)))
    assert response.status_code == 200


def test_replayed_form_post_is_refused_and_writes_nothing(app, client, platform):
    login = platform.login(client)
    token = platform.sign(platform.claims(login))
    assert platform.post_launch(client, login, token).status_code == 200
    before = count(app, learners)
    replay = platform.post_launch(client, login, token)
    assert replay.status_code == 400
    assert "already used" in replay.get_data(as_text=True)
    assert count(app, learners) == before


def test_unknown_issuer_is_refused_at_login_with_a_hint(client, platform):
    response = client.post("/lti/login", data={"iss": "https://unknown.example",
                                               "login_hint": "x", "client_id": "c"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "not registered" in page and "lti-bridge platform add" in page


def test_unknown_client_id_is_refused(client, platform):
    response = client.post("/lti/login", data={"iss": platform.issuer, "login_hint": "x",
                                               "client_id": "someone-else"})
    assert response.status_code == 400


def test_unknown_deployment_is_refused_with_its_name_and_the_command(app, client, platform):
    response = platform.launch(client, deployment_id="dep-unknown")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "dep-unknown" in page and "lti-bridge platform allow-deployment" in page
    assert count(app, learners) == 0


def test_bad_signature_is_refused_and_writes_nothing(app, client, platform):
    from jwcrypto import jwk

    login = platform.login(client)
    forged_key = jwk.JWK.generate(kty="RSA", size=2048, kid=platform.key.kid)
    token = platform.sign(platform.claims(login), key=forged_key)
    response = platform.post_launch(client, login, token)
    assert response.status_code == 400
    assert "signature" in response.get_data(as_text=True)
    assert count(app, learners) == 0


def test_expired_state_is_refused(app, client, platform):
    login = platform.login(client)
    with app.extensions["lti_bridge"].engine.begin() as conn:
        conn.execute(lti_store.delete())
    response = platform.post_launch(client, login, platform.sign(platform.claims(login)))
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_state_without_its_cookie_is_refused(app, platform):
    login = platform.login(app.test_client())
    other_browser = app.test_client()
    response = platform.post_launch(other_browser, login, platform.sign(platform.claims(login)))
    assert response.status_code == 400
    assert "cookie" in response.get_data(as_text=True)


def test_nonce_from_another_login_is_refused(client, platform):
    first = platform.login(client)
    second = platform.login(client)
    token = platform.sign(platform.claims(first))
    assert platform.post_launch(client, second, token).status_code == 400


def test_missing_exp_is_refused(client, platform):
    assert platform.launch(client, exp=REMOVE).status_code == 400


def test_platform_jwks_is_fetched_once_for_many_launches(client, platform):
    for _ in range(3):
        assert platform.launch(client).status_code == 200
    assert platform.jwks_fetches == 1


def test_return_url_is_not_followed_for_an_unverified_launch(client, platform):
    login = platform.login(client)
    from jwcrypto import jwk

    token = platform.sign(platform.claims(login), key=jwk.JWK.generate(kty="RSA", size=2048,
                                                                       kid="p1"))
    page = platform.post_launch(client, login, token).get_data(as_text=True)
    assert "course/return" not in page
