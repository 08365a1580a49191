// Package httpapi is Consentry's REST API: gin routes, the middleware every
// request passes (recovery, request id, trace context, access log and metrics, bearer
// authentication, role check), strict JSON decoding, problem+json errors,
// and the swag annotations that openapi.yaml is generated from.
//
// @title                      Consentry API
// @version                    1
// @description                Privacy consent and PII governance for IoT (ISO/IEC 27400:2022 clause 7.2).
// @description                Errors are RFC 9457 application/problem+json bodies with a stable `code`.
// @description                Every route accepts W3C trace context (`traceparent`, `tracestate` headers): the access log names the trace, webhook deliveries the request causes carry it on, and with OpenTelemetry export on (the standard `OTEL_*` variables) the request is a span of it.
// @securityDefinitions.apikey BearerAuth
// @in                         header
// @name                       Authorization
// @description                An API client token: `Authorization: Bearer cst_…`.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/client"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/findings"
	"github.com/consentry/consentry/internal/incident"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/policy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/rights"
	"github.com/consentry/consentry/internal/subjecttoken"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/gin-gonic/gin"
	"github.com/go-playground/validator/v10"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// DefaultMaxBody is the request body limit when Deps.MaxBody is 0.
const DefaultMaxBody = 1 << 20

// Deps is everything the API needs, wired by cmd/consentry.
type Deps struct {
	Clients   *client.Service
	Purposes  *purpose.Service
	Devices   *device.Service
	Notices   *notice.Service
	Consents  *consent.Service
	Decisions *decide.Service
	Policies  *policy.Service
	Audit     *audit.Log
	// SubjectTokens mints and checks subject-scoped tokens; nil turns
	// them off.
	SubjectTokens *subjecttoken.Issuer
	// Findings is the continuous review.
	Findings *findings.Engine
	// Incidents finds the devices an incident affects.
	Incidents *incident.Service
	// Webhooks manages the subscriptions to change events.
	Webhooks *webhook.Service
	// Rights runs data-subject requests; nil turns them off (503).
	Rights *rights.Service
	// Evidence is what GET /v1/evidence exports.
	Evidence evidence.Sources
	Routes   *authz.Routes
	// Ready reports whether the service can serve (the database answers).
	Ready func(ctx context.Context) error
	// Registry receives the HTTP metrics and is served on /metrics.
	Registry *prometheus.Registry
	Log      *slog.Logger
	// OpenAPI is the contract served on /openapi.yaml.
	OpenAPI []byte
	// MaxBody caps request bodies, in bytes.
	MaxBody int64
	// RateLimit is each client's sustained requests per second, with
	// bursts of twice that; 0 means no limit.
	RateLimit float64
	// ConsentTheme dresses the hosted consent flow's pages; nil is the
	// default look.
	ConsentTheme *notice.Theme
	// SecureCookies marks the flow's session cookie Secure even on a
	// plain-HTTP request (the service is reached over HTTPS through a
	// proxy: its public URL is https).
	SecureCookies bool
}

// Server is the HTTP API.
type Server struct {
	clients   *client.Service
	purposes  *purpose.Service
	devices   *device.Service
	notices   *notice.Service
	consents  *consent.Service
	webhooks  *webhook.Service
	rights    *rights.Service
	decisions *decide.Service
	policies  *policy.Service
	audit     *audit.Log
	evidence  evidence.Sources
	incidents *incident.Service
	findings  *findings.Engine
	subjects  *subjecttoken.Issuer
	routes    *authz.Routes
	ready     func(ctx context.Context) error
	registry  *prometheus.Registry
	log       *slog.Logger
	openapi   []byte
	maxBody   int64
	rate      float64
	// limiters holds a token bucket per client (per subject for subject
	// tokens), the least recently used evicted past MaxLimiters: an idle
	// client's bucket has refilled, so dropping it loses nothing, and one
	// app's millions of subjects cannot grow memory without bound.
	limiters *lru.Cache[string, *rate.Limiter]
	// exports bounds the evidence exports and reports running at once:
	// each reads the whole audit log.
	exports  chan struct{}
	validate *validator.Validate
	metrics  metrics
	// pages keeps each published notice version's page body, converted
	// from Markdown once.
	pages  *notice.Pages
	engine *gin.Engine
	// theme and secureCookies: the hosted consent flow's (Deps).
	theme         *notice.Theme
	secureCookies bool
}

// MaxLimiters is how many rate-limit buckets are kept: 65,536 of at most
// about 400 bytes each (a subject token's key holds the subject id).
const MaxLimiters = 1 << 16

// MaxConcurrentExports is how many evidence exports or reports may run at
// once; more are refused with 429.
const MaxConcurrentExports = 2

// NewServer builds the API and its routes.
func NewServer(d Deps) (*Server, error) {
	s := &Server{clients: d.Clients, purposes: d.Purposes, devices: d.Devices, notices: d.Notices, consents: d.Consents, webhooks: d.Webhooks, rights: d.Rights, decisions: d.Decisions, policies: d.Policies, audit: d.Audit, evidence: d.Evidence, incidents: d.Incidents, findings: d.Findings, subjects: d.SubjectTokens, routes: d.Routes, ready: d.Ready,
		registry: d.Registry, log: d.Log, openapi: d.OpenAPI, maxBody: d.MaxBody, rate: d.RateLimit, validate: newValidator(),
		exports: make(chan struct{}, MaxConcurrentExports), pages: notice.NewPages(0), theme: d.ConsentTheme, secureCookies: d.SecureCookies}
	if s.theme == nil {
		s.theme = notice.DefaultTheme()
	}
	s.limiters, _ = lru.New[string, *rate.Limiter](MaxLimiters) // fails only for a size below one
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	var err error
	if s.metrics, err = newMetrics(s.registry); err != nil {
		return nil, err
	}
	s.engine = s.newEngine()
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Engine exposes the gin engine, for the route listing that tests compare
// with openapi.yaml.
func (s *Server) Engine() *gin.Engine { return s.engine }
