"""Pre-aggregated figures (tallies) kept beside the fact tables, so that a report for the whole
country, a province, a regency or a district reads a few hundred rows instead of every record.

Three tallies, each per area at four levels (country '', province, regency, district; a village
is small enough to be counted from the facts):
- `tally_records`: live records by agency, kind, fiscal year and month (count and IDR);
- `tally_households`: households registered, enrolled and exited by month (exits by reason), and
  enrolled households by decile movement;
- `tally_reach`: households reached, by the set of agencies that reached them and the set that
  gave them a grant, whether enrolled, and period: all time, a fiscal year, a month, or both.
  Distinct households are not additive, so each household counts once per period, with the
  agencies it had in that period.

How they stay right whatever arrives in whatever order, and under replay: a tally is never
incremented by an event. A batch first takes the whole contribution of every household it
touches, computed from the fact tables as they were (`retract`), writes its facts, then adds
each household's contribution computed afresh (`contribute`), and applies the net difference
in one ordered upsert (`contribute`). The contribution is a pure function of the facts, the same
SQL builds the tallies from scratch (`rebuild`), and a test compares both against the plain
queries. A household's events all travel on the same partition index of every topic, so the
batches that touch one household are serialised by `lock_partitions`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Final

from gayari_reporting.adapters import household_rows, income_pairs, zone_sql
from gayari_reporting.domain.batch import BatchWrites
from gayari_shared.postgres import Connection, in_uuid_order

# A rebuild reads every fact, for a time that grows with the programme: far beyond the pool's
# command timeout (which is meant for requests).
REBUILD_TIMEOUT_S: Final = 6 * 3600.0

# The area levels kept (code lengths); villages are counted from the facts.
LEVELS: Final = (0, 2, 5, 8)


def _month(moment: str) -> str:
    """The first day of the month of a timestamp (a wall-clock time, `_local`) or a date.
    date_trunc of a plain timestamp: of a date or a timestamptz, it would go through the
    session's time zone, which costs a zone lookup per row."""
    return f"date_trunc('month', {moment})::date"


# Each household's zone is worked out once, in `st` (a CASE per household, not per date: as
# cheap as one constant zone for every household). A grant's is read from household_state by
# its key, not joined to `st`: a CTE has no statistics, and a batch's plan could misjudge that
# join badly (docs/performance.md). A grant of a household not known yet counts in Lamandau's.
_GRANT_ZONE: Final = zone_sql.zone("hz.village_code")


def _local(column: str, zone: str = "st.zone") -> str:
    """A household's moment in its zone, as a wall-clock time."""
    return zone_sql.local_in(column, zone)


def _sources(scoped: bool) -> str:
    """CTEs over the facts of the households in $1 (of every household unless `scoped`):
    `st` their state with their district ('' where the village is not known) and zone, `rec`
    their live records, `srv` the live business surveys of those not registered, `reach` each
    household's agencies (a bit per agency, tally_agencies) per period."""
    # `= ANY(array)`: the planner sizes the array and probes each table's household index.
    only = "household_id = ANY($1::uuid[])"
    join = f"WHERE x.{only}" if scoped else "WHERE TRUE"
    # Surveys count only while their household is not registered (waiting records): a batch
    # reads the surveys of those households alone.
    unregistered = (
        """x.household_id IN (SELECT u FROM unnest($1::uuid[]) AS u
                              EXCEPT ALL SELECT household_id FROM st
                                         WHERE registered_at IS NOT NULL)"""
        if scoped
        else """NOT EXISTS (SELECT 1 FROM household_state h WHERE h.household_id = x.household_id
                              AND h.registered_at IS NOT NULL)"""
    )
    # A grant's day in the zone of its household's village (Lamandau's where not known yet).
    grant_day = f"{_local('x.issued_at', _GRANT_ZONE)}::date"
    return f"""
    WITH
    st AS (
      SELECT h.household_id, coalesce(left(h.village_code, 8), '') AS district,
             h.village_code, h.registered_at, h.enrolled_at, h.exited_at, h.exit_reason,
             h.initial_decile, h.welfare_decile, {zone_sql.zone("h.village_code")} AS zone
      FROM household_state h {"WHERE h." + only if scoped else ""}),
    rec AS (
      SELECT x.household_id, x.grant_id AS id, x.agency, 'grant-' || x.kind AS kind,
             x.amount_idr AS idr,
             coalesce(x.fiscal_year, extract(year FROM {grant_day})::int) AS fiscal_year,
             {_month(_local("x.issued_at", _GRANT_ZONE))} AS month,
             {grant_day} AS day
      FROM grants x LEFT JOIN household_state hz ON hz.household_id = x.household_id {join}
      AND NOT EXISTS (SELECT 1 FROM voids v
                        WHERE v.intervention_type = 'grant' AND v.intervention_id = x.grant_id)
      UNION ALL
      SELECT x.household_id, x.completion_id, x.agency, 'training', 0::bigint,
             extract(year FROM x.completed_on)::int, {_month("x.completed_on::timestamp")},
             x.completed_on
      FROM training_completions x {join}
      AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'training-completion'
                        AND v.intervention_id = x.completion_id)
      UNION ALL
      SELECT x.household_id, x.visit_id, x.agency, 'mentoring', 0::bigint,
             extract(year FROM x.visited_on)::int, {_month("x.visited_on::timestamp")},
             x.visited_on
      FROM mentoring_visits x {join}
      AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'mentoring-visit'
                        AND v.intervention_id = x.visit_id)),
    srv AS (
      SELECT x.household_id FROM business_surveys x WHERE {unregistered}
      AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'business-survey'
                        AND v.intervention_id = x.survey_id)),
    reach AS (
      SELECT r.household_id, p.fiscal_year, p.month,
             bit_or(1::bigint << a.bit) AS agencies,
             coalesce(bit_or(1::bigint << a.bit) FILTER (WHERE r.kind LIKE 'grant-%'), 0)
               AS granted
      FROM rec r JOIN tally_agencies a USING (agency)
      CROSS JOIN LATERAL (VALUES (NULL::int, NULL::date), (r.fiscal_year, NULL),
                                 (NULL, r.month), (r.fiscal_year, r.month))
                         AS p(fiscal_year, month)
      GROUP BY r.household_id, p.fiscal_year, p.month)
    """


