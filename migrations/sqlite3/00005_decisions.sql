-- Access decisions (Control 30): the Casbin data policy and every decision
-- made. SQLite dialect.

-- +goose Up
-- Casbin rules, in casbin/gorm-adapter's layout (the adapter's own table
-- creation is turned off: the schema is ours).
CREATE TABLE casbin_rule (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    ptype  VARCHAR(100),
    v0     VARCHAR(100),
    v1     VARCHAR(100),
    v2     VARCHAR(100),
    v3     VARCHAR(100),
    v4     VARCHAR(100),
    v5     VARCHAR(100)
);
CREATE UNIQUE INDEX idx_casbin_rule ON casbin_rule (ptype, v0, v1, v2, v3, v4, v5);

CREATE TABLE decisions (
    id              TEXT PRIMARY KEY,
    service_id      TEXT NOT NULL,
    service_name    TEXT NOT NULL,
    subject_id      TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    element         TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    action          TEXT NOT NULL,
    allow           BOOLEAN NOT NULL,
    -- JSON arrays: the reason codes, and each step with its result.
    reasons         TEXT NOT NULL,
    steps           TEXT NOT NULL,
    consent_record  TEXT NOT NULL DEFAULT '',
    consent_seq     BIGINT,
    notice_version  INTEGER,
    audit_seq       BIGINT NOT NULL,
    created_at      TIMESTAMP NOT NULL
);

-- +goose StatementBegin
CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE decisions;
DROP TABLE casbin_rule;
