-- The hosted consent flow returns a person to their app at a redirect URI
-- registered for that app client (newline-separated; '' for none).

-- +goose Up
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE clients DROP COLUMN redirect_uris;
