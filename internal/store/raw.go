package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// rawExec runs a statement on the transaction's own connection, bypassing
// gorm's statement builder: the hot write paths (consent, audit) run a few
// fixed statements thousands of times a second, and gorm's reflection
// would cost more than SQLite itself. query uses ? placeholders; they are
// rewritten to $n for PostgreSQL.
func (tx *Tx) rawExec(query string, args ...any) error {
	stmt, err := tx.stmt(query)
	if err != nil {
		return err
	}
	_, err = stmt.ExecContext(tx.ctx(), args...)
	return err
}

// stmt returns query prepared for this transaction. Statements are
// prepared once on the pool and reused by every transaction (database/sql
// keeps them per connection), which spares SQLite parsing the same few
// statements thousands of times a second; each is bound to the
// transaction on its first use in it (Tx.bound).
func (tx *Tx) stmt(query string) (*sql.Stmt, error) {
	sqlTx, ok := tx.db.Statement.ConnPool.(*sql.Tx)
	if tx.stmts == nil || !ok {
		return nil, fmt.Errorf("store: raw statements need a transaction (%T)", tx.db.Statement.ConnPool)
	}
	if s, ok := tx.bound[query]; ok {
		return s, nil
	}
	ps, err := tx.stmts.get(tx.ctx(), query)
	if err != nil {
		return nil, err
	}
	if tx.bound == nil {
		tx.bound = map[string]*sql.Stmt{}
	}
	s := sqlTx.StmtContext(tx.ctx(), ps)
	tx.bound[query] = s
	return s, nil
}

// stmtCache holds statements prepared on the pool.
type stmtCache struct {
	db       *sql.DB
	postgres bool
	mu       sync.Mutex
	m        map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[query]; ok {
		return s, nil
	}
	q := query
	if c.postgres {
		q = rebind(q)
	}
	s, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	c.m[query] = s
	return s, nil
}

func (tx *Tx) ctx() context.Context {
	if tx.db.Statement.Context != nil {
		return tx.db.Statement.Context
	}
	return context.Background()
}

// rebind turns ? placeholders into $1, $2, ... (no ? appears in our
// statements other than as placeholders).
func rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// placeholders returns "(?, ?, ?), (?, ?, ?)" for rows rows of cols columns.
func placeholders(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

// boolValue is how a boolean is bound: SQLite has no boolean type.
func (tx *Tx) boolValue(b bool) any {
	if tx.db.Dialector.Name() == "postgres" {
		return b
	}
	if b {
		return 1
	}
	return 0
}

// translate maps a driver error to gorm's portable errors (duplicate key,
// foreign key), as gorm does for its own statements.
func translate(tx *Tx, err error) error {
	if err == nil {
		return nil
	}
	if t, ok := tx.db.Dialector.(interface{ Translate(error) error }); ok {
		return t.Translate(err)
	}
	return err
}

// rawQueryRow runs a one-row query on the Tx's connection, bypassing gorm
// (see rawExec).
func (tx *Tx) rawQueryRow(query string, args []any, dest ...any) error {
	stmt, err := tx.stmt(query)
	if err != nil {
		return err
	}
	return stmt.QueryRowContext(tx.ctx(), args...).Scan(dest...)
}

// query runs a one-row query without gorm: in a transaction on its
// prepared statements, outside one on the pool's.
func (tx *Tx) query(query string, args []any, dest ...any) error {
	if tx.stmts != nil {
		return tx.rawQueryRow(query, args, dest...)
	}
	ps, err := tx.pool.get(tx.ctx(), query)
	if err != nil {
		return err
	}
	return ps.QueryRowContext(tx.ctx(), args...).Scan(dest...)
}
