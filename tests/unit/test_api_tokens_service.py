"""Operator tokens on the fake unit of work: created once and shown once, kept hashed, scoped,
revocable, and every use recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lti_bridge.domain.errors import ConflictError, NotFoundError, ValidationError
from lti_bridge.services.api_tokens import (
    TOKEN_PREFIX,
    TokenOutcome,
    create_token,
    list_tokens,
    revoke_token,
    token_hash,
    use_token,
)
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def test_a_token_is_shown_once_and_kept_only_as_its_hash() -> None:
    uow = FakeUnitOfWork()
    token = create_token(" ops ", [" SEC-2", "SEC-1", "SEC-1", " "], uow=uow, now=NOW)
    assert token.startswith(TOKEN_PREFIX)
    ((stored_hash, created),) = uow.tokens.held.values()
    assert stored_hash == token_hash(token) != token
    assert (created.name, created.sections, created.created_at) == ("ops", ("SEC-1", "SEC-2"), NOW)
    assert uow.commits == 1


def test_no_sections_means_all_and_a_taken_or_bad_name_is_refused() -> None:
    uow = FakeUnitOfWork()
    create_token("all", [], uow=uow, now=NOW)
    (token,) = list_tokens(uow=uow)
    assert token.sections is None and token.may_read("ANY")
    with pytest.raises(ConflictError):
        create_token("all", None, uow=uow, now=NOW)
    for name in ("  ", "x" * 129):
        with pytest.raises(ValidationError):
            create_token(name, None, uow=uow, now=NOW)
    assert [t.name for t in list_tokens(uow=uow)] == ["all"] and uow.commits == 1


def test_a_use_is_allowed_in_scope_and_recorded_with_its_outcome() -> None:
    uow = FakeUnitOfWork()
    token = create_token("ops", ["SEC-1"], uow=uow, now=NOW)

    outcome, found = use_token(token, "SEC-1", uow=uow, now=LATER)
    assert outcome is TokenOutcome.ALLOWED and found is not None and found.name == "ops"
    assert use_token(token, "SEC-2", uow=uow, now=LATER)[0] is TokenOutcome.OUT_OF_SCOPE
    assert use_token("lbt_nope", "SEC-1", uow=uow, now=LATER) == (TokenOutcome.UNKNOWN, None)
    assert use_token("", "SEC-1", uow=uow, now=LATER) == (TokenOutcome.UNKNOWN, None)

    assert [(n, s, o) for n, s, o, _ in uow.tokens.uses] == [
        ("ops", "SEC-1", "allowed"),
        ("ops", "SEC-2", "out_of_scope"),
    ]
    assert list_tokens(uow=uow)[0].last_used_at == LATER


def test_a_revoked_token_is_refused_and_an_unknown_one_cannot_be_revoked() -> None:
    uow = FakeUnitOfWork()
    token = create_token("ops", None, uow=uow, now=NOW)
    revoke_token("ops", uow=uow, now=LATER)
    assert list_tokens(uow=uow)[0].revoked_at == LATER
    assert use_token(token, "SEC-1", uow=uow, now=LATER)[0] is TokenOutcome.REVOKED
    with pytest.raises(NotFoundError):
        revoke_token("nope", uow=uow, now=LATER)
