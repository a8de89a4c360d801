from __future__ import annotations

import pytest

from lti_bridge.adapters.lti.claims import LTI, check_token_claims, launch_context_from_claims
from lti_bridge.domain.errors import LaunchError
from lti_bridge.domain.model import LinkAccess, MessageType

NOW = 1_700_000_000


def claims(**overrides):
    base = {"iss": "https://lms.example.edu", "aud": "tool-1", "exp": NOW + 300, "iat": NOW}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def check(body, leeway=60):
    check_token_claims(
        body, issuer="https://lms.example.edu", client_id="tool-1", now=NOW, leeway=leeway
    )


def test_valid_claims_pass():
    check(claims())


def test_aud_may_be_a_list_holding_the_client_id_with_azp():
    check(claims(aud=["other", "tool-1"], azp="tool-1"))


def test_aud_list_with_several_audiences_needs_azp():
    with pytest.raises(LaunchError, match="azp is missing"):
        check(claims(aud=["other", "tool-1"]))


def test_azp_must_equal_the_client_id():
    with pytest.raises(LaunchError, match="azp"):
        check(claims(azp="someone-else"))


def test_aud_without_the_client_id_is_refused():
    with pytest.raises(LaunchError, match="aud"):
        check(claims(aud=["other"]))


def test_wrong_issuer_is_refused():
    with pytest.raises(LaunchError, match="iss"):
        check(claims(iss="https://evil.example"))


@pytest.mark.parametrize("name", ["exp", "iat"])
def test_exp_and_iat_are_required(name):
    with pytest.raises(LaunchError, match=f"{name} is missing"):
        check(claims(**{name: None}))


def test_iat_a_few_seconds_in_the_future_is_ordinary_clock_drift():
    check(claims(iat=NOW + 3))


def test_iat_beyond_the_leeway_is_refused():
    with pytest.raises(LaunchError, match="future"):
        check(claims(iat=NOW + 61))


def test_expired_token_within_leeway_passes_and_beyond_is_refused():
    check(claims(exp=NOW - 59))
    with pytest.raises(LaunchError, match="expired"):
        check(claims(exp=NOW - 61))


def test_boolean_exp_is_not_a_number():
    with pytest.raises(LaunchError, match="exp"):
        check(claims(exp=True))


def full_launch():
    return {
        "iss": "https://lms.example.edu",
        "aud": ["tool-1"],
        "sub": "learner-1",
        "name": "Ada Byron",
        "email": "ab12@example.edu",
        LTI + "message_type": "LtiResourceLinkRequest",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": "dep-1",
        LTI + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        LTI + "context": {"id": "ctx-1", "label": "DTSA 5509", "title": "Statistics"},
        LTI + "resource_link": {"id": "rl-1", "title": "Final exam"},
        LTI + "lis": {
            "person_sourcedid": "110123456",
            "course_section_sourcedid": "DTSA5509-100-2024S1",
        },
        LTI + "custom": {"access": "for_credit", "item": "final-exam"},
        LTI + "launch_presentation": {"return_url": "https://lms.example.edu/back"},
        "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
            "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"],
            "lineitems": "https://lms.example.edu/ags/ctx-1/lineitems",
        },
        "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
            "context_memberships_url": "https://lms.example.edu/nrps/ctx-1",
        },
    }


def test_launch_context_carries_identity_section_and_services():
    ctx = launch_context_from_claims(full_launch())
    assert ctx.message_type is MessageType.RESOURCE_LINK
    assert (ctx.issuer, ctx.client_id, ctx.deployment_id) == (
        "https://lms.example.edu",
        "tool-1",
        "dep-1",
    )
    assert ctx.user_sub == "learner-1" and ctx.person_sourcedid == "110123456"
    assert ctx.sis_section_id == "DTSA5509-100-2024S1"
    assert ctx.access is LinkAccess.FOR_CREDIT
    assert ctx.short_roles == {"Learner"} and not ctx.is_staff
    assert ctx.ags_lineitems_url.endswith("/lineitems")
    assert ctx.nrps_memberships_url.endswith("/nrps/ctx-1")
    assert ctx.return_url == "https://lms.example.edu/back"


def test_launch_without_context_or_personal_data_still_reduces():
    body = full_launch()
    for key in ("name", "email", LTI + "context", LTI + "lis", LTI + "custom"):
        body.pop(key)
    ctx = launch_context_from_claims(body)
    assert ctx.context_id is None and ctx.email is None and ctx.sis_section_id is None
    assert ctx.access is LinkAccess.OPEN


def test_a_links_custom_sis_section_never_names_the_section():
    # Whoever places a link sets its custom parameters: they cannot pick another section.
    body = full_launch()
    body.pop(LTI + "lis")
    body[LTI + "custom"] = {"sis_section": "SEC-9"}
    assert launch_context_from_claims(body).sis_section_id is None


@pytest.mark.parametrize(
    "role",
    [
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
        "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",
        "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
        "Instructor",
    ],
)
def test_staff_roles_see_the_roster(role):
    body = full_launch()
    body[LTI + "roles"] = [role]
    assert launch_context_from_claims(body).is_staff


def test_unknown_access_marking_fails_closed():
    body = full_launch()
    body[LTI + "custom"] = {"access": "sometimes"}
    assert launch_context_from_claims(body).access is LinkAccess.FOR_CREDIT
