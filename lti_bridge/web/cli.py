"""The ``lti-bridge`` command line (a Flask CLI group; ``flask --app lti_bridge.web`` works too)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

import click
import requests
from flask import Flask
from flask.cli import FlaskGroup

from lti_bridge.adapters.db import engine as db_engine
from lti_bridge.adapters.sis import sender
from lti_bridge.config import ConfigError
from lti_bridge.domain.errors import LtiBridgeError
from lti_bridge.domain.model import PlatformRegistration
from lti_bridge.services import platforms as platform_service
from lti_bridge.web.app import create_app
from lti_bridge.web.carryover_cli import carryover as carryover_commands
from lti_bridge.web.context import services
from lti_bridge.web.grades_cli import register as register_grade_commands


def _app_factory() -> Flask:
    return create_app()


def fail(message: str) -> NoReturn:
    """Print one clear line and exit non-zero."""
    raise click.ClickException(message)


class BridgeGroup(FlaskGroup):
    """A Flask CLI group whose expected failures print one line instead of a traceback.

    Only the tool's own commands and options: no ``--app``/``--debug``/``--env-file``, no
    plugin commands, and listing the commands (``--help``) builds no app.
    """

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return click.Group.get_command(self, ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return click.Group.list_commands(self, ctx)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return click.Group.parse_args(self, ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(f"configuration: {exc}") from None
        except LtiBridgeError as exc:
            raise click.ClickException(str(exc)) from None
        except requests.RequestException as exc:
            where = getattr(exc.request, "url", None) or "the server"
            raise click.ClickException(
                f"could not reach {where}: {exc.__class__.__name__}"
            ) from None
        except OSError as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}") from None
        except Exception as exc:
            # A command that reads the database outside a unit of work (keys, db) gets the same
            # one line as one that went through it.
            error = db_engine.storage_error(exc)
            if error is None:
                raise
            raise click.ClickException(str(error)) from None


@click.group(
    cls=BridgeGroup,
    create_app=_app_factory,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
)
@click.version_option(
    package_name="lti-bridge", prog_name="lti-bridge", message="%(prog)s %(version)s"
)
def cli() -> None:
    """lti_bridge: an LTI 1.3 tool between your course platform and your SIS.

    Configuration comes from LTI_BRIDGE_* environment variables (see the README).
    """


# FlaskGroup adds --app, --debug and --env-file for `flask`; this command has one app.
cli.params = [p for p in cli.params if p.name not in {"app", "debug", "env_file"}]


def main() -> None:
    cli.main(prog_name="lti-bridge")


# --- db -----------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (Alembic)."""
    svc = services()
    db_engine.upgrade(svc.engine, revision)
    key = svc.keyring.signing_key()
    click.echo(
        f"database {svc.engine.url.render_as_string(hide_password=True)} at revision "
        f"{db_engine.current_revision(svc.engine)}; signing key {key.kid}"
    )


# --- serve --------------------------------------------------------------------------------------


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--no-relay", is_flag=True, help="Do not run the outbox relay in this process.")
@click.option("--access-log/--no-access-log", default=True, show_default=True)
def serve(
    host: str, port: int, workers: int, threads: int, no_relay: bool, access_log: bool
) -> None:
    """Run the production web server (gunicorn)."""
    from lti_bridge.web.server import run_gunicorn

    svc = services()
    revision = db_engine.current_revision(svc.engine)
    if revision is None:
        fail("the database has no schema yet; run: lti-bridge db upgrade")
    if svc.settings.metrics or svc.settings.metrics_token:
        _prepare_multiprocess_metrics(svc.settings.instance_path)
    if not no_relay:
        # The background work `lti-bridge worker` does, in a process of its own beside
        # gunicorn's master (started fresh, not forked). Not a thread of the master: gunicorn
        # forks its workers from the master at any time, and a fork taken while that thread is
        # inside SQLite hands the new worker SQLite's locks held by no thread of its own (the
        # worker then hangs before it answers anything).
        multiprocessing.get_context("spawn").Process(
            target=_relay_process, args=(os.getpid(),), name="lti-bridge-relay", daemon=True
        ).start()
    # Each worker's pool holds a connection per thread (a unit of work each at most): more
    # threads than pool slots would queue requests on the pool and time out.
    os.environ.setdefault(
        "LTI_BRIDGE_DATABASE_POOL_SIZE", str(max(threads, svc.settings.database_pool_size))
    )
    run_gunicorn(host=host, port=port, workers=workers, threads=threads, access_log=access_log)


