-- The database enforces what Signet checks, so that nothing a member of signet_operator sends, raw
-- SQL included, can approve or decide their own bypass, approve without signet_approver, change a
-- bypass's scope, digest or justification, extend it past the policy's cap, or rewrite the audit log.
-- The acting login (session_user) is recorded by the server. The administrator (superuser or the
-- tables' owner) is not bound by these guards: see README, "What the database protects".

-- One row: the team's bypass policy, changed only by the administrator.
CREATE TABLE signet_policy (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    bypass_approvals INTEGER NOT NULL DEFAULT 1 CHECK (bypass_approvals >= 1),
    max_bypass_seconds INTEGER NOT NULL DEFAULT 86400 CHECK (max_bypass_seconds > 0)
);
INSERT INTO signet_policy DEFAULT VALUES;
GRANT SELECT ON signet_policy TO signet_reader;

CREATE FUNCTION signet_is_admin(tbl regclass) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
        OR pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = tbl), 'MEMBER')
$$;

CREATE FUNCTION signet_refuse(message text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE FUNCTION signet_seconds_between(a text, b text) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT extract(epoch FROM (b::timestamptz - a::timestamptz))
$$;

-- Bypass rows: the requester is whoever inserts; the request's content never changes; states move
-- only along the workflow, and only as far as the recorded decisions allow.
CREATE FUNCTION signet_bypass_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    policy signet_policy;
    approvals integer;
BEGIN
    IF signet_is_admin(TG_RELID) THEN
        RETURN NEW;
    END IF;
    SELECT * INTO policy FROM signet_policy;
    IF TG_OP = 'INSERT' THEN
        NEW.requester := session_user;
        IF NEW.state <> 'requested' OR NEW.approved_at IS NOT NULL OR NEW.starts_at IS NOT NULL
           OR NEW.ends_at IS NOT NULL OR NEW.closed_at IS NOT NULL OR NEW.exception_ref IS NOT NULL THEN
            PERFORM signet_refuse('a bypass starts as a request (state requested, nothing granted)');
        END IF;
        IF NEW.duration_seconds > policy.max_bypass_seconds THEN
            PERFORM signet_refuse(format('a bypass may last at most %s seconds (the store''s policy)',
                                         policy.max_bypass_seconds));
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.requester, NEW.scope_kind, NEW.cluster, NEW.namespace, NEW.workload, NEW.function_name,
        NEW.region, NEW.digest, NEW.justification, NEW.ticket, NEW.duration_seconds, NEW.requested_at,
        NEW.request_expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.requester, OLD.scope_kind, OLD.cluster, OLD.namespace, OLD.workload, OLD.function_name,
        OLD.region, OLD.digest, OLD.justification, OLD.ticket, OLD.duration_seconds, OLD.requested_at,
        OLD.request_expires_at) THEN
        PERFORM signet_refuse('a bypass''s requester, scope, digest, justification, ticket and duration cannot '
                              'change after it was requested');
    END IF;
    IF OLD.state IN ('denied', 'lapsed', 'expired', 'revoked') THEN
        PERFORM signet_refuse(format('bypass %s is %s: closed bypasses do not change', OLD.id, OLD.state));
    END IF;
    IF NEW.state IN ('approved', 'active') THEN
        IF OLD.state = 'requested' THEN
            SELECT count(*) INTO approvals FROM bypass_approvals
             WHERE bypass_id = NEW.id AND decision = 'approve' AND approver <> NEW.requester;
            IF approvals < policy.bypass_approvals THEN
                PERFORM signet_refuse(format('bypass %s has %s of the %s approvals the store''s policy needs',
                                             NEW.id, approvals, policy.bypass_approvals));
            END IF;
        END IF;
        IF NEW.starts_at IS NULL OR NEW.ends_at IS NULL
           OR signet_seconds_between(NEW.starts_at, NEW.ends_at) > policy.max_bypass_seconds
           OR signet_seconds_between(NEW.starts_at, NEW.ends_at) > NEW.duration_seconds THEN
            PERFORM signet_refuse(format('bypass %s may not end after its granted duration (at most %s seconds by '
                                         'the store''s policy)', NEW.id, policy.max_bypass_seconds));
        END IF;
        IF OLD.state IN ('approved', 'active') AND (NEW.starts_at, NEW.ends_at) IS DISTINCT FROM
                                                  (OLD.starts_at, OLD.ends_at) THEN
            PERFORM signet_refuse(format('bypass %s: a granted bypass''s window cannot be moved', NEW.id));
        END IF;
    ELSIF NEW.state = 'denied' THEN
        IF OLD.state <> 'requested' OR NOT EXISTS (SELECT 1 FROM bypass_approvals WHERE bypass_id = NEW.id
                                                   AND decision = 'deny' AND approver = session_user) THEN
            PERFORM signet_refuse(format('bypass %s can only be denied by an approver''s recorded decision', NEW.id));
        END IF;
    ELSIF NEW.state = 'revoked' THEN
        IF session_user <> OLD.requester AND NOT pg_has_role(session_user, 'signet_approver', 'MEMBER') THEN
            PERFORM signet_refuse(format('only the requester or an approver can revoke bypass %s', NEW.id));
        END IF;
    ELSIF NEW.state = 'lapsed' AND OLD.state <> 'requested' THEN
        PERFORM signet_refuse(format('bypass %s: only a request can lapse', NEW.id));
    ELSIF NEW.state = 'expired' AND OLD.state NOT IN ('approved', 'active') THEN
        PERFORM signet_refuse(format('bypass %s: only a granted bypass can expire', NEW.id));
    ELSIF NEW.state = 'requested' AND (NEW.approved_at, NEW.starts_at, NEW.ends_at, NEW.exception_ref)
                                      IS DISTINCT FROM (OLD.approved_at, OLD.starts_at, OLD.ends_at, OLD.exception_ref) THEN
        PERFORM signet_refuse(format('bypass %s: a request grants nothing until it is approved', NEW.id));
    END IF;
    IF NEW.state IN ('denied', 'lapsed', 'expired', 'revoked') THEN
        NEW.closed_by := session_user;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER bypasses_guard BEFORE INSERT OR UPDATE ON bypasses
    FOR EACH ROW EXECUTE FUNCTION signet_bypass_guard();

