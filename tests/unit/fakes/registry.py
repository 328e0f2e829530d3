"""The registry's unit of work in memory (service_layer.unit_of_work.UnitOfWork)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from gayari_registry.domain.model import ConflictError, Household, near_duplicate_key
from gayari_shared.events.envelope import Envelope


@dataclass
class RegistryState:
    """What the registry's database holds, as far as the use cases can tell."""

    households: dict[uuid.UUID, Household] = field(default_factory=dict)
    row_versions: dict[uuid.UUID, int] = field(default_factory=dict)  # xmin, in PostgreSQL
    events: list[tuple[Envelope, str]] = field(default_factory=list)  # the outbox
    audit_reads: list[tuple[uuid.UUID, str]] = field(default_factory=list)

    def holder_of_kk(self, kk: str) -> uuid.UUID | None:
        return next((h.id for h in self.households.values() if h.kk == kk), None)

    def holders_of(self, niks: Sequence[str]) -> dict[str, uuid.UUID]:
        wanted = set(niks)
        return {m.nik: h.id for h in self.households.values() for m in h.members if m.nik in wanted}


class FakeHouseholdUnitOfWork:
    def __init__(self, state: RegistryState) -> None:
        self.state = state
        self.staged = False

    async def add_if_new(
        self, household: Household, event: Envelope, stream: str
    ) -> tuple[bool, uuid.UUID | None, dict[str, uuid.UUID]]:
        existing = self.state.holder_of_kk(household.kk)
        owners = self.state.holders_of([m.nik for m in household.members])
        if existing is not None or owners:
            return False, existing, owners
        self._write(household, event, stream)
        return True, None, {}

    async def save(
        self,
        household: Household,
        *,
        members: bool,
        event: Envelope,
        stream: str,
        if_version: int | None = None,
    ) -> bool:
        if members and if_version is not None:
            raise ValueError("a member change is written under the household's lock")
        if household.id not in self.state.households:
            raise AssertionError("saved a household that was not read")
        if if_version is not None and self.state.row_versions[household.id] != if_version:
            return False
        if members:
            taken = {
                nik: owner
                for nik, owner in self.state.holders_of([m.nik for m in household.members]).items()
                if owner != household.id
            }
            if taken:  # the unique index on members' NIKs
                raise ConflictError(
                    "nik-in-another-household", "a member's NIK was registered meanwhile elsewhere"
                )
        self._write(household, event, stream)
        return True

    def _write(self, household: Household, event: Envelope, stream: str) -> None:
        self.state.households[household.id] = household
        self.state.row_versions[household.id] = self.state.row_versions.get(household.id, 0) + 1
        self.state.events.append((event, stream))
        self.staged = True

    async def audit_read(self, household_id: uuid.UUID, correlation_id: str) -> None:
        self.state.audit_reads.append((household_id, correlation_id))

    async def owners_of(self, niks: Sequence[str], excluding: uuid.UUID) -> dict[str, uuid.UUID]:
        return {n: h for n, h in self.state.holders_of(niks).items() if h != excluding}

    async def registration_lookup(
        self, kk: str, niks: Sequence[str]
    ) -> tuple[uuid.UUID | None, dict[str, uuid.UUID]]:
        return self.state.holder_of_kk(kk), self.state.holders_of(niks)

    async def by_kk(self, kk: str) -> Household | None:
        found = self.state.holder_of_kk(kk)
        return None if found is None else self.state.households[found]

    async def versioned(self, household_id: uuid.UUID) -> tuple[Household, int] | None:
        household = self.state.households.get(household_id)
        if household is None:
            return None
        return household, self.state.row_versions[household_id]

    async def by_id(self, household_id: uuid.UUID, *, for_update: bool = False) -> Household | None:
        return self.state.households.get(household_id)

    async def near_duplicates(self, limit: int) -> list[list[Household]]:
        groups: dict[tuple[str, str, object], list[Household]] = {}
        for household in self.state.households.values():
            groups.setdefault(near_duplicate_key(household), []).append(household)
        found = [
            sorted(group, key=lambda h: (h.registered_at, h.id))
            for _, group in sorted(groups.items(), key=lambda item: item[0])
            if len(group) > 1
        ]
        return found[:limit]


class FakeRegistry:
    """The unit-of-work factory of RegistryDeps. A unit of work is one transaction (its writes
    undone when it raises) or, with `atomic` False, statements kept as they are written."""

    def __init__(self) -> None:
        self.state = RegistryState()
        self.units: list[FakeHouseholdUnitOfWork] = []
        self.rollbacks = 0

    @asynccontextmanager
    async def __call__(self, *, atomic: bool = True) -> AsyncIterator[FakeHouseholdUnitOfWork]:
        before = {name: copy.copy(value) for name, value in vars(self.state).items()}
        uow = self.make_unit()
        self.units.append(uow)
        try:
            yield uow
        except BaseException:
            if atomic:
                self.state.__dict__.update(before)
                self.rollbacks += 1
            raise

    def make_unit(self) -> FakeHouseholdUnitOfWork:
        return FakeHouseholdUnitOfWork(self.state)
