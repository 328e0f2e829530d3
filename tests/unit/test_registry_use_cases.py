"""Every use case of the registry, in memory: the handlers over a fake unit of work
(tests/unit/fakes). What PostgreSQL adds (the one-statement registration, row versions, locks,
unique indexes under concurrency) is proved by the integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gayari_registry.domain.imports import CsvRecord
from gayari_registry.domain.model import (
    ConflictError,
    DetailsChange,
    Household,
    HouseholdApplication,
    Reference,
)
from gayari_registry.service_layer import handlers
from gayari_registry.service_layer.handlers import RegistryDeps, UnknownHouseholdError
from gayari_shared.areas import load_areas
from gayari_shared.hashing import keyed_hash
from gayari_shared.rules import RuleViolationError
from tests.unit.fakes.registry import FakeHouseholdUnitOfWork, FakeRegistry

REFERENCE = Reference(load_areas())
SECRET = "unit test secret"
HEAD_NIK = "6209014501800001"  # born 1980-01-05, a woman
CHILD_NIK = "6209011206050002"  # born 2005-06-12, a man


def kk(n: int) -> str:
    return f"62090101010100{n:02d}"


def application(number: int = 1, **overrides: Any) -> HouseholdApplication:
    body: dict[str, Any] = {
        "kk": kk(number),
        "head_name": "Siti Aminah",
        "village_code": "62.09.01.2001",
        "welfare_decile": 2,
        "members": [
            {
                "name": "Siti Aminah",
                "nik": f"62090145018000{number:02d}",
                "sex": "F",
                "birth_date": "1980-01-05",
                "relationship": "head",
            }
        ],
    }
    return HouseholdApplication.model_validate(body | overrides)


@pytest.fixture
def store() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def deps(store: FakeRegistry) -> RegistryDeps:
    return RegistryDeps(unit_of_work=store, reference=REFERENCE, hash_secret=SECRET)


def event_types(store: FakeRegistry) -> list[str]:
    return [envelope.type for envelope, _ in store.state.events]


async def registered(deps: RegistryDeps, number: int = 1) -> Household:
    return (await handlers.register_household(deps, application(number), "c")).household


# -- registration -------------------------------------------------------------------------------


async def test_a_household_is_registered_with_its_event(
    store: FakeRegistry, deps: RegistryDeps
) -> None:
    result = await handlers.register_household(deps, application(), "corr-1")
    assert result.created
    household = result.household
    assert (household.kk, household.version, household.status) == (kk(1), 1, "registered")
    assert store.state.households == {household.id: household}
    ((envelope, stream),) = store.state.events
    assert (envelope.type, stream) == ("gayari.household.registered.v1", "households")
    assert (envelope.source, envelope.correlationid) == ("/gayari/registry", "corr-1")
    # The KK travels only as its keyed hash.
    assert envelope.data["kk_hash"] == keyed_hash(SECRET, kk(1))
    assert kk(1) not in str(envelope.data)


async def test_a_known_kk_answers_the_household_there_whatever_else_is_sent(
    store: FakeRegistry, deps: RegistryDeps
) -> None:
    first = await registered(deps)
    again = await handlers.register_household(
        deps, application(village_code="62.09.01.9999"), "corr-2"
    )
    assert (again.created, again.household) == (False, first)
    assert event_types(store) == ["gayari.household.registered.v1"]
    assert store.state.audit_reads == [(first.id, "corr-2")]


async def test_an_invalid_application_of_a_new_kk_is_refused_and_nothing_written(
    store: FakeRegistry, deps: RegistryDeps
) -> None:
    with pytest.raises(RuleViolationError):
        await handlers.register_household(deps, application(village_code="62.09.01.9999"), "c")
    assert (store.state.households, store.state.events) == ({}, [])


async def test_a_nik_held_by_another_household_is_refused_naming_it(
    store: FakeRegistry, deps: RegistryDeps
) -> None:
    first = await registered(deps)
    taken = application(2, members=[application(1).members[0].model_dump(mode="json")])
    with pytest.raises(ConflictError) as caught:
        await handlers.register_household(deps, taken, "c")
    assert (caught.value.code, caught.value.household_id) == ("nik-in-another-household", first.id)
    assert len(store.state.households) == 1


# -- life cycle: enrol, exit, change ----------------------------------------------------------


async def test_a_household_enrols_once_then_exits(store: FakeRegistry, deps: RegistryDeps) -> None:
    household = await registered(deps)
    enrolled = await handlers.enrol_household(deps, household.id, 2026, "dinsos", "c")
    assert (enrolled.status, enrolled.version) == ("enrolled", 2)
    with pytest.raises(ConflictError) as caught:
        await handlers.enrol_household(deps, household.id, 2026, "dinsos", "c")
    assert caught.value.code == "already-enrolled"
    exited = await handlers.exit_household(deps, household.id, "graduated", "c")
    assert (exited.status, exited.version) == ("exited", 3)
    with pytest.raises(ConflictError):
        await handlers.exit_household(deps, household.id, "graduated", "c")
    assert event_types(store) == [
        "gayari.household.registered.v1",
        "gayari.household.enrolled.v1",
        "gayari.household.exited.v1",
    ]
    assert [e.data.get("household_version") for e, _ in store.state.events] == [1, 2, 3]
    assert store.state.households[household.id] == exited


async def test_a_change_of_an_unknown_household_is_refused(deps: RegistryDeps) -> None:
    unknown = uuid.uuid4()
    with pytest.raises(UnknownHouseholdError):
        await handlers.enrol_household(deps, unknown, 2026, "dinsos", "c")
    with pytest.raises(UnknownHouseholdError):
        await handlers.exit_household(deps, unknown, "moved", "c")
    with pytest.raises(UnknownHouseholdError):
        await handlers.change_household(
            deps, unknown, DetailsChange(welfare_decile=3), "c", admin=False
        )


async def test_details_change_optimistically_and_a_change_of_nothing_writes_nothing(
    store: FakeRegistry, deps: RegistryDeps
) -> None:
    household = await registered(deps)
    changed = await handlers.change_household(
        deps, household.id, DetailsChange(welfare_decile=4), "c", admin=False
    )
    assert (changed.welfare_decile, changed.version) == (4, 2)
    assert event_types(store)[-1] == "gayari.household.details-changed.v1"
    units = len(store.units)
    same = await handlers.change_household(
        deps, household.id, DetailsChange(welfare_decile=4), "c2", admin=False
    )
    assert same == changed
    assert len(store.state.events) == 2
    assert store.state.audit_reads[-1] == (household.id, "c2")
    assert len(store.units) == units + 1  # decided on the unlocked read: no second unit


async def test_a_change_of_members_takes_the_lock_and_checks_their_niks(
    store: FakeRegistry, deps: RegistryDeps
) -> None:
    household = await registered(deps)
    other = await registered(deps, 2)
    head = household.members[0]
    keep = head.model_dump(mode="json")
    child = {
        "name": "Budi Saputra",
        "nik": CHILD_NIK,
        "sex": "M",
        "birth_date": "2005-06-12",
        "relationship": "child",
    }
    units = len(store.units)
    grown = await handlers.change_household(
        deps,
        household.id,
        DetailsChange.model_validate({"members": [keep, child]}),
        "c",
        admin=False,
    )
    assert [m.nik for m in grown.members] == [HEAD_NIK, CHILD_NIK]
    assert len(store.units) == units + 2  # the unlocked read, then the locked unit
    taken = {**child, "nik": other.members[0].nik, "birth_date": "1980-01-05", "sex": "F"}
    with pytest.raises(ConflictError) as caught:
        await handlers.change_household(
            deps,
            household.id,
            DetailsChange.model_validate({"members": [keep, taken]}),
            "c",
            admin=False,
        )
    assert caught.value.household_id == other.id
    assert store.state.households[household.id] == grown
    assert store.rollbacks == 1


async def test_a_household_changed_meanwhile_is_decided_again_under_its_lock() -> None:
    """The optimistic write finds the household changed since it was read (an exit by another
    request): the change is decided again on the household as it is now, under its lock, and
    the exit is kept."""
    store = FakeRegistry()
    deps = RegistryDeps(unit_of_work=store, reference=REFERENCE, hash_secret=SECRET)
    household = await registered(deps)
    await handlers.enrol_household(deps, household.id, 2026, "dinsos", "c")

    class ExitedMeanwhile(FakeHouseholdUnitOfWork):
        async def versioned(self, household_id: uuid.UUID) -> tuple[Household, int] | None:
            seen = await super().versioned(household_id)
            store.make_unit = lambda: FakeHouseholdUnitOfWork(store.state)  # type: ignore[method-assign]
            await handlers.exit_household(deps, household_id, "moved", "other")
            return seen

    store.make_unit = lambda: ExitedMeanwhile(store.state)  # type: ignore[method-assign]
    changed = await handlers.change_household(
        deps, household.id, DetailsChange(welfare_decile=5), "c", admin=False
    )
    assert (changed.status, changed.welfare_decile, changed.version) == ("exited", 5, 4)
    assert store.state.households[household.id] == changed
    assert event_types(store)[-2:] == [
        "gayari.household.exited.v1",
        "gayari.household.details-changed.v1",
    ]


# -- reading ------------------------------------------------------------------------------------


async def test_a_household_is_read_by_its_id(deps: RegistryDeps) -> None:
    household = await registered(deps)
    assert await handlers.get_household(deps, household.id) == household
    assert await handlers.get_household(deps, uuid.uuid4()) is None


async def test_near_duplicates_share_village_head_name_and_birth_date(deps: RegistryDeps) -> None:
    first = await registered(deps, 1)
    second = (
        await handlers.register_household(deps, application(2, head_name="SITI  aminah"), "c")
    ).household
    await handlers.register_household(deps, application(3, village_code="62.09.01.2002"), "c")
    groups = await handlers.near_duplicates(deps, 10)
    assert [[h.id for h in group] for group in groups] == [[first.id, second.id]]
    assert await handlers.near_duplicates(deps, 0) == []


# -- CSV import ---------------------------------------------------------------------------------


def csv_row(number: int, **overrides: str) -> dict[str, str]:
    values = {
        "kk": kk(number),
        "village_code": "62.09.01.2001",
        "rt": "003",
        "rw": "001",
        "address": "Dusun Sungai",
        "welfare_decile": "2",
        "nik": f"62090145018000{number:02d}",
        "name": "Siti Aminah",
        "sex": "P",
        "birth_date": "1980-01-05",
        "relationship": "Kepala Keluarga",
    }
    return values | overrides


async def records(*rows: dict[str, str]) -> AsyncIterator[CsvRecord]:
    for number, values in enumerate(rows, start=2):
        yield CsvRecord(number, values)


async def test_a_csv_registers_each_kk_once_and_reports_every_row(
    store: FakeRegistry, deps: RegistryDeps
) -> None:
    rows = [
        csv_row(1),
        csv_row(
            1, nik=CHILD_NIK, name="Budi", sex="L", birth_date="2005-06-12", relationship="Anak"
        ),
        csv_row(2, welfare_decile="eleven"),
        csv_row(3),
    ]
    reports = [r async for r in handlers.import_households(deps, records(*rows), "c")]
    assert [(r.row, r.status) for r in reports] == [
        (2, "created"),
        (3, "created"),
        (4, "rejected"),
        (5, "created"),
    ]
    assert reports[2].errors[0].column == "welfare_decile"
    assert len(store.state.households) == 2
    again = [r async for r in handlers.import_households(deps, records(*rows), "c")]
    assert [r.status for r in again] == ["existing", "existing", "rejected", "existing"]
    assert len(store.state.events) == 2


async def test_a_csv_household_breaking_a_rule_is_rejected_row_by_row(
    store: FakeRegistry, deps: RegistryDeps
) -> None:
    await registered(deps, 1)
    clash = csv_row(5, nik=f"62090145018000{1:02d}")  # the NIK of household 1
    reports = [r async for r in handlers.import_households(deps, records(clash), "c")]
    assert [(r.status, r.errors[0].column) for r in reports] == [("rejected", "nik")]
    assert len(store.state.households) == 1
