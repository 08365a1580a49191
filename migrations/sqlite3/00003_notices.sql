-- Privacy notices (Control 31-1): a notice and its versions. A version is a
-- draft until published; a published version never changes. SQLite dialect.

-- +goose Up
CREATE TABLE notices (
    key             TEXT PRIMARY KEY,
    default_locale  TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE notice_versions (
    notice_key         TEXT NOT NULL REFERENCES notices (key),
    version            INTEGER NOT NULL CHECK (version > 0),
    -- The version's RFC 8785 canonical JSON: exactly what is shown.
    content            BLOB NOT NULL,
    -- Hex SHA-256 of content.
    content_hash       TEXT NOT NULL,
    -- NULL while a draft.
    published_at       TIMESTAMP,
    -- JSON array of the purposes this version changed materially
    -- against the previous published version; set at publication.
    material_purposes  TEXT NOT NULL DEFAULT '[]',
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (notice_key, version)
);
CREATE INDEX notice_versions_published ON notice_versions (notice_key, published_at);

-- A published version is evidence of what people were shown.
-- +goose StatementBegin
CREATE TRIGGER notice_versions_published_no_update BEFORE UPDATE ON notice_versions
WHEN OLD.published_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'published notice versions are immutable'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER notice_versions_published_no_delete BEFORE DELETE ON notice_versions
WHEN OLD.published_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'published notice versions are immutable'); END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE notice_versions;
DROP TABLE notices;
