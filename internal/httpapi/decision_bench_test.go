package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// benchSubjects is how many subjects hold a consent in the decision
// benchmark, and how many the consent benchmark writes for
// (CONSENTRY_BENCH_SUBJECTS, default 100,000).
func benchSubjects() int {
	if n, err := strconv.Atoi(os.Getenv("CONSENTRY_BENCH_SUBJECTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadRun posts bodies[i%len] from clients concurrent keep-alive clients
// over loopback, each reply having to be status and pass check, and
// returns requests/s and the sorted latencies. The clients are lean
// (leanClients) unless CONSENTRY_BENCH_CLIENT=net/http asks for net/http's.
func loadRun(b *testing.B, url, token string, clients, status int, bodies [][]byte, check func([]byte) error) (float64, []time.Duration) {
	newClient := leanClients(url, token, bodies)
	if os.Getenv("CONSENTRY_BENCH_CLIENT") == "net/http" {
		newClient = transportClients(url, token, bodies)
	}
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		wg        sync.WaitGroup
		failed    atomic.Value
	)
	post := make([]poster, clients)
	for c := range post {
		p, closeClient, err := newClient()
		if err != nil {
			b.Fatal(err)
		}
		defer closeClient()
		post[c] = p
	}
	stop := profileLoad(b)
	defer stop()
	before := auditCommits(b, url)
	cpuBefore := processCPU(b)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				t0 := time.Now()
				code, body, err := post[c](int(i) % len(bodies))
				if err != nil {
					failed.Store(err.Error())
					return
				}
				if code != status {
					failed.Store(strconv.Itoa(code) + ": " + string(body))
					return
				}
				if err := check(body); err != nil {
					failed.Store(err.Error())
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
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	// CPU time per request, server and load generator together: steadier
	// than the rate on this shared machine, whose speed varies by the hour.
	b.ReportMetric(float64((processCPU(b)-cpuBefore).Microseconds())/float64(b.N), "cpu-us/op")
	after := auditCommits(b, url)
	if n := after[1] - before[1]; n > 0 {
		// Group commit's batch: changes per audit transaction.
		b.ReportMetric((after[0]-before[0])/n, "changes/commit")
	}
	slices.Sort(latencies)
	return float64(b.N) / elapsed.Seconds(), latencies
}

// poster posts the i-th request of a load run and returns the answer's
// status and body.
type poster func(i int) (status int, body []byte, err error)

// leanClients makes keep-alive HTTP/1.1 connections to url's server,
// each posting bodies[i] to url: the requests' bytes are prepared once, and
// answers are read with http.ReadResponse. The load generator shares the
// two cores with the server, so what it spends the server loses; net/http's
// Transport costs 20-30 µs of CPU more per request here (two goroutines
// per connection and the hand-offs between them: the loopback floor, load
// generator included, is 37-39 µs per request with this one, 59-71 with
// net/http's).
func leanClients(url, token string, bodies [][]byte) func() (poster, func(), error) {
	u, err := neturl.Parse(url)
	if err != nil {
		return func() (poster, func(), error) { return nil, nil, err }
	}
	requests := make([][]byte, len(bodies))
	for i, body := range bodies {
		requests[i] = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
			u.RequestURI(), u.Host, token, len(body), body)
	}
	return func() (poster, func(), error) {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			return nil, nil, err
		}
		r := bufio.NewReader(conn)
		return func(i int) (int, []byte, error) {
			if _, err := conn.Write(requests[i]); err != nil {
				return 0, nil, err
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				return 0, nil, err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, body, err
		}, func() { conn.Close() }, nil
	}
}

// transportClients posts with net/http's client, one connection each, for
// comparison with leanClients (CONSENTRY_BENCH_CLIENT=net/http).
func transportClients(url, token string, bodies [][]byte) func() (poster, func(), error) {
	return func() (poster, func(), error) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}, Timeout: 30 * time.Second}
		return func(i int) (int, []byte, error) {
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
			if err != nil {
				return 0, nil, err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				return 0, nil, err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, body, err
		}, client.CloseIdleConnections, nil
	}
}

