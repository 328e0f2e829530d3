CREATE TABLE known_households (
    household_id   uuid PRIMARY KEY,
    village_code   text NOT NULL,
    welfare_decile smallint NOT NULL,
    registered_at  timestamptz NOT NULL,
    event_id       uuid NOT NULL
);
CREATE TABLE grants (
    id           uuid PRIMARY KEY,
    household_id uuid NOT NULL REFERENCES known_households,
    agency       text NOT NULL,
    kind         text NOT NULL,
    amount_idr   bigint NOT NULL CHECK (amount_idr > 0),
    issued_at    timestamptz NOT NULL
);
CREATE INDEX grants_household ON grants (household_id);
CREATE TABLE training_completions (
    id           uuid PRIMARY KEY,
    household_id uuid NOT NULL REFERENCES known_households,
    agency       text NOT NULL,
    topic        text NOT NULL,
    hours        int NOT NULL CHECK (hours > 0),
    completed_on date NOT NULL,
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX training_completions_household ON training_completions (household_id);
