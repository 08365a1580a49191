// Package migrations holds Consentry's versioned SQL schema, one directory
// per dialect (sqlite3/, postgres/), embedded in the binary so that
// `consentry migrate` and `consentry serve` need no files beside them.
// Both directories carry the same versions; a test in internal/store keeps
// them in step.
package migrations

import "embed"

// FS is the migrations tree: sqlite3/NNNNN_name.sql and postgres/NNNNN_name.sql,
// in pressly/goose's annotated SQL format.
//
//go:embed sqlite3/*.sql postgres/*.sql
var FS embed.FS
