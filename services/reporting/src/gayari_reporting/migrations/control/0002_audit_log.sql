-- Who read which households (gayari_shared.audit), in `public` beside the control table: no
-- generation holds it, so no replay rebuilds or drops it.
CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    key_id         text,
    agency         text,
    access         text NOT NULL CHECK (access IN ('read', 'write')),
    operation      text NOT NULL,
    household_ids  uuid[] NOT NULL,
    correlation_id text NOT NULL
);
-- Rows arrive in time order: a BRIN index serves time ranges at almost no cost per insert.
CREATE INDEX audit_log_at ON audit_log USING brin (at);
CREATE INDEX audit_log_households ON audit_log USING gin (household_ids);
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- Per statement: an UPDATE or DELETE matching no row is refused too.
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC, CURRENT_USER;
