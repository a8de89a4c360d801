"""The roster's join of registrations and platform members, and finding rows: plain values in,
plain values out."""

from __future__ import annotations

from datetime import UTC, datetime

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
    find_rows,
    join_membership,
)
from lti_bridge.services.roster_ports import Member, RosterStudent

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
