package store

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/consentry/consentry/migrations"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// provider builds a goose provider over the embedded migrations of db's
// dialect.
func (db *DB) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations.FS, db.dialect)
	if err != nil {
		return nil, fmt.Errorf("store: migrations for %s: %w", db.dialect, err)
	}
	s, err := db.SQL()
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var opts []goose.ProviderOption
	if db.dialect == DialectPostgres {
		// Several instances may start at once against one PostgreSQL; an
		// advisory lock lets exactly one of them migrate.
		l, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("store: migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(l))
	}
	p, err := goose.NewProvider(goose.Dialect(db.dialect), s, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration, each in its own transaction,
// and returns the version the schema is at afterwards.
func (db *DB) Migrate(ctx context.Context) (int64, error) {
	p, err := db.provider()
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	return v, nil
}

// SchemaVersion returns the version the schema is at, and the newest
// version this binary knows.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, 0, err
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("store: schema version: %w", err)
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}