// auditCommits reads the audit writer's sum of changes and count of
// commits from the /metrics of the server url is on.
func auditCommits(b *testing.B, url string) [2]float64 {
	u, err := neturl.Parse(url)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.Get(u.Scheme + "://" + u.Host + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	var out [2]float64
	for _, line := range strings.Split(string(text), "\n") {
		for i, name := range []string{"consentry_audit_batch_changes_sum ", "consentry_audit_batch_changes_count "} {
			if v, ok := strings.CutPrefix(line, name); ok {
				out[i], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out
}

// profileLoad writes a CPU profile of the measured load only (not the
// set-up) to $CONSENTRY_BENCH_CPUPROFILE-<benchmark name>, when set.
func profileLoad(b *testing.B) func() {
	dir := os.Getenv("CONSENTRY_BENCH_CPUPROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(dir + "-" + strings.ReplaceAll(b.Name(), "/", "_") + ".prof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func pct(l []time.Duration, p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	return float64(l[int(float64(len(l)-1)*p)].Microseconds()) / 1000
}

// BenchmarkDecisionOverLoopback measures access decisions, each durably
// audited (SQLite, synchronous=FULL, group commit), with benchSubjects
// subjects holding consents and 1,000 policy rules loaded: single
// decisions from 64 keep-alive clients, and batches of 100, over TCP on
// 127.0.0.1. Run: make bench.
func BenchmarkDecisionOverLoopback(b *testing.B) {
	e, _, notice := consentEnv(b)
	// A shared device with no owner: many subjects use it.
	dev := newDevice("bench-decide")
	dev["notice_key"] = "cam"
	delete(dev, "owner_subject")
	deviceID := mustCreateDevice(b, e, dev)["id"].(string)
	if r := e.do(b, privacy.RoleAdmin, http.MethodPut, "/v1/devices/"+deviceID+"/inventory", validInventory()); r.Code != http.StatusCreated {
		b.Fatal(r.Body.String())
	}
	subjects := benchSubjects()
	// Consents for every subject, through the service, 64 at a time.
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(subjects) {
					return
				}
				body := consentBody(deviceID, notice, choice("navigation", true))
				body["subject"] = fmt.Sprintf("s-%d", i)
				if r := e.do(b, privacy.RoleApp, http.MethodPost, "/v1/consents", body); r.Code != http.StatusCreated {
					b.Error(r.Body.String())
					return
				}
			}
		}()
	}
	wg.Wait()
	// 1,000 rules: 999 that do not concern this service, and its own.
	for i := range 999 {
		rule := map[string]any{"subject": fmt.Sprintf("other-%d", i), "category": "personal.location.*", "purpose": "navigation", "action": "use", "effect": "allow"}
		if r := e.do(b, privacy.RoleAdmin, http.MethodPost, "/v1/policies", rule); r.Code != http.StatusCreated {
			b.Fatal(r.Body.String())
		}
	}
	rule := map[string]any{"subject": "service-client", "category": "personal.location.*", "purpose": "navigation", "action": "use", "effect": "allow"}
	if r := e.do(b, privacy.RoleAdmin, http.MethodPost, "/v1/policies", rule); r.Code != http.StatusCreated {
		b.Fatal(r.Body.String())
	}
	bodies := make([][]byte, 1000)
	for i := range bodies {
		d := decisionBody(deviceID, "location", "navigation", "use")
		d["subject"] = fmt.Sprintf("s-%d", 1+i*(subjects/len(bodies)))
		bodies[i], _ = json.Marshal(d)
	}
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	token := e.tokens[privacy.RoleService]
	allow := func(body []byte) error {
		if !bytes.Contains(body, []byte(`"decision":"allow"`)) {
			return fmt.Errorf("expected an allow: %s", body)
		}
		return nil
	}

	b.Run("single/64-clients", func(b *testing.B) {
		rate, lat := loadRun(b, ts.URL+"/v1/decisions", token, 64, http.StatusOK, bodies, allow)
		b.ReportMetric(rate, "decisions/s")
		b.ReportMetric(pct(lat, 0.5), "p50-ms")
		b.ReportMetric(pct(lat, 0.99), "p99-ms")
	})
	b.Run("single/unloaded", func(b *testing.B) {
		_, lat := loadRun(b, ts.URL+"/v1/decisions", token, 1, http.StatusOK, bodies, allow)
		b.ReportMetric(pct(lat, 0.5), "p50-ms")
		b.ReportMetric(pct(lat, 0.99), "p99-ms")
	})
	b.Run("batch-100/16-clients", func(b *testing.B) {
		batches := make([][]byte, 10)
		for i := range batches {
			checks := make([]json.RawMessage, 100)
			for j := range checks {
				checks[j] = bodies[(i*100+j)%len(bodies)]
			}
			batches[i], _ = json.Marshal(map[string]any{"checks": checks})
		}
		rate, lat := loadRun(b, ts.URL+"/v1/decisions/batch", token, 16, http.StatusOK, batches, func([]byte) error { return nil })
		b.ReportMetric(rate*100, "checks/s")
		b.ReportMetric(pct(lat, 0.99), "p99-ms")
	})
}
