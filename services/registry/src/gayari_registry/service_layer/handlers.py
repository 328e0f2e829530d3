"""Use cases of the registry: they depend on the unit of work's Protocol
(service_layer.unit_of_work), not on PostgreSQL, so unit tests run them in memory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from gayari_registry.domain.imports import (
    CsvRecord,
    Rejection,
    RowReport,
    application_of,
    parse_row,
    rejected_rows,
    rejection_of,
)
from gayari_registry.domain.model import (
    ConflictError,
    DetailsChange,
    Household,
    HouseholdApplication,
    HouseholdRulesError,
    Reference,
    change_details,
    check_niks_free,
    enrol,
    exit_programme,
    register,
    registered_event,
)
from gayari_registry.service_layer.unit_of_work import UnitOfWorkFactory
from gayari_shared.events.base import EventData
from gayari_shared.events.envelope import Envelope
from gayari_shared.events.factory import envelope_for
from gayari_shared.events.households import ExitReason
from gayari_shared.hashing import keyed_hash
from gayari_shared.rules import RuleViolationError

Step = Callable[[Household], tuple[Household, EventData | None]]

SOURCE = "/gayari/registry"


@dataclass(frozen=True, slots=True)
class RegistryDeps:
    unit_of_work: UnitOfWorkFactory
    reference: Reference
    hash_secret: str


@dataclass(frozen=True, slots=True)
class Registration:
    household: Household
    created: bool


class UnknownHouseholdError(LookupError):
    def __init__(self, household_id: uuid.UUID) -> None:
        super().__init__(f"household {household_id} is not registered")


def _now() -> datetime:
    return datetime.now(UTC)


def _envelope(event: EventData, correlation_id: str) -> Envelope:
    return envelope_for(event, source=SOURCE, correlation_id=correlation_id)


async def register_household(
    deps: RegistryDeps, application: HouseholdApplication, correlation_id: str
) -> Registration:
    """Register a household once per KK; a repeated KK returns the household already there,
    whatever else the application says (the KK is the household's identity).

    No transaction around it: its one write, the household with its members and its event, is
    one statement, atomic by itself, which also looks up who holds the KK and the NIKs (one
    round trip for a new household); the lookups read committed data, as they would in a
    transaction (READ COMMITTED), and a concurrent registration of the KK or of a NIK is caught
    by that statement's unique indexes."""
    async with deps.unit_of_work(atomic=False) as uow:
        try:
            household = register(application, deps.reference, household_id=uuid.uuid4(), now=_now())
        except RuleViolationError:
            # A known KK is answered whatever else the application says.
            known, _ = await uow.registration_lookup(application.kk, [])
            if known is None:
                raise
        else:
            event = registered_event(household, keyed_hash(deps.hash_secret, household.kk))
            created, known, nik_owners = await uow.add_if_new(
                household, _envelope(event, correlation_id), event.STREAM
            )
            if created:
                return Registration(household, created=True)
            if known is None:
                # The new household's id is in no row: every owner found is another household.
                check_niks_free(household, nik_owners)
        # Known already, or registered by a concurrent request meanwhile.
        existing = await uow.by_kk(application.kk)
        assert existing is not None
        await uow.audit_read(existing.id, correlation_id)
    return Registration(existing, created=False)


async def _transition(
    deps: RegistryDeps, household_id: uuid.UUID, step: Step, correlation_id: str
) -> Household:
    """Apply one life-cycle step; its event commits with the change. Optimistically first
    (two round trips, no transaction): read the household, apply the step, write it back only
    if its row is unchanged since. A change of members, or a household changed meanwhile, takes
    the household's lock instead."""
    async with deps.unit_of_work(atomic=False) as uow:
        found = await uow.versioned(household_id)
        if found is None:
            raise UnknownHouseholdError(household_id)
        household, version = found
        updated, event = step(household)
        if event is None:
            await uow.audit_read(household.id, correlation_id)
            return household
        if updated.members == household.members and await uow.save(
            updated,
            members=False,
            event=_envelope(event, correlation_id),
            stream=event.STREAM,
            if_version=version,
        ):
            return updated
    return await _locked_transition(deps, household_id, step, correlation_id)


async def _locked_transition(
    deps: RegistryDeps, household_id: uuid.UUID, step: Step, correlation_id: str
) -> Household:
    """Apply one life-cycle step to a locked household; its event commits with the change."""
    async with deps.unit_of_work() as uow:
        household = await uow.by_id(household_id, for_update=True)
        if household is None:
            raise UnknownHouseholdError(household_id)
        updated, event = step(household)
        if event is None:
            await uow.audit_read(household.id, correlation_id)
            return household
        # Only new member lists are checked: a NIK two households shared before NIKs had to
        # be unique must not block their enrolment, only a change of their members.
        members_changed = updated.members != household.members
        if members_changed:
            niks = [m.nik for m in updated.members]
            check_niks_free(updated, await uow.owners_of(niks, excluding=updated.id))
        await uow.save(
            updated,
            members=members_changed,
            event=_envelope(event, correlation_id),
            stream=event.STREAM,
        )
    return updated


async def change_household(
    deps: RegistryDeps,
    household_id: uuid.UUID,
    change: DetailsChange,
    correlation_id: str,
    *,
    admin: bool,
) -> Household:
    def step(household: Household) -> tuple[Household, EventData | None]:
        return change_details(household, change, deps.reference, now=_now(), admin=admin)

    return await _transition(deps, household_id, step, correlation_id)


async def enrol_household(
    deps: RegistryDeps,
    household_id: uuid.UUID,
    cohort_year: int,
    agency: str,
    correlation_id: str,
    *,
    enrolled_on: date | None = None,
) -> Household:
    def step(household: Household) -> tuple[Household, EventData | None]:
        return enrol(household, cohort_year, agency, now=_now(), on=enrolled_on)

    return await _transition(deps, household_id, step, correlation_id)


async def exit_household(
    deps: RegistryDeps,
    household_id: uuid.UUID,
    reason: ExitReason,
    correlation_id: str,
    *,
    exited_on: date | None = None,
) -> Household:
    def step(household: Household) -> tuple[Household, EventData | None]:
        return exit_programme(household, reason, now=_now(), on=exited_on)

    return await _transition(deps, household_id, step, correlation_id)


async def get_household(deps: RegistryDeps, household_id: uuid.UUID) -> Household | None:
    async with deps.unit_of_work() as uow:
        return await uow.by_id(household_id)


async def near_duplicates(deps: RegistryDeps, limit: int) -> list[list[Household]]:
    async with deps.unit_of_work() as uow:
        return await uow.near_duplicates(limit)


async def _kk_groups(records: AsyncIterable[CsvRecord]) -> AsyncIterator[list[CsvRecord]]:
    group: list[CsvRecord] = []
    async for record in records:
        if group and record.values.get("kk", "").strip() != group[0].values.get("kk", "").strip():
            yield group
            group = []
        group.append(record)
    if group:
        yield group


async def _import_one(
    deps: RegistryDeps, group: list[CsvRecord], seen_kks: set[str], correlation_id: str
) -> list[RowReport]:
    application = application_of([parse_row(r.values) for r in group], seen_kks)
    if isinstance(application, Rejection):
        return rejected_rows(group, application)
    seen_kks.add(application.kk)
    try:
        result = await register_household(deps, application, correlation_id)
    except HouseholdRulesError as exc:
        return rejected_rows(group, rejection_of(exc.violations))
    except RuleViolationError as exc:
        return rejected_rows(group, rejection_of([(exc.field, exc.message)]))
    except ConflictError as exc:
        return rejected_rows(group, rejection_of([(exc.field or "kk", exc.message)]))
    status: Literal["created", "existing"] = "created" if result.created else "existing"
    return [RowReport(r.number, application.kk, status, result.household.id) for r in group]


async def import_households(
    deps: RegistryDeps, records: AsyncIterable[CsvRecord], correlation_id: str
) -> AsyncIterator[RowReport]:
    """Register the households of a CSV, one transaction per KK, reporting on every row.
    KKs registered already are reported as existing and left as they are."""
    seen_kks: set[str] = set()
    async for group in _kk_groups(records):
        for report in await _import_one(deps, group, seen_kks, correlation_id):
            yield report
