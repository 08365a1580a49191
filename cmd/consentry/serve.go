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
	"net/http/pprof"
	"path/filepath"
	"strings"
	"time"

	consentry "github.com/consentry/consentry"
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
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/rights"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/subjecttoken"
	"github.com/consentry/consentry/internal/tracing"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// serve runs the API until ctx ends, then drains in-flight requests.
func serve(ctx context.Context, cfg *config, stderr io.Writer) error {
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	if err := cfg.ensureDataDir(); err != nil {
		return err
	}
	// Before the database opens: with tracing on, its driver is wrapped.
	stopTracing, err := tracing.Start(ctx, cfg.tracing, buildVersion(), stderr)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("tracing: spans not flushed at stop", "error", err)
		}
	}()
	if tracing.Enabled() {
		log.Info("tracing on", "exporter", cfg.tracing.Exporter, "protocol", cfg.tracing.Protocol)
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
	s, err := wire(cfg, db, log, reg)
	if err != nil {
		return err
	}
	// Stopped when serve returns, before the database closes: a start that
	// fails later (its port taken) must not leave work reading a closed
	// database.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := s.start(runCtx); err != nil {
		s.auditLog.Close()
		return err
	}
	defer s.auditLog.Close()
	defer s.hooks.Stop()
	api, err := s.handler(runCtx)
	if err != nil {
		return err
	}
	if cfg.pprofAddr != "" {
		if err := servePprof(runCtx, cfg.pprofAddr, log); err != nil {
			return err
		}
	}
	if err := listen(ctx, cfg, api, log); err != nil {
		return err
	}
	if _, err := s.auditLog.Append(context.Background(), event.ServerStopped{}); err != nil {
		log.Error("audit: could not record the stop", "error", err)
	}
	log.Info("stopped")
	return nil
}

// server is what one serving process runs.
type server struct {
	cfg       *config
	db        *store.DB
	log       *slog.Logger
	reg       *prometheus.Registry
	keys      *consent.Keys
	data      *authz.Data
	auditLog  *audit.Log
	notices   *notice.Service
	review    *findings.Engine
	hooks     *webhook.Service
	decisions *decide.Service
	consents  *consent.Service
	rights    *rights.Service
	devices   *device.Service
}

// wire builds the services and wires who reacts to the changes the audit
// log commits (every reaction is in internal/app's Reactions). Nothing
// runs yet.
func wire(cfg *config, db *store.DB, log *slog.Logger, reg *prometheus.Registry) (*server, error) {
	s := &server{cfg: cfg, db: db, log: log, reg: reg}
	var err error
	if s.keys, err = consent.OpenKeys(cfg.receiptKeys()); err != nil {
		return nil, err
	}
	log.Info("receipt signing key ready", "kid", s.keys.CurrentKID())
	if s.data, err = authz.NewData(func() authz.Lines { return db.Read(context.Background()) }); err != nil {
		return nil, err
	}
	memory, outbox := decide.NewMemory(), webhook.NewOutbox()
	ledger, err := rights.OpenLedger(filepath.Join(cfg.dataDir, rights.LedgerFile), log)
	if err != nil {
		return nil, err
	}
	// The review is set once it exists, before the log starts.
	react := &app.Reactions{Memory: memory, Policy: s.data, Outbox: outbox, Erasures: ledger}
	if s.auditLog, err = openAudit(cfg, db, react, log, reg); err != nil {
		return nil, err
	}
	s.notices = notice.NewService(db, s.auditLog)
	s.review, err = findings.New(findings.Sources{DB: db, Log: s.auditLog, Rules: s.data.Rules, KeyCreated: s.keys.CurrentCreated,
		Coverage: s.notices.Coverage}, findings.Options{Log: log, Registerer: reg, SanitizeWithin: cfg.sanitizeWithin})
	if err != nil {
		return nil, err
	}
	react.Review = s.review
	s.hooks, err = webhook.New(db, s.auditLog, outbox, webhook.Options{MaxAttempts: cfg.webhookAttempts, Backoff: cfg.webhookBackoff,
		Timeout: cfg.webhookTimeout, Retention: cfg.webhookRetention, Log: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	s.decisions = decide.NewService(db, s.auditLog, s.data, memory)
	s.consents = consent.NewService(db, s.auditLog, s.keys, cfg.baseURL())
	s.rights = rights.New(db, s.auditLog, s.consents, s.keys, ledger, rights.Options{Due: cfg.requestDue, Issuer: cfg.baseURL(), Log: log})
	s.devices = device.NewService(db, s.auditLog).EndConsentsWith(s.consents.WithdrawDevice)
	if err := registerAll(reg, s.decisions.Collectors()); err != nil {
		return nil, err
	}
	return s, nil
}

// start runs the audit log's writer, records the start, loads the
// decision facts, and starts the background work: receipt key reloads,
// the continuous review, webhook delivery. All of it stops when ctx ends.
func (s *server) start(ctx context.Context) error {
	s.auditLog.Start()
	s.log.Info("audit log ready", "origin", s.auditLog.Origin())
	if _, err := s.auditLog.Append(ctx, event.ServerStarted{Addr: s.cfg.addr}); err != nil {
		return fmt.Errorf("audit: record start: %w", err)
	}
	// Its transaction loads the decision facts into memory.
	if err := s.auditLog.Refresh(ctx); err != nil {
		return err
	}
	// A database restored from before an erasure knows the subject again:
	// erase it again before answering anyone.
	reapplied, err := s.rights.Reapply(ctx)
	if err != nil {
		return err
	}
	if reapplied > 0 {
		s.log.Warn("subjects erased before were back in the database (a backup restored?): erased again", "subjects", reapplied)
	}
	go s.rights.Run(ctx, 10*time.Second)
	// Guests' stays end on time for decisions (their grants expire then);
	// this records the end, with the withdrawals' receipts.
	go s.devices.RunGuests(ctx, 10*time.Second, s.log)
	// Pick up a rotation made by `consentry keys rotate` while serving.
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.keys.Reload(); err != nil {
					s.log.Error("receipt keys reload failed; keeping the keys in use", "error", err)
				}
			}
		}
	}()
	s.review.Start(ctx)
	s.hooks.Start()
	return nil
}

