-- A household's days in the zone of its province (Keppres 41/1987; adapters/zone_sql.py): a
-- grant's day, month and (where the grant names none) fiscal year, and a household's
-- registration, enrolment and exit months, were counted in WIB (Lamandau's) for every household.
-- `area_zone` gives the IANA zone of a village code's province, WIB where it is not known; the
-- view and every tally and kept list are counted again with it, from the facts, in this
-- transaction (about as long as migration 5: the projector waits). An instance of the previous
-- release still projecting after this counts in WIB: upgrade every instance together, or run
-- `gayari-reporting-replay --check-tallies` after.
CREATE OR REPLACE FUNCTION area_zone(area text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN left(area, 2) IN ('51', '52', '53', '63', '64', '65', '71', '72', '73', '74', '75', '76') THEN 'Asia/Makassar' WHEN left(area, 2) IN ('81', '82', '91', '92', '93', '94', '95', '96') THEN 'Asia/Jayapura' ELSE 'Asia/Jakarta' END $$;

CREATE OR REPLACE VIEW live_interventions AS
SELECT 'grant'::text AS intervention_type, g.grant_id AS intervention_id, g.household_id,
       g.agency, 'grant-' || g.kind AS kind, g.amount_idr,
       coalesce(g.fiscal_year,
                extract(year FROM g.issued_at AT TIME ZONE area_zone(h.village_code))::int)
         AS fiscal_year,
       (g.issued_at AT TIME ZONE area_zone(h.village_code))::date AS happened_on
FROM grants g LEFT JOIN household_state h ON h.household_id = g.household_id
WHERE NOT EXISTS (SELECT 1 FROM voids v
                  WHERE v.intervention_type = 'grant' AND v.intervention_id = g.grant_id)
UNION ALL
SELECT 'training-completion', t.completion_id, t.household_id, t.agency, 'training',
       0::bigint, extract(year FROM t.completed_on)::int, t.completed_on
FROM training_completions t
WHERE NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'training-completion'
                  AND v.intervention_id = t.completion_id)
UNION ALL
SELECT 'mentoring-visit', m.visit_id, m.household_id, m.agency, 'mentoring',
       0::bigint, extract(year FROM m.visited_on)::int, m.visited_on
FROM mentoring_visits m
WHERE NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'mentoring-visit'
                  AND v.intervention_id = m.visit_id);

-- The tallies, double-funding alerts, waiting records and contacts (with their tally) from the
-- facts, with the households' zones (tallies.rebuild_sql).
TRUNCATE tally_records, tally_households, tally_reach, double_funding, waiting_records, contacts, tally_contacts;

INSERT INTO tally_agencies (agency)
SELECT DISTINCT a FROM (SELECT agency FROM grants UNION SELECT agency FROM training_completions
                        UNION SELECT agency FROM mentoring_visits) AS f(a)
WHERE NOT EXISTS (SELECT 1 FROM tally_agencies k WHERE k.agency = f.a)
ORDER BY a
ON CONFLICT DO NOTHING;

WITH
st AS (
  SELECT h.household_id, coalesce(left(h.village_code, 8), '') AS district,
         h.village_code, h.registered_at, h.enrolled_at, h.exited_at, h.exit_reason,
         h.initial_decile, h.welfare_decile
  FROM household_state h ),