# A district's rows counted once more for its regency, its province and the country: grouping
# by district first keeps the sort small, and a household is in one district only.
_LEVELS = """CROSS JOIN LATERAL unnest(
        CASE WHEN d.district = '' THEN ARRAY['']
             ELSE ARRAY['', left(d.district, 2), left(d.district, 5), d.district] END)
      AS lv(area)"""


# Each tally's rows from the CTEs above: its key columns, then its values. `sign` is spliced
# in as a literal (1 or -1).
def _records(sign: int) -> str:
    return f"""
      SELECT lv.area, d.agency, d.kind, d.fiscal_year, d.month,
             ({sign} * sum(d.n))::bigint AS n, ({sign} * sum(d.idr))::bigint AS idr
      FROM (SELECT coalesce(st.district, '') AS district, r.agency, r.kind, r.fiscal_year,
                   r.month, count(*) AS n, sum(r.idr) AS idr
            FROM rec r LEFT JOIN st USING (household_id)
            GROUP BY 1, 2, 3, 4, 5) AS d
      {_LEVELS}
      GROUP BY 1, 2, 3, 4, 5"""


def _households(sign: int) -> str:
    return f"""
      SELECT lv.area, d.event, d.month, d.reason, d.initial_decile, d.welfare_decile,
             ({sign} * sum(d.n))::bigint AS n
      FROM (SELECT st.district, e.event, e.month, e.reason, e.initial_decile,
                   e.welfare_decile, count(*) AS n
            FROM st CROSS JOIN LATERAL (VALUES
              ('registered', st.registered_at IS NOT NULL,
               {_month(_local("st.registered_at"))}, NULL::text, NULL::smallint, NULL::smallint),
              ('enrolled', st.enrolled_at IS NOT NULL,
               {_month(_local("st.enrolled_at"))}, NULL, NULL, NULL),
              ('exited', st.exited_at IS NOT NULL,
               {_month(_local("st.exited_at"))}, st.exit_reason, NULL, NULL),
              ('deciles', st.enrolled_at IS NOT NULL AND st.initial_decile IS NOT NULL
                          AND st.welfare_decile IS NOT NULL,
               NULL, NULL, st.initial_decile, st.welfare_decile))
              AS e(event, present, month, reason, initial_decile, welfare_decile)
            WHERE e.present
            GROUP BY 1, 2, 3, 4, 5, 6) AS d
      {_LEVELS}
      GROUP BY 1, 2, 3, 4, 5, 6"""


def _reach(sign: int) -> str:
    return f"""
      SELECT lv.area, d.fiscal_year, d.month, d.agencies, d.granted, d.enrolled,
             ({sign} * sum(d.n))::bigint AS n
      FROM (SELECT coalesce(st.district, '') AS district, x.fiscal_year, x.month,
                   x.agencies, x.granted, coalesce(st.enrolled_at IS NOT NULL, false) AS enrolled,
                   count(*) AS n
            FROM reach x LEFT JOIN st USING (household_id)
            GROUP BY 1, 2, 3, 4, 5, 6) AS d
      {_LEVELS}
      GROUP BY 1, 2, 3, 4, 5, 6"""


