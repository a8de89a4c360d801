"""``lti-bridge doctor``: check an installation the way an operator would, one line per check.

Each check answers OK, WARN or FAIL with what was found and, when not OK, what to do. A check
never raises: whatever goes wrong becomes its line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlsplit

import requests
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from lti_bridge import telemetry
from lti_bridge.adapters.db import engine as db_engine
from lti_bridge.adapters.db import tables
from lti_bridge.adapters.sis.signature import SecretError, decode_secret
from lti_bridge.config import Settings

#: Below this the clocks agree well enough; a launch's token allows a minute of leeway.
CLOCK_SKEW_WARN_SECONDS = 5.0
#: Above this launches fail (exp/iat leeway) and webhooks look stale.
CLOCK_SKEW_FAIL_SECONDS = 30.0
#: A webhook secret's key should carry at least this many bytes (Standard Webhooks: 24 to 64).
MIN_SECRET_BYTES = 24


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status.value:<4} {self.name}: {self.detail}"
        return f"{text}\n     -> {self.fix}" if self.fix else text


def run_checks(
    settings: Settings,
    engine: Engine,
    http: requests.Session,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[Check]:
    """Run every check in order; the database's checks stop at the first that fails."""
    found = list(_database(engine))
    database_ok = all(check.status is not Status.FAIL for check in found)
    found.append(_public_url(settings))
    found.append(_webhook_secrets(settings))
    found.append(_sis_credentials(settings, http))
    if database_ok:
        found.extend(_platform_key_sets(engine, http, settings.http_timeout_seconds))
        found.append(_catalog(engine))
        found.append(_clock(engine, clock))
    return found


def _database(engine: Engine) -> Iterator[Check]:
    shown = engine.url.render_as_string(hide_password=True)
    try:
        current = db_engine.current_revision(engine)
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        yield Check(
            "database",
            Status.FAIL,
            f"{shown} not reachable: {reason}",
            "check LTI_BRIDGE_DATABASE_URL and that the database server runs and accepts the user",
        )
        return
    yield Check("database", Status.OK, f"{shown} reachable")
    script = ScriptDirectory.from_config(db_engine.alembic_config(str(engine.url)))
    head = script.get_current_head()
    if current is None:
        yield Check("migrations", Status.FAIL, "no schema yet", "run: lti-bridge db upgrade")
    elif current != head:
        yield Check(
            "migrations",
            Status.FAIL,
            f"schema at revision {current}, this version needs {head}",
            "run: lti-bridge db upgrade",
        )
    else:
        yield Check("migrations", Status.OK, f"schema at revision {head} (latest)")


def _public_url(settings: Settings) -> Check:
    url = settings.public_url
    if not url:
        return Check(
            "public URL",
            Status.WARN,
            "LTI_BRIDGE_PUBLIC_URL not set; URLs are taken from each request's Host header",
            "set LTI_BRIDGE_PUBLIC_URL=https://your-tool.example.edu (behind a proxy, required)",
        )
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        return Check(
            "public URL",
            Status.FAIL,
            f"{url} is not an https URL; an LMS frames the tool and its cookies need https",
            "serve the tool behind TLS (e.g. the compose file's caddy profile) and set "
            "LTI_BRIDGE_PUBLIC_URL=https://…",
        )
    return Check("public URL", Status.OK, url)


def _webhook_secrets(settings: Settings) -> Check:
    secrets = settings.webhook_secrets
    if not secrets:
        return Check(
            "webhook secrets",
            Status.FAIL,
            "LTI_BRIDGE_WEBHOOK_SECRETS not set; the SIS's events are refused (503)",
            "set LTI_BRIDGE_WEBHOOK_SECRETS=whsec_… to the secret the SIS signs with",
        )
    for index, secret in enumerate(secrets, start=1):
        try:
            key = decode_secret(secret)
        except SecretError as exc:
            return Check(
                "webhook secrets",
                Status.FAIL,
                f"secret {index} of {len(secrets)}: {exc}",
                "each secret is whsec_ followed by base64, as the SIS shows it",
            )
        if len(key) < MIN_SECRET_BYTES:
            return Check(
                "webhook secrets",
                Status.WARN,
                f"secret {index} of {len(secrets)} holds only {len(key)} bytes",
                f"ask the SIS for a secret of at least {MIN_SECRET_BYTES} random bytes",
            )
    return Check("webhook secrets", Status.OK, f"{len(secrets)} well-formed secret(s)")


