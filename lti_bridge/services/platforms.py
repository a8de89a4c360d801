"""Registering platforms (LMS instances) and their deployments."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from lti_bridge.domain.errors import ConflictError, ValidationError
from lti_bridge.domain.model import PlatformRegistration
from lti_bridge.services.ports import UnitOfWork


def _require_url(name: str, value: str, *, allow_http: bool) -> None:
    parts = urlsplit(value)
    schemes = {"https", "http"} if allow_http else {"https"}
    if parts.scheme not in schemes or not parts.netloc:
        raise ValidationError(f"{name} must be an absolute {' or '.join(sorted(schemes))} URL")


def validate_registration(registration: PlatformRegistration) -> None:
    """Refuse a registration with empty ids or URLs that are not absolute http(s) URLs."""
    if not registration.client_id.strip():
        raise ValidationError("--client-id must not be empty")
    if not registration.deployment_ids or not all(d.strip() for d in registration.deployment_ids):
        raise ValidationError("give at least one non-empty --deployment-id")
    _require_url("--issuer", registration.issuer, allow_http=True)
    for name, url in (
        ("--auth-login-url", registration.auth_login_url),
        ("--auth-token-url", registration.auth_token_url),
        ("--key-set-url", registration.key_set_url),
    ):
        _require_url(name, url, allow_http=True)


def register_platform(registration: PlatformRegistration, *, uow: UnitOfWork, now: datetime) -> int:
    """Add or update a platform and add its deployments; re-adding the same issuer updates it."""
    validate_registration(registration)
    with uow:
        platform_id = uow.lti.save_platform(registration, now)
        for deployment_id in registration.deployment_ids:
            uow.lti.add_deployment(platform_id, deployment_id, now)
        uow.commit()
    return platform_id


def add_new_platform(registration: PlatformRegistration, *, uow: UnitOfWork, now: datetime) -> int:
    """Add a platform that is not registered yet, with its deployments (Dynamic Registration).

    Never updates an existing (issuer, client id): its key set URL decides whose launches the
    tool believes, and only an operator changes it (``lti-bridge platform add``).
    """
    validate_registration(registration)
    with uow:
        platform_id = uow.lti.add_platform(registration, now)
        if platform_id is None:
            raise ConflictError(
                f"dynamic registration of {registration.issuer} client {registration.client_id}, "
                "which is registered already",
                public_message="This platform is already registered with the tool.",
                admin_hint="A registered platform is changed only by an operator: "
                "lti-bridge platform add --issuer … --client-id … (re-adding updates it).",
            )
        for deployment_id in registration.deployment_ids:
            uow.lti.add_deployment(platform_id, deployment_id, now)
        uow.commit()
    return platform_id


def allow_deployment(
    issuer: str, client_id: str, deployment_id: str, *, uow: UnitOfWork, now: datetime
) -> bool:
    """Allow one more deployment id for a registered platform; True when it was new."""
    with uow:
        for platform in uow.lti.list_platforms():
            if platform.issuer == issuer and platform.client_id == client_id:
                assert platform.id is not None
                added = uow.lti.add_deployment(platform.id, deployment_id, now)
                uow.commit()
                return added
    raise ValidationError(f"no platform is registered for issuer {issuer} and client {client_id}")


def list_platforms(*, uow: UnitOfWork) -> list[PlatformRegistration]:
    """Return every registered platform with its deployments."""
    with uow:
        return uow.lti.list_platforms()
