-- A household's last contact: a row per enrolled household still in the programme, read in the
-- list's order a page at a time, or by how long ago for a count. One row, not one per agency: the
-- row changes with every record, and each row costs its index entries again. Filled from the
-- facts already there.
CREATE TABLE contacts (
    household_id uuid PRIMARY KEY,
    village_code text COLLATE "C" NOT NULL,  -- '' where it is not known
    last_on      date NOT NULL,   -- its latest record of any agency, or its enrolment
    enrolled_on  date NOT NULL,
    last_by      jsonb NOT NULL   -- {agency: its latest record of that agency's}
);
CREATE INDEX contacts_list ON contacts (village_code, last_on, household_id);
CREATE INDEX contacts_due ON contacts (last_on) INCLUDE (village_code);


WITH
st AS (
  SELECT h.household_id, coalesce(left(h.village_code, 8), '') AS district,
         h.village_code, h.registered_at, h.enrolled_at, h.exited_at, h.exit_reason,
         h.initial_decile, h.welfare_decile
  FROM household_state h ),
rec AS (
  SELECT x.household_id, x.grant_id AS id, x.agency, 'grant-' || x.kind AS kind,
         x.amount_idr AS idr,
         coalesce(x.fiscal_year, extract(year FROM (x.issued_at AT TIME ZONE 'Asia/Jakarta')::date)::int) AS fiscal_year,
         date_trunc('month', (x.issued_at AT TIME ZONE 'Asia/Jakarta'))::date AS month, (x.issued_at AT TIME ZONE 'Asia/Jakarta')::date AS day
  FROM grants x WHERE TRUE
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

INSERT INTO contacts 
SELECT st.household_id, coalesce(st.village_code, '') AS village_code,
       coalesce(l.last_on, (st.enrolled_at AT TIME ZONE 'Asia/Jakarta')::date) AS last_on, (st.enrolled_at AT TIME ZONE 'Asia/Jakarta')::date AS enrolled_on,
       coalesce(l.last_by, '{}') AS last_by
FROM st LEFT JOIN (
  SELECT a.household_id, max(a.last_on) AS last_on,
         jsonb_object_agg(a.agency, a.last_on) AS last_by
  FROM (SELECT household_id, agency, max(day) AS last_on FROM rec GROUP BY 1, 2) AS a
  GROUP BY 1) AS l USING (household_id)
WHERE st.enrolled_at IS NOT NULL AND st.exited_at IS NULL