def _sis_credentials(settings: Settings, http: requests.Session) -> Check:
    token_url = settings.sis_token_url
    if not token_url:
        if settings.sis_base_url:
            return Check(
                "SIS credentials",
                Status.FAIL,
                "LTI_BRIDGE_SIS_BASE_URL is set but LTI_BRIDGE_SIS_TOKEN_URL is not",
                "set LTI_BRIDGE_SIS_TOKEN_URL, LTI_BRIDGE_SIS_CLIENT_ID, "
                "LTI_BRIDGE_SIS_CLIENT_SECRET",
            )
        return Check(
            "SIS credentials",
            Status.WARN,
            "no SIS configured; final grades queue but are not sent",
            "set LTI_BRIDGE_SIS_BASE_URL and LTI_BRIDGE_SIS_TOKEN_URL, _CLIENT_ID, _CLIENT_SECRET",
        )
    if not settings.sis_client_id or not settings.sis_client_secret:
        return Check(
            "SIS credentials",
            Status.FAIL,
            "LTI_BRIDGE_SIS_CLIENT_ID or LTI_BRIDGE_SIS_CLIENT_SECRET not set",
            "set both to the client the SIS issued the tool",
        )
    try:
        with telemetry.outbound("sis"):
            response = http.post(
                token_url,
                data={
                    "grant_type": "client_credentials",
                    "scope": "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createput",
                },
                auth=(settings.sis_client_id, settings.sis_client_secret),
                timeout=settings.http_timeout_seconds,
            )
    except requests.RequestException as exc:
        return Check(
            "SIS credentials",
            Status.FAIL,
            f"token URL {token_url} not reachable ({exc.__class__.__name__})",
            "check LTI_BRIDGE_SIS_TOKEN_URL and that the tool's host may reach the SIS",
        )
    if response.status_code in {400, 401, 403}:
        return Check(
            "SIS credentials",
            Status.FAIL,
            f"the SIS refused the client credentials ({response.status_code}: "
            f"{response.text[:200].strip()})",
            "check LTI_BRIDGE_SIS_CLIENT_ID and LTI_BRIDGE_SIS_CLIENT_SECRET, and the client's "
            "gradebook scope",
        )
    try:
        document = response.json()
    except ValueError:
        document = None
    if (
        not 200 <= response.status_code < 300
        or not isinstance(document, dict)
        or not document.get("access_token")
    ):
        return Check(
            "SIS credentials",
            Status.FAIL,
            f"token URL {token_url} answered {response.status_code} without an access token",
            "check that LTI_BRIDGE_SIS_TOKEN_URL is the SIS's OAuth 2 token endpoint",
        )
    return Check("SIS credentials", Status.OK, f"token granted by {token_url}")


def _platform_key_sets(engine: Engine, http: requests.Session, timeout: float) -> list[Check]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(tables.platforms.c.issuer, tables.platforms.c.client_id,
                   tables.platforms.c.key_set_url).order_by(tables.platforms.c.id)
        ).all()
    if not rows:
        return [
            Check(
                "platforms",
                Status.WARN,
                "no platform registered; every launch is refused",
                "run: lti-bridge platform add … (see the README)",
            )
        ]
    found = []
    for issuer, client_id, url in rows:
        name = f"platform {issuer} ({client_id})"
        fix = (
            f"check the key set URL with the LMS; re-register with: lti-bridge platform add "
            f"--issuer {issuer} --client-id {client_id} --key-set-url … "
        )
        try:
            with telemetry.outbound("platform_keys"):
                response = http.get(url, timeout=timeout)
                response.raise_for_status()
                document = response.json()
        except requests.RequestException as exc:
            found.append(
                Check(name, Status.FAIL, f"key set {url} not reachable ({exc})"[:400], fix)
            )
            continue
        except ValueError:
            found.append(Check(name, Status.FAIL, f"key set {url} did not answer JSON", fix))
            continue
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list) or not keys:
            found.append(Check(name, Status.FAIL, f"key set {url} holds no keys", fix))
            continue
        found.append(Check(name, Status.OK, f"key set {url} holds {len(keys)} key(s)"))
    return found


def _catalog(engine: Engine) -> Check:
    with engine.connect() as conn:
        sessions = conn.execute(select(func.count()).select_from(tables.sis_sessions)).scalar()
        offerings = conn.execute(select(func.count()).select_from(tables.offerings)).scalar()
    if not offerings:
        return Check(
            "catalog",
            Status.WARN,
            f"no offerings loaded ({sessions or 0} sessions known); launches map a section only "
            "through the LIS claim",
            "run: lti-bridge catalog import FILE (schema: config/catalog.example.toml)",
        )
    return Check("catalog", Status.OK, f"{sessions} sessions, {offerings} offerings")


def _clock(engine: Engine, clock: Callable[[], datetime]) -> Check:
    if engine.dialect.name != "postgresql":
        return Check("clock", Status.OK, "SQLite shares this machine's clock")
    with engine.connect() as conn:
        before = clock()
        database_now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        after = clock()
    ours = before + (after - before) / 2
    skew = (database_now - ours).total_seconds()
    detail = f"database clock {skew:+.1f} s from this machine's"
    fix = "run NTP (chrony, systemd-timesyncd) on the tool's and the database's hosts"
    if abs(skew) > CLOCK_SKEW_FAIL_SECONDS:
        return Check("clock", Status.FAIL, detail, fix)
    if abs(skew) > CLOCK_SKEW_WARN_SECONDS:
        return Check("clock", Status.WARN, detail, fix)
    return Check("clock", Status.OK, detail)
