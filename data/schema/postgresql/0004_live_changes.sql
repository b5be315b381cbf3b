-- Live team state: every committed change to a bypass or its decisions is announced on the channel
-- `signet_changes`, so open consoles (core/store/live.py) refresh without being asked. The payload
-- is small and names no secret: {"table": ..., "id": ...}. NOTIFY is transactional: a rolled-back
-- change announces nothing, and identical payloads within one transaction arrive once.
CREATE FUNCTION signet_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('signet_changes', json_build_object(
        'table', TG_TABLE_NAME,
        'id', to_jsonb(NEW) ->> TG_ARGV[0])::text);  -- the argument names the row's bypass id column
    RETURN NULL;
END;
$$;

CREATE TRIGGER bypasses_notify AFTER INSERT OR UPDATE ON bypasses
    FOR EACH ROW EXECUTE FUNCTION signet_notify_change('id');
CREATE TRIGGER bypass_approvals_notify AFTER INSERT ON bypass_approvals
    FOR EACH ROW EXECUTE FUNCTION signet_notify_change('bypass_id');
