"""What a launch tells the tool, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from lti_bridge.domain.roles import is_staff as _opens_staff_views

LIS_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
SYSTEM_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"


class MessageType(StrEnum):
    RESOURCE_LINK = "LtiResourceLinkRequest"
    DEEP_LINKING = "LtiDeepLinkingRequest"


class LinkAccess(StrEnum):
    OPEN = "open"
    FOR_CREDIT = "for_credit"


def short_role(role: str) -> str:
    """Return the role's short name: the part after ``#``, or after the last ``/``."""
    if "#" in role:
        role = role.rsplit("#", 1)[1]
    elif "/" in role:
        role = role.rsplit("/", 1)[1]
    # Sub-roles such as membership/Instructor#TeachingAssistant end in the specific role.
    return role


@dataclass(frozen=True)
class LaunchContext:
    """The validated claims of one launch, reduced to what the tool uses."""

    issuer: str
    client_id: str
    deployment_id: str
    message_type: MessageType
    user_sub: str
    roles: tuple[str, ...]
    target_link_uri: str = ""
    context_id: str | None = None
    context_label: str | None = None
    context_title: str | None = None
    resource_link_id: str | None = None
    resource_link_title: str | None = None
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    person_sourcedid: str | None = None
    course_section_sourcedid: str | None = None
    custom: dict[str, str] = field(default_factory=dict)
    return_url: str | None = None
    ags_lineitems_url: str | None = None
    ags_lineitem_url: str | None = None
    ags_scopes: tuple[str, ...] = ()
    nrps_memberships_url: str | None = None
    deep_linking_settings: dict[str, Any] | None = None

    # Derived once per launch (a launch asks each of these several times); the instance is
    # frozen, so the cached values cannot go stale.
    @cached_property
    def short_roles(self) -> frozenset[str]:
        return frozenset(short_role(role) for role in self.roles)

    @cached_property
    def is_staff(self) -> bool:
        """Context instructors and teaching assistants, and system administrators, see staff
        views; institution roles grant nothing, a context Learner role wins (CONTRACT §3)."""
        return _opens_staff_views(self.roles)

    @cached_property
    def access(self) -> LinkAccess:
        value = self.custom.get("access", LinkAccess.OPEN.value).strip().lower()
        try:
            return LinkAccess(value)
        except ValueError:
            # An unknown marking is treated as restricted: failing closed keeps credit content shut.
            return LinkAccess.FOR_CREDIT

    @property
    def sis_section_id(self) -> str | None:
        """The SIS section the platform asserts: the LIS ``course_section_sourcedid``.

        Never a link's custom ``sis_section``: whoever places a link sets its custom parameters
        (CONTRACT §3). The section is honoured only where the catalog binds it to this launch's
        platform or to any platform; the repositories check that.
        """
        return self.course_section_sourcedid

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        parts = [p for p in (self.given_name, self.family_name) if p]
        return " ".join(parts) or self.email or "learner"


@dataclass(frozen=True)
class PlatformRegistration:
    """One LMS registration: an issuer and client id with its endpoints and deployments."""

    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: tuple[str, ...] = ()
    auth_audience: str | None = None
    id: int | None = None
