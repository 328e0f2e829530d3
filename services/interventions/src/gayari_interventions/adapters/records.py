"""Reading the agencies' records back (see domain/records.py): one statement per page, keyset
paged on (changed_at, id), the record's intake id and void joined in."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

from gayari_interventions.domain.records import (
    RECORD_MODELS,
    ListedKind,
    RecordFilter,
    StoredRecord,
)
from gayari_shared.areas.zones import zone_case_sql
from gayari_shared.postgres import Connection


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: str  # the record's own fields, as its model names them
    day: str  # the record's date, for date_from / date_to
    household: bool
    join: str = ""  # what `day` reads beside the record


# A grant's day is in the zone of its household's province (the household `k`), as interventions
# judged it; a budget allocation names no household: Lamandau's (WIB).
_GRANT_DAY = f"(r.issued_at AT TIME ZONE {zone_case_sql('k.village_code')})::date"
_TABLES: Final[dict[ListedKind, _Table]] = {
    "grant": _Table(
        "grants",
        # Grants of the first version had no purpose or fiscal year.
        "r.id, r.household_id, r.agency, r.kind, r.amount_idr, coalesce(r.purpose, '') AS purpose,"
        f" coalesce(r.fiscal_year, extract(year FROM {_GRANT_DAY}))::int"
        " AS fiscal_year, r.budget_line, r.issued_at",
        _GRANT_DAY,
        True,
        "LEFT JOIN known_households k ON k.household_id = r.household_id",
    ),
    "training-session": _Table(
        "training_sessions",
        "r.id, r.agency, r.topic, r.starts_on, r.ends_on, r.hours, r.place, r.recorded_at",
        "r.starts_on",
        False,
    ),
    "mentoring-visit": _Table(
        "mentoring_visits",
        "r.id, r.household_id, r.agency, r.visited_on, r.business_status, r.notes, r.recorded_at",
        "r.visited_on",
        True,
    ),
    "business-survey": _Table(
        "business_surveys",
        "r.id, r.household_id, r.agency, r.surveyed_on, r.monthly_income_idr, r.workers,"
        " r.recorded_at",
        "r.surveyed_on",
        True,
    ),
    "budget-allocation": _Table(
        "budget_allocations",
        "r.id, r.agency, r.fiscal_year, r.amount_idr, r.budget_line, r.allocated_at",
        "(r.allocated_at AT TIME ZONE 'Asia/Jakarta')::date",
        False,
    ),
}


def _query(kind: ListedKind, f: RecordFilter, record_id: uuid.UUID | None) -> tuple[str, list[Any]]:
    """The page's statement and its arguments. Only the filters given become conditions, so
    that each combination gets a plan that uses the index fitting it."""
    table = _TABLES[kind]
    conditions: list[str] = []
    args: list[Any] = []

    def where(template: str, *values: Any) -> None:
        numbers = [f"${len(args) + n}" for n in range(1, len(values) + 1)]
        conditions.append(template.format(*numbers))
        args.extend(values)

    if record_id is not None:
        where("r.id = {}", record_id)
    if f.agency is not None:
        where("r.agency = {}", f.agency)
    if f.household_id is not None and table.household:
        where("r.household_id = {}", f.household_id)
    if f.date_from is not None:
        where(f"{table.day} >= {{}}", f.date_from)
    if f.date_to is not None:
        where(f"{table.day} <= {{}}", f.date_to)
    if f.changed_since is not None:
        where("r.changed_at >= {}", f.changed_since)
    if f.external_id is not None:
        where("i.event_id = {}", f.external_id)
    if f.after is not None:
        where("(r.changed_at, r.id) > ({}, {})", f.after.changed_at, f.after.id)
    args.append(f.limit + 1)  # one more than the page: is there a next one?
    return (
        f"""SELECT {table.columns}, r.changed_at, i.event_id AS external_id,
               v.id AS void_id, v.reason AS void_reason, v.voided_at
            FROM {table.name} r {table.join}
            LEFT JOIN intake_receipts i
                   ON i.intervention_type = '{kind}' AND i.intervention_id = r.id
            LEFT JOIN voids v ON v.intervention_type = '{kind}' AND v.intervention_id = r.id
            {"WHERE " + " AND ".join(conditions) if conditions else ""}
            ORDER BY r.changed_at, r.id
            LIMIT ${len(args)}""",
        args,
    )


async def read_records(
    conn: Connection, kind: ListedKind, f: RecordFilter, record_id: uuid.UUID | None = None
) -> list[StoredRecord]:
    """Up to `f.limit + 1` records (one more than a page), in keyset order."""
    query, args = _query(kind, f, record_id)
    rows = [dict(row) for row in await conn.fetch(query, *args)]
    if kind == "grant" and rows:
        items = await _grant_items(conn, [row["id"] for row in rows])
        for row in rows:
            row["items"] = items.get(row["id"], [])
    model = RECORD_MODELS[kind]
    records = []
    for row in rows:
        void_id, reason, voided_at = (
            row.pop("void_id"),
            row.pop("void_reason"),
            row.pop("voided_at"),
        )
        row["void"] = (
            None if void_id is None else {"id": void_id, "reason": reason, "voided_at": voided_at}
        )
        records.append(model.model_validate(row))
    return records


async def _grant_items(
    conn: Connection, grant_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    rows = await conn.fetch(
        """SELECT grant_id, description, quantity, unit, unit_value_idr FROM grant_items
           WHERE grant_id = ANY($1::uuid[]) ORDER BY grant_id, line""",
        grant_ids,
    )
    items: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        item = dict(row)
        items[item.pop("grant_id")].append(item)
    return items
