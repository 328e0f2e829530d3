"""The read models' tables and views (the third migration); the household-state upsert that
relies on them is in fact_tables.py.

Design, and why any interleaving of events gives the same rows:
- Interventions, surveys and budget allocations are facts keyed by their own ids, inserted with
  ON CONFLICT DO NOTHING: a redelivery or a duplicate changes nothing, and order cannot matter
  because no fact reads another when it is written.
- A void is a fact of its own; the `live_*` views leave out what a void names, so a void that
  arrives before its record works the same as one that arrives after.
- A household's state (village, decile, enrolment, exit) can change, so each group of fields
  carries the (time, event id) of the event it came from, and an event overwrites a group only
  if its pair is later (earlier for registration and enrolment: they happen once, and the first
  is the real one). Pairs are totally ordered, so the winner is the same in every order; an
  event applied twice compares equal and changes nothing.
- Every figure is a SQL query over these tables at read time: nothing is incremented, so there
  is no counter to get wrong when an event is replayed.
"""

from __future__ import annotations

from typing import Final

from gayari_reporting.adapters.household_rows import (
    CONTACT_TALLY_ANY_MIGRATION,
    CONTACT_TALLY_MIGRATION,
    CONTACTS_MIGRATION,
    DERIVED_MIGRATION,
)
from gayari_reporting.adapters.income_pairs import INCOMES_MIGRATION
from gayari_reporting.adapters.income_pairs import REBUILD as REBUILD_INCOMES
from gayari_reporting.adapters.tallies import (
    FILL_CONTACTS,
    REBUILD_TALLIES,
    TALLIES_MIGRATION,
    rebuild_sql,
)

_JAKARTA_DAY = "AT TIME ZONE 'Asia/Jakarta')::date"

READ_MODELS_MIGRATION: Final = f"""
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
           (g.issued_at {_JAKARTA_DAY} AS happened_on
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
"""


# The report queries at a million households (tests/bench/bench_queries.py). An area filter
# leads from the area's households (a prefix range on the village code) to their records by
# household, so both sides are covering indexes: index-only scans, no heap visit per household
# or per record. They replace the plain ones on the same leading column. The surveys' index is in
# the order the outcomes report reads a household's surveys, and the day indexes serve a month.
REPORT_INDEXES_MIGRATION: Final = f"""
    CREATE INDEX household_state_area ON household_state (village_code text_pattern_ops)
        INCLUDE (household_id, registered_at, enrolled_at, exited_at, exit_reason,
                 initial_decile, welfare_decile);
    DROP INDEX household_state_village;
    CREATE INDEX grants_household_live ON grants (household_id)
        INCLUDE (grant_id, agency, kind, amount_idr, fiscal_year, issued_at);
    DROP INDEX grants_household;
    CREATE INDEX training_completions_household_live ON training_completions (household_id)
        INCLUDE (completion_id, agency, completed_on);
    DROP INDEX training_completions_household;
    CREATE INDEX mentoring_visits_household_live ON mentoring_visits (household_id)
        INCLUDE (visit_id, agency, visited_on);
    DROP INDEX mentoring_visits_household;
    CREATE INDEX business_surveys_household_order
        ON business_surveys (household_id, surveyed_on, recorded_at, survey_id)
        INCLUDE (monthly_income_idr);
    DROP INDEX business_surveys_household;
    CREATE INDEX grants_day ON grants (((issued_at {_JAKARTA_DAY}));
    CREATE INDEX training_completions_day ON training_completions (completed_on);
    CREATE INDEX mentoring_visits_day ON mentoring_visits (visited_on);
"""


# Every read-model table, in the order the tables came; a generation applies them all.
MIGRATIONS: Final = (
    """
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
    """,
    # Voided records stay in their tables; the figures leave them out by joining this one.
    """
    CREATE TABLE voids (
        intervention_type text NOT NULL,
        intervention_id   uuid NOT NULL,
        agency            text NOT NULL,
        voided_at         timestamptz NOT NULL,
        event_id          uuid NOT NULL,
        PRIMARY KEY (intervention_type, intervention_id)
    );
    """,
    READ_MODELS_MIGRATION,
    REPORT_INDEXES_MIGRATION,
    # Built from the facts already there, so an existing generation has them at once.
    TALLIES_MIGRATION + "\n" + REBUILD_TALLIES,
    # Figures by agency and by month now come from the tallies; these indexes only cost the
    # projector an insert each per record.
    """
    DROP INDEX grants_agency;
    DROP INDEX training_completions_agency;
    DROP INDEX grants_day;
    DROP INDEX training_completions_day;
    DROP INDEX mentoring_visits_day;
    -- Registrations live in household_state (registered_at, registration_event); this first
    -- table of them is read by nothing since, and cost the projector a write per household.
    DROP TABLE households;
    -- Only a village, a district's lists and areas that do not nest still read the households'
    -- state by area. Their households by village, to join to their records: the village and the
    -- id only, which an enrolment, an exit or a decile change leaves alone, so those updates
    -- stay in place (HOT) instead of writing a wide index entry each (8 % of the projector).
    CREATE INDEX household_state_village ON household_state (village_code text_pattern_ops)
        INCLUDE (household_id);
    DROP INDEX household_state_area;
    ALTER TABLE household_state SET (fillfactor = 90);
    """,
    # Double-funding alerts and waiting records per household, kept by the projector; the
    # rebuild fills them (and recomputes the tallies, which it cannot leave out).
    DERIVED_MIGRATION + "\n" + rebuild_sql(("double_funding", "waiting_records")),
    CONTACTS_MIGRATION + "\n" + FILL_CONTACTS,
    # The income change of the outcomes report, kept per household and tallied per area.
    INCOMES_MIGRATION + "\n" + REBUILD_INCOMES,
    # The contacts counted per day, for /unserved of one agency across a province or more.
    CONTACT_TALLY_MIGRATION,
    # ... and of any agency.
    CONTACT_TALLY_ANY_MIGRATION,
)
