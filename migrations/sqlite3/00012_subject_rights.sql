-- Subject rights (ISO/IEC 27400 Control 33): requests, and erasure that
-- keeps every proof. SQLite dialect.
--
-- The audit log names a subject by a pseudonym: 64 random hex digits
-- drawn when the subject is first seen, held only in subject_pseudonyms.
-- Erasure deletes that row and puts "erased:<pseudonym>" in place of the
-- subject id in every row that held it; nothing left can be traced back
-- to the id, and every entry, line and proof stays as it was committed.

-- +goose Up
-- WITHOUT ROWID: the subject id is the table's own key, so a new subject
-- costs the writer one b-tree insert less.
CREATE TABLE subject_pseudonyms (
    subject_id  TEXT PRIMARY KEY,
    -- Not indexed: 256 random bits do not collide, and only a start after
    -- a restore looks subjects up by pseudonym (one scan, rights.Reapply).
    -- An index would cost every new subject a write at a random place.
    pseudonym   TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
) WITHOUT ROWID;

CREATE TABLE subject_requests (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL CHECK (type IN ('access', 'erasure')),
    pseudonym       TEXT NOT NULL,
    -- The subject id, held while the request runs: an erasure's webhook
    -- events still carry it until every subscriber has it. '' afterwards.
    subject_id      TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL CHECK (state IN ('received', 'in_progress', 'completed', 'failed')),
    client_id       TEXT NOT NULL,
    due_at          TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    completed_at    TIMESTAMP,
    -- SHA-256 of the request's receipt; the receipt itself is the
    -- subject's (it names them) and is not kept.
    receipt_sha256  TEXT NOT NULL,
    -- What an erasure erased (JSON counts), and why an operator closed it.
    erased          TEXT NOT NULL DEFAULT '',
    close_reason    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX subject_requests_pseudonym ON subject_requests (pseudonym, created_at);
CREATE INDEX subject_requests_open ON subject_requests (state, due_at);

-- Each backend subscribed to erasures when one was requested confirms it
-- has erased too.
CREATE TABLE subject_request_confirmations (
    request_id    TEXT NOT NULL REFERENCES subject_requests (id),
    webhook_id    TEXT NOT NULL REFERENCES webhooks (id),
    confirmed_by  TEXT NOT NULL DEFAULT '',
    confirmed_at  TIMESTAMP,
    PRIMARY KEY (request_id, webhook_id)
);

-- A record's receipt names its subject: erasure drops it and keeps its
-- hash, which the record's audit line commits to.
ALTER TABLE consent_records ADD COLUMN receipt_sha256 TEXT NOT NULL DEFAULT '';

CREATE INDEX webhook_events_order_key ON webhook_events (order_key);

-- Records and decisions stay append-only, but for one change: an erasure
-- replaces the subject id with its erased marker (and drops the receipt).
DROP TRIGGER consent_records_no_update;
-- +goose StatementBegin
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
WHEN NOT (substr(OLD.subject_id, 1, 7) <> 'erased:' AND substr(NEW.subject_id, 1, 7) = 'erased:'
    AND NEW.receipt = '' AND OLD.receipt_sha256 = '' AND length(NEW.receipt_sha256) = 64
    AND NEW.id = OLD.id AND NEW.kind = OLD.kind AND NEW.device_id = OLD.device_id AND NEW.notice_key = OLD.notice_key
    AND NEW.notice_version = OLD.notice_version AND NEW.notice_hash = OLD.notice_hash AND NEW.locale = OLD.locale
    AND NEW.method = OLD.method AND NEW.client_time IS OLD.client_time AND NEW.created_at = OLD.created_at
    AND NEW.client_id = OLD.client_id AND NEW.withdraws = OLD.withdraws)
BEGIN SELECT RAISE(ABORT, 'consent_records are append-only; only an erasure replaces the subject id'); END;
-- +goose StatementEnd
DROP TRIGGER decisions_no_update;
-- +goose StatementBegin
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
WHEN NOT (substr(OLD.subject_id, 1, 7) <> 'erased:' AND substr(NEW.subject_id, 1, 7) = 'erased:'
    AND NEW.id = OLD.id AND NEW.service_id = OLD.service_id AND NEW.service_name = OLD.service_name
    AND NEW.device_id = OLD.device_id AND NEW.element = OLD.element AND NEW.purpose = OLD.purpose AND NEW.action = OLD.action
    AND NEW.allow = OLD.allow AND NEW.reasons = OLD.reasons AND NEW.steps = OLD.steps AND NEW.consent_record = OLD.consent_record
    AND NEW.consent_seq IS OLD.consent_seq AND NEW.notice_version IS OLD.notice_version AND NEW.audit_seq = OLD.audit_seq
    AND NEW.created_at = OLD.created_at)
BEGIN SELECT RAISE(ABORT, 'decisions are append-only; only an erasure replaces the subject id'); END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER decisions_no_update;
-- +goose StatementBegin
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
-- +goose StatementEnd
DROP TRIGGER consent_records_no_update;
-- +goose StatementBegin
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
BEGIN SELECT RAISE(ABORT, 'consent_records are append-only'); END;
-- +goose StatementEnd
DROP INDEX webhook_events_order_key;
ALTER TABLE consent_records DROP COLUMN receipt_sha256;
DROP TABLE subject_request_confirmations;
DROP TABLE subject_requests;
DROP TABLE subject_pseudonyms;
