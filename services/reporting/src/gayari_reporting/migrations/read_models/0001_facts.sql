-- The read models, applied in each generation's schema (adapters/generations.py). Why any
-- interleaving of events gives the same rows: README.md beside this file.
CREATE TABLE projection_offsets (
    consumer_group text NOT NULL,
    topic          text NOT NULL,
    partition      int NOT NULL,
    next_offset    bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
CREATE TABLE households (
    household_id   uuid PRIMARY KEY,
    village_code   text NOT NULL,
    welfare_decile smallint NOT NULL,
    registered_at  timestamptz NOT NULL,
    event_id       uuid NOT NULL
);
CREATE TABLE grants (
    grant_id     uuid PRIMARY KEY,
    household_id uuid NOT NULL,
    agency       text NOT NULL,
    kind         text NOT NULL,
    amount_idr   bigint NOT NULL,
    issued_at    timestamptz NOT NULL,
    event_id     uuid NOT NULL
);
CREATE INDEX grants_agency ON grants (agency);
CREATE TABLE training_completions (
    completion_id uuid PRIMARY KEY,
    household_id  uuid NOT NULL,
    agency        text NOT NULL,
    topic         text NOT NULL,
    hours         int NOT NULL,
    completed_on  date NOT NULL,
    event_id      uuid NOT NULL
);
CREATE INDEX training_completions_agency ON training_completions (agency);
CREATE TABLE rejected_events (
    topic     text NOT NULL,
    partition int NOT NULL,
    "offset"  bigint NOT NULL,
    reason    text NOT NULL,
    seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
