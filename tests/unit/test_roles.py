"""The role table: which LTI 1.3 roles open staff views (CONTRACT §3). Pure, no fixtures."""

from __future__ import annotations

import pytest

from lti_bridge.domain.roles import Role, RoleScope, is_staff, parse_role

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
CONTEXT = LIS + "membership#"
INSTITUTION = LIS + "institution/person#"
SYSTEM = LIS + "system/person#"


@pytest.mark.parametrize(
    "uri, role",
    [
        (CONTEXT + "Instructor", Role(RoleScope.CONTEXT, "Instructor")),
        (CONTEXT + "Learner", Role(RoleScope.CONTEXT, "Learner")),
        (
            LIS + "membership/Instructor#TeachingAssistant",
            Role(RoleScope.CONTEXT, "Instructor", "TeachingAssistant"),
        ),
        (LIS + "membership/Learner#Learner", Role(RoleScope.CONTEXT, "Learner", "Learner")),
        (INSTITUTION + "Instructor", Role(RoleScope.INSTITUTION, "Instructor")),
        (INSTITUTION + "Administrator", Role(RoleScope.INSTITUTION, "Administrator")),
        (SYSTEM + "Administrator", Role(RoleScope.SYSTEM, "Administrator")),
        (SYSTEM + "SysAdmin", Role(RoleScope.SYSTEM, "SysAdmin")),
        ("Instructor", Role(RoleScope.CONTEXT, "Instructor")),
        ("Learner", Role(RoleScope.CONTEXT, "Learner")),
        ("TeachingAssistant", Role(RoleScope.CONTEXT, "TeachingAssistant")),
        (
            "Instructor#TeachingAssistant",
            Role(RoleScope.CONTEXT, "Instructor", "TeachingAssistant"),
        ),
        ("urn:lti:role:ims/lis/Instructor", Role(RoleScope.CONTEXT, "Instructor")),
        (
            "urn:lti:role:ims/lis/Instructor/TeachingAssistant",
            Role(RoleScope.CONTEXT, "Instructor", "TeachingAssistant"),
        ),
        ("urn:lti:instrole:ims/lis/Faculty", Role(RoleScope.INSTITUTION, "Faculty")),
        ("urn:lti:sysrole:ims/lis/Administrator", Role(RoleScope.SYSTEM, "Administrator")),
    ],
)
def test_each_vocabulary_is_read_with_its_scope(uri: str, role: Role) -> None:
    assert parse_role(uri) == role


@pytest.mark.parametrize(
    "uri",
    ["", "  ", "https://example.com/roles#Instructor", LIS + "membership", CONTEXT,
     LIS + "membershipInstructor", "Instructor <script>", LIS + "membership/Instructor"],
)
def test_text_outside_the_vocabularies_is_no_role(uri: str) -> None:
    assert parse_role(uri) is None


@pytest.mark.parametrize(
    "roles",
    [
        [CONTEXT + "Instructor"],
        [CONTEXT + "TeachingAssistant"],
        [LIS + "membership/Instructor#TeachingAssistant"],
        [LIS + "membership/Instructor#Grader"],
        ["Instructor"],
        ["TeachingAssistant"],
        ["Instructor#TeachingAssistant"],
        ["urn:lti:role:ims/lis/Instructor"],
        [SYSTEM + "Administrator"],
        [SYSTEM + "SysAdmin", INSTITUTION + "Staff"],
        [CONTEXT + "Learner", CONTEXT + "Instructor"],
    ],
)
def test_context_instructors_teaching_assistants_and_system_administrators_are_staff(
    roles: list[str],
) -> None:
    assert is_staff(roles)


@pytest.mark.parametrize(
    "roles",
    [
        [],
        [CONTEXT + "Learner"],
        [CONTEXT + "Mentor"],
        [CONTEXT + "ContentDeveloper"],
        [CONTEXT + "Administrator"],
        [INSTITUTION + "Instructor"],
        [INSTITUTION + "Faculty"],
        [INSTITUTION + "Administrator"],
        ["urn:lti:instrole:ims/lis/Instructor"],
        [SYSTEM + "User"],
        ["https://example.com/roles#Instructor"],
    ],
)
def test_institution_roles_and_other_context_roles_open_no_staff_view(roles: list[str]) -> None:
    assert not is_staff(roles)


def test_a_learner_who_teaches_elsewhere_is_a_learner_in_this_course() -> None:
    # Canvas sends institution roles with every launch.
    assert not is_staff([CONTEXT + "Learner", INSTITUTION + "Instructor"])


def test_a_context_learner_role_wins_over_a_system_administrator_role() -> None:
    assert not is_staff([LIS + "membership/Learner#Learner", SYSTEM + "Administrator"])
