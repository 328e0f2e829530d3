"""The write side's use case, in memory: `project` (service_layer/projection.py) over a fake
BatchStore (tests/unit/fakes/reporting.py), stage by stage. What the SQL of each stage does, and
that the tallies equal a recount in any order, is the integration tests' to prove
(test_reporting_tallies.py, test_reporting_order_independence.py)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from gayari_reporting.domain.consumed import ConsumedRecord, PartitionKey, Rejected
from gayari_reporting.domain.projection import (
    Fact,
    GrantFact,
    HouseholdChangeFact,
    SurveyFact,
    VoidFact,
)
from gayari_reporting.service_layer.projection import project, skip_seen
from tests.unit.fakes.reporting import FakeBatchStore

GROUP = "gayari-reporting"
INTERVENTIONS: PartitionKey = ("gayari.interventions", 0)
REGISTRY: PartitionKey = ("gayari.registry", 0)
T0 = datetime(2026, 3, 1, 2, tzinfo=UTC)
HH1, HH2 = uuid.uuid4(), uuid.uuid4()
# The stages of a batch, in the order the transaction runs them.
STAGES = [
    "lock_offsets",
    "serialise_households",
    "voided_households",
    "retract",
    "write",
    "contribute",
    "refresh_incomes",
    "advance_offsets",
]


def granted(household: uuid.UUID, agency: str, idr: int) -> GrantFact:
    return GrantFact(uuid.uuid4(), household, agency, "capital", idr, T0, uuid.uuid4(), 2026)


def void(fact: GrantFact) -> VoidFact:
    return VoidFact("grant", fact.grant_id, fact.agency, T0 + timedelta(days=1), uuid.uuid4())


def records(first: int, *outcomes: Fact | Rejected | None) -> list[ConsumedRecord]:
    return [ConsumedRecord(first + i, outcome) for i, outcome in enumerate(outcomes)]


@pytest.fixture
def store() -> FakeBatchStore:
    return FakeBatchStore()


async def test_a_batch_writes_its_facts_and_refusals_and_advances_each_partition(
    store: FakeBatchStore,
) -> None:
    g1, g2 = granted(HH1, "dinsos", 1_000_000), granted(HH2, "dispar", 500_000)
    batch = {
        INTERVENTIONS: records(0, g1, Rejected("not-a-cloudevent"), None, g2),
        REGISTRY: records(7, HouseholdChangeFact(HH1, "62.09.01.2002", None, T0, uuid.uuid4())),
        ("gayari.interventions", 1): [],  # nothing fetched there: not touched
    }

    result = await project(store, GROUP, batch)

    assert [r.offset for r in result.applied] == [0, 1, 2, 3, 7]
    assert result.skipped_as_seen == 0
    assert store.state.offsets == {(GROUP, *INTERVENTIONS): 4, (GROUP, *REGISTRY): 8}
    assert store.state.rejected == [(*INTERVENTIONS, 1, "not-a-cloudevent")]
    assert set(store.state.grants) == {g1.grant_id, g2.grant_id}
    assert store.state.tally == Counter({"dinsos": 1_000_000, "dispar": 500_000})
    assert store.calls == STAGES
    assert store.committed == 1


async def test_records_an_earlier_owner_projected_are_skipped_and_never_counted_twice(
    store: FakeBatchStore,
) -> None:
    g1, g2 = granted(HH1, "dinsos", 1_000_000), granted(HH1, "dinsos", 300_000)
    await project(store, GROUP, {INTERVENTIONS: records(0, g1)})

    # After a rebalance the new owner fetched from offset 0 again.
    result = await project(store, GROUP, {INTERVENTIONS: records(0, g1, g2)})
    assert ([r.offset for r in result.applied], result.skipped_as_seen) == ([1], 1)
    again = await project(store, GROUP, {INTERVENTIONS: records(0, g1, g2)})
    assert (again.applied, again.skipped_as_seen) == ([], 2)

    assert store.state.offsets[(GROUP, *INTERVENTIONS)] == 2
    assert store.state.tally == Counter({"dinsos": 1_300_000})


def test_skip_seen_keeps_each_partitions_unseen_records_and_their_next_offset() -> None:
    batch = {
        INTERVENTIONS: records(5, Rejected("unknown-type"), None, granted(HH1, "dinsos", 1)),
        REGISTRY: records(0, None, None),
    }
    unseen = skip_seen(batch, sorted(batch), {INTERVENTIONS: 6, REGISTRY: 2})
    assert [r.offset for r in unseen.applied] == [6, 7]
    assert unseen.advanced == [(*INTERVENTIONS, 8)]  # none for a partition wholly seen
    assert unseen.rejected == []  # the refusal at 5 was stored by the earlier owner
    assert unseen.skipped == 3
    assert len(list(unseen.facts())) == 1


async def test_a_void_retracts_the_household_of_the_record_it_voids(
    store: FakeBatchStore,
) -> None:
    """A void names a record, not a household: the household comes from the stored grant, and
    its share is taken out and computed again without the voided grant."""
    kept, voided = granted(HH1, "dinsos", 1_000_000), granted(HH1, "dispar", 2_000_000)
    await project(store, GROUP, {INTERVENTIONS: records(0, kept, voided)})
    assert store.state.tally == Counter({"dinsos": 1_000_000, "dispar": 2_000_000})

    await project(store, GROUP, {INTERVENTIONS: records(2, void(voided))})

    assert store.state.tally == Counter({"dinsos": 1_000_000})
    assert store.state.shares[HH1] == Counter({"dinsos": 1_000_000})
    assert HH1 in store.state.surveyed  # its first and latest incomes brought up to date too


async def test_the_households_whose_incomes_may_change_are_refreshed(
    store: FakeBatchStore,
) -> None:
    surveyed, moved, granted_only = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    survey = SurveyFact(uuid.uuid4(), surveyed, "dkukmpp", date(2026, 3, 2), 1, 1, T0, uuid.uuid4())
    batch = {
        INTERVENTIONS: records(0, survey, granted(granted_only, "dinsos", 1)),
        REGISTRY: records(0, HouseholdChangeFact(moved, "62.09.02.2001", None, T0, uuid.uuid4())),
    }
    await project(store, GROUP, batch)
    assert store.state.surveyed == {surveyed, moved}


async def test_a_batch_that_fails_midway_leaves_facts_tallies_and_offsets_as_they_were(
    store: FakeBatchStore,
) -> None:
    first = granted(HH1, "dinsos", 1_000_000)
    await project(store, GROUP, {INTERVENTIONS: records(0, first)})
    before = (dict(store.state.offsets), dict(store.state.grants), Counter(store.state.tally))

    batch = {INTERVENTIONS: records(1, granted(HH1, "dinsos", 5), void(first))}
    for stage in ("contribute", "advance_offsets"):
        store.fail_at = stage
        with pytest.raises(ConnectionError):
            await project(store, GROUP, batch)
        assert (store.state.offsets, store.state.grants, store.state.tally) == before

    store.fail_at = None
    await project(store, GROUP, batch)  # the retry
    assert store.state.tally == Counter({"dinsos": 5})
    assert store.state.offsets[(GROUP, *INTERVENTIONS)] == 3


async def test_without_tallies_a_batch_writes_facts_and_offsets_only(
    store: FakeBatchStore,
) -> None:
    """A replay's bulk: the tallies are rebuilt from the facts at the end, not per batch."""
    batch = {INTERVENTIONS: records(0, granted(HH1, "dinsos", 1_000_000))}
    await project(store, GROUP, batch, schema="rm_g2", building=True, tally=False)

    assert store.opened == [("rm_g2", True)]
    assert store.calls == [
        "lock_offsets",
        "write",
        "contribute",
        "refresh_incomes",
        "advance_offsets",
    ]
    assert not store.state.tally and not store.state.shares
    assert store.state.offsets == {(GROUP, *INTERVENTIONS): 1}
    assert len(store.state.grants) == 1


async def test_a_batch_goes_into_the_active_generation_unless_told(store: FakeBatchStore) -> None:
    await project(store, GROUP, {INTERVENTIONS: records(0, None)})
    await project(store, GROUP, {INTERVENTIONS: records(1, None)}, schema="rm_g1")
    assert store.opened == [(None, False), ("rm_g1", False)]
    assert store.state.offsets == {(GROUP, *INTERVENTIONS): 2}
