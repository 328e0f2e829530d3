-- When each record last changed (recorded, or voided since), for the lists' changed_since and
-- keyset order; the other columns of a record still never change. Which intake event made a
-- record: its CloudEvents id is unique per agency (two agencies' systems may pick the same).
ALTER TABLE grants ADD COLUMN changed_at timestamptz;
UPDATE grants r SET changed_at = greatest(r.issued_at, (SELECT v.voided_at FROM voids v
    WHERE v.intervention_type = 'grant' AND v.intervention_id = r.id));
ALTER TABLE grants ALTER COLUMN changed_at SET DEFAULT clock_timestamp(),
    ALTER COLUMN changed_at SET NOT NULL;

ALTER TABLE training_sessions ADD COLUMN changed_at timestamptz;
UPDATE training_sessions r SET changed_at = greatest(r.recorded_at, (SELECT v.voided_at FROM voids v
    WHERE v.intervention_type = 'training-session' AND v.intervention_id = r.id));
ALTER TABLE training_sessions ALTER COLUMN changed_at SET DEFAULT clock_timestamp(),
    ALTER COLUMN changed_at SET NOT NULL;

ALTER TABLE training_participants ADD COLUMN changed_at timestamptz;
UPDATE training_participants r SET changed_at = greatest(r.added_at, (SELECT v.voided_at FROM voids v
    WHERE v.intervention_type = 'training-participant' AND v.intervention_id = r.id));
ALTER TABLE training_participants ALTER COLUMN changed_at SET DEFAULT clock_timestamp(),
    ALTER COLUMN changed_at SET NOT NULL;

ALTER TABLE training_attendance ADD COLUMN changed_at timestamptz;
UPDATE training_attendance r SET changed_at = greatest(r.recorded_at, (SELECT v.voided_at FROM voids v
    WHERE v.intervention_type = 'training-attendance' AND v.intervention_id = r.id));
ALTER TABLE training_attendance ALTER COLUMN changed_at SET DEFAULT clock_timestamp(),
    ALTER COLUMN changed_at SET NOT NULL;

ALTER TABLE training_completions ADD COLUMN changed_at timestamptz;
UPDATE training_completions r SET changed_at = greatest(r.recorded_at, (SELECT v.voided_at FROM voids v
    WHERE v.intervention_type = 'training-completion' AND v.intervention_id = r.id));
ALTER TABLE training_completions ALTER COLUMN changed_at SET DEFAULT clock_timestamp(),
    ALTER COLUMN changed_at SET NOT NULL;

ALTER TABLE mentoring_visits ADD COLUMN changed_at timestamptz;
UPDATE mentoring_visits r SET changed_at = greatest(r.recorded_at, (SELECT v.voided_at FROM voids v
    WHERE v.intervention_type = 'mentoring-visit' AND v.intervention_id = r.id));
ALTER TABLE mentoring_visits ALTER COLUMN changed_at SET DEFAULT clock_timestamp(),
    ALTER COLUMN changed_at SET NOT NULL;

ALTER TABLE business_surveys ADD COLUMN changed_at timestamptz;
UPDATE business_surveys r SET changed_at = greatest(r.recorded_at, (SELECT v.voided_at FROM voids v
    WHERE v.intervention_type = 'business-survey' AND v.intervention_id = r.id));
ALTER TABLE business_surveys ALTER COLUMN changed_at SET DEFAULT clock_timestamp(),
    ALTER COLUMN changed_at SET NOT NULL;

ALTER TABLE budget_allocations ADD COLUMN changed_at timestamptz;
UPDATE budget_allocations r SET changed_at = greatest(r.allocated_at, (SELECT v.voided_at FROM voids v
    WHERE v.intervention_type = 'budget-allocation' AND v.intervention_id = r.id));
ALTER TABLE budget_allocations ALTER COLUMN changed_at SET DEFAULT clock_timestamp(),
    ALTER COLUMN changed_at SET NOT NULL;

CREATE INDEX grants_changes ON grants (changed_at, id);
CREATE INDEX grants_agency_changes ON grants (agency, changed_at, id);

CREATE INDEX training_sessions_changes ON training_sessions (changed_at, id);
CREATE INDEX training_sessions_agency_changes ON training_sessions (agency, changed_at, id);

CREATE INDEX mentoring_visits_changes ON mentoring_visits (changed_at, id);
CREATE INDEX mentoring_visits_agency_changes ON mentoring_visits (agency, changed_at, id);

CREATE INDEX business_surveys_changes ON business_surveys (changed_at, id);
CREATE INDEX business_surveys_agency_changes ON business_surveys (agency, changed_at, id);

CREATE INDEX budget_allocations_changes ON budget_allocations (changed_at, id);
CREATE INDEX budget_allocations_agency_changes ON budget_allocations (agency, changed_at, id);

ALTER TABLE intake_receipts DROP CONSTRAINT intake_receipts_pkey,
    ADD PRIMARY KEY (event_id, agency),
    ADD COLUMN intervention_type text,
    ADD COLUMN intervention_id uuid;
CREATE UNIQUE INDEX intake_receipts_record ON intake_receipts
    (intervention_type, intervention_id) WHERE intervention_id IS NOT NULL;
