"""The credit gate at launch: a learner's launch of a ``for_credit`` link opens exactly when the
SIS says registered, paid and onboarded (DOMAIN R1-R4, R8, R9), on SQLite and PostgreSQL.

SIS facts arrive the way they do in production: signed webhooks (``standardwebhooks``)."""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, literal_column, select

from lti_bridge.adapters.db.driver import DriverStatement
from lti_bridge.adapters.db.gate_repository import SqlAlchemyGateRepository, facts_read_ahead
from lti_bridge.adapters.db.tables import registrations
from lti_bridge.adapters.lti.claims import launch_context_from_claims
from tests.fixtures.platform import REMOVE, Login, ScriptedPlatform, scripted_platform
from tests.fixtures.sis_events import (
    SECRET,
    deliver,
    registration_event,
    session_around,
    student_event,
)

EXAM = {"access": "for_credit", "item": "final-exam"}
TODAY = datetime.now(UTC).date()


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["webhook_secrets"] = (SECRET,)
    app_config["payment_url"] = "https://bursar.example.edu/pay"
    app_config["help_url"] = "https://help.example.edu/"
    return app_config


@pytest.fixture
def platform(app: Any) -> Iterator[ScriptedPlatform]:
    with scripted_platform() as scripted:
        scripted.register(app)
        yield scripted