def _prepare_multiprocess_metrics(instance_path: Path) -> None:
    """Have gunicorn's workers share their metrics through files (prometheus-client's mode)."""
    # Set before any worker imports prometheus_client: it picks its storage on import.
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or instance_path / "prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # counts of a previous run's workers
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _relay_process(parent: int) -> None:
    """``serve``'s relay: the worker loop with services of its own, until the server stops it
    (SIGTERM, as multiprocessing does for a daemon process when the server exits) or is gone
    (killed: the relay then stops too; the outbox's leases and fencing cover the rest)."""
    import signal

    from lti_bridge.web.worker import Worker

    svc = create_app().extensions["lti_bridge"]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())

    def watch() -> None:
        while os.getppid() == parent and not stop.is_set():
            time.sleep(1.0)
        stop.set()

    threading.Thread(target=watch, name="relay-parent-watch", daemon=True).start()
    while not stop.is_set():
        try:
            Worker(svc, purge_interval=60.0, stop=stop).run()
        except Exception:  # noqa: BLE001 - a bug must not end the relay for good
            logging.getLogger("lti_bridge.worker").exception("background work failed")
            stop.wait(60.0)


# --- platform -----------------------------------------------------------------------------------


@cli.group()
def platform() -> None:
    """Registered platforms (LMS instances) and their deployments."""


def _check_key_set(url: str) -> None:
    try:
        response = services().http.get(url, timeout=10)
        response.raise_for_status()
        document = response.json()
    except requests.RequestException as exc:
        fail(
            f"--key-set-url {url} is not reachable ({exc.__class__.__name__}); use --no-check "
            "to register anyway"
        )
    except ValueError:
        fail(f"--key-set-url {url} did not answer JSON")
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        fail(f"--key-set-url {url} did not answer a JSON Web Key Set (no 'keys' list)")


@platform.command("add")
@click.option("--issuer", required=True, help="The platform's issuer (iss).")
@click.option("--client-id", required=True, help="The client id the platform gave the tool.")
@click.option("--auth-login-url", required=True, help="The platform's OIDC authorization URL.")
@click.option("--auth-token-url", required=True, help="The platform's OAuth 2 token URL.")
@click.option("--key-set-url", required=True, help="The platform's public key set (JWKS) URL.")
@click.option(
    "--deployment-id", "deployment_ids", multiple=True, required=True, help="Repeat for several."
)
@click.option("--auth-audience", default=None, help="Audience for token requests, if not the URL.")
@click.option("--no-check", is_flag=True, help="Do not fetch the key set URL before saving.")
def platform_add(
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    deployment_ids: tuple[str, ...],
    auth_audience: str | None,
    no_check: bool,
) -> None:
    """Register a platform; re-adding the same issuer and client id updates it."""
    registration = PlatformRegistration(
        issuer=issuer.strip(),
        client_id=client_id.strip(),
        auth_login_url=auth_login_url.strip(),
        auth_token_url=auth_token_url.strip(),
        key_set_url=key_set_url.strip(),
        deployment_ids=tuple(d.strip() for d in deployment_ids),
        auth_audience=auth_audience,
    )
    platform_service.validate_registration(registration)
    if not no_check:
        _check_key_set(registration.key_set_url)
    svc = services()
    platform_id = platform_service.register_platform(registration, uow=svc.uow(), now=svc.clock())
    click.echo(
        f"platform {platform_id}: {registration.issuer} (client {registration.client_id}), "
        f"deployments {', '.join(registration.deployment_ids)}"
    )


