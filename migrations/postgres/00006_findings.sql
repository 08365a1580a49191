-- Continuous review (Control 34): acknowledgments of findings. Findings
-- themselves are recomputed from the data; what a person decided about
-- them is evidence, kept append-only. PostgreSQL dialect.

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
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_finding_acks_finding ON finding_acks (finding_id, created_at);

CREATE TRIGGER finding_acks_append_only BEFORE UPDATE OR DELETE ON finding_acks
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER finding_acks_no_truncate BEFORE TRUNCATE ON finding_acks
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();

-- +goose Down
DROP TABLE finding_acks;
