package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// statusResponse is the body of the health endpoints.
type statusResponse struct {
	// "ok" for liveness, "ready" for readiness.
	Status string `json:"status" example:"ok"`
}

// healthz says the process is up.
//
// @Summary  Liveness
// @ID       healthz
// @Tags     operations
// @Produce  json
// @Success  200 {object} statusResponse
// @Router   /healthz [get]
func (s *Server) healthz(c *gin.Context) {
	writeJSON(c, http.StatusOK, statusResponse{Status: "ok"})
}

// readyz says whether the service can do its job: the database answers and
// the audit log can be written.
//
// @Summary  Readiness
// @ID       readyz
// @Description 200 when the database answers within 2 seconds and the audit log is healthy (its last append succeeded, or an empty append tried now succeeds, and it is consistent with its last signed checkpoint); 503 otherwise, with the reason in detail (for example: the database is locked by another writer).
// @Tags     operations
// @Produce  json
// @Success  200 {object} statusResponse
// @Failure  503 {object} problem "database unreachable or audit log unhealthy"
// @Router   /readyz [get]
func (s *Server) readyz(c *gin.Context) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if s.ready != nil {
		if err := s.ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", "error", err)
			return privacy.Errorf(privacy.EUnavailable, "the database is not reachable")
		}
	}
	err := s.audit.Health()
	if err != nil && s.audit.Recheck(ctx) == nil {
		// What made the last append fail has passed (a lock released).
		err = s.audit.Health()
	}
	if err != nil {
		s.log.WarnContext(ctx, "not ready", "error", err)
		return privacy.Errorf(privacy.EUnavailable, "the audit log is not healthy: %s", err.Error())
	}
	writeJSON(c, http.StatusOK, statusResponse{Status: "ready"})
	return nil
}

// metricsHandler serves Prometheus metrics.
//
// @Summary  Prometheus metrics
// @ID       metricsHandler
// @Description Metrics in the Prometheus text exposition format.
// @Tags     operations
// @Produce  plain
// @Success  200 {string} string "metrics"
// @Router   /metrics [get]
func (s *Server) metricsHandler() gin.HandlerFunc {
	return gin.WrapH(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
}