@platform.command("allow-deployment")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--deployment-id", required=True)
def platform_allow_deployment(issuer: str, client_id: str, deployment_id: str) -> None:
    """Allow one more deployment id of a registered platform."""
    svc = services()
    added = platform_service.allow_deployment(
        issuer, client_id, deployment_id, uow=svc.uow(), now=svc.clock()
    )
    click.echo(f"deployment {deployment_id} {'allowed' if added else 'was already allowed'}")


@platform.command("list")
def platform_list() -> None:
    """List registered platforms and their deployments."""
    found = platform_service.list_platforms(uow=services().uow())
    if not found:
        click.echo("no platforms registered; add one with: lti-bridge platform add …")
    for item in found:
        click.echo(
            f"{item.id}\t{item.issuer}\tclient={item.client_id}\t"
            f"deployments={','.join(item.deployment_ids) or '-'}\tjwks={item.key_set_url}"
        )


# --- keys ---------------------------------------------------------------------------------------


@cli.group()
def keys() -> None:
    """The tool's signing keys."""


@keys.command("list")
def keys_list() -> None:
    """List the tool's keys: which one signs, which are published."""
    found, signing = services().keyring.all_keys()
    if not found:
        click.echo("no keys yet; run: lti-bridge db upgrade")
    for key in found:
        state = (
            "signing"
            if signing and key.kid == signing.kid
            else ("published" if key.active else "retired")
        )
        click.echo(f"{key.kid}\t{state}\tcreated {key.created_at:%Y-%m-%d %H:%M}")


@keys.command("rotate")
def keys_rotate() -> None:
    """Create a new signing key; the previous one stays published until retired."""
    key = services().keyring.rotate()
    click.echo(
        f"new signing key {key.kid}; retire the old one later with: lti-bridge keys retire KID"
    )


@keys.command("retire")
@click.argument("kid")
def keys_retire(kid: str) -> None:
    """Stop publishing and using key KID."""
    outcome = services().keyring.retire(kid)
    if outcome == "unknown":
        fail(f"no key {kid}; see: lti-bridge keys list")
    if outcome == "last key":
        fail(f"{kid} is the only active key; rotate first")
    click.echo(f"key {kid} {outcome}")


# --- worker -------------------------------------------------------------------------------------

#: How often a running worker logs what it did since the last summary.
SUMMARY_EVERY_SECONDS = 300.0


@cli.command("worker")
@click.option("--once", is_flag=True, help="Relay what is due now, purge launch state, and exit.")
@click.option(
    "--interval",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds between purges of expired launch state.",
)
@click.option(
    "--summary-every",
    default=SUMMARY_EVERY_SECONDS,
    show_default=True,
    type=click.FloatRange(0.1, 86400),
    help="Seconds between summary lines.",
)
def worker(once: bool, interval: float, summary_every: float) -> None:
    """Run the outbox relay (grade submissions to the SIS) and expire old launch state."""
    import signal

    from lti_bridge.web.worker import Worker

    svc = services()
    # A long-running worker waits out a database that is down or not migrated yet (the app's
    # container may still be upgrading it); only a one-off round says so and exits.
    if once and db_engine.current_revision(svc.engine) is None:
        fail("the database has no schema yet; run: lti-bridge db upgrade")
    loop = Worker(svc, purge_interval=interval, summary_seconds=summary_every)
    if once:
        try:
            result = loop.round()
        finally:
            loop.close()
        click.echo(
            f"purged {result.purged} expired launch-state entries; relayed: "
            f"{result.stats.summary()}"
            + ("" if svc.gradebook is not None else " (no SIS configured: nothing sent)")
        )
        return

    def stop(signum: int, frame: object) -> None:
        loop.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    loop.run()


# --- outbox -------------------------------------------------------------------------------------


@cli.group()
def outbox() -> None:
    """What the relay holds: grade submissions on their way to the SIS."""


