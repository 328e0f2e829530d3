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
in one ordered upsert (`settle`). The contribution is a pure function of the facts, the same
SQL builds the tallies from scratch (`rebuild`), and a test compares both against the plain
queries. A household's events all travel on the same partition index of every topic, so the
batches that touch one household are serialised by `lock_partitions`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Final

from gayari_reporting.domain.batch import BatchWrites
from gayari_shared.postgres import Connection

# The area levels kept (code lengths); villages are counted from the facts.
LEVELS: Final = (0, 2, 5, 8)

TALLIES_MIGRATION: Final = """
    CREATE TABLE tally_records (
        level       smallint NOT NULL,
        area        text COLLATE "C" NOT NULL,
        agency      text NOT NULL,
        kind        text NOT NULL,
        fiscal_year int NOT NULL,
        month       date NOT NULL,
        records     bigint NOT NULL,
        idr         bigint NOT NULL,
        PRIMARY KEY (level, area, agency, kind, fiscal_year, month)
    );
    CREATE TABLE tally_households (
        level          smallint NOT NULL,
        area           text COLLATE "C" NOT NULL,
        event          text NOT NULL,
        month          date,
        reason         text,
        initial_decile smallint,
        welfare_decile smallint,
        households     bigint NOT NULL,
        UNIQUE NULLS NOT DISTINCT
            (level, area, event, month, reason, initial_decile, welfare_decile)
    );
    CREATE TABLE tally_reach (
        level       smallint NOT NULL,
        area        text COLLATE "C" NOT NULL,
        fiscal_year int,
        month       date,
        agencies    text[] NOT NULL,
        granted     text[] NOT NULL,
        enrolled    boolean NOT NULL,
        households  bigint NOT NULL,
        UNIQUE NULLS NOT DISTINCT
            (level, area, fiscal_year, month, agencies, granted, enrolled)
    );
    -- The net change of the transaction in hand, keyed by the backend writing it; never holds
    -- a row past a commit, so it need not survive a crash.
    CREATE UNLOGGED TABLE tally_deltas (
        backend        int NOT NULL,
        tally          "char" NOT NULL,
        area           text COLLATE "C" NOT NULL,
        agency         text,
        kind           text,
        fiscal_year    int,
        month          date,
        agencies       text[],
        granted        text[],
        enrolled       boolean,
        event          text,
        reason         text,
        initial_decile smallint,
        welfare_decile smallint,
        n              bigint NOT NULL,
        idr            bigint NOT NULL
    );
    CREATE INDEX tally_deltas_backend ON tally_deltas (backend);
"""


def _day(column: str) -> str:
    return f"({column} AT TIME ZONE 'Asia/Jakarta')::date"


def _month(day: str) -> str:
    return f"date_trunc('month', {day})::date"


def _sources(scoped: bool) -> str:
    """CTEs over the facts of the households in $1 (of every household unless `scoped`):
    `st` their state, `places` each household's areas, `rec` their live records, `reach` each
    household's agencies per period."""
    join = "JOIN t USING (household_id)" if scoped else ""
    t = "t AS (SELECT unnest($1::uuid[]) AS household_id)," if scoped else ""
    grant_day = _day("x.issued_at")
    return f"""
    WITH {t}
    st AS (
      SELECT h.household_id, h.village_code, h.registered_at, h.enrolled_at, h.exited_at,
             h.exit_reason, h.initial_decile, h.welfare_decile
      FROM household_state h {join}),
    places AS (
      SELECT st.household_id, a.area
      FROM st CROSS JOIN LATERAL unnest(
        CASE WHEN st.village_code IS NULL THEN ARRAY['']
             ELSE ARRAY['', left(st.village_code, 2), left(st.village_code, 5),
                        left(st.village_code, 8)] END) AS a(area)),
    rec AS (
      SELECT x.household_id, x.agency, 'grant-' || x.kind AS kind, x.amount_idr AS idr,
             coalesce(x.fiscal_year, extract(year FROM {grant_day})::int) AS fiscal_year,
             {_month(grant_day)} AS month
      FROM grants x {join}
      WHERE NOT EXISTS (SELECT 1 FROM voids v
                        WHERE v.intervention_type = 'grant' AND v.intervention_id = x.grant_id)
      UNION ALL
      SELECT x.household_id, x.agency, 'training', 0::bigint,
             extract(year FROM x.completed_on)::int, {_month("x.completed_on")}
      FROM training_completions x {join}
      WHERE NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'training-completion'
                        AND v.intervention_id = x.completion_id)
      UNION ALL
      SELECT x.household_id, x.agency, 'mentoring', 0::bigint,
             extract(year FROM x.visited_on)::int, {_month("x.visited_on")}
      FROM mentoring_visits x {join}
      WHERE NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'mentoring-visit'
                        AND v.intervention_id = x.visit_id)),
    reach AS (
      SELECT r.household_id, p.fiscal_year, p.month,
             array_agg(DISTINCT r.agency ORDER BY r.agency) AS agencies,
             coalesce(array_agg(DISTINCT r.agency ORDER BY r.agency)
                        FILTER (WHERE r.kind LIKE 'grant-%'), '{{}}') AS granted
      FROM rec r CROSS JOIN LATERAL (VALUES (NULL::int, NULL::date), (r.fiscal_year, NULL),
                                            (NULL, r.month), (r.fiscal_year, r.month))
                                    AS p(fiscal_year, month)
      GROUP BY r.household_id, p.fiscal_year, p.month)
    """


