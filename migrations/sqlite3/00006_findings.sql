-- Continuous review (Control 34): acknowledgments of findings. Findings
-- themselves are recomputed from the data; what a person decided about
-- them is evidence, kept append-only. SQLite dialect.

-- +goose Up
CREATE TABLE finding_acks (
    id          TEXT PRIMARY KEY,
    finding_id  TEXT NOT NULL,
    -- The finding's fingerprint when acknowledged: a finding whose objects
    -- change is open again.
    fingerprint TEXT NOT NULL,
    note        TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    audit_seq   BIGINT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX idx_finding_acks_finding ON finding_acks (finding_id, created_at);

-- +goose StatementBegin
CREATE TRIGGER finding_acks_no_update BEFORE UPDATE ON finding_acks
BEGIN SELECT RAISE(ABORT, 'finding acknowledgments are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER finding_acks_no_delete BEFORE DELETE ON finding_acks
BEGIN SELECT RAISE(ABORT, 'finding acknowledgments are append-only'); END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE finding_acks;
