-- The household's version (see Household.version): 0 for the households registered before.
ALTER TABLE households ADD COLUMN version bigint NOT NULL DEFAULT 0;
