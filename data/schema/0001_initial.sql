-- Signet schema v1. Times are UTC ISO-8601 text ('...Z'), sortable as text.
-- JSON columns hold compact JSON text.

CREATE TABLE registries (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    auth_source TEXT NOT NULL DEFAULT 'anonymous',
    insecure INTEGER NOT NULL DEFAULT 0,
    last_seen_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE clusters (
    id INTEGER PRIMARY KEY,
    context TEXT NOT NULL UNIQUE,
    kubeconfig TEXT,
    last_seen_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE lambda_functions (
    id INTEGER PRIMARY KEY,
    profile TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    arn TEXT,
    image_uri TEXT,
    resolved_digest TEXT,
    last_result TEXT,
    last_checked_at TEXT,
    UNIQUE (profile, region, name)
);

-- Digest cache: digest-addressed data is immutable, so it can be reused without refetching.
CREATE TABLE images (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT,
    size INTEGER,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    PRIMARY KEY (repository, digest)
);

CREATE TABLE image_tags (
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    resolved_at TEXT NOT NULL,
    PRIMARY KEY (repository, tag)
);

CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    location TEXT NOT NULL CHECK (location IN ('local', 'secretsmanager', 'kms', 'public')),
    location_ref TEXT,
    public_pem TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('staged', 'active', 'retiring', 'retired', 'revoked')),
    created_at TEXT NOT NULL,
    activated_at TEXT,
    retired_at TEXT,
    revoked_at TEXT,
    custodians TEXT NOT NULL DEFAULT '[]',
    trusted_by TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE key_events (
    id INTEGER PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES keys (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX key_events_key ON key_events (key_id, at);

CREATE TABLE backups (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES keys (id),
    scheme TEXT NOT NULL CHECK (scheme IN ('shares', 'passphrase')),
    threshold INTEGER,
    share_count INTEGER,
    location TEXT NOT NULL,
    custodians TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    last_tested_at TEXT,
    last_test_result TEXT,
    drill_due_at TEXT
);

CREATE TABLE rotations (
    id TEXT PRIMARY KEY,
    old_key_id TEXT REFERENCES keys (id),
    new_key_id TEXT REFERENCES keys (id),
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE bypasses (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'denied', 'lapsed', 'active', 'expired', 'revoked')),
    requester TEXT NOT NULL,
    scope_kind TEXT NOT NULL CHECK (scope_kind IN ('cluster', 'lambda')),
    cluster TEXT,
    namespace TEXT,
    workload TEXT,
    function_name TEXT,
    region TEXT,
    digest TEXT NOT NULL,
    justification TEXT NOT NULL,
    ticket TEXT NOT NULL,
    duration_seconds INTEGER NOT NULL,
    requested_at TEXT NOT NULL,
    request_expires_at TEXT NOT NULL,
    approved_at TEXT,
    starts_at TEXT,
    ends_at TEXT,
    closed_at TEXT,
    closed_by TEXT,
    close_reason TEXT,
    exception_ref TEXT
);
CREATE INDEX bypasses_state ON bypasses (state, ends_at);
CREATE INDEX bypasses_digest ON bypasses (digest);

CREATE TABLE bypass_approvals (
    bypass_id TEXT NOT NULL REFERENCES bypasses (id),
    approver TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
    reason TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (bypass_id, approver)
);

-- Verification history: one row per verification of one image.
CREATE TABLE verifications (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('cli', 'tui', 'sweep', 'gate', 'demo', 'rotation')),
    reference TEXT NOT NULL,
    digest TEXT,
    result TEXT NOT NULL CHECK (result IN ('verified', 'unsigned', 'invalid', 'error', 'bypassed')),
    reason TEXT NOT NULL DEFAULT '',
    matched_keys TEXT NOT NULL DEFAULT '[]',
    duration_ms REAL NOT NULL DEFAULT 0,
    bypass_id TEXT,
    cluster TEXT,
    namespace TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX verifications_at ON verifications (at DESC, id DESC);
CREATE INDEX verifications_result_at ON verifications (result, at DESC, id DESC);
CREATE INDEX verifications_digest ON verifications (digest);
CREATE INDEX verifications_reference ON verifications (reference);

-- Append-only, hash-chained audit log. hash = sha256(canonical JSON of the entry incl. prev_hash).
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused');
END;
