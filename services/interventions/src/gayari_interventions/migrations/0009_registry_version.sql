-- The registry's version of each household (KnownHousehold.version).
ALTER TABLE known_households ADD COLUMN registry_version bigint NOT NULL DEFAULT 0;
