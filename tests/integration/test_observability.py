"""What operators see: one log line per launch and per webhook (readable or JSON), and the
Prometheus counters behind ``/metrics`` (off, on, or guarded by a token)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from lti_bridge import telemetry
from lti_bridge.web import create_app
from tests.fixtures.platform import ScriptedPlatform, scripted_platform
from tests.fixtures.processes import lti_bridge_serve, run_cli, tool_env
from tests.fixtures.sis_events import SECRET, deliver, registration_event

EXAM = {"access": "for_credit", "item": "final-exam"}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["webhook_secrets"] = (SECRET,)
    app_config["metrics"] = True
    return app_config


@pytest.fixture
def platform(app: Any) -> Iterator[ScriptedPlatform]:
    with scripted_platform() as scripted:
        scripted.register(app)
        yield scripted


def lines_of(captured: str, logger: str) -> list[str]:
    return [line for line in captured.splitlines() if f" {logger} " in line]


def json_lines_of(captured: str, logger: str) -> list[dict[str, Any]]:
    found = []
    for line in captured.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record["logger"] == logger:
                found.append(record)
    return found


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus exposition ``text`` (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
                return float(item.value)
    return 0.0


def scrape(client: Any) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


# --- logs ---------------------------------------------------------------------------------------


def test_an_opened_launch_logs_one_line_with_platform_deployment_role_outcome_and_duration(
    client: Any, platform: ScriptedPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    response = platform.launch(client)

    assert response.status_code == 200
    (line,) = lines_of(capsys.readouterr().err, "lti_bridge.launch")
    assert " INFO lti_bridge.launch launch " in line
    assert f"platform={platform.issuer}" in line
    assert f"deployment={platform.deployment_id}" in line
    assert "role=learner" in line
    assert "outcome=opened" in line
    assert "duration_ms=" in line
    # A timestamp first: 2026-01-02T03:04:05.678Z
    assert datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_refused_launch_logs_the_gate_reason_codes(
    client: Any, platform: ScriptedPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    response = platform.launch(client, custom=dict(EXAM))

    assert response.status_code == 403
    (line,) = lines_of(capsys.readouterr().err, "lti_bridge.launch")
    assert "outcome=refused" in line
    assert "reasons=not_registered" in line or "reasons=not_linked" in line


def test_an_invalid_launch_logs_one_warning_line_with_the_reason(
    client: Any, platform: ScriptedPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    response = platform.launch(client, deployment_id="unknown-deployment")

    assert response.status_code in {400, 303}
    captured = capsys.readouterr().err
    (line,) = lines_of(captured, "lti_bridge.launch")
    assert " WARNING lti_bridge.launch launch " in line
    assert "outcome=invalid" in line
    assert "unknown-deployment" in line
    assert not lines_of(captured, "lti_bridge.web")


def test_with_json_format_a_launch_and_a_webhook_are_json_lines(
    app_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app({**app_config, "log_format": "json"})
    client = app.test_client()
    try:
        with scripted_platform() as platform:
            platform.register(app)
            capsys.readouterr()
            platform.launch(client, custom=dict(EXAM))
            deliver(client, registration_event(), msg_id="msg_json_1")
        captured = capsys.readouterr().err
    finally:
        app.extensions["lti_bridge"].engine.dispose()
        telemetry.configure_logging("text")

    (launch,) = json_lines_of(captured, "lti_bridge.launch")
    assert launch["level"] == "INFO"
    assert launch["message"] == "launch"
    assert launch["platform"] == platform.issuer
    assert launch["deployment"] == platform.deployment_id
    assert launch["role"] == "learner"
    assert launch["outcome"] == "refused"
    assert launch["reasons"]
    assert isinstance(launch["duration_ms"], float)
    assert datetime.strptime(launch["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    (webhook,) = json_lines_of(captured, "lti_bridge.webhooks")
    assert webhook["type"] == "enrollment.registered"
    assert webhook["webhook_id"] == "msg_json_1"
    assert webhook["answer"] == 204
    assert webhook["outcome"] == "applied"


def test_an_applied_and_a_rejected_webhook_each_log_one_line_with_type_id_and_answer(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    deliver(client, registration_event(), msg_id="msg_good")
    deliver(client, b"{not json", msg_id="msg_bad")
    lines = lines_of(capsys.readouterr().err, "lti_bridge.webhooks")

    assert len(lines) == 2
    good, bad = lines
    assert " INFO " in good and "type=enrollment.registered" in good
    assert "webhook_id=msg_good" in good and "answer=204" in good and "outcome=applied" in good
    assert " WARNING " in bad and "webhook_id=msg_bad" in bad and "answer=400" in bad
    assert "outcome=invalid_json" in bad


def test_the_outbox_helper_logs_one_line_per_delivery_and_counts_it(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sample(scrape(client), "lti_bridge_outbox_deliveries_total", kind="grade",
                    outcome="accepted")
    capsys.readouterr()

    telemetry.log_outbox_delivery(
        kind="grade", key="reg-1:v1", target="https://sis.example.edu/results/x", attempt=1,
        outcome="accepted", duration_seconds=0.0421, status=201,
    )

    (line,) = lines_of(capsys.readouterr().err, "lti_bridge.outbox")
    assert "outbox delivery kind=grade key=reg-1:v1" in line
    assert "attempt=1 outcome=accepted status=201 duration_ms=42.1" in line
    after = sample(scrape(client), "lti_bridge_outbox_deliveries_total", kind="grade",
                   outcome="accepted")
    assert after == before + 1


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_count_launch_outcomes_gate_reasons_and_platform_key_fetches(
    client: Any, platform: ScriptedPlatform
) -> None:
    before = scrape(client)

    platform.launch(client)
    platform.launch(client, custom=dict(EXAM))
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("lti_bridge_launches_total", outcome="opened", role="learner") == 1
    assert grew("lti_bridge_launches_total", outcome="refused", role="learner") == 1
    refused_reasons = sum(
        grew("lti_bridge_gate_decisions_total", reason=reason)
        for reason in ("not_linked", "not_registered")
    )
    assert refused_reasons >= 1
    assert grew("lti_bridge_outbound_request_seconds_count", service="platform_keys",
                outcome="ok") >= 1


def test_metrics_count_webhook_answers_by_type_and_status(client: Any) -> None:
    before = scrape(client)

    deliver(client, registration_event(sequence=1))
    deliver(client, registration_event(sequence=2), secret="whsec_" + "A" * 32)
    after = scrape(client)

    applied = ("lti_bridge_webhooks_total", {"type": "enrollment.registered", "status": "204"})
    forged = ("lti_bridge_webhooks_total", {"type": "-", "status": "401"})
    assert sample(after, applied[0], **applied[1]) == sample(before, applied[0], **applied[1]) + 1
    assert sample(after, forged[0], **forged[1]) == sample(before, forged[0], **forged[1]) + 1


def test_the_outbox_gauges_read_the_registered_probe_at_scrape_time(client: Any) -> None:
    telemetry.register_outbox_probe(lambda: {"queued": (3, 12.5), "dead": (0, None)})
    try:
        text = scrape(client)
    finally:
        telemetry.register_outbox_probe(None)

    assert sample(text, "lti_bridge_outbox_depth", state="queued") == 3
    assert sample(text, "lti_bridge_outbox_oldest_age_seconds", state="queued") == 12.5
    assert sample(text, "lti_bridge_outbox_depth", state="dead") == 0
    assert "lti_bridge_outbox_depth" not in scrape(client)


def test_the_outbox_gauges_count_the_real_outbox_per_state(app: Any, client: Any) -> None:
    from lti_bridge.domain.outbox import OutboxMessage

    svc = app.extensions["lti_bridge"]
    now = svc.clock()
    with svc.uow() as uow:
        for key in ("r-1", "r-2"):
            uow.outbox.enqueue(OutboxMessage("sis.result", key, {"k": key}, "S-1", key), now)
        uow.commit()

    text = scrape(client)

    assert sample(text, "lti_bridge_outbox_depth", state="queued") == 2
    assert sample(text, "lti_bridge_outbox_depth", state="accepted") == 0
    assert sample(text, "lti_bridge_outbox_oldest_age_seconds", state="queued") >= 0


def test_metrics_are_off_by_default(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "metrics": False})
    try:
        assert app.test_client().get("/metrics").status_code == 404
    finally:
        app.extensions["lti_bridge"].engine.dispose()


def test_with_a_token_metrics_need_it_as_a_bearer_token(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "metrics": False, "metrics_token": "s3cret-scrape"})
    client = app.test_client()
    try:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    finally:
        app.extensions["lti_bridge"].engine.dispose()

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "lti_bridge_launches_total" in right.get_data(as_text=True)


def test_under_gunicorn_metrics_add_up_every_workers_counts(tmp_path: Any) -> None:
    env = tool_env(
        f"sqlite:///{tmp_path / 'tool.sqlite3'}",
        LTI_BRIDGE_METRICS_TOKEN="scrape-token",
        LTI_BRIDGE_WEBHOOK_SECRETS=SECRET,
    )
    run_cli(env, "db", "upgrade")
    headers = {"Authorization": "Bearer scrape-token"}

    with lti_bridge_serve(env, workers=2, args=("--no-relay",)) as tool:
        for _ in range(40):
            # Unsigned: answered 401 by whichever worker takes it.
            requests.post(tool.url + "/webhooks/sis", data=b"{}", timeout=10)
        texts = [
            requests.get(tool.url + "/metrics", headers=headers, timeout=10).text
            for _ in range(4)
        ]
        served_by = set(tool.pids_serving("/webhooks/sis"))

    for text in texts:
        assert sample(text, "lti_bridge_webhooks_total", type="-", status="401") == 40
    assert len(served_by) == 2, "both workers should have answered some deliveries"


def test_a_log_line_without_fields_is_still_time_level_logger_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry.configure_logging("text")
    capsys.readouterr()

    logging.getLogger("lti_bridge.worker").warning("plain %s", "words")

    (line,) = lines_of(capsys.readouterr().err, "lti_bridge.worker")
    assert line.endswith(" WARNING lti_bridge.worker plain words")


def test_a_launch_that_fails_unexpectedly_still_logs_its_line_and_counts_as_error(
    client: Any, platform: ScriptedPlatform, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("lti_bridge.web.lti.record_launch", broken)
    before = sample(scrape(client), "lti_bridge_launches_total", outcome="error", role="learner")
    capsys.readouterr()

    response = platform.launch(client)

    assert response.status_code == 500
    (line,) = lines_of(capsys.readouterr().err, "lti_bridge.launch")
    assert " WARNING " in line and "outcome=error" in line and "error=RuntimeError" in line
    after = sample(scrape(client), "lti_bridge_launches_total", outcome="error", role="learner")
    assert after == before + 1


def test_a_fresh_workers_first_requests_at_once_all_get_the_same_metrics() -> None:
    # A new gunicorn thread-pool worker's first requests arrive together; each used to create
    # and register the metrics itself, and all but the first failed with a 500 (seen under a
    # burst of SIS deliveries). A fresh interpreter, so the metrics are created here.
    script = """
import threading
from lti_bridge import telemetry
start = threading.Barrier(16)
found, errors = [], []
def first_request():
    start.wait()
    try:
        found.append(telemetry.metrics())
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=first_request) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print(len(errors), len(found), len({id(m) for m in found}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.split() == ["0", "16", "1"], done.stderr