class Sis:
    """The SIS side: each call sends one signed event with the next sequence number."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sequence = 0
        self.student_sequence = 0

    def registration(self, type: str = "enrollment.registered", **kwargs: Any) -> None:
        self.sequence += 1
        kwargs.setdefault("session", session_around(TODAY))
        event = registration_event(type, sequence=self.sequence, **kwargs)
        assert deliver(self.client, event).status_code == 204

    def student(self, type: str, **data: Any) -> None:
        self.student_sequence += 1
        event = student_event(type, sequence=self.student_sequence, **data)
        assert deliver(self.client, event).status_code == 204


def reasons(response: Any) -> list[str]:
    html = response.get_data(as_text=True)
    return [part.split('"', 1)[0] for part in html.split('data-reason="')[1:]]


def launch_exam(platform: ScriptedPlatform, client: Any, **overrides: Any) -> Any:
    return platform.launch(client, custom=dict(EXAM), **overrides)


def first_access(engine: Any) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(select(registrations.c.first_restricted_access_at)).scalar()


def test_learner_unknown_to_the_sis_is_told_to_contact_the_help_desk(
    client: Any, platform: ScriptedPlatform
) -> None:
    response = launch_exam(platform, client)

    assert response.status_code == 403
    # Nothing about the learner or the section is known: every unmet condition is listed.
    assert reasons(response) == ["not_linked", "no_section", "onboarding_required"]
    assert "help.example.edu" in response.get_data(as_text=True)


def test_the_gate_follows_registration_tuition_and_onboarding(
    client: Any, engine: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="unpaid")
    response = launch_exam(platform, client)
    assert response.status_code == 403
    assert reasons(response) == ["tuition_unpaid", "onboarding_required"]
    assert "has not been received" in response.get_data(as_text=True)

    sis.registration("tuition.paid", tuition="paid")
    assert reasons(launch_exam(platform, client)) == ["onboarding_required"]

    sis.student("student.onboarding_completed")
    opened = launch_exam(platform, client)
    assert opened.status_code == 200
    assert "final-exam" in opened.get_data(as_text=True)
    assert "<title>Week 1 reading</title>" in opened.get_data(as_text=True)
    opened_at = first_access(engine)
    assert opened_at is not None

    sis.registration("tuition.payment_failed", tuition="failed")
    assert reasons(launch_exam(platform, client)) == ["tuition_failed"]

    sis.registration("tuition.paid", tuition="paid")
    assert launch_exam(platform, client).status_code == 200
    # R9: the first opening is kept, later ones do not move it.
    assert first_access(engine) == opened_at


def test_allowed_learner_is_sent_to_the_content_url(
    client: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid")
    sis.student("student.onboarding_completed")

    response = platform.launch(
        client, custom={**EXAM, "content_url": "https://cdn.example.edu/exam"}
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "https://cdn.example.edu/exam"


def test_a_financial_hold_closes_restricted_content_but_not_open_content(
    client: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid")
    sis.student("student.onboarding_completed")
    sis.student("student.hold.placed", hold={"code": "FIN", "reason": "returned payment"})

    closed = launch_exam(platform, client)
    assert reasons(closed) == ["financial_hold"]
    assert "returned payment" in closed.get_data(as_text=True)
    # R3: open material stays open to everyone.
    assert platform.launch(client).status_code == 200

    sis.student("student.hold.released")
    assert launch_exam(platform, client).status_code == 200


def test_dropped_registration_closes_content_without_asking_for_payment(
    client: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid")
    sis.student("student.onboarding_completed")
    sis.registration("enrollment.dropped", status="dropped", tuition="paid")

    assert reasons(launch_exam(platform, client)) == ["registration_inactive"]


def test_non_credit_learner_meets_the_upgrade_window(
    client: Any, platform: ScriptedPlatform
) -> None:
    # Another student's registration makes the section and its session known.
    sis = Sis(client)
    sis.registration(student="110999999", registration="reg-other", tuition="paid")
    sis.registration(student="110123456", registration="reg-mine", section="OTHER-100")
    sis.student("student.onboarding_completed")

    response = launch_exam(platform, client)

    assert reasons(response) == ["not_registered"]
    text = response.get_data(as_text=True)
    assert "Enrollment for 2026-S6 is open until" in text
    assert "You can upgrade now." in text


def test_link_without_a_known_section_says_so(client: Any, platform: ScriptedPlatform) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid")

    response = launch_exam(platform, client, lis={"person_sourcedid": "110123456"})

    assert "no_section" in reasons(response)


def test_instructor_sees_the_section_not_the_gate(client: Any, platform: ScriptedPlatform) -> None:
    response = platform.launch(client, role="Instructor", custom=dict(EXAM))

    assert response.status_code == 200
    assert "gate-title" not in response.get_data(as_text=True)


def test_sis_platform_user_id_links_a_launch_without_lis_data(
    client: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid", platform_user_id="learner-1", platform_issuer=platform.issuer)
    sis.student("student.onboarding_completed")

    response = platform.launch(
        client,
        custom=dict(EXAM),
        lis={"course_section_sourcedid": "DTSA5509-100-2024S1"},
    )

    assert response.status_code == 200


def test_email_links_only_where_the_university_allows_it(
    app: Any, client: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid", email="AB12@example.edu")
    sis.student("student.onboarding_completed")
    claims = {"lis": {"course_section_sourcedid": "DTSA5509-100-2024S1"}, "custom": dict(EXAM)}

    assert reasons(platform.launch(client, **claims))[0] == "not_linked"

    app.extensions["lti_bridge"].settings = app.extensions["lti_bridge"].settings.__class__(
        **{
            **app.extensions["lti_bridge"].settings.__dict__,
            "link_learners_by_email": True,
            "sis_platform_issuer": platform.issuer,
        }
    )
    assert platform.launch(client, **claims).status_code == 200


def test_another_platforms_learner_with_the_same_sub_sees_nothing(
    app: Any, client: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid")
    sis.student("student.onboarding_completed")
    assert launch_exam(platform, client).status_code == 200

    with scripted_platform() as other:
        other.issuer = "https://other-lms.example.org"
        other.register(app)
        # Same sub, no LIS data of this university: the records above are not theirs.
        response = other.launch(client, custom=dict(EXAM), lis=REMOVE, email=REMOVE)

    assert response.status_code == 403
    assert reasons(response)[0] == "not_linked"
    assert "2026-S6" not in response.get_data(as_text=True)


def test_first_access_is_not_recorded_for_refused_launches(
    client: Any, engine: Any, platform: ScriptedPlatform
) -> None:
    Sis(client).registration(tuition="unpaid")

    launch_exam(platform, client)

    assert first_access(engine) is None


def statements_of_launch(app: Any, monkeypatch: Any, platform: ScriptedPlatform, client: Any,
                         **claims: Any) -> int:
    """Log in, then count the database statements the launch POST alone runs."""
    login = platform.login(client)
    token = platform.sign(platform.claims(login, **claims))
    count = 0

    def counted(*_args: Any) -> None:
        nonlocal count
        count += 1

    execute = DriverStatement.execute

    def raw_execute(self: DriverStatement, conn: Any, params: Any) -> Any:
        counted()
        return execute(self, conn, params)

    engine = app.extensions["lti_bridge"].engine
    with monkeypatch.context() as patch:
        patch.setattr(DriverStatement, "execute", raw_execute)
        event.listen(engine, "before_cursor_execute", counted)
        try:
            assert platform.post_launch(client, login, token).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", counted)
    return count


def test_the_gate_decision_adds_no_statement_to_a_launch_on_postgresql(
    app: Any, client: Any, engine: Any, monkeypatch: Any, platform: ScriptedPlatform
) -> None:
    sis = Sis(client)
    sis.registration(tuition="paid")
    sis.student("student.onboarding_completed")
    exam = {"custom": dict(EXAM), "resource_link": {"id": "link-exam", "title": "Final exam"}}
    # Once each first: the rows a launch writes, the first access and the caches are done.
    assert platform.launch(client, **exam).status_code == 200
    assert platform.launch(client).status_code == 200

    open_launch = statements_of_launch(app, monkeypatch, platform, client)
    exam_launch = statements_of_launch(app, monkeypatch, platform, client, **exam)

    assert open_launch >= 1
    # PostgreSQL reads the gate's facts in the state consume's statement; SQLite, beside it.
    assert exam_launch == open_launch + (0 if engine.dialect.name == "postgresql" else 1)


def test_rows_read_ahead_are_used_only_for_the_learner_they_were_read_for(
    app: Any, client: Any, platform: ScriptedPlatform
) -> None:
    svc = app.extensions["lti_bridge"]
    platform_id = svc.tool_conf().find(platform.issuer, platform.client_id).platform_id
    login = Login("state", "nonce", "", platform.client_id, {})

    def launch(**claims: Any) -> Any:
        return launch_context_from_claims(platform.claims(login, custom=dict(EXAM), **claims))

    mine, stranger = launch(), launch(sub="learner-2", lis=REMOVE)
    read = facts_read_ahead(platform_id, mine, link_by_email=False)
    assert read is not None
    assert facts_read_ahead(platform_id, launch(role="Instructor"), link_by_email=False) is None
    # Rows no database holds: whether the gate used them shows in its facts.
    columns = read.build(select(literal_column("1").label("a")).subquery()).selected_columns
    row = namedtuple("Row", columns.keys())(**{  # type: ignore[misc]
        **{key: None for key in columns.keys()}, "student_sis_id": "read-ahead"
    })
    held = svc.statements.read_ahead
    gate = SqlAlchemyGateRepository(svc.statements)

    held.keep(read, [row])
    assert gate.facts(platform_id, mine, link_by_email=False).learner.student_sis_id \
        == "read-ahead"
    # Taken once: the next launch reads for itself.
    assert gate.facts(platform_id, mine, link_by_email=False).learner.student_sis_id is None
    # Another learner, or the same one read another way, is read afresh: unknown to the SIS.
    held.keep(read, [row])
    assert gate.facts(platform_id, stranger, link_by_email=False).learner.student_sis_id is None
    held.keep(read, [row])
    assert gate.facts(platform_id, mine, link_by_email=True).learner.student_sis_id is None
    # Rows read on another thread are not this thread's.
    held.keep(read, [row])
    seen: list[Any] = []
    worker = threading.Thread(
        target=lambda: seen.append(gate.facts(platform_id, mine, link_by_email=False))
    )
    worker.start()
    worker.join(10)
    assert seen[0].learner.student_sis_id is None