def _into_deltas(sign: int, agencies: str = "") -> str:
    """One statement: every contribution of the households in $1, times `sign`."""
    return f"""{_sources(scoped=True)},{agencies}
    r AS (INSERT INTO tally_deltas (backend, tally, area, agency, kind, fiscal_year, month, n, idr)
          SELECT pg_backend_pid(), 'r', * FROM ({_records(sign)}) AS x),
    h AS (INSERT INTO tally_deltas (backend, tally, area, event, month, reason, initial_decile,
                                    welfare_decile, n, idr)
          SELECT pg_backend_pid(), 'h', *, 0 FROM ({_households(sign)}) AS x)
    INSERT INTO tally_deltas (backend, tally, area, fiscal_year, month, agencies, granted,
                              enrolled, n, idr)
    SELECT pg_backend_pid(), 'a', *, 0 FROM ({_reach(sign)}) AS x"""


# An agency seen for the first time gets the next bit; only the batch's records can bring one,
# and they are counted by the statement after this one, which sees it.
_NEW_AGENCIES = """
    known AS (INSERT INTO tally_agencies (agency)
              SELECT DISTINCT a FROM unnest($2::text[]) AS a
              WHERE NOT EXISTS (SELECT 1 FROM tally_agencies k WHERE k.agency = a)
              ORDER BY a
              ON CONFLICT DO NOTHING),"""
_ALL_AGENCIES = """
    INSERT INTO tally_agencies (agency)
    SELECT DISTINCT a FROM (SELECT agency FROM grants UNION SELECT agency FROM training_completions
                            UNION SELECT agency FROM mentoring_visits) AS f(a)
    WHERE NOT EXISTS (SELECT 1 FROM tally_agencies k WHERE k.agency = f.a)
    ORDER BY a
    ON CONFLICT DO NOTHING;"""


RETRACT: Final = _into_deltas(-1, _NEW_AGENCIES)

# The upserts, in key order so that two writers adding to the same rows queue rather than
# deadlock; a key whose changes cancel out is not written at all.
_UPSERT_RECORDS: Final = """
    INSERT INTO tally_records AS t (level, area, agency, kind, fiscal_year, month, records, idr)
    SELECT length(area), area, agency, kind, fiscal_year, month, sum(n), sum(idr) FROM {rows}
    GROUP BY area, agency, kind, fiscal_year, month
    HAVING sum(n) <> 0 OR sum(idr) <> 0
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (level, area, agency, kind, fiscal_year, month) DO UPDATE
    SET records = t.records + excluded.records, idr = t.idr + excluded.idr"""
_UPSERT_HOUSEHOLDS: Final = """
    INSERT INTO tally_households AS t (level, area, event, month, reason, initial_decile,
                                       welfare_decile, households)
    SELECT length(area), area, event, month, reason, initial_decile, welfare_decile, sum(n)
    FROM {rows}
    GROUP BY area, event, month, reason, initial_decile, welfare_decile
    HAVING sum(n) <> 0
    ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (level, area, event, month, reason, initial_decile, welfare_decile) DO UPDATE
    SET households = t.households + excluded.households"""
_UPSERT_REACH: Final = """
    INSERT INTO tally_reach AS t (level, area, fiscal_year, month, agencies, granted, enrolled,
                                  households)
    SELECT length(area), area, fiscal_year, month, agencies, granted, enrolled, sum(n)
    FROM {rows}
    GROUP BY area, fiscal_year, month, agencies, granted, enrolled
    HAVING sum(n) <> 0
    ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (level, area, fiscal_year, month, agencies, granted, enrolled) DO UPDATE
    SET households = t.households + excluded.households"""

# The households' new contribution plus what RETRACT left in tally_deltas, netted per key.
CONTRIBUTE: Final = f"""{_sources(scoped=True)},{household_rows.REFRESH}
    d AS (DELETE FROM tally_deltas WHERE backend = pg_backend_pid() RETURNING *),
    rr AS (SELECT area, agency, kind, fiscal_year, month, n, idr FROM d WHERE tally = 'r'
           UNION ALL {_records(1)}),
    hh AS (SELECT area, event, month, reason, initial_decile, welfare_decile, n
           FROM d WHERE tally = 'h'
           UNION ALL {_households(1)}),
    aa AS (SELECT area, fiscal_year, month, agencies, granted, enrolled, n FROM d WHERE tally = 'a'
           UNION ALL {_reach(1)}),
    r AS ({_UPSERT_RECORDS.format(rows="rr")}),
    h AS ({_UPSERT_HOUSEHOLDS.format(rows="hh")})
    {_UPSERT_REACH.format(rows="aa")}"""


