"""Who read or wrote which households' personal data: the audit trail's rows and the actor of
the request (or consumed record) in hand.

The actor is ambient, like the correlation id: authentication sets it once (`act_as`), and
every write that stages an event in the outbox takes it from there, so a new write path is
audited without each route handing its caller down to the unit of work."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Literal, NamedTuple

from gayari_shared.events.envelope import Envelope

Access = Literal["read", "write"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an API key's id and its agency; for an agency system's Kafka intake the key id
    is `kafka:<intake topic>`. Never the key itself."""

    key_id: str | None
    agency: str | None


NOBODY = Actor(None, None)
_actor: ContextVar[Actor] = ContextVar("audit_actor", default=NOBODY)


def current_actor() -> Actor:
    return _actor.get()


def act_as(actor: Actor) -> Token[Actor]:
    """The actor of what follows in this context; `reset_actor(token)` undoes it."""
    return _actor.set(actor)


def reset_actor(token: Token[Actor]) -> None:
    _actor.reset(token)


class AuditRow(NamedTuple):
    """One access, as the columns of audit_log (AUDIT_COLUMNS) take it."""

    key_id: str | None
    agency: str | None
    access: Access
    operation: str
    household_ids: list[uuid.UUID]
    correlation_id: str


def read_row(
    operation: str,
    household_ids: Iterable[uuid.UUID],
    correlation_id: str,
    actor: Actor | None = None,
) -> AuditRow:
    who = actor or current_actor()
    ids = list(dict.fromkeys(household_ids))  # each once, in the order read
    return AuditRow(who.key_id, who.agency, "read", operation, ids, correlation_id)


def write_row(envelope: Envelope, actor: Actor | None = None) -> AuditRow:
    """The audit row of a write: the event it stages says what happened (its type), to which
    household (its subject; none for an agency's own records such as a budget) and in which
    request (its correlation id)."""
    who = actor or current_actor()
    return AuditRow(
        who.key_id,
        who.agency,
        "write",
        envelope.type,
        _households_of(envelope.subject),
        envelope.correlationid,
    )


def _households_of(subject: str) -> list[uuid.UUID]:
    if subject.startswith("agency:"):
        return []
    try:
        return [uuid.UUID(subject)]
    except ValueError:
        return []


def households_in(body: bytes) -> list[uuid.UUID]:
    """The households a stored JSON response names: a record's `household_id`, or a household
    itself (the registry's view: its `id`, with its `members`). None for anything else."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    named = document.get("household_id")
    if named is None and "members" in document:
        named = document.get("id")
    try:
        return [uuid.UUID(str(named))] if named is not None else []
    except ValueError:
        return []
