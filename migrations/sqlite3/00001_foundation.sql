-- Foundation: API clients, the purpose catalogue, devices and their
-- versioned data inventories. SQLite dialect.

-- +goose Up
CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'app', 'service', 'auditor')),
    -- SHA-256 of the bearer token, hex. The token itself is never stored.
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE purposes (
    key          TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    legal_basis  TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
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
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    CONSTRAINT devices_identity UNIQUE (manufacturer_key, model_key, serial)
);
CREATE INDEX devices_model ON devices (model_key);
CREATE INDEX devices_firmware ON devices (firmware);
CREATE INDEX devices_owner_subject ON devices (owner_subject);

CREATE TABLE inventories (
    device_id   TEXT NOT NULL REFERENCES devices (id),
    version     INTEGER NOT NULL CHECK (version > 0),
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
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
    -- JSON arrays of strings.
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
CREATE TRIGGER inventories_no_update BEFORE UPDATE ON inventories
BEGIN SELECT RAISE(ABORT, 'inventories are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER inventories_no_delete BEFORE DELETE ON inventories
BEGIN SELECT RAISE(ABORT, 'inventories are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER inventory_elements_no_update BEFORE UPDATE ON inventory_elements
BEGIN SELECT RAISE(ABORT, 'inventory_elements are append-only'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER inventory_elements_no_delete BEFORE DELETE ON inventory_elements
BEGIN SELECT RAISE(ABORT, 'inventory_elements are append-only'); END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE inventory_elements;
DROP TABLE inventories;
DROP TABLE devices;
DROP TABLE purposes;
DROP TABLE clients;