rec AS (
  SELECT x.household_id, x.grant_id AS id, x.agency, 'grant-' || x.kind AS kind,
         x.amount_idr AS idr,
         coalesce(x.fiscal_year, extract(year FROM (x.issued_at AT TIME ZONE area_zone(st.village_code))::date)::int) AS fiscal_year,
         date_trunc('month', (x.issued_at AT TIME ZONE area_zone(st.village_code)))::date AS month,
         (x.issued_at AT TIME ZONE area_zone(st.village_code))::date AS day
  FROM grants x LEFT JOIN st ON st.household_id = x.household_id WHERE TRUE
  AND NOT EXISTS (SELECT 1 FROM voids v
                    WHERE v.intervention_type = 'grant' AND v.intervention_id = x.grant_id)
  UNION ALL
  SELECT x.household_id, x.completion_id, x.agency, 'training', 0::bigint,
         extract(year FROM x.completed_on)::int, date_trunc('month', x.completed_on::timestamp)::date,
         x.completed_on
  FROM training_completions x WHERE TRUE
  AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'training-completion'
                    AND v.intervention_id = x.completion_id)
  UNION ALL
  SELECT x.household_id, x.visit_id, x.agency, 'mentoring', 0::bigint,
         extract(year FROM x.visited_on)::int, date_trunc('month', x.visited_on::timestamp)::date,
         x.visited_on
  FROM mentoring_visits x WHERE TRUE
  AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'mentoring-visit'
                    AND v.intervention_id = x.visit_id)),
