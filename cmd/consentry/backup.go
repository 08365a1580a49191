package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/spf13/cobra"
)

// newBackupCommand is `consentry backup` and `consentry backup check`.
func newBackupCommand(cfg *config, stdout io.Writer) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Copy the SQLite database while the service runs (PostgreSQL: use pg_dump)",
		Long: `Write a consistent copy of the SQLite database to --out while the service keeps
serving (SQLite's VACUUM INTO reads one snapshot), then check the copy as
'consentry backup check' does. Keep the data directory's key files with it:
audit-*.key and receipt-keys.json are not in the database.

PostgreSQL: take backups with pg_dump (see README); restore into an empty
database and point CONSENTRY_DB at it.`,
		Example: "  consentry backup --out /backups/consentry-2026-11-29.db\n  consentry backup check /backups/consentry-2026-11-29.db --key data/audit-verifier.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s exists; a backup never overwrites", out)
			}
			db, _, err := openDB(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.BackupTo(cmd.Context(), out); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s\n", out)
			keyFile := cfg.dataDir + "/audit-verifier.key"
			key, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("backup written, but not checked: %w", err)
			}
			return checkBackup(cmd.Context(), out, strings.TrimSpace(string(key)), stdout)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the copy to; must not exist (required)")
	_ = cmd.MarkFlagRequired("out")

	var keyFile string
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a SQLite backup: integrity, and its audit log against its latest signed checkpoint",
		Long: `Open a SQLite backup read-only and check it as a restore would need: SQLite's
integrity check, and the audit log it holds verified against the latest signed
checkpoint it holds, with the pinned key (the replay of "no allow without a
consent in force" included). Exit status non-zero on any failure.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			return checkBackup(cmd.Context(), args[0], strings.TrimSpace(string(key)), stdout)
		},
	}
	check.Flags().StringVar(&keyFile, "key", "", "file with the audit verifier key (data/audit-verifier.key) (required)")
	_ = check.MarkFlagRequired("key")
	cmd.AddCommand(check)
	return cmd
}

func checkBackup(ctx context.Context, path, key string, stdout io.Writer) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	// Read-only: a check must not change what it checks.
	db, err := store.Open(ctx, path, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	result, err := db.IntegrityCheck(ctx)
	if err != nil {
		return err
	}
	if result != "ok" {
		return fmt.Errorf("backup %s fails SQLite's integrity check: %s", path, result)
	}
	cp, err := db.Read(ctx).LatestCheckpoint()
	if privacy.ErrorCode(err) == privacy.ENotFound {
		return errors.New("the backup holds no signed checkpoint: nothing to verify its audit log against")
	}
	if err != nil {
		return err
	}
	res, err := audit.Verify(audit.VerifyInput{Checkpoint: []byte(cp.Note), VerifierKey: key, Entries: backupEntries(ctx, db)})
	if err != nil {
		return fmt.Errorf("the backup's audit log does NOT verify: %w", err)
	}
	fmt.Fprintf(stdout, "ok: %s passes the integrity check; its audit log of %d entries verifies against its checkpoint (%d allow decisions replayed)\n",
		path, res.Size, res.Allows)
	return nil
}

func backupEntries(ctx context.Context, db *store.DB) iter.Seq2[audit.StoredEntry, error] {
	return func(yield func(audit.StoredEntry, error) bool) {
		for from := int64(0); ; {
			page, err := db.Read(ctx).AuditEntries(store.AuditFilter{From: from, Limit: 1000})
			if err != nil {
				yield(audit.StoredEntry{}, err)
				return
			}
			for _, e := range page {
				if !yield(audit.StoredEntry{Seq: e.Seq, Leaf: e.Leaf}, nil) {
					return
				}
			}
			if len(page) < 1000 {
				return
			}
			from = page[len(page)-1].Seq + 1
		}
	}
}
