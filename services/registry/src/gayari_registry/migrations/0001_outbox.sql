-- The transactional outbox (gayari_shared.outbox): events written in the transaction of the
-- change they tell, published to Kafka by the relay.
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    event_type   text NOT NULL,
    topic        text NOT NULL,
    key          bytea NOT NULL,
    value        bytea NOT NULL,
    headers      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
