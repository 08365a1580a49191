package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// BenchmarkConsentOverLoopback measures durable consent writes per second
// with signed receipts: 64 concurrent clients post consents over real TCP
// on 127.0.0.1 to the full HTTP stack on SQLite (synchronous=FULL), with
// keep-alive connections. It reports writes/s and the p50/p99 latency.
// Run: make bench.
func BenchmarkConsentOverLoopback(b *testing.B) {
	const clients = 64
	e := MustOpenEnv(b)
	putPurpose(b, e, "navigation")
	putPurpose(b, e, "maintenance")
	notice := mustPublishedNotice(b, e, "cam")
	// Many devices, so that writes spread over subjects and devices as in production.
	devices := make([]string, clients)
	for i := range devices {
		d := newDevice(fmt.Sprintf("bench-consent-%d", i))
		d["notice_key"], d["owner_subject"] = "cam", fmt.Sprintf("subject-%d", i)
		devices[i] = mustCreateDevice(b, e, d)["id"].(string)
	}
	bodies := make([][]byte, clients)
	for i := range bodies {
		body := consentBody(devices[i], notice, choice("navigation", true), choice("maintenance", false))
		body["subject"] = fmt.Sprintf("subject-%d", i)
		bodies[i], _ = json.Marshal(body)
	}
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}, Timeout: 30 * time.Second}
	token := e.tokens[privacy.RoleApp]

	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		wg        sync.WaitGroup
		failed    atomic.Value
	)
	b.ResetTimer()
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/clients+1)
			for next.Add(1) <= int64(b.N) {
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/consents", bytes.NewReader(bodies[w]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					failed.Store(resp.Status)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(float64(len(latencies)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "consents/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
