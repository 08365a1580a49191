-- Consent (Controls 31-2, 33): records, their per-purpose events, and the
-- current state derived from them. SQLite dialect.

-- +goose Up
CREATE TABLE consent_records (
    id              TEXT PRIMARY KEY,
    -- 'consent' (choices shown and made) or 'withdrawal'.
    kind            TEXT NOT NULL CHECK (kind IN ('consent', 'withdrawal')),
    subject_id      TEXT NOT NULL,
    device_id       TEXT NOT NULL REFERENCES devices (id),
    notice_key      TEXT NOT NULL,
    notice_version  INTEGER NOT NULL,
    notice_hash     TEXT NOT NULL,
    locale          TEXT NOT NULL,
    method          TEXT NOT NULL,
    client_time     TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    client_id       TEXT NOT NULL,
    -- For a withdrawal, the record whose choices it withdraws ('' when it
    -- withdraws everything of a subject).
    withdraws       TEXT NOT NULL DEFAULT '',
    -- The signed receipt (compact JWS) given for this record.
    receipt         TEXT NOT NULL,
    -- Commit order is the implicit rowid: one writer, rows only appended.
    FOREIGN KEY (notice_key, notice_version) REFERENCES notice_versions (notice_key, version)
);
CREATE INDEX consent_records_subject ON consent_records (subject_id, created_at, id);

CREATE TABLE consent_events (
    record_id   TEXT NOT NULL REFERENCES consent_records (id),
    purpose     TEXT NOT NULL,
    granted     BOOLEAN NOT NULL,
    expires_at  TIMESTAMP,
    -- The sequence number of this event's audit entry.
    audit_seq   BIGINT NOT NULL,
    PRIMARY KEY (record_id, purpose)
);

-- The latest event per subject, device and purpose: a projection of the
-- events, rebuilt from them on demand.
CREATE TABLE consent_state (
    subject_id      TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    record_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    granted         BOOLEAN NOT NULL,
    expires_at      TIMESTAMP,
    notice_key      TEXT NOT NULL,
    notice_version  INTEGER NOT NULL,
    -- The audit entry of the event in force: what an allow relies on.
    audit_seq       BIGINT NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (subject_id, device_id, purpose)
);

-- Consent is legal evidence: records and events are never changed.
-- +goose StatementBegin
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
BEGIN SELECT RAISE(ABORT, 'consent_records are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER consent_records_no_delete BEFORE DELETE ON consent_records
BEGIN SELECT RAISE(ABORT, 'consent_records are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events are append-only'); END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE consent_state;
DROP TABLE consent_events;
DROP TABLE consent_records;
