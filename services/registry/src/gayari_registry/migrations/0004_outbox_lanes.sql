-- Rows are spread over lanes by Kafka key; a relay holds a lane's advisory lock while it
-- publishes from it, so one household's events still leave in commit order.
ALTER TABLE outbox ADD COLUMN lane smallint NOT NULL DEFAULT 0;
CREATE INDEX outbox_pending_lane ON outbox (lane, seq) WHERE published_at IS NULL;
