"""Who may see staff views: a pure reading of a launch's roles (CONTRACT §3).

The LTI 1.3 role vocabularies (LTI Core 1.3, appendix A.2; LIS v2):

- context (membership) roles, what the person is *in this course*:
  ``http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor``, sub-roles such as
  ``http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant``, and the
  deprecated short forms ``Instructor``, ``Learner``, ``TeachingAssistant``;
- institution roles, what the person is somewhere at the institution:
  ``http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor``;
- system roles, what the person is on the platform:
  ``http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator``;
- and the LTI 1.1 URNs some platforms still send (``urn:lti:role:ims/lis/…``,
  ``urn:lti:instrole:ims/lis/…``, ``urn:lti:sysrole:ims/lis/…``).

Staff views (the credit roster, placing items) show other learners' tuition, holds and grades:
they open for a context ``Instructor`` (any Instructor sub-role, ``TeachingAssistant`` included)
or a system ``Administrator``/``SysAdmin``. Institution roles grant nothing in a course: Canvas
sends ``institution/person#Instructor`` for anyone who teaches anywhere. A context ``Learner``
role wins over a system role; a person who is both Learner and Instructor in the same context is
staff there, as the platform says. ``ContentDeveloper`` is not staff: building a course's
material needs no view of its learners' records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
CONTEXT_ROLE = LIS + "membership#"
INSTITUTION_ROLE = LIS + "institution/person#"
SYSTEM_ROLE = LIS + "system/person#"


class RoleScope(StrEnum):
    CONTEXT = "context"
    INSTITUTION = "institution"
    SYSTEM = "system"


@dataclass(frozen=True)
class Role:
    """One role: its vocabulary, its principal name, and the sub-role if any."""

    scope: RoleScope
    name: str
    sub_role: str | None = None


#: LTI 1.1 URN prefixes, by scope.
_URNS = (
    ("urn:lti:role:ims/lis/", RoleScope.CONTEXT),
    ("urn:lti:instrole:ims/lis/", RoleScope.INSTITUTION),
    ("urn:lti:sysrole:ims/lis/", RoleScope.SYSTEM),
)

#: Context roles that make a person staff in the context, with all their sub-roles.
STAFF_CONTEXT_ROLES = frozenset({"Instructor", "TeachingAssistant"})
#: System roles that make a person staff in every context they launch from.
STAFF_SYSTEM_ROLES = frozenset({"Administrator", "SysAdmin"})


def parse_role(role: str) -> Role | None:
    """Read one role URI (or short form) of the LTI 1.3 vocabularies; None if not one of them."""
    role = role.strip()
    if not role:
        return None
    if role.startswith(LIS + "membership"):
        rest = role[len(LIS + "membership") :]
        if rest.startswith("#"):
            return _named(RoleScope.CONTEXT, rest[1:])
        if rest.startswith("/") and "#" in rest:
            principal, sub = rest[1:].split("#", 1)
            return _named(RoleScope.CONTEXT, principal, sub)
        return None
    if role.startswith(INSTITUTION_ROLE):
        return _named(RoleScope.INSTITUTION, role[len(INSTITUTION_ROLE) :])
    if role.startswith(SYSTEM_ROLE):
        return _named(RoleScope.SYSTEM, role[len(SYSTEM_ROLE) :])
    for prefix, scope in _URNS:
        if role.startswith(prefix):
            principal, _, sub = role[len(prefix) :].partition("/")
            return _named(scope, principal, sub or None)
    if ":" in role or "/" in role:
        return None  # another vocabulary: grants nothing here
    # A simple name is a context role (LTI 1.3 A.2.3.1, deprecated but still sent).
    principal, _, sub = role.partition("#")
    return _named(RoleScope.CONTEXT, principal, sub or None)


def _named(scope: RoleScope, name: str, sub_role: str | None = None) -> Role | None:
    if not name or not name.isalnum() or (sub_role is not None and not sub_role.isalnum()):
        return None
    return Role(scope, name, sub_role)


def is_staff(roles: Iterable[str]) -> bool:
    """Whether the roles open staff views: a context Instructor or TeachingAssistant, or a
    system Administrator without a context Learner role (CONTRACT §3)."""
    parsed = [r for r in map(parse_role, roles) if r is not None]
    context = [r for r in parsed if r.scope is RoleScope.CONTEXT]
    if any(r.name in STAFF_CONTEXT_ROLES for r in context):
        return True
    if any(r.name == "Learner" for r in context):
        return False
    return any(r.scope is RoleScope.SYSTEM and r.name in STAFF_SYSTEM_ROLES for r in parsed)
