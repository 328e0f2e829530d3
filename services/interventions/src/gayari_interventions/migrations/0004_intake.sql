-- Agency systems' intake: which event ids were taken (idempotency) and what was refused.
CREATE TABLE intake_receipts (
    event_id    uuid PRIMARY KEY,
    agency      text NOT NULL,
    event_type  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE intake_rejections (
    id            bigserial PRIMARY KEY,
    agency        text NOT NULL,
    topic         text NOT NULL,
    "partition"   int NOT NULL,
    "offset"      bigint NOT NULL,
    event_id      text,
    reason_code   text NOT NULL,
    reason        text NOT NULL,
    rejected_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, "partition", "offset")
);
