-- Voided records stay in their tables; the figures leave them out by joining this one.
CREATE TABLE voids (
    intervention_type text NOT NULL,
    intervention_id   uuid NOT NULL,
    agency            text NOT NULL,
    voided_at         timestamptz NOT NULL,
    event_id          uuid NOT NULL,
    PRIMARY KEY (intervention_type, intervention_id)
);
