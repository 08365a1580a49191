package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/httpapi"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/tracing"
	"github.com/spf13/cobra"
)

// config is the service configuration: flags, which default to environment
// variables, which default to the values below.
type config struct {
	addr     string
	dataDir  string
	db       string
	maxBody  int64
	logLevel string
	// origin names the audit log in its checkpoints; used when the signing
	// key is first created.
	origin          string
	checkpointEvery time.Duration
	// auditGather is how long the audit writer waits for more changes
	// before a commit under load (0: never).
	auditGather time.Duration
	// publicURL is where people reach this service; receipts link notices under it.
	publicURL string
	// rateLimit is each client's sustained requests per second (0: none).
	rateLimit float64
	// tlsCert and tlsKey, when set, make serve speak HTTPS only.
	tlsCert, tlsKey string
	// Webhook delivery: tries before a delivery is dead, the first wait
	// (doubling after each failure), and the time one try may take.
	webhookAttempts int
	webhookBackoff  time.Duration
	webhookTimeout  time.Duration
	// webhookRetention is how long delivered webhook deliveries stay readable.
	webhookRetention time.Duration
	// requestDue is how long a data-subject request may take.
	requestDue time.Duration
	// sanitizeWithin is how long a disposed device may go without an
	// attestation of its sanitization before it is a finding.
	sanitizeWithin time.Duration
	// lockTimeout is how long a write waits for another writer's lock
	// before it is refused with 503.
	lockTimeout time.Duration
	// pprofAddr, when set, serves Go's runtime profiles there (loopback
	// only): how the time of a slow deployment is found.
	pprofAddr string
	// tracing is what the standard OTEL_* variables say: spans exported
	// over OTLP, or off.
	tracing tracing.Settings
	// consentTheme is the directory of the hosted consent flow's theme
	// (theme.json, logo.png); "" for the default look.
	consentTheme string
}