-- Decisions: by approvers only, as themselves, never approving their own request, only while it is a
-- request. Decisions are never updated or deleted (no grant).
CREATE FUNCTION signet_decision_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target bypasses;
BEGIN
    IF signet_is_admin(TG_RELID) THEN
        RETURN NEW;
    END IF;
    NEW.approver := session_user;
    IF NOT pg_has_role(session_user, 'signet_approver', 'MEMBER') THEN
        PERFORM signet_refuse(format('%s is not a member of signet_approver and cannot decide bypasses', session_user));
    END IF;
    SELECT * INTO target FROM bypasses WHERE id = NEW.bypass_id FOR UPDATE;
    IF NOT FOUND OR target.state <> 'requested' THEN
        PERFORM signet_refuse(format('bypass %s is not an open request', NEW.bypass_id));
    END IF;
    IF NEW.decision = 'approve' AND target.requester = session_user THEN
        PERFORM signet_refuse(format('%s requested bypass %s and cannot approve it', session_user, NEW.bypass_id));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER bypass_approvals_guard BEFORE INSERT ON bypass_approvals
    FOR EACH ROW EXECUTE FUNCTION signet_decision_guard();

-- Audit: appends only, one at a time (the same advisory lock every Signet write takes), each linked to
-- the current head, with the acting login as its actor. UPDATE/DELETE/TRUNCATE stay refused (0001).
CREATE FUNCTION signet_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head audit;
BEGIN
    PERFORM pg_advisory_xact_lock(91574194029908);  -- core/store/postgres_store.py WRITE_LOCK
    IF signet_is_admin(TG_RELID) THEN
        RETURN NEW;
    END IF;
    SELECT * INTO head FROM audit ORDER BY seq DESC LIMIT 1;
    IF NEW.seq <> COALESCE(head.seq, 0) + 1
       OR NEW.prev_hash <> COALESCE(head.hash, repeat('0', 64)) THEN
        PERFORM signet_refuse('an audit entry must follow the current head of the chain');
    END IF;
    IF NEW.actor <> session_user THEN
        PERFORM signet_refuse(format('an audit entry''s actor must be the acting login (%s)', session_user));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_append_guard BEFORE INSERT ON audit
    FOR EACH ROW EXECUTE FUNCTION signet_audit_guard();

-- Column grants: the request's content is not even updatable; only workflow columns are.
REVOKE UPDATE ON bypasses FROM signet_reader;
GRANT UPDATE (state, approved_at, starts_at, ends_at, closed_at, closed_by, close_reason, exception_ref)
    ON bypasses TO signet_reader;

-- A sweep run by a reader (a CI gate) records each cluster's reachability.
GRANT INSERT, UPDATE ON clusters TO signet_reader;
