-- The key of a request claimed by storing its response last, in the transaction of the write
-- it answers (gayari_shared.idempotency): the primary key of idempotency_keys is the claim. A
-- function, so that the insert is planned once per connection (a statement sent as text with
-- its values is planned on every request). The lock_timeout it sets, for this transaction
-- only, bounds the wait for a concurrent inserter of the key that has not committed yet: past
-- it, lock_not_available (55P03); the key committed by another: unique_violation (23505).
-- The claim before the write (an advisory lock and a lookup) is gone with its function.
DROP FUNCTION IF EXISTS idempotency_claim(bigint, text, text);
CREATE FUNCTION idempotency_store(
    store_scope text, store_key text, store_fingerprint bytea, store_status smallint,
    store_headers jsonb, store_body bytea, wait text)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('lock_timeout', wait, true);
    INSERT INTO idempotency_keys (scope, key, fingerprint, status, headers, body)
    VALUES (store_scope, store_key, store_fingerprint, store_status, store_headers, store_body);
END
$$;
