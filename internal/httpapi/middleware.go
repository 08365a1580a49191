package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/subjecttoken"
	"github.com/consentry/consentry/internal/tracing"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"
)

// principalKey is the context key under which the authenticated client
// travels.
type principalKey struct{}

// principal returns the authenticated client of the request. Routes behind
// authenticate always have one; elsewhere ok is false.
func principal(ctx context.Context) (privacy.Client, bool) {
	c, ok := ctx.Value(principalKey{}).(privacy.Client)
	return c, ok
}

// requestIDPattern is what a caller-supplied X-Request-ID must look like to
// be kept; anything else (too long, odd bytes that could forge log lines)
// is replaced with a fresh id.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

const requestIDKey = "consentry.request_id"

func requestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// recoverer turns a panic into a logged 500 problem; the process lives on.
func (s *Server) recoverer() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				s.writeError(c, fmt.Errorf("httpapi: panic: %v", r))
			}
		}()
		c.Next()
	}
}

// securityHeaders are sent on every response: no MIME sniffing, no
// framing, no referrer leaking a notice or subject path to other sites.
// HTML pages add their own Content-Security-Policy.
func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		c.Next()
	}
}

// withRequestID gives every request an id, echoed in X-Request-ID.
func withRequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			id = uuid.Must(uuid.NewV7()).String()
		}
		c.Set(requestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Request = c.Request.WithContext(privacy.WithRequestID(c.Request.Context(), id))
		c.Next()
	}
}

// trace accepts the caller's W3C trace context and, with tracing on,
// makes the request a span of it. With tracing off, a request that sends
// no traceparent costs one header lookup; one that does keeps the
// caller's context, so that the access log names its trace and the
// webhooks the request causes carry it on.
func (s *Server) trace() gin.HandlerFunc {
	return func(c *gin.Context) {
		on := tracing.Enabled()
		// The canonical key read directly: Header.Get would build it, an
		// allocation on every request.
		if !on && len(c.Request.Header["Traceparent"]) == 0 {
			c.Next()
			return
		}
		ctx := tracing.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
		if !on {
			c.Request = c.Request.WithContext(ctx)
			c.Next()
			return
		}
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		ctx, span := tracing.Tracer().Start(ctx, c.Request.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(c.Request.Method), semconv.HTTPRoute(route),
				attribute.String("consentry.request_id", requestID(c))))
		defer span.End()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
		status := c.Writer.Status()
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if p, ok := principal(c.Request.Context()); ok {
			span.SetAttributes(attribute.String("consentry.client_id", p.ID), attribute.String("consentry.role", string(p.Role)))
		}
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
}

// observe writes the access log line and the request metrics. It logs the
// route template, never the concrete path or query: those can hold subject
// ids, which are personal data. No header is logged, so no token either.
func (s *Server) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		elapsed := time.Since(start)
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		s.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
		if !s.log.Enabled(c.Request.Context(), slog.LevelInfo) {
			return // the access log is off (log level warn or error): nothing to build
		}
		attrs := []slog.Attr{
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		}
		if p, ok := principal(c.Request.Context()); ok {
			attrs = append(attrs, slog.String("client_id", p.ID), slog.String("role", string(p.Role)))
		}
		if sc := trace.SpanContextFromContext(c.Request.Context()); sc.IsValid() {
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
		s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "http", attrs...)
	}
}

// authenticate requires a valid bearer token and puts its client in the
// request context.
func (s *Server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			s.writeError(c, privacy.Errorf(privacy.EUnauthorized, "an Authorization: Bearer <token> header is required"))
			return
		}
		token = strings.TrimSpace(token)
		var p privacy.Client
		if subjecttoken.LooksLike(token) {
			if s.subjects == nil {
				s.writeError(c, privacy.Errorf(privacy.EUnauthorized, "subject tokens are not enabled"))
				return
			}
			claims, err := s.subjects.Check(token, time.Now())
			if err != nil {
				s.writeError(c, privacy.Errorf(privacy.EUnauthorized, "%s", err.Error()))
				return
			}
			p = claims.Principal()
		} else {
			var err error
			if p, err = s.clients.Authenticate(c.Request.Context(), token); err != nil {
				s.writeError(c, err)
				return
			}
		}
		setPrincipal(c, p)
		c.Next()
	}
}

