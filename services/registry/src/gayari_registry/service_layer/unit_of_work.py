"""What the registry's use cases need of storage: a unit of work, as a Protocol.

The use cases depend on this, not on PostgreSQL: adapters.postgres implements it over a
connection (one transaction, or statements each atomic by itself), and the unit tests' fakes
(tests/unit/fakes) implement it in memory, so every use case is tested without a database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from gayari_registry.domain.model import Household
from gayari_shared.events.envelope import Envelope


class UnitOfWork(Protocol):
    """One unit: households and the events their changes cause are kept together."""

    async def add_if_new(
        self, household: Household, event: Envelope, stream: str
    ) -> tuple[bool, uuid.UUID | None, dict[str, uuid.UUID]]:
        """The household and its event, unless its KK or a member's NIK is held already: then
        nothing is written, and (False, the household holding the KK or None, the household
        holding each NIK held). (True, None, {}) when written."""

    async def save(
        self,
        household: Household,
        *,
        members: bool,
        event: Envelope,
        stream: str,
        if_version: int | None = None,
    ) -> bool:
        """Write back a household (its members too, `members`) with its event. Read with
        `by_id(..., for_update=True)`; or, with `if_version` (from `versioned`, members
        unchanged), only if it is still that version: False when it changed meanwhile."""

    async def audit_read(self, household_id: uuid.UUID, correlation_id: str) -> None:
        """The audit row of a household handed back without a write."""

    async def owners_of(self, niks: Sequence[str], excluding: uuid.UUID) -> dict[str, uuid.UUID]:
        """The other household holding each of these NIKs, for those another household holds."""

    async def registration_lookup(
        self, kk: str, niks: Sequence[str]
    ) -> tuple[uuid.UUID | None, dict[str, uuid.UUID]]:
        """The household holding this KK (if any), and the household holding each NIK."""

    async def by_kk(self, kk: str) -> Household | None: ...

    async def versioned(self, household_id: uuid.UUID) -> tuple[Household, int] | None:
        """The household and the version of its row, read without a lock, for `save`."""

    async def by_id(self, household_id: uuid.UUID, *, for_update: bool = False) -> Household | None:
        """The household; `for_update`: held until the unit ends, changes queue up."""

    async def near_duplicates(self, limit: int) -> list[list[Household]]:
        """Groups of households with the same head's name and birth date in one village."""


class UnitOfWorkFactory(Protocol):
    """A unit of work: one transaction, or with `atomic` False statements each atomic."""

    def __call__(self, *, atomic: bool = True) -> AbstractAsyncContextManager[UnitOfWork]: ...
