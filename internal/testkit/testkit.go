// Package testkit holds small helpers that tests in several packages
// need: golden files, a buffer that servers and tests share, a free
// loopback port, and the consentry binary built and started for tests
// that run it as a process.
package testkit

import (
	"bytes"
	"flag"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// update rewrites golden files with what the tests produce:
// go test ./internal/... -run Golden -update, then read the diff.
var update = flag.Bool("update", false, "rewrite testdata/*.golden files with the output the tests produce")

// Update reports whether the test run was asked to rewrite golden files
// (-update), for outputs that are not a testdata file (a screenshot).
func Update() bool { return *update }

// Golden compares got with testdata/name, or writes it there with -update.
// A golden file is an output a reader can check by eye (a page, a problem
// body, an entry's bytes): a change to it shows in review as a diff.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "no golden file: run the test with -update, and review what it wrote")
	require.Equal(t, string(want), string(got), "%s differs from what the test produced; if the change is meant, run with -update and review the diff", path)
}

// SyncBuffer is a bytes.Buffer safe to read while another goroutine (a
// server's logger, a child process) writes to it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// BuildConsentry builds the consentry command found at dir (a path to
// cmd/consentry from the test's package) into a temporary directory and
// returns the binary's path.
func BuildConsentry(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "consentry")
	out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// StartServer runs `bin serve` on a free loopback port with dataDir, as a
// separate process, waits until /readyz answers 200, and returns the
// process (to kill or stop) and its base URL. Failing to get ready fails t
// with what the server wrote to stderr.
func StartServer(t testing.TB, bin, dataDir string) (*exec.Cmd, string) {
	t.Helper()
	addr := FreeAddr(t)
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn")
	stderr := &SyncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
