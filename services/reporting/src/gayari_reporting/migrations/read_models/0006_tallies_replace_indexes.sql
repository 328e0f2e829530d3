-- Figures by agency and by month now come from the tallies; these indexes only cost the
-- projector an insert each per record.
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