@outbox.command("list")
@click.option(
    "--state",
    type=click.Choice(["queued", "sent", "accepted", "rejected", "dead"]),
    default=None,
    help="Only messages in this state.",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
def outbox_list(state: str | None, limit: int) -> None:
    """List the newest messages: id, state, attempts, last answer, key, section, when."""
    from lti_bridge.domain.outbox import OutboxState
    from lti_bridge.services.outbox import list_outbox

    entries, counts = list_outbox(
        uow=services().uow(), state=OutboxState(state) if state else None, limit=limit
    )
    click.echo("outbox: " + ", ".join(f"{n} {s.value}" for s, n in counts.items()))
    for e in entries:
        when = e.finished_at or (e.lease_until if e.state.value == "sent" else e.next_attempt_at)
        label = {"queued": "next", "sent": "lease until"}.get(e.state.value, "at")
        note = f"\t{e.last_error}" if e.last_error else ""
        click.echo(
            f"{e.id}\t{e.state.value}\tattempts={e.attempts}\t"
            f"status={e.last_status if e.last_status is not None else '-'}\t{e.kind}\t{e.key}\t"
            f"section={e.message.section_sis_id or '-'}\t{label} {when:%Y-%m-%dT%H:%M:%SZ}{note}"
        )


@outbox.command("retry")
@click.argument("entry_id", metavar="ID", type=int)
def outbox_retry(entry_id: int) -> None:
    """Send message ID again now, with a fresh retry budget (rejected, dead or waiting ones)."""
    from lti_bridge.services.outbox import retry_outbox

    svc = services()
    entry = retry_outbox(entry_id, uow=svc.uow(), now=svc.clock())
    click.echo(f"outbox {entry.id} ({entry.key}) queued again; the relay sends it next round")


# --- tokens -------------------------------------------------------------------------------------


@cli.group()
def tokens() -> None:
    """Operator tokens for the roster API (GET /api/v1/sections/{sis_id}/roster)."""


@tokens.command("create")
@click.option("--name", required=True, help="A name to know the token by (who or what uses it).")
@click.option(
    "--section", "sections", multiple=True, metavar="SIS_ID",
    help="A section the token may read; repeat for several. Without it: every section.",
)
def tokens_create(name: str, sections: tuple[str, ...]) -> None:
    """Create a token and print it once: only its hash is kept."""
    from lti_bridge.services.api_tokens import create_token

    svc = services()
    token = create_token(name, sections, uow=svc.uow(), now=svc.clock())
    scope = ", ".join(sections) if sections else "every section"
    click.echo(token)
    click.echo(
        f"token {name!r} for {scope}: keep it now, it cannot be shown again", err=True
    )


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke the token NAME: it is refused (401) from now on."""
    from lti_bridge.services.api_tokens import revoke_token

    svc = services()
    revoke_token(name, uow=svc.uow(), now=svc.clock())
    click.echo(f"token {name!r} revoked")


@tokens.command("list")
def tokens_list() -> None:
    """List the tokens: name, sections, created, last used, revoked."""
    from lti_bridge.services.api_tokens import list_tokens

    for t in list_tokens(uow=services().uow()):
        sections = ",".join(t.sections) if t.sections is not None else "*"
        used = f"{t.last_used_at:%Y-%m-%dT%H:%M:%SZ}" if t.last_used_at else "never"
        revoked = f"\trevoked {t.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if t.revoked_at else ""
        click.echo(
            f"{t.name}\tsections={sections}\tcreated {t.created_at:%Y-%m-%dT%H:%M:%SZ}"
            f"\tlast used {used}{revoked}"
        )


# --- grades -------------------------------------------------------------------------------------


@cli.group()
def grades() -> None:
    """Final grades: show, release, and reconcile with the SIS."""


@grades.command("reconcile")
@click.argument("section")
def grades_reconcile(section: str) -> None:
    """Read SECTION's accepted results back from the SIS; report any lost or different."""
    from lti_bridge.services.outbox import reconcile_section

    svc = services()
    if svc.gradebook is None:
        fail("no SIS configured: set LTI_BRIDGE_SIS_BASE_URL and the SIS credentials")
    report = reconcile_section(section, uow=svc.uow(), gradebook=svc.gradebook)
    for entry in report.lost:
        click.echo(f"LOST\t{entry.key}\toutbox {entry.id}: the SIS does not hold this result")
    for entry, changes in report.different:
        click.echo(f"DIFFERENT\t{entry.key}\toutbox {entry.id}: " + "; ".join(changes))
    for entry, error in report.unreadable:
        click.echo(f"UNREADABLE\t{entry.key}\toutbox {entry.id}: {error}")
    pending = len(report.not_accepted)
    click.echo(
        f"section {section}: {report.checked} accepted results checked, {report.matching} match, "
        f"{len(report.lost)} lost, {len(report.different)} different, "
        f"{len(report.unreadable)} unreadable; {pending} not accepted yet or refused"
    )
    if not report.ok:
        raise click.exceptions.Exit(1)


# --- events -------------------------------------------------------------------------------------


@cli.group()
def events() -> None:
    """SIS webhook deliveries: audit, replay, and send a test event."""


@events.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100000))
@click.option("--type", "event_type", default=None, help="Only events of this type.")
def events_list(limit: int, event_type: str | None) -> None:
    """List the newest accepted deliveries: received at, webhook id, type, sequence, outcome."""
    from lti_bridge.services import sis_events

    found = sis_events.list_deliveries(uow=services().uow(), limit=limit, type=event_type)
    if not found:
        click.echo("no deliveries recorded" + (f" of type {event_type}" if event_type else ""))
    for item in found:
        sequence = "-" if item.sequence is None else item.sequence
        note = f"\t{item.error}" if item.error else ""
        click.echo(
            f"{item.received_at:%Y-%m-%dT%H:%M:%SZ}\t{item.webhook_id}\t{item.type}\t"
            f"seq={sequence}\t{item.outcome.value}{note}"
        )


