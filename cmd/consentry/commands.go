package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/consentry/consentry/internal/app"
	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

// newRootCommand builds the command tree.
func newRootCommand(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	var cfg config
	root := &cobra.Command{
		Use:           "consentry",
		Short:         "Privacy consent and PII governance for IoT (ISO/IEC 27400 Controls 29-35)",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return cfg.validate(getenv)
		},
	}
	root.SetOut(stderr)
	root.SetErr(stderr)
	bindConfig(root, &cfg, getenv)

	root.AddCommand(&cobra.Command{
		Use:   "serve",
		Short: "Run the REST API (migrates the database first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), &cfg, stderr)
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, v, err := openDB(cmd.Context(), &cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			fmt.Fprintf(stderr, "%s schema at version %d\n", db.Dialect(), v)
			return nil
		},
	})

	root.AddCommand(newClientsCommand(&cfg, stdout, stderr))
	root.AddCommand(newAuditCommand(&cfg, getenv, stdout, stderr))
	root.AddCommand(newNoticesCommand(&cfg, stdout, stderr))
	root.AddCommand(newPurposesCommand(&cfg, stdout, stderr))
	root.AddCommand(newKeysCommand(&cfg, stdout, stderr))
	root.AddCommand(newEvidenceCommand(&cfg, stdout, stderr))
	root.AddCommand(newBackupCommand(&cfg, stdout))
	return root
}

// cliActor is who the audit log names for changes made from the command line.
var cliActor = privacy.Actor{ClientID: "cli", Role: "operator"}

// openAudit loads (or, on first use, creates) the audit keys in the data
// directory and returns the audit log over db, not yet started, telling
// react of its changes.
func openAudit(cfg *config, db *store.DB, react audit.Reactor, log *slog.Logger, reg prometheus.Registerer) (*audit.Log, error) {
	if err := cfg.ensureDataDir(); err != nil {
		return nil, err
	}
	origin, err := cfg.auditOrigin()
	if err != nil {
		return nil, err
	}
	keys, err := audit.LoadOrCreateKeys(cfg.dataDir, origin)
	if err != nil {
		return nil, err
	}
	// Subjects from before random pseudonyms keep theirs, and the key
	// that made them is destroyed (docs/subject-rights.md).
	adopted, err := audit.AdoptLegacyPseudonyms(context.Background(), db, cfg.dataDir)
	if err != nil {
		return nil, err
	}
	if adopted > 0 {
		log.Info("subjects from before random pseudonyms adopted; the HMAC key that named them is destroyed", "subjects", adopted)
	}
	if cfg.origin != "" && keys.Origin() != cfg.origin {
		log.Warn("the audit signing key already exists; --audit-origin is ignored", "origin", keys.Origin())
	}
	gather := cfg.auditGather
	if gather == 0 {
		gather = -1 // audit.Options' zero is its default
	}
	return audit.New(db, keys, audit.Options{CheckpointEvery: cfg.checkpointEvery, GatherDelay: gather, React: react, Log: log, Registerer: reg})
}

// toolReactions are the reactions of a command that changes something
// (a notice published from files, a client created): its changes announce
// themselves to webhooks as the server's do.
func toolReactions() audit.Reactor { return &app.Reactions{Outbox: webhook.NewOutbox()} }

// openDB opens the configured database and migrates it, so every command
// works on a fresh data directory.
func openDB(ctx context.Context, cfg *config) (*store.DB, int64, error) {
	if !store.IsPostgres(cfg.dsn()) {
		if err := cfg.ensureDataDir(); err != nil {
			return nil, 0, err
		}
	}
	db, err := store.Open(ctx, cfg.dsn(), store.Options{LockTimeout: cfg.lockTimeout})
	if err != nil {
		return nil, 0, err
	}
	v, err := db.Migrate(ctx)
	if err != nil {
		_ = db.Close()
		return nil, 0, err
	}
	return db, v, nil
}

// writeSecret writes content to path with mode 0600, atomically: a reader
// never sees a half-written token, and a stale file from an earlier data
// directory is replaced rather than trusted.
func writeSecret(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".admin.token-*")
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("token file: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("token file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	return nil
}

// registerAll registers every collector, stopping at the first refused.
func registerAll(reg prometheus.Registerer, cs []prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}
