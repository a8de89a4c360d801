"""Operator tokens for the roster API: created once and shown once, kept hashed, scoped to
sections or to all, revocable, and every use recorded (``lti-bridge tokens …``)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from lti_bridge.domain.errors import ConflictError, NotFoundError, ValidationError
from lti_bridge.services.api_tokens_ports import ApiToken
from lti_bridge.services.ports import UnitOfWork

#: Every token starts so, which lets a secret scanner recognise one that leaked.
TOKEN_PREFIX = "lbt_"
MAX_NAME_LENGTH = 128


class TokenOutcome(StrEnum):
    ALLOWED = "allowed"
    #: No such token, or one revoked: the caller is not authenticated (401).
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    #: A valid token for other sections (403).
    OUT_OF_SCOPE = "out_of_scope"


def token_hash(token: str) -> str:
    """What the database keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    name: str, sections: Sequence[str] | None, *, uow: UnitOfWork, now: datetime
) -> str:
    """Create a token named ``name`` for ``sections`` (None or empty: all) and return its text,
    which is never stored and cannot be shown again."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"token name {name!r}",
            public_message=f"A token needs a name of 1 to {MAX_NAME_LENGTH} characters.",
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    scoped = sorted({s.strip() for s in sections or () if s.strip()}) or None
    with uow:
        if uow.tokens.by_name(name) is not None:
            raise ConflictError(
                f"token {name!r} exists",
                public_message=f"A token named {name!r} exists; revoke it or choose another name.",
            )
        uow.tokens.add(name, token_hash(token), scoped, now)
        uow.commit()
    return token


def revoke_token(name: str, *, uow: UnitOfWork, now: datetime) -> None:
    """Revoke the token ``name``: it answers 401 from now on."""
    with uow:
        if not uow.tokens.revoke(name, now):
            raise NotFoundError(
                f"no token {name!r}", public_message=f"There is no token named {name!r}."
            )
        uow.commit()


def list_tokens(*, uow: UnitOfWork) -> list[ApiToken]:
    with uow:
        return uow.tokens.all()


def use_token(
    token: str, section_sis_id: str, *, uow: UnitOfWork, now: datetime
) -> tuple[TokenOutcome, ApiToken | None]:
    """Check a presented token for reading ``section_sis_id`` and record the use, committed
    before the caller reads anything (the read then holds no write lock open)."""
    with uow:
        found = uow.tokens.by_hash(token_hash(token)) if token else None
        if found is None:
            return TokenOutcome.UNKNOWN, None
        if found.revoked_at is not None:
            outcome = TokenOutcome.REVOKED
        elif not found.may_read(section_sis_id):
            outcome = TokenOutcome.OUT_OF_SCOPE
        else:
            outcome = TokenOutcome.ALLOWED
        uow.tokens.record_use(found.name, section_sis_id, outcome.value, now)
        uow.commit()
    return outcome, found