# Each tally's rows from the CTEs above: its key columns, then its values. `sign` is spliced
# in as a literal (1 or -1).
def _records(sign: int) -> str:
    return f"""
      SELECT coalesce(pl.area, '') AS area, r.agency, r.kind, r.fiscal_year, r.month,
             {sign} * count(*) AS n, {sign} * sum(r.idr) AS idr
      FROM rec r LEFT JOIN places pl USING (household_id)
      GROUP BY 1, 2, 3, 4, 5"""


def _households(sign: int) -> str:
    return f"""
      SELECT pl.area, e.event, e.month, e.reason, e.initial_decile, e.welfare_decile,
             {sign} * count(*) AS n
      FROM st JOIN places pl USING (household_id)
      CROSS JOIN LATERAL (VALUES
        ('registered', st.registered_at IS NOT NULL,
         {_month(_day("st.registered_at"))}, NULL::text, NULL::smallint, NULL::smallint),
        ('enrolled', st.enrolled_at IS NOT NULL,
         {_month(_day("st.enrolled_at"))}, NULL, NULL, NULL),
        ('exited', st.exited_at IS NOT NULL,
         {_month(_day("st.exited_at"))}, st.exit_reason, NULL, NULL),
        ('deciles', st.enrolled_at IS NOT NULL AND st.initial_decile IS NOT NULL
                    AND st.welfare_decile IS NOT NULL,
         NULL, NULL, st.initial_decile, st.welfare_decile))
        AS e(event, present, month, reason, initial_decile, welfare_decile)
      WHERE e.present
      GROUP BY 1, 2, 3, 4, 5, 6"""


def _reach(sign: int) -> str:
    return f"""
      SELECT coalesce(pl.area, '') AS area, x.fiscal_year, x.month, x.agencies, x.granted,
             coalesce(st.enrolled_at IS NOT NULL, false) AS enrolled, {sign} * count(*) AS n
      FROM reach x LEFT JOIN st USING (household_id) LEFT JOIN places pl USING (household_id)
      GROUP BY 1, 2, 3, 4, 5, 6"""


def _into_deltas(sign: int) -> str:
    """One statement: every contribution of the households in $1, times `sign`."""
    return f"""{_sources(scoped=True)},
    r AS (INSERT INTO tally_deltas (backend, tally, area, agency, kind, fiscal_year, month, n, idr)
          SELECT pg_backend_pid(), 'r', * FROM ({_records(sign)}) AS x),
    h AS (INSERT INTO tally_deltas (backend, tally, area, event, month, reason, initial_decile,
                                    welfare_decile, n, idr)
          SELECT pg_backend_pid(), 'h', *, 0 FROM ({_households(sign)}) AS x)
    INSERT INTO tally_deltas (backend, tally, area, fiscal_year, month, agencies, granted,
                              enrolled, n, idr)
    SELECT pg_backend_pid(), 'a', *, 0 FROM ({_reach(sign)}) AS x"""


RETRACT: Final = _into_deltas(-1)
CONTRIBUTE: Final = _into_deltas(1)

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

SETTLE: Final = f"""
    WITH d AS (DELETE FROM tally_deltas WHERE backend = pg_backend_pid() RETURNING *),
    r AS ({_UPSERT_RECORDS.format(rows="d WHERE tally = 'r'")}),
    h AS ({_UPSERT_HOUSEHOLDS.format(rows="d WHERE tally = 'h'")})
    {_UPSERT_REACH.format(rows="d WHERE tally = 'a'")}"""

# From scratch: every household's contribution straight into emptied tallies.
REBUILD: Final = f"""
    TRUNCATE tally_records, tally_households, tally_reach;
    {_sources(scoped=False)},
    r AS ({_UPSERT_RECORDS.format(rows=f"({_records(1)}) AS x")}),
    h AS ({_UPSERT_HOUSEHOLDS.format(rows=f"({_households(1)}) AS x")})
    {_UPSERT_REACH.format(rows=f"({_reach(1)}) AS x")}"""


def touched(writes: BatchWrites) -> set[uuid.UUID]:
    """The households whose contribution this batch may change (voids: see `voided_households`)."""
    households: set[uuid.UUID] = set(writes.states)
    households.update(f.household_id for f in writes.households.values())
    for facts in (writes.grants, writes.trainings, writes.visits):
        households.update(f.household_id for f in facts.values())
    return households


_RECORD_TABLES: Final = {
    "grant": ("grants", "grant_id"),
    "training-completion": ("training_completions", "completion_id"),
    "mentoring-visit": ("mentoring_visits", "visit_id"),
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


async def retract(conn: Connection, households: Collection[uuid.UUID]) -> None:
    if households:
        await conn.execute(RETRACT, sorted(households))


async def contribute(conn: Connection, households: Collection[uuid.UUID]) -> None:
    if households:
        await conn.execute(CONTRIBUTE, sorted(households))
        await conn.execute(SETTLE)


async def rebuild(conn: Connection) -> None:
    """Every tally from the facts (the caller holds the generation: no batch runs meanwhile)."""
    await conn.execute(REBUILD)


TABLES: Final = ("tally_records", "tally_households", "tally_reach")
_KEPT: Final = {
    "tally_records": "records <> 0 OR idr <> 0",
    "tally_households": "households <> 0",
    "tally_reach": "households <> 0",
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