srv AS (
  SELECT x.household_id FROM business_surveys x WHERE NOT EXISTS (SELECT 1 FROM household_state h WHERE h.household_id = x.household_id
                          AND h.registered_at IS NOT NULL)
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
,
fill_double_funding AS (INSERT INTO double_funding
SELECT r.household_id, r.fiscal_year, substr(r.kind, 7) AS kind, st.village_code,
       array_agg(DISTINCT r.agency ORDER BY r.agency) AS agencies, count(*)::int AS grants,
       sum(r.idr)::bigint AS total_idr, array_agg(r.id ORDER BY r.id) AS grant_ids
FROM rec r LEFT JOIN st USING (household_id)
WHERE r.kind LIKE 'grant-%'
GROUP BY r.household_id, r.fiscal_year, r.kind, st.village_code
HAVING count(DISTINCT r.agency) >= 2),
fill_waiting_records AS (INSERT INTO waiting_records
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
GROUP BY 1, 2),
fill_contacts AS (INSERT INTO contacts
SELECT st.household_id, coalesce(st.village_code, '') AS village_code,
       coalesce(l.last_on, (st.enrolled_at AT TIME ZONE area_zone(st.village_code))::date) AS last_on, (st.enrolled_at AT TIME ZONE area_zone(st.village_code))::date AS enrolled_on,
       coalesce(l.last_by, '{}') AS last_by
FROM st LEFT JOIN (
  SELECT a.household_id, max(a.last_on) AS last_on,
         jsonb_object_agg(a.agency, a.last_on) AS last_by
  FROM (SELECT household_id, agency, max(day) AS last_on FROM rec GROUP BY 1, 2) AS a
  GROUP BY 1) AS l USING (household_id)
WHERE st.enrolled_at IS NOT NULL AND st.exited_at IS NULL RETURNING *),
fill_tally_contacts AS (
  INSERT INTO tally_contacts AS t (level, area, agency, kind, day, households)
  SELECT length(lv.area), lv.area, d.agency, d.kind, d.day, sum(d.n)
  FROM (SELECT left(c.village_code, 2) AS province, k.agency, k.kind, k.day,
               sum(c.n) AS n
        FROM (SELECT *, 1 AS n FROM fill_contacts) AS c CROSS JOIN LATERAL (
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
  SET households = t.households + excluded.households),
r AS (
INSERT INTO tally_records AS t (level, area, agency, kind, fiscal_year, month, records, idr)
SELECT length(area), area, agency, kind, fiscal_year, month, sum(n), sum(idr) FROM (
  SELECT lv.area, d.agency, d.kind, d.fiscal_year, d.month,
         (1 * sum(d.n))::bigint AS n, (1 * sum(d.idr))::bigint AS idr
  FROM (SELECT coalesce(st.district, '') AS district, r.agency, r.kind, r.fiscal_year,
               r.month, count(*) AS n, sum(r.idr) AS idr
        FROM rec r LEFT JOIN st USING (household_id)
        GROUP BY 1, 2, 3, 4, 5) AS d
  CROSS JOIN LATERAL unnest(
    CASE WHEN d.district = '' THEN ARRAY['']
         ELSE ARRAY['', left(d.district, 2), left(d.district, 5), d.district] END)
  AS lv(area)
  GROUP BY 1, 2, 3, 4, 5) AS x
GROUP BY area, agency, kind, fiscal_year, month
HAVING sum(n) <> 0 OR sum(idr) <> 0
ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT (level, area, agency, kind, fiscal_year, month) DO UPDATE
SET records = t.records + excluded.records, idr = t.idr + excluded.idr),
h AS (
INSERT INTO tally_households AS t (level, area, event, month, reason, initial_decile,
                                   welfare_decile, households)
SELECT length(area), area, event, month, reason, initial_decile, welfare_decile, sum(n)
FROM (
  SELECT lv.area, d.event, d.month, d.reason, d.initial_decile, d.welfare_decile,
         (1 * sum(d.n))::bigint AS n
  FROM (SELECT st.district, e.event, e.month, e.reason, e.initial_decile,
               e.welfare_decile, count(*) AS n
        FROM st CROSS JOIN LATERAL (VALUES
          ('registered', st.registered_at IS NOT NULL,
           date_trunc('month', (st.registered_at AT TIME ZONE area_zone(st.village_code)))::date, NULL::text, NULL::smallint, NULL::smallint),
          ('enrolled', st.enrolled_at IS NOT NULL,
           date_trunc('month', (st.enrolled_at AT TIME ZONE area_zone(st.village_code)))::date, NULL, NULL, NULL),
          ('exited', st.exited_at IS NOT NULL,
           date_trunc('month', (st.exited_at AT TIME ZONE area_zone(st.village_code)))::date, st.exit_reason, NULL, NULL),
          ('deciles', st.enrolled_at IS NOT NULL AND st.initial_decile IS NOT NULL
                      AND st.welfare_decile IS NOT NULL,
           NULL, NULL, st.initial_decile, st.welfare_decile))
          AS e(event, present, month, reason, initial_decile, welfare_decile)
        WHERE e.present
        GROUP BY 1, 2, 3, 4, 5, 6) AS d
  CROSS JOIN LATERAL unnest(
    CASE WHEN d.district = '' THEN ARRAY['']
         ELSE ARRAY['', left(d.district, 2), left(d.district, 5), d.district] END)
  AS lv(area)
  GROUP BY 1, 2, 3, 4, 5, 6) AS x
GROUP BY area, event, month, reason, initial_decile, welfare_decile
HAVING sum(n) <> 0
ORDER BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT (level, area, event, month, reason, initial_decile, welfare_decile) DO UPDATE
SET households = t.households + excluded.households)

INSERT INTO tally_reach AS t (level, area, fiscal_year, month, agencies, granted, enrolled,
                              households)
SELECT length(area), area, fiscal_year, month, agencies, granted, enrolled, sum(n)
FROM (
  SELECT lv.area, d.fiscal_year, d.month, d.agencies, d.granted, d.enrolled,
         (1 * sum(d.n))::bigint AS n
  FROM (SELECT coalesce(st.district, '') AS district, x.fiscal_year, x.month,
               x.agencies, x.granted, coalesce(st.enrolled_at IS NOT NULL, false) AS enrolled,
               count(*) AS n
        FROM reach x LEFT JOIN st USING (household_id)
        GROUP BY 1, 2, 3, 4, 5, 6) AS d
  CROSS JOIN LATERAL unnest(
    CASE WHEN d.district = '' THEN ARRAY['']
         ELSE ARRAY['', left(d.district, 2), left(d.district, 5), d.district] END)
  AS lv(area)
  GROUP BY 1, 2, 3, 4, 5, 6) AS x
GROUP BY area, fiscal_year, month, agencies, granted, enrolled
HAVING sum(n) <> 0
ORDER BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT (level, area, fiscal_year, month, agencies, granted, enrolled) DO UPDATE
SET households = t.households + excluded.households;
