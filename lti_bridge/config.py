"""Settings: defaults, then an optional TOML file, then ``LTI_BRIDGE_*`` environment."""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "LTI_BRIDGE_"
#: Session and CSRF tokens are HMACs under the secret key: shorter keys are guessable offline.
MIN_SECRET_KEY_BYTES = 32
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")

# Keys that may only come from the environment, never from the TOML file: a config file is
# easily committed or copied around, a secret must not be.
SECRET_KEYS = frozenset({"secret_key", "webhook_secrets", "sis_client_secret", "metrics_token"})


class ConfigError(Exception):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """Everything the tool reads from its environment, resolved once at start."""

    instance_path: Path = field(default_factory=lambda: Path("instance").resolve())
    database_url: str = ""
    secret_key: str = ""
    public_url: str = ""
    redis_url: str = ""
    webhook_secrets: tuple[str, ...] = ()
    webhook_max_body_bytes: int = 64 * 1024
    webhook_tolerance_seconds: int = 300
    sis_base_url: str = ""
    sis_token_url: str = ""
    sis_client_id: str = ""
    sis_client_secret: str = ""
    # The outbox relay (docs/outbox.md): claims per round, requests in flight at once, how long a
    # claim is held, and the retry policy (capped exponential backoff with jitter, then dead).
    relay_batch_size: int = 50
    relay_concurrency: int = 8
    relay_lease_seconds: int = 120
    relay_max_attempts: int = 12
    relay_backoff_base_seconds: float = 2.0
    relay_backoff_cap_seconds: float = 300.0
    relay_poll_seconds: float = 1.0
    # Carry-over (docs/carryover.md): AGS requests in flight at once per platform, across the
    # relay's threads. Canvas throttles a client id above about a dozen.
    ags_max_in_flight: int = 10
    http_timeout_seconds: float = 10.0
    # Connections each process's pool keeps for transactions (``serve`` raises it to --threads),
    # and how long a request waits for one before the database counts as unavailable (503).
    database_pool_size: int = 5
    # The total time one onboarding check may spend on the platform's AGS (every request).
    ags_check_deadline_seconds: float = 15.0
    database_pool_timeout_seconds: float = 10.0
    jwt_leeway_seconds: int = 60
    launch_state_ttl_seconds: int = 600
    platform_jwks_max_age_seconds: int = 3600
    platform_jwks_min_refetch_seconds: int = 30
    # How long a launch waits for a platform's key set fetch before it is told to retry (503).
    platform_jwks_max_wait_seconds: float = 3.0
    link_learners_by_email: bool = False
    # How long the roster keeps a context's platform membership (NRPS) before reading it again.
    roster_membership_ttl_seconds: float = 60.0
    # The issuer of the platform the SIS's platform_user_ids (and emails, for linking) refer to,
    # where an event does not name one itself. Empty: such ids match no launch at all.
    sis_platform_issuer: str = ""
    # Issuers (or their origins) allowed to register through /lti/register; "*" allows any.
    # Empty (the default): Dynamic Registration is off, platforms are added with the CLI.
    registration_issuers: tuple[str, ...] = ()
    # Dynamic Registration needs the platform's one-time registration_token unless turned off.
    registration_token_required: bool = True
    # Development only: let registration URLs resolve to loopback, private or link-local hosts.
    registration_allow_private_networks: bool = False
    max_credit_courses_per_session: int = 3
    max_program_years: int = 8
    payment_url: str = ""
    help_url: str = ""
    log_level: str = "INFO"
    # "text" (a readable line) or "json" (one JSON object per line).
    log_format: str = "text"
    # /metrics: off unless on, or unless a token is set (then it wants "Bearer <token>").
    metrics: bool = False
    metrics_token: str = ""
    # Origins besides the registered platforms' that may frame the tool (a platform whose pages
    # live on another origin than its issuer, e.g. a hosted Canvas's own domain).
    frame_ancestors: tuple[str, ...] = ()
    # Number of reverse proxies in front whose X-Forwarded-* headers are trusted; 0: none.
    trusted_proxies: int = 0

    @property
    def sqlite_default_url(self) -> str:
        return f"sqlite:///{self.instance_path / 'lti_bridge.sqlite3'}"


def _coerce(name: str, raw: Any, current: Any) -> Any:
    if isinstance(current, bool):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be true or false, got {raw!r}")
    if isinstance(current, int):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()} must be a whole number, got {raw!r}"
            ) from None
    if isinstance(current, float):
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be a number, got {raw!r}") from None
    if isinstance(current, tuple):
        items = raw if isinstance(raw, list | tuple) else str(raw).split()
        return tuple(str(item) for item in items if str(item))
    if isinstance(current, Path):
        return Path(str(raw)).resolve()
    # Kept as text on purpose: Flask's from_prefixed_env JSON-decodes, turning "123" into 123.
    return str(raw)


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Resolve settings from defaults, the TOML file, the environment and explicit overrides."""
    env = os.environ if environ is None else environ
    settings = Settings()
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}

    config_file = env.get(f"{ENV_PREFIX}CONFIG")
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{ENV_PREFIX}CONFIG names {path}, which does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        for key, raw in data.items():
            if key not in known:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            if key in SECRET_KEYS:
                raise ConfigError(
                    f"{path}: {key!r} is a secret; set {ENV_PREFIX}{key.upper()} in the "
                    "environment instead"
                )
            values[key] = raw

    for key in known:
        env_name = f"{ENV_PREFIX}{key.upper()}"
        if env_name in env:
            values[key] = env[env_name]
    if overrides:
        for key, raw in overrides.items():
            if key not in known:
                raise ConfigError(f"unknown setting {key!r}")
            values[key] = raw

    coerced = {key: _coerce(key, raw, getattr(settings, key)) for key, raw in values.items()}
    settings = replace(settings, **coerced)
    for secret in settings.webhook_secrets:
        if not secret.startswith("whsec_"):
            raise ConfigError(f"{ENV_PREFIX}WEBHOOK_SECRETS: each secret must start with whsec_")
    if settings.log_format not in {"text", "json"}:
        raise ConfigError(
            f"{ENV_PREFIX}LOG_FORMAT must be text or json, got {settings.log_format!r}"
        )
    if settings.secret_key and len(settings.secret_key.encode()) < MIN_SECRET_KEY_BYTES:
        raise ConfigError(
            f"{ENV_PREFIX}SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes "
            f"(got {len(settings.secret_key.encode())}); "
            'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
        )
    for value in settings.frame_ancestors:
        # Each goes into the Content-Security-Policy header as it is: an origin, nothing more.
        if not _ORIGIN.fullmatch(value):
            raise ConfigError(
                f"{ENV_PREFIX}FRAME_ANCESTORS: {value!r} is not an origin like https://lms.example.edu"
            )
    if settings.trusted_proxies < 0:
        raise ConfigError(f"{ENV_PREFIX}TRUSTED_PROXIES must be 0 or more")
    if not settings.database_url:
        settings = replace(settings, database_url=settings.sqlite_default_url)
    return settings


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key, generating one under the instance folder if needed."""
    if settings.secret_key:
        return settings
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    key_file = settings.instance_path / "secret_key"
    if not key_file.exists():
        # Write aside, then link into place: several workers starting at once agree on one key.
        tmp = key_file.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return replace(settings, secret_key=key_file.read_text().strip())