// handler makes the API: the first admin client if there is none, then
// the routes over every service.
func (s *server) handler(ctx context.Context) (http.Handler, error) {
	clients := client.NewService(s.db, s.auditLog)
	tokenPath := filepath.Join(s.cfg.dataDir, "admin.token")
	admin, created, err := clients.Bootstrap(ctx, func(token string) error { return writeSecret(tokenPath, token+"\n") })
	if err != nil {
		return nil, fmt.Errorf("bootstrap admin: %w", err)
	}
	if created {
		// The path, never the token: logs are read by more people than the data dir.
		s.log.Info("no API client existed: created an admin client; its one-time token is in the file", "client_id", admin.ID, "path", tokenPath)
	}
	routes, err := authz.NewRoutes()
	if err != nil {
		return nil, err
	}
	// Subject tokens are bound to this deployment by its audit origin.
	subjectTokens, err := subjecttoken.LoadOrCreate(s.cfg.dataDir, s.auditLog.Origin())
	if err != nil {
		return nil, err
	}
	var theme *notice.Theme
	if s.cfg.consentTheme != "" {
		if theme, err = notice.LoadTheme(s.cfg.consentTheme); err != nil {
			return nil, err
		}
	}
	gin.SetMode(gin.ReleaseMode)
	db, log, cfg := s.db, s.auditLog, s.cfg
	return httpapi.NewServer(httpapi.Deps{
		ConsentTheme: theme, SecureCookies: strings.HasPrefix(cfg.baseURL(), "https://"),
		Clients: clients, Purposes: purpose.NewService(db, log), Devices: s.devices,
		Notices: s.notices, Consents: s.consents, Rights: s.rights,
		Decisions: s.decisions, Policies: policy.NewService(db, log, s.data), Audit: log, Routes: routes,
		Incidents: incident.NewService(db), Findings: s.review, SubjectTokens: subjectTokens, Webhooks: s.hooks,
		Evidence: evidence.Sources{DB: db, Log: log, JWKS: s.keys.JWKS, Findings: s.review.Refresh,
			NoticePage: notice.WritePage},
		Ready: db.Ping, Registry: s.reg, Log: s.log, OpenAPI: consentry.OpenAPI, MaxBody: cfg.maxBody, RateLimit: cfg.rateLimit,
	})
}

// servePprof serves Go's runtime profiles on addr (validated loopback)
// until ctx ends. They live on their own listener, never on the API's:
// nothing there is authenticated.
func servePprof(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof: serve", "error", err)
		}
	}()
	log.Warn("serving runtime profiles: turn --pprof-addr off when done", "addr", ln.Addr().String())
	return nil
}

// listen serves api on the configured address until ctx ends, then drains
// the requests in flight.
func listen(ctx context.Context, cfg *config, api http.Handler, log *slog.Logger) error {
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
	return nil
}
