-- The report queries at a million households (tests/bench/bench_queries.py). An area filter
-- leads from the area's households (a prefix range on the village code) to their records by
-- household, so both sides are covering indexes: index-only scans, no heap visit per household
-- or per record. They replace the plain ones on the same leading column. The surveys' index is in
-- the order the outcomes report reads a household's surveys, and the day indexes serve a month.
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
CREATE INDEX grants_day ON grants (((issued_at AT TIME ZONE 'Asia/Jakarta')::date));
CREATE INDEX training_completions_day ON training_completions (completed_on);
CREATE INDEX mentoring_visits_day ON mentoring_visits (visited_on);
