-- A decision's steps are stored packed (store/packed.go: an S2 block
-- against a fixed dictionary, after a version byte), about a third of
-- their text; rows written before keep theirs as text in steps. A row
-- holds one or the other: steps is '' where steps_packed is set.
-- decisions_erasure_only compares whole rows but for the subject id, so
-- it covers the new column.

-- +goose Up
ALTER TABLE decisions ADD COLUMN steps_packed BYTEA;

-- +goose Down
ALTER TABLE decisions DROP COLUMN steps_packed;
