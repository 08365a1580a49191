package httpapi

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HTTP-level Prometheus series, labelled by route template
// (bounded cardinality; no ids in labels).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// renderErrors counts answers that could not be encoded, each also a
	// 500 and an error log line.
	renderErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "consentry", Name: "http_requests_total", Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "consentry", Name: "http_request_duration_seconds", Help: "HTTP request latency by method and route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route"}),
		renderErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "consentry", Name: "http_render_errors_total", Help: "Answers that could not be encoded (each answered 500 and logged).",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.renderErrors} {
		if err := reg.Register(c); err != nil {
			return metrics{}, fmt.Errorf("httpapi: metrics: %w", err)
		}
	}
	return m, nil
}
