-- The audit log: entries (the Merkle tree's leaves, as canonical JSON),
-- the tree's stored hashes (golang.org/x/mod/sumdb/tlog layout) and the
-- signed checkpoints. PostgreSQL dialect.

-- +goose Up
CREATE TABLE audit_entries (
    -- Sequence number = leaf index, from 0.
    seq           BIGINT PRIMARY KEY CHECK (seq >= 0),
    -- The exact leaf bytes: the entry's RFC 8785 canonical JSON.
    leaf          BYTEA NOT NULL,
    action        TEXT NOT NULL,
    -- HMAC of the subject id, when the entry concerns one; never the id.
    subject_hmac  TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_entries_subject ON audit_entries (subject_hmac, seq);
CREATE INDEX audit_entries_action ON audit_entries (action, seq);

CREATE TABLE audit_hashes (
    idx   BIGINT PRIMARY KEY,
    hash  BYTEA NOT NULL CHECK (length(hash) = 32)
);

CREATE TABLE audit_checkpoints (
    size       BIGINT PRIMARY KEY,
    root       BYTEA NOT NULL CHECK (length(root) = 32),
    -- The signed note, as served.
    note       TEXT NOT NULL,
    signed_at  TIMESTAMPTZ NOT NULL
);

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER audit_hashes_append_only BEFORE UPDATE OR DELETE ON audit_hashes
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER audit_hashes_no_truncate BEFORE TRUNCATE ON audit_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_hashes;
DROP TABLE audit_entries;