@events.command("send", with_appcontext=False)
@click.argument("event_type", metavar="TYPE", type=click.Choice(sender.EVENT_TYPES))
@click.argument("sis_id")
@click.option(
    "--url", required=True, help="The tool's base URL (or its /webhooks/sis URL)."
)
@click.option(
    "--secret",
    default=None,
    help="A whsec_ secret the tool accepts [default: the first of LTI_BRIDGE_WEBHOOK_SECRETS].",
)
@click.option("--section", default="DTSA5509-100-2024S1", show_default=True)
@click.option("--course", default="DTSA 5509", show_default=True)
@click.option("--session", "session_code", default="2026-S6", show_default=True)
@click.option(
    "--tuition",
    default=None,
    type=click.Choice(["unpaid", "paid", "failed", "refunded"]),
    help="Tuition status for enrollment.* events [default: unpaid].",
)
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 120))
def events_send(
    event_type: str,
    sis_id: str,
    url: str,
    secret: str | None,
    section: str,
    course: str,
    session_code: str,
    tuition: str | None,
    timeout: float,
) -> None:
    """Send one signed test event about student SIS_ID to a tool, as the SIS would.

    Checks a connection end to end (URL, secret, clock); exits non-zero unless the tool
    answers 2xx.
    """
    from lti_bridge.bootstrap import build_http_session

    secret = secret or (os.environ.get("LTI_BRIDGE_WEBHOOK_SECRETS") or "").split(" ")[0]
    if not secret.startswith("whsec_"):
        fail("--secret must be a whsec_… secret (or set LTI_BRIDGE_WEBHOOK_SECRETS)")
    event = sender.build_event(
        event_type, sis_id, section=section, course=course, session_code=session_code,
        tuition=tuition,
    )
    target = sender.webhook_url(url)
    if not target.startswith(("http://", "https://")):
        fail(f"--url {url} is not an http(s) URL")
    try:
        answer = sender.send_event(build_http_session(), target, secret, event, timeout=timeout)
    except requests.RequestException as exc:
        fail(f"could not reach {target}: {exc.__class__.__name__}")
    detail = f" {answer.body.strip()}" if answer.body.strip() else ""
    click.echo(f"{answer.status} {event_type} {sis_id} webhook-id {answer.webhook_id}{detail}")
    if not 200 <= answer.status < 300:
        raise click.exceptions.Exit(1)