// bindConfig declares the persistent flags on root.
func bindConfig(root *cobra.Command, cfg *config, getenv func(string) string) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	maxBody := int64(httpapi.DefaultMaxBody)
	if v := getenv("CONSENTRY_MAX_BODY"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			maxBody = n
		}
	}
	f := root.PersistentFlags()
	f.StringVar(&cfg.addr, "addr", env("CONSENTRY_ADDR", "127.0.0.1:8080"), "listen address (env CONSENTRY_ADDR)")
	f.StringVar(&cfg.dataDir, "data-dir", env("CONSENTRY_DATA_DIR", "./data"), "directory for keys, the admin token file and the SQLite database (env CONSENTRY_DATA_DIR)")
	f.StringVar(&cfg.db, "db", env("CONSENTRY_DB", ""), "database: a postgres:// DSN, or a SQLite file path; default <data-dir>/consentry.db (env CONSENTRY_DB)")
	f.Int64Var(&cfg.maxBody, "max-body", maxBody, "request body limit in bytes (env CONSENTRY_MAX_BODY)")
	f.StringVar(&cfg.logLevel, "log-level", env("CONSENTRY_LOG_LEVEL", "info"), "debug, info, warn or error (env CONSENTRY_LOG_LEVEL)")
	f.StringVar(&cfg.origin, "audit-origin", env("CONSENTRY_AUDIT_ORIGIN", ""), "the audit log's checkpoint origin line, used when its signing key is first created; default consentry/<random> (env CONSENTRY_AUDIT_ORIGIN)")
	f.StringVar(&cfg.publicURL, "public-url", env("CONSENTRY_PUBLIC_URL", ""), "the service's public base URL, for links in consent receipts; default http://<addr> (env CONSENTRY_PUBLIC_URL)")
	f.StringVar(&cfg.tlsCert, "tls-cert", env("CONSENTRY_TLS_CERT", ""), "PEM certificate (chain) file: serve HTTPS only; needs --tls-key (env CONSENTRY_TLS_CERT)")
	f.StringVar(&cfg.consentTheme, "consent-theme", env("CONSENTRY_CONSENT_THEME", ""), "a directory with theme.json (name, primary, background, text colors) and optionally logo.png for the hosted consent pages (env CONSENTRY_CONSENT_THEME)")
	f.StringVar(&cfg.pprofAddr, "pprof-addr", env("CONSENTRY_PPROF_ADDR", ""), "serve Go's runtime profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060; off by default (env CONSENTRY_PPROF_ADDR)")
	f.StringVar(&cfg.tlsKey, "tls-key", env("CONSENTRY_TLS_KEY", ""), "PEM private key file for --tls-cert (env CONSENTRY_TLS_KEY)")
	rate := 5000.0
	if v, err := strconv.ParseFloat(getenv("CONSENTRY_RATE_LIMIT"), 64); err == nil {
		rate = v
	}
	f.Float64Var(&cfg.rateLimit, "rate-limit", rate, "requests per second each API client may sustain, bursts of twice that; 0 turns the limit off (env CONSENTRY_RATE_LIMIT)")
	durationEnv := func(name string, def time.Duration) time.Duration {
		if v, err := time.ParseDuration(getenv(name)); err == nil {
			return v
		}
		return def
	}
	attempts := 10
	if v, err := strconv.Atoi(getenv("CONSENTRY_WEBHOOK_ATTEMPTS")); err == nil {
		attempts = v
	}
	f.IntVar(&cfg.webhookAttempts, "webhook-attempts", attempts, "tries of a webhook delivery before it is dead (env CONSENTRY_WEBHOOK_ATTEMPTS)")
	f.DurationVar(&cfg.webhookBackoff, "webhook-backoff", durationEnv("CONSENTRY_WEBHOOK_BACKOFF", time.Second),
		"wait after a webhook delivery's first failed try; it doubles after each, up to 1h (env CONSENTRY_WEBHOOK_BACKOFF)")
	f.DurationVar(&cfg.webhookTimeout, "webhook-timeout", durationEnv("CONSENTRY_WEBHOOK_TIMEOUT", 5*time.Second),
		"time one webhook delivery try may take (env CONSENTRY_WEBHOOK_TIMEOUT)")
	f.DurationVar(&cfg.webhookRetention, "webhook-retention", durationEnv("CONSENTRY_WEBHOOK_RETENTION", 30*24*time.Hour),
		"how long delivered and cancelled webhook deliveries stay readable; dead ones stay until retried (env CONSENTRY_WEBHOOK_RETENTION)")
	f.DurationVar(&cfg.requestDue, "request-due", durationEnv("CONSENTRY_REQUEST_DUE", 30*24*time.Hour),
		"how long a data-subject request may take before it is overdue, and a finding (env CONSENTRY_REQUEST_DUE)")
	f.DurationVar(&cfg.sanitizeWithin, "sanitize-within", durationEnv("CONSENTRY_SANITIZE_WITHIN", 7*24*time.Hour),
		"how long a disposed device may go without an attestation of its sanitization before it is a finding (env CONSENTRY_SANITIZE_WITHIN)")
	every := 10 * time.Second
	if v, err := time.ParseDuration(getenv("CONSENTRY_CHECKPOINT_INTERVAL")); err == nil {
		every = v
	}
	f.DurationVar(&cfg.checkpointEvery, "checkpoint-interval", every, "how often a grown audit log gets a signed checkpoint (env CONSENTRY_CHECKPOINT_INTERVAL)")
	f.DurationVar(&cfg.lockTimeout, "lock-timeout", durationEnv("CONSENTRY_LOCK_TIMEOUT", store.DefaultLockTimeout),
		"how long a write waits for a database lock another writer holds (a backup, an operator's transaction) before it is refused with 503 and Retry-After (env CONSENTRY_LOCK_TIMEOUT)")
	f.DurationVar(&cfg.auditGather, "audit-gather", durationEnv("CONSENTRY_AUDIT_GATHER", 500*time.Microsecond),
		"under load, how long the audit writer waits for more changes to share a commit; 0 never waits (env CONSENTRY_AUDIT_GATHER)")
}

