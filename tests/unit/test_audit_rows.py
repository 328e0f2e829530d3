"""The audit trail's rows: a write's row comes from the event it stages and the ambient actor;
a read names each household once; an export's households come from its household_id column;
the SQL that inserts a write's row numbers its parameters after the statement's others."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from gayari_reporting.domain.tables import Column, Table, households_of
from gayari_shared.audit import Actor, act_as, audited_cte, current_actor, read_row, reset_actor
from gayari_shared.audit.trail import NOBODY, households_in, write_row
from gayari_shared.events.contracts import BudgetAllocatedV1, HouseholdEnrolledV1
from gayari_shared.events.factory import envelope_for


def test_a_writes_row_names_the_actor_the_event_and_its_household() -> None:
    household_id = uuid.uuid4()
    event = HouseholdEnrolledV1(
        household_id=household_id,
        cohort_year=2026,
        enrolling_agency="dinsos",
        enrolled_at=datetime.now(UTC),
    )
    envelope = envelope_for(event, source="/gayari/registry", correlation_id="c-1")
    token = act_as(Actor("0123456789ab", "dinsos"))
    try:
        row = write_row(envelope)
    finally:
        reset_actor(token)
    assert row == ("0123456789ab", "dinsos", "write", event.TYPE, [household_id], "c-1")
    assert current_actor() == NOBODY  # the actor does not outlive its context


def test_an_agencys_own_record_names_no_household() -> None:
    event = BudgetAllocatedV1(
        allocation_id=uuid.uuid4(),
        agency="dispar",
        fiscal_year=2026,
        amount_idr=10_000_000,
        allocated_at=datetime.now(UTC),
    )
    envelope = envelope_for(event, source="/gayari/agencies/dispar", correlation_id="c-2")
    assert envelope.subject.startswith("agency:")
    row = write_row(envelope, Actor("kafka:gayari.intake.dispar", "dispar"))
    assert row.household_ids == [] and row.key_id == "kafka:gayari.intake.dispar"


def test_a_read_names_each_household_once_in_order() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    row = read_row("read:unserved", [a, b, a], "c-3", Actor("0123456789ab", None))
    assert row.household_ids == [a, b] and row.access == "read" and row.agency is None


def test_an_exports_households_come_from_its_household_id_column() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    listing = Table(
        "unserved",
        [Column("village_code", "text"), Column("household_id", "text"), Column("on", "date")],
        [["62.09", str(a), date(2026, 1, 1)], ["62.09", str(b), None]],
    )
    assert households_of(listing) == [a, b]
    figures = Table("summary", [Column("households", "count")], [[12]])
    assert households_of(figures) == []


def test_the_audit_cte_takes_its_parameters_from_where_it_is_told() -> None:
    sql = audited_cte(8, "staged")
    assert "$8, $9, $10, $11, $12::uuid[], $13 FROM staged" in sql
    assert "$7" not in sql and "$14" not in sql


def test_a_stored_response_names_the_household_it_holds() -> None:
    household, record = uuid.uuid4(), uuid.uuid4()
    view = f'{{"id": "{household}", "kk": "6209010000000001", "members": []}}'.encode()
    grant = f'{{"id": "{record}", "household_id": "{household}"}}'.encode()
    assert households_in(view) == [household]
    assert households_in(grant) == [household]
    assert households_in(f'{{"id": "{record}", "agency": "dispar"}}'.encode()) == []  # a budget
    assert households_in(b"[1, 2]") == [] and households_in(b"not json") == []
    assert households_in(b'{"household_id": "not-a-uuid"}') == []
