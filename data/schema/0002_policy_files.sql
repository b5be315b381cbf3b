-- Verifier policy files Signet wrote (rotation publish/retire, `cluster policy generate`), so that
-- revoking a key can check that none of them still trusts it.
CREATE TABLE policy_files (
    path TEXT PRIMARY KEY,            -- absolute path, as written
    objects TEXT NOT NULL,            -- JSON list of "Kind/name" in the file
    fingerprints TEXT NOT NULL,       -- JSON list of the key fingerprints the file embeds
    source TEXT NOT NULL,             -- what wrote it: a rotation id, "cluster policy generate", ...
    written_at TEXT NOT NULL,
    written_by TEXT NOT NULL
);
