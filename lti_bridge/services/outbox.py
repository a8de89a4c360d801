"""Operator use cases on the outbox: list it, retry a message, reconcile a section with the SIS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lti_bridge.domain.errors import LtiBridgeError
from lti_bridge.domain.outbox import SIS_RESULT, OutboxEntry, OutboxState
from lti_bridge.services.outbox_ports import SisGradebook
from lti_bridge.services.ports import UnitOfWork


def list_outbox(
    *, uow: UnitOfWork, state: OutboxState | None = None, limit: int = 100
) -> tuple[list[OutboxEntry], dict[OutboxState, int]]:
    """The newest messages (optionally in one state) and how many are in each state."""
    with uow:
        return uow.outbox.list(state=state, limit=limit), uow.outbox.counts()


def outbox_depth(*, uow: UnitOfWork, now: datetime) -> dict[str, tuple[int, float | None]]:
    """How many messages each state holds, and the age of its oldest (for monitoring)."""
    with uow:
        return {state.value: held for state, held in uow.outbox.depth(now).items()}


def retry_outbox(entry_id: int, *, uow: UnitOfWork, now: datetime) -> OutboxEntry:
    """Queue a rejected, dead or waiting message to be sent at once with a fresh retry budget."""
    with uow:
        entry = uow.outbox.retry(entry_id, now)
        uow.commit()
    return entry


def differences(sent: Any, held: Any, path: str = "") -> list[str]:
    """Where ``held`` lacks or changes what ``sent`` said (fields the SIS adds are not counted)."""
    if isinstance(sent, Mapping) and isinstance(held, Mapping):
        found: list[str] = []
        for key, value in sent.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in held:
                found.append(f"{where}: missing")
            else:
                found.extend(differences(value, held[key], where))
        return found
    if isinstance(sent, bool) or isinstance(held, bool):
        return [] if sent is held else [f"{path}: sent {sent!r}, SIS holds {held!r}"]
    if isinstance(sent, int | float) and isinstance(held, int | float):
        return [] if float(sent) == float(held) else [f"{path}: sent {sent!r}, SIS holds {held!r}"]
    return [] if sent == held else [f"{path}: sent {sent!r}, SIS holds {held!r}"]


@dataclass
class Reconciliation:
    """What the SIS holds of one section's accepted results."""

    section_sis_id: str
    checked: int = 0
    matching: int = 0
    lost: list[OutboxEntry] = field(default_factory=list)
    different: list[tuple[OutboxEntry, list[str]]] = field(default_factory=list)
    unreadable: list[tuple[OutboxEntry, str]] = field(default_factory=list)
    #: Messages of the section not accepted (yet): queued, sent, rejected or dead.
    not_accepted: list[OutboxEntry] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.different or self.unreadable)


def reconcile_section(
    section_sis_id: str,
    *,
    uow: UnitOfWork,
    gradebook: SisGradebook,
    on_progress: Callable[[int], None] | None = None,
) -> Reconciliation:
    """Read back every accepted result of a section and report any lost or changed (CONTRACT §1)."""
    with uow:
        entries = [e for e in uow.outbox.by_section(section_sis_id) if e.kind == SIS_RESULT]
    report = Reconciliation(section_sis_id)
    for entry in entries:
        if entry.state is not OutboxState.ACCEPTED:
            report.not_accepted.append(entry)
            continue
        report.checked += 1
        try:
            held = gradebook.get_result(entry.key)
        except LtiBridgeError as exc:
            report.unreadable.append((entry, str(exc)))
            continue
        if held is None:
            report.lost.append(entry)
            continue
        sent = entry.payload.get("result", entry.payload)
        changed = differences(sent, held)
        if changed:
            report.different.append((entry, changed))
        else:
            report.matching += 1
        if on_progress is not None:
            on_progress(report.checked)
    return report
