package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cpuOf reads utime, stime and the waited-for children's times after a
// command name that may hold spaces and parentheses.
func TestCPUOfReadsProcStat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
	line := "4242 (post gres) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 100 1000 10\n"
	require.NoError(t, os.WriteFile(path, []byte(line), 0o600))
	assert.Equal(t, 3100*time.Millisecond, cpuOf(path), "(250+50+7+3) ticks of 10 ms")
	assert.Zero(t, cpuOf(filepath.Join(t.TempDir(), "none")))
	require.NoError(t, os.WriteFile(path, []byte("4242 (short) S 1"), 0o600))
	assert.Zero(t, cpuOf(path), "too few fields")
}

// Run spreads its connections over the URLs, counts the answers other
// than the status expected as errors, and measures.
func TestRunCountsWhatItWasAsked(t *testing.T) {
	var a, b atomic.Int64
	created := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	defer created.Close()
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer refused.Close()
	r := Run(context.Background(), Target{URLs: []string{created.URL, refused.URL}, Bodies: [][]byte{[]byte(`{}`)}, Conns: 4,
		Duration: 200 * time.Millisecond, Status: http.StatusCreated, Checks: 10})
	require.Positive(t, a.Load())
	require.Positive(t, b.Load())
	assert.Equal(t, a.Load()+b.Load(), r.Requests)
	assert.Equal(t, b.Load(), r.Errors, "every 503 is an error, no 201 is")
	assert.Contains(t, r.FirstError, "503")
	assert.InDelta(t, float64(r.Requests*10)/r.Elapsed.Seconds(), r.PerSecond(), 1e-6)
	assert.LessOrEqual(t, r.P50, r.P99)
}
