package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// problem is an RFC 9457 problem details body, the shape of every error.
type problem struct {
	// A URI naming the problem type: urn:consentry:problem:<code>.
	Type string `json:"type" example:"urn:consentry:problem:invalid"`
	// Short summary of the problem type.
	Title string `json:"title" example:"Unprocessable Entity"`
	// The HTTP status code.
	Status int `json:"status" example:"422"`
	// What went wrong in this occurrence.
	Detail string `json:"detail" example:"invalid inventory"`
	// Stable machine-readable code; clients branch on this, never on detail.
	Code string `json:"code" enums:"malformed,invalid,notice_uncovered,not_found,conflict,gone,invalid_transition,unauthorized,forbidden,too_large,unsupported_media_type,route_not_found,method_not_allowed,unavailable,rate_limited,internal" example:"invalid"`
	// The first offending field, as a JSON path, when the problem is about one.
	Field string `json:"field,omitempty" example:"elements[0].retention"`
	// Every offending field, so that all can be fixed in one round trip: at most 100.
	Errors []fieldProblem `json:"errors,omitempty" validate:"max=100"`
	// How many more offending fields there were than errors lists.
	ErrorsOmitted int `json:"errors_omitted,omitempty" example:"0"`
	// For notice_uncovered: everything the notice version fails to state, at most 100.
	Gaps []gap `json:"gaps,omitempty" validate:"max=100"`
	// How many more gaps there were than gaps lists.
	GapsOmitted int `json:"gaps_omitted,omitempty" example:"0"`
	// The request id (also in the X-Request-ID header), for support and logs.
	RequestID string `json:"request_id" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
}

// fieldProblem is one offending field.
type fieldProblem struct {
	// JSON path of the field, e.g. elements[2].purposes[0], or a query parameter name.
	Field string `json:"field" example:"elements[0].retention"`
	// What is wrong with it.
	Detail string `json:"detail" example:"\"30 days\" is not an ISO 8601 duration such as P30D or P1Y"`
}

// statusClientClosed is recorded, never sent, for a request whose client
// went away before the answer.
const statusClientClosed = 499

// statusOf is the only map from error code to HTTP status.
var statusOf = map[string]int{
	privacy.EMalformed:            http.StatusBadRequest,
	privacy.EInvalid:              http.StatusUnprocessableEntity,
	privacy.ENoticeUncovered:      http.StatusUnprocessableEntity,
	privacy.ENotFound:             http.StatusNotFound,
	privacy.EConflict:             http.StatusConflict,
	privacy.EGone:                 http.StatusGone,
	privacy.EInvalidTransition:    http.StatusConflict,
	privacy.EUnauthorized:         http.StatusUnauthorized,
	privacy.EForbidden:            http.StatusForbidden,
	privacy.ETooLarge:             http.StatusRequestEntityTooLarge,
	privacy.EUnsupportedMediaType: http.StatusUnsupportedMediaType,
	privacy.ERouteNotFound:        http.StatusNotFound,
	privacy.EMethodNotAllowed:     http.StatusMethodNotAllowed,
	privacy.EUnavailable:          http.StatusServiceUnavailable,
	privacy.ERateLimited:          http.StatusTooManyRequests,
	privacy.EInternal:             http.StatusInternalServerError,
}

// clientGone reports whether the request's client has hung up: net/http
// cancels a request's context only then (a load generator stopping, a
// phone losing signal). It is no server failure.
func clientGone(c *gin.Context) bool {
	return errors.Is(c.Request.Context().Err(), context.Canceled)
}

// streamFailed ends a response whose status and first bytes are already
// sent: it cannot become a problem document, so the body ends short (an
// evidence bundle without its manifest, which no verifier accepts) and
// the log says why. A write to a client that hung up fails with whatever
// the socket says, so only the context tells.
func (s *Server) streamFailed(c *gin.Context, what string, err error) {
	ctx := c.Request.Context()
	attrs := []any{slog.String("request_id", requestID(c)), slog.String("route", c.FullPath()), slog.Any("error", err)}
	if clientGone(c) {
		s.log.InfoContext(ctx, "client closed the request while "+what+" streamed", attrs...)
	} else {
		s.log.ErrorContext(ctx, what+" failed while streaming", attrs...)
	}
	c.Abort()
}

// writeError renders err as problem+json and aborts the chain. Internal
// errors are logged with their cause and answered with no detail: a cause
// can carry SQL or file paths that are no client's business.
func (s *Server) writeError(c *gin.Context, err error) {
	if clientGone(c) && errors.Is(err, context.Canceled) {
		// The client hung up before the answer: no one reads a reply.
		// Metrics count it as 499, after nginx's status for the same; a
		// change already queued may still commit.
		s.log.InfoContext(c.Request.Context(), "client closed the request", slog.String("request_id", requestID(c)), slog.String("route", c.FullPath()))
		c.AbortWithStatus(statusClientClosed)
		return
	}
	code := privacy.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, privacy.EInternal
	}
	p := problem{Type: "urn:consentry:problem:" + code, Title: http.StatusText(status), Status: status, Code: code,
		RequestID: requestID(c)}
	var e *privacy.Error
	if code != privacy.EInternal && errors.As(err, &e) {
		p.Detail = e.Detail
		for _, f := range e.Fields {
			p.Errors = append(p.Errors, fieldProblem(f))
		}
		if len(p.Errors) > 0 {
			p.Field = p.Errors[0].Field
		}
		p.ErrorsOmitted = e.Omitted
		gaps := e.Gaps
		if len(gaps) > privacy.MaxFieldErrors {
			p.GapsOmitted = len(gaps) - privacy.MaxFieldErrors
			gaps = gaps[:privacy.MaxFieldErrors]
		}
		p.Gaps = newGaps(gaps)
	} else {
		p.Detail = "internal error"
		s.log.ErrorContext(c.Request.Context(), "request failed", slog.String("request_id", p.RequestID),
			slog.String("route", c.FullPath()), slog.Any("error", err))
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="consentry"`)
	}
	if status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		// Locks are waited for up to 2 s by default; a retry sooner
		// would most likely meet the same lock.
		c.Header("Retry-After", "2")
	}
	c.Header("Cache-Control", "no-store")
	c.Render(status, jsonRenderer{v: p, contentType: "application/problem+json"})
	c.Abort()
}

// handle adapts a handler that returns an error to gin: the error, if any,
// is rendered once, here.
func (s *Server) handle(h func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			s.writeError(c, err)
		}
	}
}

// renderGuard answers a 500 problem, logged at error level and counted,
// when a route's answer could not be encoded: gin's Render keeps the
// error in c.Errors, sends nothing and would end with an empty 200. An
// answer already partly sent cannot become a problem; it is logged and
// cut short.
func (s *Server) renderGuard() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		s.renderFailed(c)
	}
}

func (s *Server) renderFailed(c *gin.Context) {
	last := c.Errors.Last()
	if last == nil {
		return
	}
	s.metrics.renderErrors.Inc()
	err := fmt.Errorf("httpapi: render %s: %w", c.FullPath(), last.Err)
	if c.Writer.Written() {
		s.streamFailed(c, "the answer", err)
		return
	}
	c.Errors = c.Errors[:0]
	s.writeError(c, err)
}
