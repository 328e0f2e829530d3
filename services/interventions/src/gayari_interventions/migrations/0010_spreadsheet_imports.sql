-- Spreadsheet imports (service_layer.imports): households found by the keyed hash of their KK;
-- a row's receipt remembers what the row said, so a row sent again changes nothing and a
-- corrected one is told apart. Households registered before this migration have no hash
-- (their registration was applied without it): a file names them by household id.
ALTER TABLE known_households ADD COLUMN kk_hash text;
CREATE INDEX known_households_kk_hash ON known_households (kk_hash)
    WHERE kk_hash IS NOT NULL;
ALTER TABLE intake_receipts ADD COLUMN fingerprint text;
