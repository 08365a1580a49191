package rights

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"regexp"
	"sync"
)

// Ledger is the record of erasures that outlives a restore: a file beside
// the keys in the data directory (never inside the database, whose
// backups it must survive), one erased pseudonym per line, appended and
// synced before the erasure commits. At start, Service.Reapply erases
// again every subject a restored database still knows under one of them.
// A pseudonym is 64 random hex digits: the file names no one.
type Ledger struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex
}

// LedgerFile is the ledger's name in the data directory.
const LedgerFile = "erasures.ledger"

// OpenLedger returns the ledger at path, creating it (empty) if missing.
func OpenLedger(path string, log *slog.Logger) (*Ledger, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("rights: open the erasure ledger: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("rights: open the erasure ledger: %w", err)
	}
	return &Ledger{path: path, log: log}, nil
}

var pseudonymPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Record appends p and syncs the file.
func (l *Ledger) Record(p string) error {
	if !pseudonymPattern.MatchString(p) {
		return fmt.Errorf("rights: %q is not a pseudonym", p)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("rights: erasure ledger: %w", err)
	}
	if _, err := f.WriteString(p + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("rights: erasure ledger: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("rights: erasure ledger: %w", err)
	}
	return f.Close()
}

// Erased records p, an erasure another instance made (app.Reactions):
// a failure is logged, and that instance's own ledger still holds it.
func (l *Ledger) Erased(p string) {
	if err := l.Record(p); err != nil {
		l.log.Error("erasure made by another instance not recorded in this instance's ledger", "error", err)
	}
}

// Pseudonyms lists the pseudonyms recorded, once each. A line that is not
// a pseudonym (a torn last write) is skipped.
func (l *Ledger) Pseudonyms() ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rights: erasure ledger: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := sc.Text()
		if pseudonymPattern.MatchString(p) && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("rights: erasure ledger: %w", err)
	}
	return out, nil
}
