-- Verifier policy files Signet wrote (as data/schema/0002_policy_files.sql).
CREATE TABLE policy_files (
    path TEXT PRIMARY KEY,
    objects TEXT NOT NULL,
    fingerprints TEXT NOT NULL,
    source TEXT NOT NULL,
    written_at TEXT NOT NULL,
    written_by TEXT NOT NULL
);
GRANT SELECT ON policy_files TO signet_reader;
GRANT INSERT, UPDATE, DELETE ON policy_files TO signet_operator, signet_custodian;
