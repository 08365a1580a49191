-- The evidence export reads consent records in the order of the audit
-- entries that recorded them (each choice's audit_seq), a page at a time.

-- +goose Up
CREATE INDEX consent_events_audit_seq ON consent_events (audit_seq);

-- +goose Down
DROP INDEX consent_events_audit_seq;
