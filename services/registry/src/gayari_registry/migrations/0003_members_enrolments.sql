-- Members get ids and a table of their own, so a NIK is unique across households; the
-- members registered before this keep their data and get new ids.
ALTER TABLE households
    ADD COLUMN address         jsonb,
    ADD COLUMN flags           jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN head_key        text,
    ADD COLUMN head_birth_date date,
    ADD COLUMN updated_at      timestamptz;
CREATE TABLE members (
    member_id     uuid PRIMARY KEY,
    household_id  uuid NOT NULL REFERENCES households (id),
    position      smallint NOT NULL,
    nik           char(16) NOT NULL,
    name          text NOT NULL,
    sex           char(1) NOT NULL CHECK (sex IN ('M', 'F')),
    birth_date    date NOT NULL,
    relationship  text NOT NULL,
    -- Only set for NIKs that two households held before NIKs had to be unique.
    nik_duplicate boolean NOT NULL DEFAULT false
);
INSERT INTO members (member_id, household_id, position, nik, name, sex, birth_date,
                     relationship, nik_duplicate)
SELECT gen_random_uuid(), h.id, m.ord - 1, m.value->>'nik', m.value->>'name',
       m.value->>'sex', (m.value->>'birth_date')::date, m.value->>'relationship',
       row_number() OVER (PARTITION BY m.value->>'nik' ORDER BY h.registered_at, h.id) > 1
FROM households h, jsonb_array_elements(h.members) WITH ORDINALITY AS m (value, ord);
CREATE UNIQUE INDEX members_nik ON members (nik) WHERE NOT nik_duplicate;
CREATE INDEX members_household ON members (household_id, position);
UPDATE households h SET
    updated_at = registered_at,
    head_key = lower(regexp_replace(head_name, '\s', '', 'g')),
    head_birth_date = (SELECT min(birth_date) FROM members m
                       WHERE m.household_id = h.id AND m.relationship = 'head'),
    flags = (SELECT coalesce(jsonb_agg(jsonb_build_object(
                 'member_id', m.member_id, 'code', 'nik-in-another-household',
                 'reason', 'the NIK is held by another household too')), '[]')
             FROM members m WHERE m.household_id = h.id AND m.nik_duplicate);
ALTER TABLE households DROP COLUMN members, ALTER COLUMN updated_at SET NOT NULL;
CREATE INDEX households_near_duplicates
    ON households (village_code, head_key, head_birth_date);
CREATE TABLE enrolments (
    household_id uuid NOT NULL REFERENCES households (id),
    number       smallint NOT NULL,
    cohort_year  smallint NOT NULL,
    agency       text NOT NULL,
    enrolled_at  timestamptz NOT NULL,
    exit_reason  text,
    exited_at    timestamptz,
    PRIMARY KEY (household_id, number)
);
-- The rule "enrolled once at a time" holds even if two requests race.
CREATE UNIQUE INDEX enrolments_open ON enrolments (household_id) WHERE exited_at IS NULL;
