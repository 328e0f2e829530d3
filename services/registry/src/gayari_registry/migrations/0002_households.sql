CREATE TABLE households (
    id             uuid PRIMARY KEY,
    kk             char(16) NOT NULL UNIQUE,
    head_name      text NOT NULL,
    village_code   text NOT NULL,
    welfare_decile smallint NOT NULL CHECK (welfare_decile BETWEEN 1 AND 10),
    members        jsonb NOT NULL,
    registered_at  timestamptz NOT NULL
);
CREATE INDEX households_village ON households (village_code);
