"""The areas report: the figures of an area's children (of a village itself)."""

from __future__ import annotations

from gayari_reporting.adapters.reports.facts import (
    FactSql,
    local_day,
)
from gayari_reporting.adapters.reports.snapshots import Snapshots
from gayari_reporting.adapters.reports.tally_rows import COUNTED, HOUSEHOLD_COUNTS, TallySql
from gayari_reporting.adapters.tallies import LEVELS
from gayari_reporting.domain.areas import Area
from gayari_reporting.domain.filters import Filters
from gayari_reporting.domain.readmodels import (
    AreaFigures,
)
from gayari_shared.postgres import Connection


async def read(
    db: Snapshots, area: Area, child_length: int, filters: Filters
) -> dict[str, AreaFigures]:
    """Figures of the area's children (of the area itself for a village), by code."""
    scoped = Filters(
        agency=filters.agency,
        areas=(area.code,) if area.code else (),
        fiscal_year=filters.fiscal_year,
        month=filters.month,
    )
    by_code: dict[str, dict[str, int]] = {}
    tallied_scope = db.tallied(scoped)
    async with db.snapshot(filters.snapshot) as conn:
        if tallied_scope is not None and child_length in LEVELS:
            by_code = await _from_tallies(conn, tallied_scope, child_length, scoped)
        else:
            by_code = await _from_facts(conn, child_length, scoped)
    return {
        code: AreaFigures(code=code, name=code, level="village", **values)
        for code, values in by_code.items()
    }


async def _from_facts(
    conn: Connection, child_length: int, scoped: Filters
) -> dict[str, dict[str, int]]:
    by_code: dict[str, dict[str, int]] = {}
    q = FactSql()
    length = q(child_length)
    reg = q.period(scoped, local_day("h.registered_at"))
    enr = q.period(scoped, local_day("h.enrolled_at"))
    ex = q.period(scoped, local_day("h.exited_at"))
    rows = await conn.fetch(
        f"""SELECT left(h.village_code, {length}) AS code,
              count(*) FILTER (WHERE h.registered_at IS NOT NULL AND {reg})
                AS households_registered,
              count(*) FILTER (WHERE h.enrolled_at IS NOT NULL AND {enr})
                AS households_enrolled,
              count(*) FILTER (WHERE h.exited_at IS NOT NULL AND {ex})
                AS households_exited,
              count(*) FILTER (WHERE h.exit_reason = 'graduated' AND {ex})
                AS households_graduated
            FROM household_state h
            WHERE h.village_code IS NOT NULL AND {q.areas(scoped)}
            GROUP BY 1""",
        *q.params,
    )
    for r in rows:
        by_code.setdefault(r["code"], {}).update({k: int(v) for k, v in r.items() if k != "code"})
    q = FactSql()
    length = q(child_length)
    rows = await conn.fetch(
        f"""SELECT left(i.village_code, {length}) AS code,
              count(DISTINCT i.household_id) AS households_reached,
              count(*) AS interventions,
              coalesce(sum(i.amount_idr), 0) AS idr_disbursed,
              count(*) FILTER (WHERE i.kind = 'training') AS trainings_completed
            FROM {q.live(scoped, state=True)}
            WHERE i.village_code IS NOT NULL
            GROUP BY 1""",
        *q.params,
    )
    for r in rows:
        by_code.setdefault(r["code"], {}).update({k: int(v) for k, v in r.items() if k != "code"})
    return by_code


async def _from_tallies(
    conn: Connection, area: str, length: int, filters: Filters
) -> dict[str, dict[str, int]]:
    """The figures of the area's children at `length`, by code."""
    by_code: dict[str, dict[str, int]] = {}
    w = TallySql()
    rows = await conn.fetch(
        f"""SELECT area, {HOUSEHOLD_COUNTS} FROM tally_households
            WHERE {w.children(area, length)} AND {w.household_events(filters)}
            GROUP BY area""",
        *w.params,
    )
    for r in rows:
        by_code.setdefault(r["area"], {}).update({f"households_{k}": int(r[k]) for k in COUNTED})
    w = TallySql()
    rows = await conn.fetch(
        f"""SELECT area, sum(records) AS interventions, sum(idr) AS idr_disbursed,
              coalesce(sum(records) FILTER (WHERE kind = 'training'), 0) AS trainings_completed
            FROM tally_records WHERE {w.children(area, length)} AND {w.records(filters)}
            GROUP BY area HAVING sum(records) > 0""",
        *w.params,
    )
    for r in rows:
        by_code.setdefault(r["area"], {}).update({k: int(v) for k, v in r.items() if k != "area"})
    w = TallySql()
    rows = await conn.fetch(
        f"""SELECT area, sum(households) AS households_reached FROM tally_reach
            WHERE {w.children(area, length)} AND {w.reach(filters)}
            GROUP BY area HAVING sum(households) > 0""",
        *w.params,
    )
    for r in rows:
        by_code.setdefault(r["area"], {})["households_reached"] = int(r["households_reached"])
    return by_code
