package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/consentry/consentry"
	"github.com/consentry/consentry/internal/app"
	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/client"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/findings"
	"github.com/consentry/consentry/internal/gctune"
	"github.com/consentry/consentry/internal/httpapi"
	"github.com/consentry/consentry/internal/incident"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/policy"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/subjecttoken"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	root.AddCommand(newAuditCommand(getenv, stdout, stderr))
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

// serve runs the API until ctx ends, then drains in-flight requests.
func serve(ctx context.Context, cfg *config, stderr io.Writer) error {
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	if err := cfg.ensureDataDir(); err != nil {
		return err
	}
	db, version, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.CheckDurability(ctx); err != nil {
		return err
	}
	log.Info("database ready", "dialect", db.Dialect(), "schema_version", version)
	gogc, fromEnv := gctune.Apply()
	log.Info("garbage collector", "gogc", gogc, "from_env", fromEnv)

	reg := prometheus.NewRegistry()
	if err := registerAll(reg, []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}); err != nil {
		return err
	}
	keys, err := consent.OpenKeys(cfg.receiptKeys())
	if err != nil {
		return err
	}
	log.Info("receipt signing key ready", "kid", keys.CurrentKID())
	data, err := authz.NewData(db.Gorm())
	if err != nil {
		return err
	}

	// Who reacts to the changes the audit log commits: every reaction is
	// in internal/app's Reactions. The review is set once it exists; the
	// log starts only after that.
	memory, outbox := decide.NewMemory(), webhook.NewOutbox()
	react := &app.Reactions{Memory: memory, Policy: data, Outbox: outbox}
	auditLog, err := openAudit(cfg, db, react, log, reg)
	if err != nil {
		return err
	}
	notices := notice.NewService(db, auditLog)
	review, err := findings.New(findings.Sources{DB: db, Log: auditLog, Rules: data.Rules, KeyCreated: keys.CurrentCreated, Coverage: notices.Coverage},
		findings.Options{Log: log, Registerer: reg})
	if err != nil {
		return err
	}
	react.Review = review
	hooks, err := webhook.New(db, auditLog, outbox, webhook.Options{MaxAttempts: cfg.webhookAttempts, Backoff: cfg.webhookBackoff,
		Timeout: cfg.webhookTimeout, Retention: cfg.webhookRetention, Log: log, Registerer: reg})
	if err != nil {
		return err
	}
	decisions := decide.NewService(db, auditLog, data, memory)
	if err := registerAll(reg, decisions.Collectors()); err != nil {
		return err
	}

	auditLog.Start()
	defer auditLog.Close()
	log.Info("audit log ready", "origin", auditLog.Origin())
	if _, err := auditLog.Append(ctx, event.ServerStarted{Addr: cfg.addr}); err != nil {
		return fmt.Errorf("audit: record start: %w", err)
	}
	// Its transaction loads the decision facts into memory.
	if err := auditLog.Refresh(ctx); err != nil {
		return err
	}

	clients := client.NewService(db, auditLog)
	tokenPath := filepath.Join(cfg.dataDir, "admin.token")
	admin, created, err := clients.Bootstrap(ctx, func(token string) error { return writeSecret(tokenPath, token+"\n") })
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if created {
		// The path, never the token: logs are read by more people than the data dir.
		log.Info("no API client existed: created an admin client; its one-time token is in the file", "client_id", admin.ID, "path", tokenPath)
	}

	routes, err := authz.NewRoutes()
	if err != nil {
		return err
	}
	// Pick up a rotation made by `consentry keys rotate` while serving.
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := keys.Reload(); err != nil {
					log.Error("receipt keys reload failed; keeping the keys in use", "error", err)
				}
			}
		}
	}()
	// Subject tokens are bound to this deployment by its audit origin.
	subjectTokens, err := subjecttoken.LoadOrCreate(cfg.dataDir, auditLog.Origin())
	if err != nil {
		return err
	}
	// Stopped when serve returns, before the database closes: a start that
	// fails later (its port taken) must not leave a review reading a
	// closed database.
	reviewCtx, stopReview := context.WithCancel(ctx)
	defer stopReview()
	review.Start(reviewCtx)
	hooks.Start()
	defer hooks.Stop()
	gin.SetMode(gin.ReleaseMode)
	api, err := httpapi.NewServer(httpapi.Deps{
		Clients: clients, Purposes: purpose.NewService(db, auditLog), Devices: device.NewService(db, auditLog),
		Notices: notices, Consents: consent.NewService(db, auditLog, keys, cfg.baseURL()),
		Decisions: decisions, Policies: policy.NewService(db, auditLog, data), Audit: auditLog, Routes: routes,
		Incidents: incident.NewService(db), Findings: review, SubjectTokens: subjectTokens, Webhooks: hooks,
		Evidence: evidence.Sources{DB: db, Log: auditLog, JWKS: keys.JWKS, Policies: data.Rules, Findings: review.Refresh, NoticePage: notice.WritePage},
		Ready:    db.Ping, Registry: reg, Log: log, OpenAPI: consentry.OpenAPI, MaxBody: cfg.maxBody, RateLimit: cfg.rateLimit,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	scheme := "http"
	if cfg.tlsCert != "" {
		// Loaded now, so that a bad file stops the start rather than every handshake.
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("tls: %w", err)
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		scheme = "https"
		go func() { served <- hs.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- hs.Serve(ln) }()
	}
	log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if _, err := auditLog.Append(context.Background(), event.ServerStopped{}); err != nil {
		log.Error("audit: could not record the stop", "error", err)
	}
	log.Info("stopped")
	return nil
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
