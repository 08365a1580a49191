package httpapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
)

// BenchmarkAdversarialBodies sends 1 MiB bodies built to make the server
// work (hundreds of thousands of empty items where a few are allowed, a
// number array where an object belongs) to each route that takes large
// bodies, and reports the answer's size, the bytes allocated per request
// against the body's, and how far the process's RSS rose after 8 such
// requests at once. Run: make bench (or -bench AdversarialBodies).
func BenchmarkAdversarialBodies(b *testing.B) {
	e := MustOpenEnv(b)
	d := mustCreateDevice(b, e, newDevice("adversarial-1"))
	mint := e.do(b, privacy.RoleApp, http.MethodPost, "/v1/subject-tokens", map[string]any{"subject": "alice"})
	if mint.Code != http.StatusCreated {
		b.Fatal(mint.Body.String())
	}
	subjectToken := mint.JSON(b)["token"].(string)

	const size = 1 << 20
	fill := func(prefix, item, suffix string) []byte {
		n := (size - len(prefix) - len(suffix)) / (len(item) + 1)
		return []byte(prefix + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + suffix)
	}
	for _, tc := range []struct {
		name, method, path, token string
		body                      []byte
	}{
		{"inventory/empty-elements", http.MethodPut, "/v1/devices/" + d["id"].(string) + "/inventory", e.tokens[privacy.RoleAdmin], fill(`{"elements":[`, `{}`, `]}`)},
		{"inventory/one-element-many-purposes", http.MethodPut, "/v1/devices/" + d["id"].(string) + "/inventory", e.tokens[privacy.RoleAdmin], fill(`{"elements":[{"purposes":[`, `"p"`, `]}]}`)},
		{"inventory/numbers", http.MethodPut, "/v1/devices/" + d["id"].(string) + "/inventory", e.tokens[privacy.RoleAdmin], fill(`[`, `1`, `]`)},
		{"batch/empty-checks", http.MethodPost, "/v1/decisions/batch", e.tokens[privacy.RoleService], fill(`{"checks":[`, `{}`, `]}`)},
		{"batch/1000-empty-checks", http.MethodPost, "/v1/decisions/batch", e.tokens[privacy.RoleService], []byte(`{"checks":[` + strings.TrimSuffix(strings.Repeat(`{},`, 1000), ",") + `]}`)},
		{"notice-version/empty-purposes", http.MethodPost, "/v1/notices/tracker-notice/versions", e.tokens[privacy.RoleAdmin], fill(`{"purposes":[`, `{}`, `]}`)},
		{"consent/empty-choices-subject-token", http.MethodPost, "/v1/consents", subjectToken, fill(`{"choices":[`, `{}`, `]}`)},
		{"consent/numbers-subject-token", http.MethodPost, "/v1/consents", subjectToken, fill(`{"choices":[`, `1`, `]}`)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			send := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tc.token)
				rec := httptest.NewRecorder()
				e.srv.ServeHTTP(rec, req)
				if rec.Code < 400 || rec.Code >= 500 {
					b.Fatalf("%d %s", rec.Code, rec.Body.String())
				}
				return rec
			}
			// RSS after 8 at once, from a collected heap.
			runtime.GC()
			before := rssBytes(b)
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() { send() })
			}
			wg.Wait()
			after := rssBytes(b)

			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			b.ResetTimer()
			var answer int
			for b.Loop() {
				answer = send().Body.Len()
			}
			b.StopTimer()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(answer), "answer-bytes")
			b.ReportMetric(float64(after-before)/(1<<20), "rss-rise-MiB/8-parallel")
		})
	}
}

// rssBytes is this process's resident set size, from /proc.
func rssBytes(b *testing.B) int64 {
	b.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("SKIPPING: no /proc/self/status to read RSS from")
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(fmt.Errorf("VmRSS %q: %w", v, err))
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
