-- Foundation: API clients, the purpose catalogue, devices and their
-- versioned data inventories. PostgreSQL dialect.

-- +goose Up
CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'app', 'service', 'auditor')),
    -- SHA-256 of the bearer token, hex. The token itself is never stored.
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE purposes (
    key          TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    legal_basis  TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE devices (
    id                TEXT PRIMARY KEY,
    manufacturer      TEXT NOT NULL,
    model             TEXT NOT NULL,
    serial            TEXT NOT NULL,
    -- Case-folded manufacturer and model: the identity triple is unique
    -- under these, so "ACME" and "Acme" are one manufacturer.
    manufacturer_key  TEXT NOT NULL,
    model_key         TEXT NOT NULL,
    firmware          TEXT NOT NULL,
    notice_key        TEXT NOT NULL,
    owner_subject     TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL CHECK (status IN ('active', 'deactivated', 'disposed')),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    CONSTRAINT devices_identity UNIQUE (manufacturer_key, model_key, serial)
);
CREATE INDEX devices_model ON devices (model_key);
CREATE INDEX devices_firmware ON devices (firmware);
CREATE INDEX devices_owner_subject ON devices (owner_subject);

CREATE TABLE inventories (
    device_id   TEXT NOT NULL REFERENCES devices (id),
    version     INTEGER NOT NULL CHECK (version > 0),
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (device_id, version)
);

CREATE TABLE inventory_elements (
    device_id          TEXT NOT NULL,
    version            INTEGER NOT NULL,
    position           INTEGER NOT NULL,
    key                TEXT NOT NULL,
    description        TEXT NOT NULL,
    category           TEXT NOT NULL,
    sensitivity        TEXT NOT NULL CHECK (sensitivity IN ('none', 'personal', 'sensitive')),
    -- JSON arrays of strings, kept as text so both dialects store the same bytes.
    purposes           TEXT NOT NULL,
    collection_method  TEXT NOT NULL,
    retention          TEXT NOT NULL,
    recipients         TEXT NOT NULL,
    storage_region     TEXT NOT NULL,
    PRIMARY KEY (device_id, version, key),
    FOREIGN KEY (device_id, version) REFERENCES inventories (device_id, version)
);

-- Inventory versions are evidence of what was declared when: the second
-- wall, behind the code, against rewriting them.
-- +goose StatementBegin
CREATE FUNCTION consentry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER inventories_append_only BEFORE UPDATE OR DELETE ON inventories
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER inventory_elements_append_only BEFORE UPDATE OR DELETE ON inventory_elements
    FOR EACH ROW EXECUTE FUNCTION consentry_append_only();
-- TRUNCATE skips row triggers; refuse it too.
CREATE TRIGGER inventories_no_truncate BEFORE TRUNCATE ON inventories
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();
CREATE TRIGGER inventory_elements_no_truncate BEFORE TRUNCATE ON inventory_elements
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();

-- +goose Down
DROP TABLE inventory_elements;
DROP TABLE inventories;
DROP FUNCTION consentry_append_only();
DROP TABLE devices;
DROP TABLE purposes;
DROP TABLE clients;
