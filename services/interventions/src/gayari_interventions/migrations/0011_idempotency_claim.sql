-- An Idempotency-Key claimed by a function planned once per connection
-- (gayari_shared.idempotency): true when this transaction now holds the key's lock and no
-- response is stored for the key. A function, so that its statements are planned once per
-- connection (a statement sent as text is planned on every request: about 70 us of
-- PostgreSQL's CPU more per request with a key), and so that the lookup runs after the lock is
-- held, in a snapshot of its own (plpgsql, volatile: each statement takes one).
CREATE FUNCTION idempotency_claim(lock_id bigint, claim_scope text, claim_key text)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(lock_id) THEN
        RETURN false;
    END IF;
    RETURN NOT EXISTS (
        SELECT FROM idempotency_keys WHERE scope = claim_scope AND key = claim_key);
END
$$;
