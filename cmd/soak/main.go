// Command soak drives several running Consentry instances with a mixed,
// bounded load over loopback (consents, decisions, reads, withdrawals,
// erasures), spread across the instances, and reports throughput, errors and each
// instance's memory over time. `make soak` starts three instances on one
// PostgreSQL database and runs it; figures are in docs/performance.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentry/consentry/internal/loadgen"
)

type soak struct {
	bases                        []string
	admin, app, service          string
	client                       *http.Client
	ok, failed, withdraw, erased atomic.Int64
	denied, allowed              atomic.Int64
	mu                           sync.Mutex
	errors                       map[string]int
}

func main() {
	instances := flag.String("instances", "", "comma-separated base URLs of the instances")
	duration := flag.Duration("duration", 5*time.Minute, "how long to run")
	workers := flag.Int("workers", 24, "concurrent clients")
	// A fixed population, used over and over as a deployment's devices and
	// users are: the caches reach their working size early, so memory
	// that still grows afterwards is a leak.
	subjects := flag.Int("subjects", 20, "subjects per client")
	devices := flag.Int("devices", 10, "devices")
	flag.Parse()
	s := &soak{bases: strings.Split(*instances, ","), admin: os.Getenv("ADMIN"), app: os.Getenv("APP"), service: os.Getenv("SERVICE"),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, errors: map[string]int{}}
	if *instances == "" || s.admin == "" || s.app == "" || s.service == "" {
		fmt.Fprintln(os.Stderr, "soak: --instances and the ADMIN, APP, SERVICE tokens are required")
		os.Exit(2)
	}
	if err := s.run(*duration, *workers, *subjects, *devices); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func (s *soak) do(base, token, method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

func (s *soak) fail(what string) {
	s.failed.Add(1)
	s.mu.Lock()
	s.errors[what]++
	s.mu.Unlock()
}

// memory reads an instance's resident memory and its Go heap in use, in
// MiB, from its /metrics: RSS is what the machine pays; the heap is what
// the program holds (RSS lags it as the runtime returns pages).
func (s *soak) memory(base string) (rss, heap float64) {
	m, err := loadgen.Metrics(context.Background(), base)
	if err != nil {
		return -1, -1
	}
	return m["process_resident_memory_bytes"] / (1 << 20), m["go_memstats_heap_inuse_bytes"] / (1 << 20)
}

func (s *soak) memoryText(base string) string {
	rss, heap := s.memory(base)
	return fmt.Sprintf("%.0f MiB (heap %.0f)", rss, heap)
}

func (s *soak) run(duration time.Duration, workers, subjects, nDevices int) error {
	base := s.bases[0]
	code, notice, err := s.do(base, s.app, http.MethodGet, "/v1/notices/acme-cam/versions/current", nil)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("the acme-cam notice must be published first (%d, %v)", code, err)
	}
	rule := map[string]any{"subject": "service-client", "category": "personal.*", "purpose": "security-monitoring", "action": "use", "effect": "allow"}
	if code, body, err := s.do(base, s.admin, http.MethodPost, "/v1/policies", rule); err != nil || (code != http.StatusCreated && code != http.StatusConflict) {
		return fmt.Errorf("policy: %d %v %v", code, body, err)
	}
	devices := make([]string, nDevices)
	for i := range devices {
		code, d, err := s.do(base, s.admin, http.MethodPost, "/v1/devices", map[string]string{"manufacturer": "Acme", "model": "Cam",
			"serial": fmt.Sprintf("SOAK-%d-%d", time.Now().UnixNano(), i), "firmware_version": "1", "notice_key": "acme-cam"})
		if err != nil || code != http.StatusCreated {
			return fmt.Errorf("device: %d %v", code, err)
		}
		devices[i] = d["id"].(string)
		inv := map[string]any{"elements": []any{map[string]any{"key": "video", "description": "Camera video", "category": "personal.media.image",
			"sensitivity": "sensitive", "purposes": []string{"security-monitoring"}, "collection_method": "sensor", "retention": "P30D",
			"recipients": []string{"Acme Cloud Storage Ltd"}, "storage_region": "EU"}}}
		if code, body, err := s.do(base, s.admin, http.MethodPut, "/v1/devices/"+devices[i]+"/inventory", inv); err != nil || code != http.StatusCreated {
			return fmt.Errorf("inventory: %d %v %v", code, body, err)
		}
	}
	fmt.Printf("soak: %d workers over %d instances for %s; %d subjects, %d devices\n", workers, len(s.bases), duration, workers*subjects, nDevices)
	for _, b := range s.bases {
		fmt.Printf("  %s: %s at start\n", b, s.memoryText(b))
	}
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				b := s.bases[rand.IntN(len(s.bases))]
				dev := devices[rand.IntN(len(devices))]
				subject := fmt.Sprintf("w%d-s%d", w, i%subjects)
				switch i % 4 {
				case 0, 1: // consent on one instance, decide on another
					code, rec, err := s.do(b, s.app, http.MethodPost, "/v1/consents", map[string]any{"subject": subject, "device_id": dev,
						"notice_key": "acme-cam", "notice_version": notice["version"], "notice_hash": notice["content_hash"], "locale": "en", "method": "app",
						"choices": []any{map[string]any{"purpose": "security-monitoring", "granted": true}}})
					if err != nil || code != http.StatusCreated {
						s.fail(fmt.Sprintf("consent %d", code))
						continue
					}
					s.ok.Add(1)
					other := s.bases[(rand.IntN(len(s.bases)-1)+1+indexOf(s.bases, b))%len(s.bases)]
					ends := i%8 == 0 || i%16 == 4
					switch {
					case i%8 == 0:
						// Withdraw, then the other instance must deny at once.
						if code, _, err := s.do(b, s.app, http.MethodPost, "/v1/consents/"+rec["id"].(string)+"/withdraw", nil); err != nil || code != http.StatusCreated {
							s.fail(fmt.Sprintf("withdraw %d", code))
							continue
						}
						s.withdraw.Add(1)
					case i%16 == 4:
						// Erase the subject, then the other instance must deny at once.
						code, q, err := s.do(b, s.app, http.MethodPost, "/v1/subjects/"+subject+"/requests", map[string]any{"type": "erasure"})
						if err != nil || code != http.StatusCreated || q["request"].(map[string]any)["state"] != "completed" {
							s.fail(fmt.Sprintf("erasure %d", code))
							continue
						}
						s.erased.Add(1)
					}
					code, d, err := s.do(other, s.service, http.MethodPost, "/v1/decisions", map[string]any{"subject": subject, "device_id": dev,
						"element": "video", "purpose": "security-monitoring", "action": "use"})
					if err != nil || code != http.StatusOK {
						s.fail(fmt.Sprintf("decision %d", code))
						continue
					}
					s.ok.Add(1)
					if d["decision"] == "allow" {
						s.allowed.Add(1)
						if ends {
							s.fail("allow after a withdrawal or an erasure on another instance")
						}
					} else {
						s.denied.Add(1)
					}
				default: // reads
					code, _, err := s.do(b, s.app, http.MethodGet, "/v1/subjects/"+subject+"/consents", nil)
					if err != nil || code != http.StatusOK {
						s.fail(fmt.Sprintf("read %d", code))
						continue
					}
					s.ok.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	tick := time.NewTicker(time.Minute)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			var mem []string
			for _, b := range s.bases {
				mem = append(mem, s.memoryText(b))
			}
			fmt.Printf("  %s: %d ok, %d failed; memory %s\n", time.Since(start).Round(time.Second), s.ok.Load(), s.failed.Load(), strings.Join(mem, ", "))
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("soak: %d requests ok (%.0f/s), %d failed, %d withdrawals and %d erasures each followed by a decision on another instance, %d allowed, %d denied\n",
		s.ok.Load(), float64(s.ok.Load())/elapsed.Seconds(), s.failed.Load(), s.withdraw.Load(), s.erased.Load(), s.allowed.Load(), s.denied.Load())
	for what, n := range s.errors {
		fmt.Printf("  error %s: %d\n", what, n)
	}
	for _, b := range s.bases {
		fmt.Printf("  %s: %s at end\n", b, s.memoryText(b))
	}
	if s.failed.Load() > 0 {
		return fmt.Errorf("%d failures", s.failed.Load())
	}
	return nil
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return 0
}