@events.command("replay")
@click.argument("webhook_id")
def events_replay(webhook_id: str) -> None:
    """Apply a recorded delivery again; sequences still decide what changes."""
    from marshmallow import ValidationError as SchemaError

    from lti_bridge.domain.errors import NotFoundError
    from lti_bridge.services import sis_events
    from lti_bridge.web.schemas import load_event

    svc = services()
    try:
        delivery = sis_events.get_delivery(webhook_id, uow=svc.uow())
    except NotFoundError:
        fail(f"no delivery with webhook id {webhook_id}; see: lti-bridge events list")
    try:
        event = load_event(dict(delivery.payload))
    except SchemaError as exc:
        fail(f"delivery {webhook_id} no longer passes the schema: {exc.messages}")
    applied = sis_events.replay_sis_event(event, webhook_id, uow=svc.uow(), clock=svc.clock)
    reason = f" ({applied.reason})" if applied.reason else ""
    click.echo(f"delivery {webhook_id} {event.type.value}: {applied.outcome.value}{reason}")


# --- catalog ------------------------------------------------------------------------------------


@cli.group()
def catalog() -> None:
    """The university's catalog: sessions, sections, grading and the onboarding course."""


@catalog.command("import")
@click.argument("file", type=click.Path())
def catalog_import(file: str) -> None:
    """Load sessions, sections/offerings, grading and onboarding from a .toml or .json FILE."""
    from pathlib import Path

    from lti_bridge.adapters.catalog_file import CatalogFileError, read_catalog_file
    from lti_bridge.adapters.catalog_schema import parse_catalog
    from lti_bridge.domain.errors import ValidationError
    from lti_bridge.services.catalog import import_catalog

    try:
        document = read_catalog_file(Path(file))
    except CatalogFileError as exc:
        fail(str(exc))
    try:
        parsed = parse_catalog(document)
        svc = services()
        summary = import_catalog(parsed, uow=svc.uow(), now=svc.clock())
    except ValidationError as exc:
        # Every problem on its own line, named by its place in the file, so one run shows all.
        click.echo(f"Error: {file}: {exc.public_message} Nothing was imported.", err=True)
        for line in str(exc).splitlines():
            click.echo(line, err=True)
        raise click.exceptions.Exit(1) from None
    click.echo(
        f"catalog {file} imported: {summary.sessions} sessions ({summary.sessions_written} "
        f"written), {summary.sections} sections ({summary.sections_written} written), "
        f"{summary.offerings} offerings ({summary.offerings_written} written), settings replaced"
    )


# --- doctor -------------------------------------------------------------------------------------


@cli.command("doctor")
def doctor() -> None:
    """Check the database, migrations, public URL, secrets, SIS, platforms, catalog and clock."""
    from lti_bridge.adapters.doctor import Status, run_checks

    svc = services()
    checks = run_checks(svc.settings, svc.engine, svc.http, svc.clock)
    for check in checks:
        click.echo(check.line())
    failed = sum(check.status is Status.FAIL for check in checks)
    warned = sum(check.status is Status.WARN for check in checks)
    click.echo(f"{len(checks)} checks: {failed} failed, {warned} warnings")
    if failed:
        raise click.exceptions.Exit(1)
# ``grades show|release|override|incomplete`` (web/grades_cli.py) join ``grades reconcile``.
register_grade_commands(grades)
cli.add_command(carryover_commands, "carryover")


def register_commands(app: Flask) -> None:
    """Offer the same commands under ``flask --app lti_bridge.web …``."""
    for name, command in cli.commands.items():
        app.cli.add_command(command, name)
