"""Per-household rows kept beside the facts, for the two reports that list or count a few
households among all of them (the tallies, tallies.py, keep figures per area instead):
- `double_funding`: a household's grants of one kind in one fiscal year from two or more
  agencies (the alerts of /double-funding);
- `waiting_records`: live records of a household that is not registered yet, by type (the
  waiting part of /data-quality);
- `contacts`: when an enrolled household still in the programme was last reached, by any agency
  and by each agency that reached it (/unserved); and `tally_contacts`, those rows counted per
  day for the country and each province, so that how many households one agency has left
  unserved is a sum over a few hundred rows instead of a reading of every contact's agencies
  (see migrations/read_models/0010_contact_tally.sql).

Counted from the facts, each would read every record of the programme to list a few of its
households. They are kept the way the tallies are: each batch recomputes the rows of every household
it touches from the facts, in the statement that adds those households' tally contribution
(the CTEs `rec`, `srv` and `st` of tallies._sources), and writes only what changed; a rebuild
computes them for every household. A household's rows depend on its own facts only, so this is
exact whatever the order of events.
"""

from __future__ import annotations

from typing import Final

from gayari_reporting.adapters import zone_sql

# The contacts counted per day, for the country ('') and each province: else how many
# households one agency has left unserved since a day, across the country, reads each contact's
# agencies from jsonb, and unserved by any agency reads every contact's last_on, both growing
# with the households. A household counts in four ways:
# - kind 'enrolled', agency '': every contact, by its enrolment day;
# - kind 'last', agency '': every contact, by its last contact of any agency (last_on);
# - kind 'enrolled', agency X: the contacts X reached, by their enrolment day;
# - kind 'last', agency X: the contacts X reached, by X's latest record.
# Unserved by any before a day = last('') summed over the days before it. Unserved by X =
# last(X) + enrolled('') - enrolled(X), each summed so: a household X never reached counts
# from its enrolment, whatever agencies exist (a new agency needs no rows for the households it
# has not reached). Regencies, districts and villages are counted from the contacts: few enough
# rows.
CONTACT_LEVELS: Final = (0, 2)


def _tally_contacts(rows: str) -> str:
    """Add contacts rows (those of the table, with `n`: 1 to count one in, -1 to take it out;
    `last_on` follows from `enrolled_on` and `last_by`, see CONTACTS) to tally_contacts, in key
    order (two writers queue rather than deadlock); a key whose changes cancel out is not
    written."""
    return f"""
      INSERT INTO tally_contacts AS t (level, area, agency, kind, day, households)
      SELECT length(lv.area), lv.area, d.agency, d.kind, d.day, sum(d.n)
      FROM (SELECT left(c.village_code, 2) AS province, k.agency, k.kind, k.day,
                   sum(c.n) AS n
            FROM {rows} CROSS JOIN LATERAL (
              SELECT '' AS agency, 'enrolled' AS kind, c.enrolled_on AS day
              UNION ALL
              SELECT '', 'last', c.last_on
              UNION ALL
              SELECT b.key, v.kind, v.day
              FROM jsonb_each_text(c.last_by) AS b
              CROSS JOIN LATERAL (VALUES ('enrolled', c.enrolled_on),
                                         ('last', b.value::date)) AS v (kind, day)) AS k
            GROUP BY 1, 2, 3, 4) AS d
      CROSS JOIN LATERAL unnest(
          CASE WHEN d.province = '' THEN ARRAY[''] ELSE ARRAY['', d.province] END) AS lv(area)
      GROUP BY lv.area, d.agency, d.kind, d.day
      HAVING sum(d.n) <> 0
      ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (level, area, agency, kind, day) DO UPDATE
      SET households = t.households + excluded.households"""


TABLES: Final = ("double_funding", "waiting_records", "contacts")

# Over the CTEs of tallies._sources: each table's rows for the households in scope.
_DOUBLE_FUNDING: Final = """
    SELECT r.household_id, r.fiscal_year, substr(r.kind, 7) AS kind, st.village_code,
           array_agg(DISTINCT r.agency ORDER BY r.agency) AS agencies, count(*)::int AS grants,
           sum(r.idr)::bigint AS total_idr, array_agg(r.id ORDER BY r.id) AS grant_ids
    FROM rec r LEFT JOIN st USING (household_id)
    WHERE r.kind LIKE 'grant-%'
    GROUP BY r.household_id, r.fiscal_year, r.kind, st.village_code
    HAVING count(DISTINCT r.agency) >= 2"""
_WAITING: Final = """
    SELECT w.household_id, w.intervention_type, count(*)::int AS records
    FROM (SELECT r.household_id,
                 CASE WHEN r.kind LIKE 'grant-%' THEN 'grant'
                      WHEN r.kind = 'training' THEN 'training-completion'
                      ELSE 'mentoring-visit' END
          FROM rec r
          UNION ALL
          SELECT s.household_id, 'business-survey' FROM srv s)
         AS w (household_id, intervention_type)
    WHERE NOT EXISTS (SELECT 1 FROM st WHERE st.household_id = w.household_id
                                          AND st.registered_at IS NOT NULL)
    GROUP BY 1, 2"""

