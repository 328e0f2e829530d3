"""Folding a batch into one row per key (domain/batch.py): the same winners as upserting the
facts one by one in any order, which the property test checks against PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import astuple
from datetime import UTC, datetime, timedelta

from gayari_reporting.adapters.fact_tables import STATE_COLUMNS, STATE_UPSERT, state_row
from gayari_reporting.domain.batch import fold
from gayari_reporting.domain.projection import (
    EnrolmentFact,
    ExitFact,
    Fact,
    GrantFact,
    HouseholdChangeFact,
    HouseholdFact,
    VoidFact,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HH = uuid.uuid4()


def ids(n: int) -> list[uuid.UUID]:
    return sorted(uuid.uuid4() for _ in range(n))


def test_a_households_state_takes_each_group_from_its_winning_event_in_any_order() -> None:
    e1, e2, e3, e4, e5, e6 = ids(6)
    facts: list[Fact] = [
        HouseholdFact(HH, "62.09.03.2001", 2, T0, e3),
        HouseholdChangeFact(HH, "62.09.01.2002", None, T0 + timedelta(days=3), e1),
        HouseholdChangeFact(HH, None, 4, T0 + timedelta(days=2), e2),
        EnrolmentFact(HH, 2026, "dinsos", T0 + timedelta(days=5), e5),
        EnrolmentFact(HH, 2027, "dispar", T0 + timedelta(days=4), e6),  # the earlier one wins
        ExitFact(HH, "moved", T0 + timedelta(days=9), e4),
    ]
    states = {astuple(fold(order).states[HH]) for order in itertools.permutations(facts)}
    assert states == {
        (
            ((2,), T0, e3),  # registration: initial decile, time, event
            (("62.09.01.2002",), T0 + timedelta(days=3), e1),  # the latest village
            ((4,), T0 + timedelta(days=2), e2),  # the latest decile
            ((2027, "dispar"), T0 + timedelta(days=4), e6),  # the first enrolment
            (("moved",), T0 + timedelta(days=9), e4),  # the latest exit
        )
    }


def test_a_record_claimed_twice_keeps_the_least_event_and_a_duplicate_counts_once() -> None:
    grant, least, other = uuid.uuid4(), *ids(2)
    first = GrantFact(grant, HH, "dinsos", "capital", 1_000_000, T0, other, 2026)
    second = GrantFact(grant, HH, "dinsos", "capital", 2_000_000, T0, least, 2026)
    for order in ([first, second, first], [second, first], [first, first, second]):
        writes = fold(order)
        assert list(writes.grants.values()) == [second]


def test_voids_are_keyed_by_type_and_record() -> None:
    record = uuid.uuid4()
    grant_void = VoidFact("grant", record, "dinsos", T0, uuid.uuid4())
    survey_void = VoidFact("business-survey", record, "dkukmpp", T0, uuid.uuid4())
    writes = fold([grant_void, survey_void, grant_void])
    assert set(writes.voids) == {("grant", record), ("business-survey", record)}
    assert not writes.states  # a void says nothing about a household's state


def test_a_folded_state_is_a_row_of_the_upserts_columns() -> None:
    """The household-state row is built from the column list the upsert is built from."""
    e1, e2 = ids(2)
    writes = fold(
        [
            HouseholdFact(HH, "62.09.03.2001", 2, T0, e1),
            ExitFact(HH, "moved", T0 + timedelta(days=9), e2),
        ]
    )
    row = dict(zip((c for c, _ in STATE_COLUMNS), state_row(HH, writes.states[HH]), strict=True))
    assert row == {
        "household_id": HH,
        "registered_at": T0,
        "registration_event": e1,
        "initial_decile": 2,
        "village_at": T0,
        "village_event": e1,
        "village_code": "62.09.03.2001",
        "decile_at": T0,
        "decile_event": e1,
        "welfare_decile": 2,
        "enrolled_at": None,
        "enrol_event": None,
        "cohort_year": None,
        "enrolling_agency": None,
        "exited_at": T0 + timedelta(days=9),
        "exit_event": e2,
        "exit_reason": "moved",
    }
    assert f"${len(STATE_COLUMNS)}::" in STATE_UPSERT