// setPrincipal makes p the request's caller: for the route policy, the
// subject scope and the audit entries' actor.
func setPrincipal(c *gin.Context, p privacy.Client) {
	ctx := context.WithValue(c.Request.Context(), principalKey{}, p)
	ctx = privacy.WithActor(ctx, privacy.Actor{ClientID: p.ID, Role: string(p.Role)})
	c.Request = c.Request.WithContext(ctx)
}

// authorize asks the route policy whether the caller's role may use this
// route. No rule, or an error while deciding, is a 403: default deny.
func (s *Server) authorize() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := principal(c.Request.Context())
		if !ok {
			s.writeError(c, privacy.Errorf(privacy.EUnauthorized, "not authenticated"))
			return
		}
		allowed, err := s.routes.Allowed(string(p.Role), c.FullPath(), c.Request.Method)
		if err != nil {
			s.log.ErrorContext(c.Request.Context(), "route policy failed; denying", slog.String("request_id", requestID(c)), slog.Any("error", err))
		}
		if err != nil || !allowed {
			s.writeError(c, privacy.Errorf(privacy.EForbidden, "role %s may not %s %s", p.Role, c.Request.Method, c.FullPath()))
			return
		}
		c.Next()
	}
}

// subjectScope keeps a subject token to its own subject: a route naming a
// subject in its path answers only for the token's subject. Routes that
// take a record id or a body check the record's subject themselves
// (ownSubject).
func (s *Server) subjectScope() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := principal(c.Request.Context())
		if !ok {
			s.writeError(c, privacy.Errorf(privacy.EUnauthorized, "not authenticated"))
			return
		}
		if p.Role == privacy.RoleSubject {
			if subject := c.Param("subject"); subject != "" && subject != p.Subject {
				s.writeError(c, privacy.Errorf(privacy.EForbidden, "a subject token acts for its own subject only"))
				return
			}
		}
		c.Next()
	}
}

// ownSubject refuses, for a subject token, anything about another
// subject. A record of someone else is reported as not found: a token
// must not learn which record ids exist.
func ownSubject(c *gin.Context, subject string, asNotFound bool) error {
	p, ok := principal(c.Request.Context())
	if !ok {
		// Never reached behind authenticate; if it were, refuse.
		return privacy.Errorf(privacy.EUnauthorized, "not authenticated")
	}
	if p.Role != privacy.RoleSubject || p.Subject == subject {
		return nil
	}
	if asNotFound {
		return privacy.Errorf(privacy.ENotFound, "no such record")
	}
	return privacy.FieldErrorf(privacy.EForbidden, "subject", "a subject token acts for its own subject only")
}

// rateLimit gives every client a token bucket (OWASP API4): s.rate
// requests a second sustained, bursts of twice that. A client over it gets
// 429 with Retry-After; one busy client cannot starve the others.
func (s *Server) rateLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.rate <= 0 {
			c.Next()
			return
		}
		p, ok := principal(c.Request.Context())
		if !ok {
			s.writeError(c, privacy.Errorf(privacy.EUnauthorized, "not authenticated"))
			return
		}
		// A subject token has its own bucket: one user of an app must not
		// spend the limit of all its other users.
		key := p.ID
		if p.Role == privacy.RoleSubject {
			key += "\x00" + p.Subject
		}
		l, ok := s.limiters.Get(key)
		if !ok {
			// A bucket evicted for being idle was full again anyway (it
			// refills in burst/rate = 2 s), so a new one changes nothing.
			l = rate.NewLimiter(rate.Limit(s.rate), max(1, int(2*s.rate)))
			if prev, found, _ := s.limiters.PeekOrAdd(key, l); found {
				l = prev
			}
		}
		now := time.Now()
		if l.AllowN(now, 1) {
			c.Next()
			return
		}
		r := l.ReserveN(now, 1)
		wait := r.DelayFrom(now)
		r.CancelAt(now)
		c.Header("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		s.writeError(c, privacy.Errorf(privacy.ERateLimited, "this client sent more than %g requests a second; retry after the Retry-After seconds", s.rate))
	}
}

// oneExport holds one of the few slots for a whole-log export, or refuses
// with 429: each export reads the entire audit log.
func (s *Server) oneExport(c *gin.Context) (release func(), err error) {
	select {
	case s.exports <- struct{}{}:
		return func() { <-s.exports }, nil
	default:
		c.Header("Retry-After", "10")
		return nil, privacy.Errorf(privacy.ERateLimited, "%d evidence exports are already running; retry later", MaxConcurrentExports)
	}
}
