package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// changeChannel is the PostgreSQL notification channel on which every
// instance announces the changes it committed, so that the others bring
// what they hold in memory up to date at once instead of at their next
// write. Channels are per database, not per schema: the payload names the
// schema, "<schema> <instance>".
const changeChannel = "consentry_changes"

// NotifyChange announces, on PostgreSQL, that instance committed changes
// in this transaction; the notification is delivered when (and only if) it
// commits. On SQLite it does nothing: processes sharing a file see each
// other's changes at their next write.
func (tx *Tx) NotifyChange(instance string) error {
	if !tx.postgres {
		return nil
	}
	_, err := tx.exec("notify", "SELECT pg_notify(?, current_schema() || ' ' || ?)", changeChannel, instance)
	return err
}

// Listen calls changed with the instance named by every change
// notification of this database's schema, and with "" each time it
// (re)connects, since notifications sent while it was not listening are
// lost. It reconnects after reconnect when the connection fails, and
// returns when ctx ends. On SQLite it returns at once.
func (db *DB) Listen(ctx context.Context, reconnect time.Duration, changed func(instance string), logError func(error)) error {
	if db.dialect != DialectPostgres {
		return nil
	}
	var schema string
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			conn, err := pgx.Connect(ctx, db.dsn)
			if err != nil {
				return nil, err
			}
			if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
				_ = conn.Close(ctx)
				return nil, err
			}
			return conn, nil
		},
		LogError: func(_ context.Context, err error) {
			if ctx.Err() == nil {
				logError(fmt.Errorf("store: listen for changes: %w", err))
			}
		},
		ReconnectDelay: reconnect,
	}
	l.Handle(changeChannel, listenHandler{schema: &schema, changed: changed})
	err := l.Listen(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type listenHandler struct {
	schema  *string
	changed func(instance string)
}

func (h listenHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	schema, instance, ok := strings.Cut(n.Payload, " ")
	if ok && schema == *h.schema {
		h.changed(instance)
	}
	return nil
}

// HandleBacklog runs once listening has started on a new connection.
func (h listenHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.changed("")
	return nil
}
