"""The rows a batch writes: the fact tables, the household state and the refused events, each
table's columns in one place beside the statement that writes them.

A batch is written set-based: folded in memory (domain/batch.py), then one statement per table
with the rows as arrays (`unnest`), so a batch of thousands of events costs a dozen round trips,
not thousands. Facts are keyed by their own ids: the outbox relays deliver at least once, so the
same event may sit at two offsets.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final

from gayari_reporting.domain.batch import BatchWrites, HouseholdState
from gayari_shared.postgres import Connection


@dataclass(frozen=True, slots=True)
class FactTable:
    """A fact table keyed by the record's own id; columns are the fact's fields, in order."""

    name: str
    key: str
    columns: tuple[tuple[str, str], ...]  # (column, PostgreSQL type)
    also_replace_when: str = ""

    @property
    def upsert(self) -> str:
        names = [c for c, _ in self.columns]
        keys = {k.strip() for k in self.key.split(",")}
        arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(self.columns, start=1))
        # Two events claiming one id (a producer bug, or a record re-sent under a new event id)
        # must not leave whichever came first: the least event id wins, in any order. The same
        # event again compares equal and changes nothing.
        replaced = [c for c in names if c not in keys]
        return (
            f"INSERT INTO {self.name} AS t ({', '.join(names)}) "
            f"SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({self.key}) DO UPDATE SET ({', '.join(replaced)}) = "
            f"ROW({', '.join('excluded.' + c for c in replaced)}) "
            f"WHERE excluded.event_id < t.event_id{self.also_replace_when}"
        )

    @property
    def row(self) -> Callable[[Any], tuple[Any, ...]]:
        return attrgetter(*(c for c, _ in self.columns))


GRANTS: Final = FactTable(
    "grants",
    "grant_id",
    (
        ("grant_id", "uuid"),
        ("household_id", "uuid"),
        ("agency", "text"),
        ("kind", "text"),
        ("amount_idr", "bigint"),
        ("issued_at", "timestamptz"),
        ("event_id", "uuid"),
        ("fiscal_year", "int"),
    ),
    # A grant projected before this column existed has none: its replay fills it.
    also_replace_when=" OR t.fiscal_year IS NULL",
)
TRAININGS: Final = FactTable(
    "training_completions",
    "completion_id",
    (
        ("completion_id", "uuid"),
        ("household_id", "uuid"),
        ("agency", "text"),
        ("topic", "text"),
        ("hours", "int"),
        ("completed_on", "date"),
        ("event_id", "uuid"),
    ),
)
VISITS: Final = FactTable(
    "mentoring_visits",
    "visit_id",
    (
        ("visit_id", "uuid"),
        ("household_id", "uuid"),
        ("agency", "text"),
        ("visited_on", "date"),
        ("business_status", "text"),
        ("event_id", "uuid"),
    ),
)
SURVEYS: Final = FactTable(
    "business_surveys",
    "survey_id",
    (
        ("survey_id", "uuid"),
        ("household_id", "uuid"),
        ("agency", "text"),
        ("surveyed_on", "date"),
        ("monthly_income_idr", "bigint"),
        ("workers", "int"),
        ("recorded_at", "timestamptz"),
        ("event_id", "uuid"),
    ),
)
BUDGETS: Final = FactTable(
    "budget_allocations",
    "allocation_id",
    (
        ("allocation_id", "uuid"),
        ("agency", "text"),
        ("fiscal_year", "int"),
        ("amount_idr", "bigint"),
        ("allocated_at", "timestamptz"),
        ("event_id", "uuid"),
    ),
)
VOIDS: Final = FactTable(
    "voids",
    "intervention_type, intervention_id",
    (
        ("intervention_type", "text"),
        ("intervention_id", "uuid"),
        ("agency", "text"),
        ("voided_at", "timestamptz"),
        ("event_id", "uuid"),
    ),
)


def columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to one list per column: what `unnest` takes."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


@dataclass(frozen=True, slots=True)
class _Guarded:
    """Fields of household_state that one kind of event sets, with the (time, event id) pair
    that decides which event's values stand: the later one, or for what happens once
    (registration, enrolment) the earlier one."""

    group: str  # its field of domain.batch.HouseholdState: (values, time, event id)
    values: tuple[tuple[str, str], ...]  # (column, PostgreSQL type)
    at: str
    event: str
    later: bool

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return ((self.at, "timestamptz"), (self.event, "uuid"), *self.values)

    def assignments(self) -> str:
        """SET clauses taking the group's fields from the new row if it wins on (time, event).
        PostgreSQL evaluates every SET expression against the old row, so updating the pair in
        the statement that reads it is safe."""
        at, event = self.at, self.event
        wins = (
            f"excluded.{at} IS NOT NULL AND (s.{at} IS NULL OR "
            f"(excluded.{at}, excluded.{event}) {'>' if self.later else '<'} (s.{at}, s.{event}))"
        )
        return ",\n".join(
            f"{c} = CASE WHEN {wins} THEN excluded.{c} ELSE s.{c} END"
            for c in (*(name for name, _ in self.values), at, event)
        )


_STATE: Final = (
    _Guarded(
        "registered",
        (("initial_decile", "smallint"),),
        "registered_at",
        "registration_event",
        later=False,
    ),
    _Guarded("village", (("village_code", "text"),), "village_at", "village_event", later=True),
    _Guarded("decile", (("welfare_decile", "smallint"),), "decile_at", "decile_event", later=True),
    _Guarded(
        "enrolled",
        (("cohort_year", "int"), ("enrolling_agency", "text")),
        "enrolled_at",
        "enrol_event",
        later=False,
    ),
    _Guarded("exited", (("exit_reason", "text"),), "exited_at", "exit_event", later=True),
)
# household_state's columns in the order of the upsert's arrays and of `state_row`.
STATE_COLUMNS: Final = (("household_id", "uuid"), *(c for g in _STATE for c in g.columns))

# One row per household per statement (domain/batch.py folds a batch first): an upsert may not
# touch a row twice.
_STATE_NAMES: Final = ", ".join(c for c, _ in STATE_COLUMNS)
_STATE_ARRAYS: Final = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(STATE_COLUMNS, start=1))
_STATE_ASSIGNMENTS: Final = ",\n".join(g.assignments() for g in _STATE)
STATE_UPSERT: Final = f"""
    INSERT INTO household_state AS s ({_STATE_NAMES})
    SELECT * FROM unnest({_STATE_ARRAYS})
    ON CONFLICT (household_id) DO UPDATE SET
    {_STATE_ASSIGNMENTS}
