package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"
)

// This file is the SQL style's machinery (see the package doc): statements
// written out with "?" placeholders, prepared once per pool, bound once per
// transaction, scanned field by field into store records.

// rowScanner is a *sql.Row or a *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// scannable is a pointer to a store record of an SQL-style table: fields
// returns pointers to its fields in the order of the table's column list
// (deviceColumns, …), for Scan.
type scannable[R any] interface {
	*R
	fields() []any
}

// selectAll runs a query of R's columns and returns every row.
func selectAll[R any, P scannable[R]](r *Reader, what, q string, args ...any) ([]R, error) {
	var out []R
	err := r.each(what, q, args, func(s rowScanner) error {
		var rec R
		if err := s.Scan(P(&rec).fields()...); err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}

// converted is a pointer to a store record that converts to a domain
// value D on its own.
type converted[R, D any] interface {
	scannable[R]
	toDomain() D
}

// selectDomain runs a query of R's columns and returns every row as a
// domain value.
func selectDomain[R, D any, P converted[R, D]](r *Reader, what, q string, args ...any) ([]D, error) {
	rs, err := selectAll[R, P](r, what, q, args...)
	if err != nil {
		return nil, err
	}
	out := make([]D, len(rs))
	for i := range rs {
		out[i] = P(&rs[i]).toDomain()
	}
	return out, nil
}

// selectColumn runs a query of one column and returns its values.
func selectColumn[T any](r *Reader, what, q string, args ...any) ([]T, error) {
	var out []T
	err := r.each(what, q, args, func(s rowScanner) error {
		var v T
		err := s.Scan(&v)
		out = append(out, v)
		return err
	})
	return out, err
}

// selectMap runs a query of two columns, a key and its value, and
// returns them as a map.
func selectMap[K comparable, V any](r *Reader, what, q string, args ...any) (map[K]V, error) {
	out := map[K]V{}
	err := r.each(what, q, args, func(s rowScanner) error {
		var (
			k K
			v V
		)
		err := s.Scan(&k, &v)
		out[k] = v
		return err
	})
	return out, err
}

// selectOne runs a query of R's columns that finds at most one row; none
// is ENotFound naming what.
func selectOne[R any, P scannable[R]](r *Reader, what, q string, args ...any) (R, error) {
	var rec R
	return rec, r.row(what, q, args, P(&rec).fields()...)
}

// row runs a one-row query into dest; no row is ENotFound naming what.
func (r *Reader) row(what, q string, args []any, dest ...any) error {
	stmt, err := r.stmt(q)
	if err != nil {
		return err
	}
	return formatError(stmt.QueryRowContext(r.ctx, args...).Scan(dest...), what)
}

// each runs a query and calls scan for every row.
func (r *Reader) each(what, q string, args []any, scan func(rowScanner) error) error {
	stmt, err := r.stmt(q)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(r.ctx, args...)
	if err != nil {
		return formatError(err, what)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return formatError(err, what)
		}
	}
	return formatError(rows.Err(), what)
}

// exec runs a statement in the transaction and returns how many rows it
// changed. Driver errors are translated as for gorm's own statements
// (duplicate and foreign keys), then formatted naming what.
func (tx *Tx) exec(what, q string, args ...any) (int64, error) {
	stmt, err := tx.stmt(q)
	if err != nil {
		return 0, err
	}
	res, err := stmt.ExecContext(tx.ctx, args...)
	if err != nil {
		return 0, formatError(tx.translate(err), what)
	}
	n, err := res.RowsAffected()
	return n, formatError(err, what)
}

// stmt returns q prepared: on the pool outside a transaction; inside one,
// bound to it on its first use there (Reader.bound). Statements are
// prepared once on the pool and reused by every transaction (database/sql
// keeps them per connection), which spares the database parsing the same
// few statements thousands of times a second.
func (r *Reader) stmt(q string) (*sql.Stmt, error) {
	if s, ok := r.bound[q]; ok {
		return s, nil
	}
	ps, err := r.stmts.get(r.ctx, q)
	if err != nil || r.sqlTx == nil {
		return ps, err
	}
	if r.bound == nil {
		r.bound = map[string]*sql.Stmt{}
	}
	s := r.sqlTx.StmtContext(r.ctx, ps)
	r.bound[q] = s
	return s, nil
}

// stmtCache holds statements prepared on the pool, by their text. Every
// text is fixed or one of few variants (optional conditions, padded IN
// lists), so the cache stays small.
type stmtCache struct {
	db       *sql.DB
	postgres bool
	mu       sync.Mutex
	m        map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok {
		return s, nil
	}
	text := q
	if c.postgres {
		text = rebind(q)
	}
	s, err := c.db.PrepareContext(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("store: prepare: %w", err)
	}
	c.m[q] = s
	return s, nil
}

// rebind turns ? placeholders into $1, $2, ... for PostgreSQL (no ?
// appears in our statements other than as a placeholder).
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

// in returns "col IN (?, …)" and its arguments for values, the list
// padded to a power of two by repeating its last value, so that lists of
// any length share a few prepared statements. values must not be empty.
func in[T any](col string, values []T) (string, []any) {
	n := 1 << bits.Len(uint(len(values)-1))
	args := make([]any, n)
	for i := range args {
		args[i] = values[min(i, len(values)-1)]
	}
	return col + " IN " + placeholders(1, n), args
}

// boolValue is how a boolean is bound: SQLite has no boolean type.
func (r *Reader) boolValue(b bool) any {
	if r.postgres {
		return b
	}
	if b {
		return 1
	}
	return 0
}

// translate maps a driver error to gorm's portable errors (duplicate key,
// foreign key), as gorm does for its own statements, so formatError reads
// both styles alike.
func (r *Reader) translate(err error) error {
	if t, ok := r.db.Dialector.(interface{ Translate(error) error }); ok && err != nil {
		return t.Translate(err)
	}
	return err
}

// stringList is a list of strings stored as a JSON array: never NULL, []
// when empty, so readers never see null.
type stringList []string

// Value implements driver.Valuer.
func (l stringList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan implements sql.Scanner.
func (l *stringList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("store: a JSON list cannot be read from %T", src)
	}
	var s []string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("store: JSON list: %w", err)
	}
	*l = nonNil(s)
	return nil
}

// nonNil stores an absent list as [] so that readers never see null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// changedOne turns a statement's count of changed rows into an error:
// notChanged when it changed none.
func changedOne(n int64, err error, notChanged error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return notChanged
	}
	return nil
}
