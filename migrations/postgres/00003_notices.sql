-- Privacy notices (Control 31-1): a notice and its versions. A version is a
-- draft until published; a published version never changes. PostgreSQL dialect.

-- +goose Up
CREATE TABLE notices (
    key             TEXT PRIMARY KEY,
    default_locale  TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE notice_versions (
    notice_key         TEXT NOT NULL REFERENCES notices (key),
    version            INTEGER NOT NULL CHECK (version > 0),
    -- The version's RFC 8785 canonical JSON: exactly what is shown.
    content            BYTEA NOT NULL,
    -- Hex SHA-256 of content.
    content_hash       TEXT NOT NULL,
    -- NULL while a draft.
    published_at       TIMESTAMPTZ,
    -- JSON array of the purposes this version changed materially
    -- against the previous published version; set at publication.
    material_purposes  TEXT NOT NULL DEFAULT '[]',
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (notice_key, version)
);
CREATE INDEX notice_versions_published ON notice_versions (notice_key, published_at);

-- A published version is evidence of what people were shown.
-- +goose StatementBegin
CREATE FUNCTION consentry_published_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.published_at IS NOT NULL THEN
        RAISE EXCEPTION 'published notice versions are immutable';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER notice_versions_published_immutable BEFORE UPDATE OR DELETE ON notice_versions
    FOR EACH ROW EXECUTE FUNCTION consentry_published_immutable();
CREATE TRIGGER notice_versions_no_truncate BEFORE TRUNCATE ON notice_versions
    FOR EACH STATEMENT EXECUTE FUNCTION consentry_append_only();

-- +goose Down
DROP TABLE notice_versions;
DROP FUNCTION consentry_published_immutable();
DROP TABLE notices;
