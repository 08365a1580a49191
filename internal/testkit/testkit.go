// Package testkit holds small helpers that tests in several packages
// need: a buffer that servers and tests share, a free loopback port, and
// the consentry binary built for tests that run it as a process.
package testkit

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

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
