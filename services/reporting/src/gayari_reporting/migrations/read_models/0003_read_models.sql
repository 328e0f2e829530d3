ALTER TABLE grants ADD COLUMN fiscal_year int;
CREATE INDEX grants_household ON grants (household_id);
CREATE INDEX training_completions_household ON training_completions (household_id);

CREATE TABLE household_state (
    household_id       uuid PRIMARY KEY,
    registered_at      timestamptz,
    registration_event uuid,
    initial_decile     smallint,
    village_code       text,
    village_at         timestamptz,
    village_event      uuid,
    welfare_decile     smallint,
    decile_at          timestamptz,
    decile_event       uuid,
    enrolled_at        timestamptz,
    enrol_event        uuid,
    cohort_year        int,
    enrolling_agency   text,
    exited_at          timestamptz,
    exit_event         uuid,
    exit_reason        text
);
CREATE INDEX household_state_village ON household_state (village_code text_pattern_ops);
-- Registrations projected before this table existed; the replay below adds the rest.
INSERT INTO household_state (household_id, registered_at, registration_event, initial_decile,
                             village_code, village_at, village_event,
                             welfare_decile, decile_at, decile_event)
SELECT household_id, registered_at, event_id, welfare_decile,
       village_code, registered_at, event_id, welfare_decile, registered_at, event_id
FROM households;

CREATE TABLE mentoring_visits (
    visit_id        uuid PRIMARY KEY,
    household_id    uuid NOT NULL,
    agency          text NOT NULL,
    visited_on      date NOT NULL,
    business_status text NOT NULL,
    event_id        uuid NOT NULL
);
CREATE INDEX mentoring_visits_household ON mentoring_visits (household_id);
CREATE TABLE business_surveys (
    survey_id          uuid PRIMARY KEY,
    household_id       uuid NOT NULL,
    agency             text NOT NULL,
    surveyed_on        date NOT NULL,
    monthly_income_idr bigint NOT NULL,
    workers            int NOT NULL,
    recorded_at        timestamptz NOT NULL,
    event_id           uuid NOT NULL
);
CREATE INDEX business_surveys_household ON business_surveys (household_id);
CREATE TABLE budget_allocations (
    allocation_id uuid PRIMARY KEY,
    agency        text NOT NULL,
    fiscal_year   int NOT NULL,
    amount_idr    bigint NOT NULL,
    allocated_at  timestamptz NOT NULL,
    event_id      uuid NOT NULL
);

-- Every intervention a household received that no void names, on one line each; the
-- date is the regency's own (fiscal years and months are counted in Jakarta time).
CREATE VIEW live_interventions AS
SELECT 'grant'::text AS intervention_type, g.grant_id AS intervention_id, g.household_id,
       g.agency, 'grant-' || g.kind AS kind, g.amount_idr,
       coalesce(g.fiscal_year,
                extract(year FROM g.issued_at AT TIME ZONE 'Asia/Jakarta')::int) AS fiscal_year,
       (g.issued_at AT TIME ZONE 'Asia/Jakarta')::date AS happened_on
FROM grants g
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

CREATE VIEW live_surveys AS
SELECT s.* FROM business_surveys s
WHERE NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'business-survey'
                  AND v.intervention_id = s.survey_id);

CREATE VIEW live_budgets AS
SELECT b.* FROM budget_allocations b
WHERE NOT EXISTS (SELECT 1 FROM voids v WHERE v.intervention_type = 'budget-allocation'
                  AND v.intervention_id = b.allocation_id);

-- Read everything again from the start of each topic: enrolments, exits, visits, surveys
-- and budgets were skipped until now. Safe because every write above is idempotent.
DELETE FROM projection_offsets;
