"""The roster's join of registrations and platform members, and finding rows: plain values in,
plain values out; and the roster use cases on the fake unit of work."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lti_bridge.domain.errors import NotFoundError
from lti_bridge.domain.model import LaunchContext, MessageType
from lti_bridge.domain.policy import (
    GateSettings,
    LearnerState,
    RegistrationState,
    RegistrationStatus,
    SectionInfo,
    TuitionStatus,
)
from lti_bridge.services.gate_ports import GateFacts
from lti_bridge.services.roster import (
    Roster,
    RosterQuery,
    RowStatus,
    credit_roster,
    find_rows,
    join_membership,
    learner_history,
    roster_section,
    section_roster,
)
from lti_bridge.services.roster_ports import (
    LearnerHistory,
    Member,
    MembershipSource,
    RosterStudent,
)
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 1, 20, tzinfo=UTC)
SECTION = SectionInfo("SEC-1", "DTSA 5509", 3)
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def student(
    sis_id: str,
    *,
    name: str | None = None,
    email: str | None = None,
    status: str = "registered",
    tuition: str = "paid",
    onboarded: bool = True,
    subs: tuple[str, ...] = (),
    name_by_email: str | None = None,
) -> RosterStudent:
    registration = RegistrationState(
        f"reg-{sis_id}", RegistrationStatus(status), TuitionStatus(tuition)
    )
    learner = LearnerState(sis_id, onboarding_passed=onboarded)
    return RosterStudent(
        sis_id, name, email, GateFacts(learner, SECTION, registration), subs=subs,
        name_by_email=name_by_email,
    )


def join(students: list[RosterStudent], members: list[Member] | None, **kw: bool) -> Roster:
    entries = join_membership(students, members, settings=GateSettings(), now=NOW, **kw)
    return Roster("SEC-1", SECTION, tuple(entries))


def test_members_and_registrations_join_by_sis_id_platform_id_or_a_unique_email() -> None:
    students = [
        student("1", subs=("u-1",)),
        student("2", tuition="unpaid"),
        student("3", email="c@example.edu"),
        student("4", status="dropped"),
    ]
    members = [
        Member("u-1", (LEARNER,)),
        Member("u-2", (LEARNER,), name="Bea", person_sourcedid="2"),
        Member("u-3", (LEARNER,), email="C@example.edu"),
        Member("u-9", (LEARNER,), name="Nia"),
        Member("u-t", (INSTRUCTOR,), name="Teacher"),
        Member("u-x", (LEARNER,), name="Gone", active=False),
    ]

    rows = {e.key: e for e in join(students, members, link_by_email=True).entries}

    assert {k: e.status for k, e in rows.items()} == {
        "1": RowStatus.OPEN,
        "2": RowStatus.BLOCKED,
        "3": RowStatus.OPEN,
        "4": RowStatus.INACTIVE,
        "u-9": RowStatus.NOT_REGISTERED,
    }
    assert rows["2"].name == "Bea" and rows["u-9"].registration is None


def test_without_the_membership_a_registration_nobody_launched_is_never_launched() -> None:
    rows = join([student("1", subs=("u-1",)), student("2")], None).entries
    assert [e.status for e in rows] == [RowStatus.NEVER_LAUNCHED, RowStatus.OPEN]


def test_a_shared_email_names_no_one_and_links_no_member() -> None:
    students = [
        student("1", email="twin@example.edu", name_by_email="Twin One"),
        student("2", email="TWIN@example.edu", name_by_email="Twin One"),
    ]
    members = [Member("u-1", (LEARNER,), email="twin@example.edu")]

    rows = [e for e in join(students, members, link_by_email=True).entries if e.registration]

    assert [(e.name, e.email_records, e.member) for e in rows] == [(None, 2, None)] * 2
    assert [e.status for e in rows] == [RowStatus.NEVER_LAUNCHED] * 2


def test_rows_are_found_by_status_reason_search_and_sorted() -> None:
    roster = join(
        [
            student("10", name="Zoe", subs=("z",)),
            student("20", name="adam", tuition="unpaid", subs=("a",), email="adam@x.edu"),
            student("30", name="Mia", onboarded=False, subs=("m",)),
        ],
        None,
    )

    def keys(**params: str) -> list[str]:
        return [e.key for e in find_rows(roster, RosterQuery.parse(params))]

    assert keys() == ["20", "30", "10"]  # blocked first, then open
    assert keys(status="blocked") == ["20", "30"]
    assert keys(status="onboarding_required") == ["30"]
    assert keys(q="ADAM@") == ["20"] and keys(q="3") == ["30"]
    assert keys(sort="name") == ["20", "30", "10"]
    assert keys(sort="sis_id", dir="desc") == ["30", "20", "10"]
    assert keys(status="bogus", sort="bogus") == keys()
    assert RosterQuery.parse({"q": "x", "sort": "name"}).params(status="open") == {
        "status": "open", "q": "x", "sort": "name",
    }


# --- the use cases, on the fake unit of work ----------------------------------------------------


def staff_launch(**changes: object) -> LaunchContext:
    base = LaunchContext(
        issuer="https://lms.example.edu",
        client_id="tool",
        deployment_id="d1",
        message_type=MessageType.RESOURCE_LINK,
        user_sub="teacher",
        roles=(INSTRUCTOR,),
        context_id="credit-ctx",
        nrps_memberships_url="https://lms.example.edu/members",
    )
    return replace(base, **changes)


class FakeMembership:
    def __init__(self, members: tuple[Member, ...] = (), failure: Exception | None = None) -> None:
        self._members, self.failure = members, failure
        self.asked: list[MembershipSource] = []

    def members(self, source: MembershipSource) -> tuple[Member, ...]:
        self.asked.append(source)
        if self.failure is not None:
            raise self.failure
        return self._members


def seeded() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.roster.sections["SEC-1"] = SECTION
    uow.roster.contexts[("credit-ctx", "https://lms.example.edu")] = "SEC-1"
    uow.roster.offerings["SEC-1"] = "https://lms.example.edu"
    uow.roster.students_by_section["SEC-1"] = [student("s1", name="Ada", subs=("ada",))]
    return uow


def test_a_staff_launch_sees_its_sections_roster_joined_with_the_membership() -> None:
    uow = seeded()
    membership = FakeMembership((Member("bob", (LEARNER,), name="Bob"),))

    roster = credit_roster(
        staff_launch(), platform_id=1, uow=uow, settings=GateSettings(), now=NOW,
        membership=membership,
    )

    assert roster.section_sis_id == "SEC-1" and roster.membership_read
    assert [(e.key, e.status) for e in roster.entries] == [
        ("bob", RowStatus.NOT_REGISTERED),
        ("s1", RowStatus.OPEN),
    ]
    (source,) = membership.asked
    assert (source.platform_id, source.context_id) == (1, "credit-ctx")
    assert uow.commits == 0  # reading only


def test_a_section_named_by_the_link_alone_is_not_shown() -> None:
    uow = seeded()
    claimed = staff_launch(context_id="other-ctx", custom={"sis_section": "SEC-1"})
    roster = credit_roster(claimed, platform_id=1, uow=uow, settings=GateSettings(), now=NOW)
    assert roster.section_sis_id is None and roster.unconfirmed_section == "SEC-1"

    other_platform = staff_launch(
        issuer="https://other.example.edu", course_section_sourcedid="SEC-1", context_id=None
    )
    section_id, refused = roster_section(other_platform, uow.roster)
    assert (section_id, refused) == (None, "SEC-1")


def test_an_unreadable_membership_leaves_the_roster_useful_and_says_why() -> None:
    uow = seeded()
    membership = FakeMembership(failure=NotFoundError("gone", public_message="No members."))
    roster = credit_roster(
        staff_launch(), platform_id=1, uow=uow, settings=GateSettings(), now=NOW,
        membership=membership,
    )
    assert not roster.membership_read and roster.membership_error == "No members. (gone)"
    assert [e.key for e in roster.entries] == ["s1"]


def test_a_sections_roster_by_sis_id_reads_the_platform_that_launched_it_last() -> None:
    uow = seeded()
    uow.roster.sources["SEC-1"] = MembershipSource(
        1, "https://lms.example.edu", "tool", "credit-ctx", "https://lms.example.edu/members"
    )
    membership = FakeMembership()
    roster = section_roster(
        "SEC-1", uow=uow, settings=GateSettings(), now=NOW, membership=membership
    )
    assert roster is not None and [e.key for e in roster.entries] == ["s1"]
    assert membership.asked == [uow.roster.sources["SEC-1"]]
    assert section_roster("SEC-9", uow=uow, settings=GateSettings(), now=NOW) is None


def test_a_learners_history_is_shown_only_for_a_registration_in_the_section() -> None:
    uow = seeded()
    registration = student("s1").facts.registration
    assert registration is not None
    history = LearnerHistory("s1", (registration,))
    uow.roster.histories[("SEC-1", "s1")] = history
    assert learner_history("SEC-1", "s1", uow=uow) == history
    with pytest.raises(NotFoundError):
        learner_history("SEC-2", "s1", uow=uow)
