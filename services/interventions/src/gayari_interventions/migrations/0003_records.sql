-- Enrolment, exit and members from the registry; grants v2; sessions and what hangs on
-- them; mentoring, surveys, budgets; voids. Columns added to old tables are NULL for the
-- rows recorded before.
ALTER TABLE known_households
    ALTER COLUMN village_code DROP NOT NULL,
    ALTER COLUMN welfare_decile DROP NOT NULL,
    ALTER COLUMN registered_at DROP NOT NULL,
    ALTER COLUMN event_id DROP NOT NULL,
    ADD COLUMN enrolled_at   timestamptz,
    ADD COLUMN exited_at     timestamptz,
    ADD COLUMN exit_reason   text,
    ADD COLUMN member_ids    uuid[],
    ADD COLUMN members_as_of timestamptz;
COMMENT ON COLUMN known_households.event_id IS 'the last registry event that changed the row';
ALTER TABLE grants
    ADD COLUMN purpose     text,
    ADD COLUMN fiscal_year smallint,
    ADD COLUMN budget_line text;
CREATE INDEX grants_agency_year ON grants (agency, fiscal_year);
CREATE TABLE grant_items (
    grant_id       uuid NOT NULL REFERENCES grants,
    line           smallint NOT NULL,
    description    text NOT NULL,
    quantity       int NOT NULL CHECK (quantity > 0),
    unit           text NOT NULL,
    unit_value_idr bigint NOT NULL CHECK (unit_value_idr > 0),
    PRIMARY KEY (grant_id, line)
);
CREATE TABLE training_sessions (
    id          uuid PRIMARY KEY,
    agency      text NOT NULL,
    topic       text NOT NULL,
    starts_on   date NOT NULL,
    ends_on     date NOT NULL CHECK (ends_on >= starts_on),
    hours       int NOT NULL CHECK (hours > 0),
    place       text NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE TABLE training_participants (
    id           uuid PRIMARY KEY,
    session_id   uuid NOT NULL REFERENCES training_sessions,
    household_id uuid NOT NULL REFERENCES known_households,
    member_id    uuid NOT NULL,
    agency       text NOT NULL,
    added_at     timestamptz NOT NULL
);
CREATE INDEX training_participants_session ON training_participants (session_id, member_id);
CREATE INDEX training_participants_household ON training_participants (household_id);
CREATE TABLE training_attendance (
    id             uuid PRIMARY KEY,
    participant_id uuid NOT NULL REFERENCES training_participants,
    household_id   uuid NOT NULL REFERENCES known_households,
    agency         text NOT NULL,
    attended_on    date NOT NULL,
    recorded_at    timestamptz NOT NULL
);
CREATE INDEX training_attendance_participant ON training_attendance (participant_id);
ALTER TABLE training_completions
    ADD COLUMN session_id     uuid REFERENCES training_sessions,
    ADD COLUMN participant_id uuid REFERENCES training_participants,
    ADD COLUMN member_id      uuid;
CREATE INDEX training_completions_participant ON training_completions (participant_id);
CREATE TABLE mentoring_visits (
    id              uuid PRIMARY KEY,
    household_id    uuid NOT NULL REFERENCES known_households,
    agency          text NOT NULL,
    visited_on      date NOT NULL,
    business_status text NOT NULL,
    notes           text,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX mentoring_visits_household ON mentoring_visits (household_id);
CREATE TABLE business_surveys (
    id                 uuid PRIMARY KEY,
    household_id       uuid NOT NULL REFERENCES known_households,
    agency             text NOT NULL,
    surveyed_on        date NOT NULL,
    monthly_income_idr bigint NOT NULL CHECK (monthly_income_idr >= 0),
    workers            int NOT NULL CHECK (workers >= 0),
    recorded_at        timestamptz NOT NULL
);
CREATE INDEX business_surveys_household ON business_surveys (household_id);
CREATE TABLE budget_allocations (
    id           uuid PRIMARY KEY,
    agency       text NOT NULL,
    fiscal_year  smallint NOT NULL,
    amount_idr   bigint NOT NULL CHECK (amount_idr > 0),
    budget_line  text,
    allocated_at timestamptz NOT NULL
);
CREATE INDEX budget_allocations_agency_year ON budget_allocations (agency, fiscal_year);
CREATE TABLE voids (
    id                uuid PRIMARY KEY,
    intervention_type text NOT NULL,
    intervention_id   uuid NOT NULL,
    household_id      uuid,
    agency            text NOT NULL,
    reason            text NOT NULL,
    explanation       text,
    voided_at         timestamptz NOT NULL,
    UNIQUE (intervention_type, intervention_id)
);