"""
_GROUPS: Final = attrgetter(*(g.group for g in _STATE))
_UNSAID: Final = tuple((None,) * len(g.columns) for g in _STATE)


def state_row(household_id: uuid.UUID, state: HouseholdState) -> tuple[Any, ...]:
    """A folded household state as a row of STATE_COLUMNS (NULL for what the batch does not
    say: the upsert keeps the stored values there)."""
    row: list[Any] = [household_id]
    for group, unsaid in zip(_GROUPS(state), _UNSAID, strict=True):
        if group is None:
            row += unsaid
        else:
            row += (group[1], group[2], *group[0])  # time, event id, values
    return tuple(row)


_REJECTED: Final = """
    INSERT INTO rejected_events (topic, partition, "offset", reason)
    SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[])
    ON CONFLICT DO NOTHING"""


async def write(
    conn: Connection, writes: BatchWrites, rejected: Sequence[tuple[str, int, int, str]]
) -> None:
    """One statement per table that has rows in this batch."""
    for table, facts in (
        (GRANTS, writes.grants.values()),
        (TRAININGS, writes.trainings.values()),
        (VISITS, writes.visits.values()),
        (SURVEYS, writes.surveys.values()),
        (BUDGETS, writes.budgets.values()),
        (VOIDS, writes.voids.values()),
    ):
        if facts:
            row = table.row
            await conn.execute(table.upsert, *columns([row(f) for f in facts], len(table.columns)))
    if writes.states:
        rows = [state_row(household, state) for household, state in writes.states.items()]
        await conn.execute(STATE_UPSERT, *columns(rows, len(STATE_COLUMNS)))
    if rejected:
        await conn.execute(_REJECTED, *columns(rejected, 4))
