package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wrk's output as wrk 4.1 (Debian's) prints it with --latency.
const wrkOutput = `Running 1s test @ http://127.0.0.1:18555/x
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.91ms  453.84us   7.50ms   89.10%
    Req/Sec     2.19k    60.84     2.26k    80.00%
  Latency Distribution
     50%  431.00us
     75%    1.02ms
     90%    1.23ms
     99%    2.08ms
  2182 requests in 1.00s, 1.08MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   2177.14
Transfer/sec:      1.08MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	require.NoError(t, err)
	assert.Equal(t, int64(2182), r.Requests)
	assert.Equal(t, time.Second, r.Elapsed)
	assert.Equal(t, 431*time.Microsecond, r.P50)
	assert.Equal(t, 2080*time.Microsecond, r.P99)
	assert.Equal(t, int64(15), r.Errors, "12 answers outside 2xx-3xx and 3 socket errors")
	assert.Contains(t, r.FirstError, "Non-2xx")

	_, err = parseWrk("Running 1s test @ http://127.0.0.1:1/\n  unable to connect to 127.0.0.1:1 Connection refused\n")
	assert.ErrorContains(t, err, "no request count")
	_, err = parseWrk("  10 requests in 1.00s, 1.08MB read\n")
	assert.ErrorContains(t, err, "no latency distribution")
}

// luaString escapes the quote, the backslash and every byte outside
// printable ASCII (here a newline and the two bytes of é).
func TestLuaString(t *testing.T) {
	assert.Equal(t, `"{\034a\034:\034\092\010\195\169\034}"`, luaString("{\"a\":\"\\\n\u00e9\"}"))
}

// RunWrk against a server that checks what it is sent: every body as
// given (quotes, a backslash, UTF-8), the token; the server's refusals are
// errors. It needs wrk (Debian: apt-get install wrk), as make bench-peers
// does; CI installs it and sets CONSENTRY_REQUIRE_WRK.
func TestRunWrkSendsTheBodiesAsGiven(t *testing.T) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		if os.Getenv("CONSENTRY_REQUIRE_WRK") != "" {
			t.Fatal("CONSENTRY_REQUIRE_WRK is set but wrk is not installed (apt-get install wrk)")
		}
		t.Skip("wrk is not installed (apt-get install wrk)")
	}
	bodies := [][]byte{[]byte(`{"subject":"a \"quoted\" name"}`), []byte(`{"subject":"é\\"}`), []byte(`{"n":3}`)}
	var (
		mu      sync.Mutex
		seen    = map[string]int{}
		refused int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		seen[string(b)]++
		if r.Header.Get("Authorization") != "Bearer tok\"en" || r.URL.Path != "/v1/decisions" || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if string(b) == `{"n":3}` {
			refused++
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	r, err := RunWrk(context.Background(), path, Target{URLs: []string{srv.URL + "/v1/decisions"}, Token: "tok\"en", Bodies: bodies, Conns: 2,
		Duration: time.Second, Checks: 5})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 3, "a body arrived other than it was given: %v", seen)
	var total int64
	for _, b := range bodies {
		assert.Positive(t, seen[string(b)])
		total += int64(seen[string(b)])
	}
	// wrk counts the answers it read within the run; a request cut off at
	// its end may have reached the server.
	assert.InDelta(t, total, r.Requests, 4)
	assert.InDelta(t, refused, r.Errors, 4, "every 503 is an error, and nothing else is")
	assert.Positive(t, r.Errors)
	assert.Equal(t, 5, r.Checks)
	assert.LessOrEqual(t, r.P50, r.P99)

	_, err = RunWrk(context.Background(), path, Target{URLs: []string{srv.URL}, Bodies: bodies, Conns: 1, Duration: time.Second, Status: 201})
	assert.ErrorContains(t, err, "status 201")
}
