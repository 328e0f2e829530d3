-- The read-model generations (adapters/generations.py): exactly one is active.
CREATE TABLE read_model_generations (
    schema_name text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('live', 'as-of')),
    state       text NOT NULL CHECK (state IN ('building', 'active', 'retired', 'ready')),
    as_of       timestamptz,
    events      bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE UNIQUE INDEX read_model_generations_one_active
    ON read_model_generations ((true)) WHERE state = 'active';