// validate checks values that flags cannot.
func (c *config) validate(getenv func(string) string) error {
	if v := getenv("CONSENTRY_MAX_BODY"); v != "" {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("CONSENTRY_MAX_BODY=%q is not a number of bytes", v)
		}
	}
	if c.maxBody < 1024 {
		return fmt.Errorf("--max-body must be at least 1024 bytes")
	}
	if v := getenv("CONSENTRY_CHECKPOINT_INTERVAL"); v != "" {
		if _, err := time.ParseDuration(v); err != nil {
			return fmt.Errorf("CONSENTRY_CHECKPOINT_INTERVAL=%q is not a duration such as 10s", v)
		}
	}
	if v := getenv("CONSENTRY_RATE_LIMIT"); v != "" {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("CONSENTRY_RATE_LIMIT=%q is not a number of requests per second", v)
		}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
	}
	if c.pprofAddr != "" && !loopback(c.pprofAddr) {
		return fmt.Errorf("--pprof-addr must be a loopback address such as 127.0.0.1:6060: profiles show the process's memory and must not leave the host")
	}
	if c.rateLimit < 0 {
		return fmt.Errorf("--rate-limit must be 0 (off) or more")
	}
	if c.lockTimeout < 10*time.Millisecond || c.lockTimeout > time.Minute {
		return fmt.Errorf("--lock-timeout must be between 10ms and 1m")
	}
	for _, name := range []string{"CONSENTRY_LOCK_TIMEOUT", "CONSENTRY_AUDIT_GATHER", "CONSENTRY_WEBHOOK_BACKOFF", "CONSENTRY_WEBHOOK_TIMEOUT", "CONSENTRY_WEBHOOK_RETENTION",
		"CONSENTRY_REQUEST_DUE", "CONSENTRY_SANITIZE_WITHIN"} {
		if v := getenv(name); v != "" {
			if _, err := time.ParseDuration(v); err != nil {
				return fmt.Errorf("%s=%q is not a duration such as 5s", name, v)
			}
		}
	}
	if v := getenv("CONSENTRY_WEBHOOK_ATTEMPTS"); v != "" {
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("CONSENTRY_WEBHOOK_ATTEMPTS=%q is not a number of tries", v)
		}
	}
	if c.webhookAttempts < 1 || c.webhookAttempts > 100 {
		return fmt.Errorf("--webhook-attempts must be between 1 and 100")
	}
	if c.webhookBackoff < 10*time.Millisecond || c.webhookBackoff > time.Hour {
		return fmt.Errorf("--webhook-backoff must be between 10ms and 1h")
	}
	if c.webhookTimeout < 100*time.Millisecond || c.webhookTimeout > time.Minute {
		return fmt.Errorf("--webhook-timeout must be between 100ms and 1m")
	}
	if c.webhookRetention < time.Hour {
		return fmt.Errorf("--webhook-retention must be at least 1h")
	}
	if c.requestDue < time.Hour || c.requestDue > 90*24*time.Hour {
		return fmt.Errorf("--request-due must be between 1h and 2160h (90 days)")
	}
	if c.sanitizeWithin < time.Hour || c.sanitizeWithin > 365*24*time.Hour {
		return fmt.Errorf("--sanitize-within must be between 1h and 8760h (a year)")
	}
	if c.auditGather < 0 || c.auditGather > 10*time.Millisecond {
		return fmt.Errorf("--audit-gather must be between 0 (never wait) and 10ms")
	}
	if c.checkpointEvery < time.Second {
		return fmt.Errorf("--checkpoint-interval must be at least 1s")
	}
	if c.dataDir == "" {
		return fmt.Errorf("--data-dir must not be empty")
	}
	var err error
	if c.tracing, err = tracing.FromEnv(getenv); err != nil {
		return err
	}
	return nil
}

// loopback reports whether addr is host:port with a loopback IP or localhost.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dsn is the database to open: --db, or the SQLite file in the data dir.
func (c *config) dsn() string {
	if c.db != "" {
		return c.db
	}
	return filepath.Join(c.dataDir, "consentry.db")
}

// ensureDataDir creates the data directory, readable by its owner only: it
// holds the admin token and, by default, the database.
func (c *config) ensureDataDir() error {
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}

// logger builds the JSON logger on w.
func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(c.logLevel))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
}

// baseURL is --public-url, or the listen address.
func (c *config) baseURL() string {
	if c.publicURL != "" {
		return strings.TrimRight(c.publicURL, "/")
	}
	if c.tlsCert != "" {
		return "https://" + c.addr
	}
	return "http://" + c.addr
}

// receiptKeys is the receipt key file in the data directory.
func (c *config) receiptKeys() string { return filepath.Join(c.dataDir, "receipt-keys.json") }

// auditOrigin is the origin for a new signing key: --audit-origin, or
// consentry/ and a random suffix, so two deployments never share a name.
func (c *config) auditOrigin() (string, error) {
	if c.origin != "" {
		return c.origin, nil
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("audit origin: %w", err)
	}
	return "consentry/" + hex.EncodeToString(b), nil
}

// buildVersion is the module version the binary was built from ("(devel)"
// for a build from a work tree), as spans' service.version.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
