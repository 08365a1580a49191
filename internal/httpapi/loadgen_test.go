package httpapi_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadGeneratorsReadEveryAnswer: the benchmarks' figures are only as
// good as their load generators, which make test does not otherwise run.
// Both send each prepared request with its headers and body, over one
// connection per client, and read answers whole, whether their length is
// given or they are chunked (a batch's answer is, past 2 KiB); a
// connection the server closes is an error, never a quiet success.
func TestLoadGeneratorsReadEveryAnswer(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/x" || r.Header.Get("Authorization") != "Bearer tok" ||
			r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		switch string(body) {
		case "big":
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, strings.Repeat("x", 10_000)) // chunked
		case "close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusOK)
		default:
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	bodies := [][]byte{[]byte(`{"n":1}`), []byte("big"), []byte("close")}
	for name, clients := range map[string]func(url, token string, bodies [][]byte) func() (poster, func(), error){
		"lean": leanClients, "net/http": transportClients,
	} {
		t.Run(name, func(t *testing.T) {
			conns.Store(0)
			post, closeClient, err := clients(srv.URL+"/v1/x", "tok", bodies)()
			require.NoError(t, err)
			defer closeClient()
			for range 3 {
				status, body, err := post(0)
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, status)
				assert.Equal(t, `{"n":1}`, string(body))
				status, body, err = post(1)
				require.NoError(t, err)
				assert.Equal(t, http.StatusCreated, status)
				assert.Len(t, body, 10_000)
			}
			assert.Equal(t, int64(1), conns.Load(), "one keep-alive connection per client")
			status, _, err := post(2)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, status)
			if name == "lean" {
				// The lean client does not reconnect: the next request fails.
				_, _, err = post(0)
				assert.Error(t, err)
			}
		})
	}
}