# Enrolled and not exited: its latest live record (of any agency), or its enrolment day if none;
# and its latest of each agency's. Days in the zone of the household's village (`st.zone`).
_ENROLLED_ON: Final = f"{zone_sql.local_in('st.enrolled_at', 'st.zone')}::date"
CONTACTS: Final = f"""
    SELECT st.household_id, coalesce(st.village_code, '') AS village_code,
           coalesce(l.last_on, {_ENROLLED_ON}) AS last_on, {_ENROLLED_ON} AS enrolled_on,
           coalesce(l.last_by, '{{}}') AS last_by
    FROM st LEFT JOIN (
      SELECT a.household_id, max(a.last_on) AS last_on,
             jsonb_object_agg(a.agency, a.last_on) AS last_by
      FROM (SELECT household_id, agency, max(day) AS last_on FROM rec GROUP BY 1, 2) AS a
      GROUP BY 1) AS l USING (household_id)
    WHERE st.enrolled_at IS NOT NULL AND st.exited_at IS NULL"""

# CTEs (to follow those of tallies._sources(scoped=True)) that bring the rows of the households
# in $1 up to date: upsert what is new or changed, delete what no longer holds.
REFRESH: Final = f"""
    df_new AS ({_DOUBLE_FUNDING}),
    df_up AS (
      INSERT INTO double_funding AS t
      SELECT * FROM df_new ORDER BY household_id, fiscal_year, kind
      ON CONFLICT (household_id, fiscal_year, kind) DO UPDATE
      SET village_code = excluded.village_code, agencies = excluded.agencies,
          grants = excluded.grants, total_idr = excluded.total_idr, grant_ids = excluded.grant_ids
      WHERE (t.village_code, t.agencies, t.grants, t.total_idr, t.grant_ids)
            IS DISTINCT FROM (excluded.village_code, excluded.agencies, excluded.grants,
                              excluded.total_idr, excluded.grant_ids)),
    df_gone AS (
      DELETE FROM double_funding t
      WHERE t.household_id = ANY($1::uuid[])
        AND NOT EXISTS (SELECT 1 FROM df_new n WHERE n.household_id = t.household_id
                          AND n.fiscal_year = t.fiscal_year AND n.kind = t.kind)),
    w_new AS ({_WAITING}),
    w_up AS (
      INSERT INTO waiting_records AS t
      SELECT * FROM w_new ORDER BY household_id, intervention_type
      ON CONFLICT (household_id, intervention_type) DO UPDATE SET records = excluded.records
      WHERE t.records <> excluded.records),
    w_gone AS (
      DELETE FROM waiting_records t
      WHERE t.household_id = ANY($1::uuid[])
        AND NOT EXISTS (SELECT 1 FROM w_new n WHERE n.household_id = t.household_id
                          AND n.intervention_type = t.intervention_type)),
    ct_new AS ({CONTACTS}),
    -- Every CTE reads the contacts as they were before this statement.
    ct_old AS (SELECT * FROM contacts WHERE household_id = ANY($1::uuid[])),
    -- The rows that change: the old ones out, the new ones in.
    ct_moved AS (
      SELECT o.village_code, o.enrolled_on, o.last_by, o.last_on, -1 AS n FROM ct_old o
      WHERE NOT EXISTS (SELECT 1 FROM ct_new c WHERE c.household_id = o.household_id
                          AND (c.village_code COLLATE "C", c.enrolled_on, c.last_by)
                              = (o.village_code, o.enrolled_on, o.last_by))
      UNION ALL
      SELECT c.village_code COLLATE "C", c.enrolled_on, c.last_by, c.last_on, 1 FROM ct_new c
      WHERE NOT EXISTS (SELECT 1 FROM ct_old o WHERE o.household_id = c.household_id
                          AND (o.village_code, o.enrolled_on, o.last_by)
                              = (c.village_code COLLATE "C", c.enrolled_on, c.last_by))),
    ct_tally AS ({_tally_contacts("ct_moved AS c")}),
    ct_up AS (
      INSERT INTO contacts AS t
      SELECT * FROM ct_new ORDER BY household_id
      ON CONFLICT (household_id) DO UPDATE
      SET village_code = excluded.village_code, last_on = excluded.last_on,
          enrolled_on = excluded.enrolled_on, last_by = excluded.last_by
      WHERE (t.village_code, t.last_on, t.enrolled_on, t.last_by)
            IS DISTINCT FROM (excluded.village_code, excluded.last_on, excluded.enrolled_on,
                              excluded.last_by)),
    -- Only a household out of the programme (exited, or not enrolled) can have a row to drop:
    -- the others are not looked up a second time.
    ct_gone AS (
      DELETE FROM contacts t
      WHERE t.household_id IN (SELECT h FROM unnest($1::uuid[]) AS h
                               EXCEPT ALL SELECT household_id FROM ct_new)),"""

_ROWS: Final = {
    "double_funding": _DOUBLE_FUNDING,
    "waiting_records": _WAITING,
    "contacts": CONTACTS,
}


def fill(tables: tuple[str, ...] = TABLES) -> str:
    """CTEs (to follow tallies._sources(scoped=False)) that fill these emptied tables (and
    tally_contacts with the contacts)."""
    # The contacts come back for their tally.
    returning = {"contacts": " RETURNING *"}
    ctes = "".join(
        f"""
    fill_{table} AS (INSERT INTO {table} {_ROWS[table]}{returning.get(table, "")}),"""
        for table in tables
    )
    if "contacts" in tables:
        ctes += f"""
    fill_tally_contacts AS ({_tally_contacts("(SELECT *, 1 AS n FROM fill_contacts) AS c")}),"""
    return ctes


def emptied(tables: tuple[str, ...] = TABLES) -> tuple[str, ...]:
    """What `fill(tables)` fills, to truncate first."""
    return (*tables, "tally_contacts") if "contacts" in tables else tables
