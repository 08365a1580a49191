package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
)

// BenchmarkConsentOverLoopback measures durable consent writes per second
// with signed receipts: 64 concurrent clients post consents over real TCP
// on 127.0.0.1 to the full HTTP stack on SQLite (synchronous=FULL), with
// keep-alive connections. Consents go to benchSubjects subjects in turn
// (CONSENTRY_BENCH_SUBJECTS), as from many people: each one's rows land on
// a page of their own, where a few subjects would share a few hot pages.
// It reports writes/s and the p50/p99 latency. Run: make bench.
func BenchmarkConsentOverLoopback(b *testing.B) {
	const clients = 64
	e := MustOpenEnv(b)
	putPurpose(b, e, "navigation")
	putPurpose(b, e, "maintenance")
	notice := mustPublishedNotice(b, e, "cam")
	// Devices without an owner, so that any subject may consent on them.
	devices := make([]string, clients)
	for i := range devices {
		d := newDevice(fmt.Sprintf("bench-consent-%d", i))
		d["notice_key"] = "cam"
		delete(d, "owner_subject")
		devices[i] = mustCreateDevice(b, e, d)["id"].(string)
	}
	bodies := make([][]byte, benchSubjects())
	for i := range bodies {
		body := consentBody(devices[i%clients], notice, choice("navigation", true), choice("maintenance", false))
		body["subject"] = fmt.Sprintf("subject-%d", i)
		bodies[i], _ = json.Marshal(body)
	}
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	b.ResetTimer()
	rate, lat := loadRun(b, ts.URL+"/v1/consents", e.tokens[privacy.RoleApp], clients, http.StatusCreated, bodies, func([]byte) error { return nil })
	b.StopTimer()
	b.ReportMetric(rate, "consents/s")
	b.ReportMetric(pct(lat, 0.50), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
}
