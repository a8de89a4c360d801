"""Registering platforms and their deployments on the fake unit of work."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lti_bridge.domain.errors import ConflictError, ValidationError
from lti_bridge.domain.model import PlatformRegistration
from lti_bridge.services.platforms import (
    add_new_platform,
    allow_deployment,
    list_platforms,
    register_platform,
)
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
LMS = PlatformRegistration(
    issuer="https://lms.example.edu",
    client_id="tool",
    auth_login_url="https://lms.example.edu/auth",
    auth_token_url="https://lms.example.edu/token",
    key_set_url="https://lms.example.edu/jwks",
    deployment_ids=("d1",),
)


def test_registering_again_updates_the_platform_and_adds_its_deployments() -> None:
    uow = FakeUnitOfWork()
    first = register_platform(LMS, uow=uow, now=NOW)
    moved = replace(LMS, key_set_url="https://lms.example.edu/keys", deployment_ids=("d2",))
    assert register_platform(moved, uow=uow, now=NOW) == first

    (platform,) = list_platforms(uow=uow)
    assert platform.key_set_url == "https://lms.example.edu/keys"
    assert platform.deployment_ids == ("d1", "d2")
    assert uow.commits == 2


@pytest.mark.parametrize(
    "bad",
    [
        replace(LMS, client_id=" "),
        replace(LMS, deployment_ids=()),
        replace(LMS, deployment_ids=("d1", "")),
        replace(LMS, issuer="lms.example.edu"),
        replace(LMS, key_set_url="ftp://lms.example.edu/jwks"),
    ],
)
def test_a_registration_without_ids_or_with_a_relative_url_is_refused(
    bad: PlatformRegistration,
) -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(ValidationError):
        register_platform(bad, uow=uow, now=NOW)
    assert list_platforms(uow=uow) == [] and uow.commits == 0


def test_dynamic_registration_adds_a_new_platform_but_never_changes_one() -> None:
    uow = FakeUnitOfWork()
    platform_id = add_new_platform(LMS, uow=uow, now=NOW)
    with pytest.raises(ConflictError):
        add_new_platform(replace(LMS, key_set_url="https://evil.example/jwks"), uow=uow, now=NOW)
    (platform,) = list_platforms(uow=uow)
    assert (platform.id, platform.key_set_url) == (platform_id, LMS.key_set_url)
    assert uow.commits == 1


def test_a_deployment_is_allowed_once_for_a_registered_platform_only() -> None:
    uow = FakeUnitOfWork()
    register_platform(LMS, uow=uow, now=NOW)
    assert allow_deployment(LMS.issuer, "tool", "d2", uow=uow, now=NOW)
    assert not allow_deployment(LMS.issuer, "tool", "d2", uow=uow, now=NOW)
    with pytest.raises(ValidationError):
        allow_deployment(LMS.issuer, "other-client", "d3", uow=uow, now=NOW)
    assert list_platforms(uow=uow)[0].deployment_ids == ("d1", "d2")
