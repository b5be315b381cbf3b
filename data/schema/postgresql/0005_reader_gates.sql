-- Gates read the team store: `signet lambda deploy` and `signet cluster sweep` in CI log in as a login
-- holding only signet_reader. A reader already inserts history rows and audit entries (0001) and records
-- a sweep's clusters (0003); the deploy gate also records the function it deployed.
GRANT INSERT, UPDATE ON lambda_functions TO signet_reader;

-- A history row names the acting login, as an audit entry does (0003): since every reader may insert
-- history, one naming someone else is refused by the server. The administrator is not bound (`store
-- copy` carries a local file's rows with the actors they had). The WHEN clause keeps the common case,
-- a row in the inserter's own name, free of any function call.
CREATE FUNCTION signet_history_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT signet_is_admin(TG_RELID) THEN
        PERFORM signet_refuse(format('a history row''s actor must be the acting login (%s)', session_user));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER verifications_actor_guard BEFORE INSERT ON verifications
    FOR EACH ROW WHEN (NEW.actor IS DISTINCT FROM session_user) EXECUTE FUNCTION signet_history_guard();