def rebuild_sql(tables: tuple[str, ...] = household_rows.TABLES) -> str:
    """The tallies and these derived tables, from scratch (a migration names the tables that
    existed when it ran)."""
    emptied = ", ".join(household_rows.emptied(tables))
    return f"""
    TRUNCATE tally_records, tally_households, tally_reach, {emptied};
    {_ALL_AGENCIES}
    {_sources(scoped=False)},{household_rows.fill(tables)}
    r AS ({_UPSERT_RECORDS.format(rows=f"({_records(1)}) AS x")}),
    h AS ({_UPSERT_HOUSEHOLDS.format(rows=f"({_households(1)}) AS x")})
    {_UPSERT_REACH.format(rows=f"({_reach(1)}) AS x")}"""


REBUILD: Final = rebuild_sql()


_RECORD_TABLES: Final = {
    "grant": ("grants", "grant_id"),
    "training-completion": ("training_completions", "completion_id"),
    "mentoring-visit": ("mentoring_visits", "visit_id"),
    "business-survey": ("business_surveys", "survey_id"),
}


async def voided_households(conn: Connection, writes: BatchWrites) -> set[uuid.UUID]:
    """The households of the records this batch voids, where those records are known already
    (a record that arrives after its void is touched by its own batch)."""
    by_type: dict[str, list[uuid.UUID]] = {}
    for void in writes.voids.values():
        if void.intervention_type in _RECORD_TABLES:
            by_type.setdefault(void.intervention_type, []).append(void.intervention_id)
    if not by_type:
        return set()
    parts = []
    args: list[list[uuid.UUID]] = []
    for kind, ids in sorted(by_type.items()):
        table, key = _RECORD_TABLES[kind]
        args.append(ids)
        parts.append(f"SELECT household_id FROM {table} WHERE {key} = ANY(${len(args)}::uuid[])")
    rows = await conn.fetch(" UNION ".join(parts), *args)
    return {r["household_id"] for r in rows}


async def lock_partitions(conn: Connection, scope: str, partitions: Iterable[int]) -> None:
    """Serialise the batches of one partition index across topics (within one generation and
    group: `scope`). The offsets row lock covers one topic's partition only; a household's
    registration and its records arrive on the same index of two topics, and two owners of
    those (a rebalance in flight) must not both retract the household's old contribution."""
    indexes = sorted(set(partitions))
    if indexes:
        await conn.execute(
            """SELECT pg_advisory_xact_lock(hashtext($1), p)
               FROM unnest($2::int[]) AS p ORDER BY p""",
            scope,
            indexes,
        )


async def retract(
    conn: Connection, households: Collection[uuid.UUID], agencies: Collection[str]
) -> None:
    if households:
        await conn.execute(RETRACT, in_uuid_order(households), sorted(agencies))


async def contribute(conn: Connection, households: Collection[uuid.UUID]) -> None:
    if households:
        await conn.execute(CONTRIBUTE, in_uuid_order(households))


async def rebuild(conn: Connection) -> None:
    """Every tally from the facts (the caller holds the generation: no batch runs meanwhile)."""
    await conn.execute(REBUILD, timeout=REBUILD_TIMEOUT_S)
    await conn.execute(income_pairs.REBUILD, timeout=REBUILD_TIMEOUT_S)


TABLES: Final = (
    "tally_records",
    "tally_households",
    "tally_reach",
    *household_rows.TABLES,
    "tally_contacts",
    *income_pairs.TABLES,
)
_KEPT: Final = {
    "tally_records": "records <> 0 OR idr <> 0",
    "tally_households": "households <> 0",
    "tally_reach": "households <> 0",
    **{table: "TRUE" for table in household_rows.TABLES},
    "tally_contacts": "households <> 0",
    **income_pairs.KEPT,
}


async def drift(conn: Connection) -> dict[str, int]:
    """How many rows of each tally differ from a rebuild from the facts (0 everywhere when the
    tallies are right). Runs in a savepoint that is rolled back, and locks the tallies while it
    runs; the caller has entered the generation."""
    savepoint = conn.transaction()
    await savepoint.start()
    try:
        for table, nonzero in _KEPT.items():
            await conn.execute(
                f"CREATE TEMP TABLE kept_{table} ON COMMIT DROP AS "
                f"SELECT * FROM {table} WHERE {nonzero}"
            )
        await rebuild(conn)
        return {
            table: int(
                await conn.fetchval(
                    f"""SELECT count(*) FROM (
                          (TABLE kept_{table} EXCEPT ALL TABLE {table})
                          UNION ALL (TABLE {table} EXCEPT ALL TABLE kept_{table})) AS d"""
                )
            )
            for table in _KEPT
        }
    finally:
        await savepoint.rollback()
