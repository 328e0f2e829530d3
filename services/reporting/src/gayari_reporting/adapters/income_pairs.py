"""The income change of the outcomes report, kept: each household's first and latest business
survey income (`income_pairs`, households surveyed twice or more), and a tally of them per area
and exact change (`tally_incomes`, at the tallies' levels). A country's mean, median and
up/down counts then read a few thousand rows (one per distinct change) instead of every survey.

A batch refreshes the pairs of the households whose surveys, survey voids or village it
carries: one statement deletes their rows that changed, inserts the new ones, and adds the
difference (the new rows less the deleted ones) to the tally, so the tally never needs a
separate retract. A
household's batches are serialised like the tallies' (tallies.lock_partitions).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Final

from gayari_shared.postgres import Connection, in_uuid_order

TABLES: Final = ("income_pairs", "tally_incomes")
KEPT: Final = {"income_pairs": "TRUE", "tally_incomes": "households <> 0"}


def _pairs(scoped: bool) -> str:
    """Each household's first and latest live survey income (survey_id breaks ties, so the
    order is total), with its district, for the households in $1 (all unless `scoped`)."""
    only = "WHERE x.household_id = ANY($1::uuid[]) AND" if scoped else "WHERE"
    return f"""
      SELECT s.household_id, coalesce(left(h.village_code, 8), '') COLLATE "C" AS district,
             (array_agg(s.monthly_income_idr
                        ORDER BY s.surveyed_on, s.recorded_at, s.survey_id))[1] AS first_idr,
             (array_agg(s.monthly_income_idr
                        ORDER BY s.surveyed_on DESC, s.recorded_at DESC, s.survey_id DESC))[1]
               AS latest_idr
      FROM (SELECT x.* FROM business_surveys x {only} NOT EXISTS (
              SELECT 1 FROM voids v WHERE v.intervention_type = 'business-survey'
                AND v.intervention_id = x.survey_id)) AS s
      LEFT JOIN household_state h USING (household_id)
      GROUP BY s.household_id, h.village_code
      HAVING count(*) >= 2"""


def _tally(rows: str) -> str:
    """Upsert the rows (district, change_idr, households, first_idr, latest_idr) into the
    tally, once per level, in key order (two writers queue rather than deadlock)."""
    return f"""
    INSERT INTO tally_incomes AS t (level, area, change_idr, households, first_idr, latest_idr)
    SELECT length(lv.area), lv.area, d.change_idr, sum(d.households), sum(d.first_idr),
           sum(d.latest_idr)
    FROM ({rows}) AS d
    CROSS JOIN LATERAL unnest(
        CASE WHEN d.district = '' THEN ARRAY['']
             ELSE ARRAY['', left(d.district, 2), left(d.district, 5), d.district] END) AS lv(area)
    GROUP BY lv.area, d.change_idr
    HAVING sum(d.households) <> 0 OR sum(d.first_idr) <> 0 OR sum(d.latest_idr) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (level, area, change_idr) DO UPDATE
    SET households = t.households + excluded.households,
        first_idr = t.first_idr + excluded.first_idr,
        latest_idr = t.latest_idr + excluded.latest_idr"""


REFRESH: Final = f"""
    WITH fresh AS ({_pairs(scoped=True)}),
    -- A pair that did not change is neither deleted nor inserted (both statements see the rows
    -- as they were before this one).
    gone AS (DELETE FROM income_pairs p
             WHERE p.household_id = ANY($1::uuid[])
               AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.household_id = p.household_id
                                 AND (f.district, f.first_idr, f.latest_idr)
                                     = (p.district, p.first_idr, p.latest_idr))
             RETURNING p.*),
    added AS (INSERT INTO income_pairs
              SELECT * FROM fresh f
              WHERE NOT EXISTS (SELECT 1 FROM income_pairs p
                                WHERE p.household_id = f.household_id
                                  AND (p.district, p.first_idr, p.latest_idr)
                                      = (f.district, f.first_idr, f.latest_idr))
              RETURNING *)
    {
    _tally('''
      SELECT district, latest_idr - first_idr AS change_idr, count(*) AS households,
             sum(first_idr) AS first_idr, sum(latest_idr) AS latest_idr
      FROM added GROUP BY 1, 2
      UNION ALL
      SELECT district, latest_idr - first_idr, -count(*), -sum(first_idr), -sum(latest_idr)
      FROM gone GROUP BY 1, 2''')
}"""

REBUILD: Final = f"""
    TRUNCATE income_pairs, tally_incomes;
    INSERT INTO income_pairs {_pairs(scoped=False)};
    {
    _tally('''
      SELECT district, latest_idr - first_idr AS change_idr, count(*) AS households,
             sum(first_idr) AS first_idr, sum(latest_idr) AS latest_idr
      FROM income_pairs GROUP BY 1, 2''')
};"""


async def refresh(conn: Connection, households: Collection[uuid.UUID]) -> None:
    if households:
        await conn.execute(REFRESH, in_uuid_order(households))
