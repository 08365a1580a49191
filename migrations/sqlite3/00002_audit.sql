-- The audit log: entries (the Merkle tree's leaves, as canonical JSON),
-- the tree's stored hashes (golang.org/x/mod/sumdb/tlog layout) and the
-- signed checkpoints. SQLite dialect.

-- +goose Up
CREATE TABLE audit_entries (
    -- Sequence number = leaf index, from 0.
    seq           INTEGER PRIMARY KEY,
    -- The exact leaf bytes: the entry's RFC 8785 canonical JSON.
    leaf          BLOB NOT NULL,
    action        TEXT NOT NULL,
    -- HMAC of the subject id, when the entry concerns one; never the id.
    subject_hmac  TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX audit_entries_subject ON audit_entries (subject_hmac, seq);
CREATE INDEX audit_entries_action ON audit_entries (action, seq);

CREATE TABLE audit_hashes (
    idx   INTEGER PRIMARY KEY,
    hash  BLOB NOT NULL CHECK (length(hash) = 32)
);

CREATE TABLE audit_checkpoints (
    size       INTEGER PRIMARY KEY,
    root       BLOB NOT NULL CHECK (length(root) = 32),
    -- The signed note, as served.
    note       TEXT NOT NULL,
    signed_at  TIMESTAMP NOT NULL
);

-- +goose StatementBegin
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_hashes_no_update BEFORE UPDATE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'audit_hashes are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_hashes_no_delete BEFORE DELETE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'audit_hashes are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints are append-only'); END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_hashes;
DROP TABLE audit_entries;
