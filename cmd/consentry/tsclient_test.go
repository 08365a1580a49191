package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tsPackage is the TypeScript client's package, with its npm dependencies
// installed (make test installs them with npm ci). Without them the test
// skips, saying why, unless CONSENTRY_REQUIRE_NODE is set (CI sets it).
func tsPackage(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../api/ts")
	require.NoError(t, err)
	_, npmErr := exec.LookPath("npm")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if npmErr != nil || modErr != nil {
		if os.Getenv("CONSENTRY_REQUIRE_NODE") != "" {
			t.Fatalf("CONSENTRY_REQUIRE_NODE is set but npm or api/ts/node_modules is missing (make test runs npm ci): %v %v", npmErr, modErr)
		}
		t.Skip("SKIPPING: npm or api/ts/node_modules is missing; make test installs them")
	}
	return dir
}

// TestTypeScriptClient runs the TypeScript client's test (api/ts/test)
// against this build of the server: a consent's life through the typed
// client, its receipt verified with jose and its withdrawal's webhook with
// the Standard Webhooks JavaScript library.
func TestTypeScriptClient(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING: builds the binary and runs npm")
	}
	dir := tsPackage(t)
	bin := testkit.BuildConsentry(t, ".")
	dataDir := filepath.Join(t.TempDir(), "data")
	_, base := startBinary(t, bin, dataDir)

	cmd := exec.Command("npm", "test")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CONSENTRY_URL="+base, "CONSENTRY_ADMIN_TOKEN="+mustAdminToken(t, dataDir))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	// node --test exits 0 for a skipped test: it must have run and passed.
	for _, want := range []string{"# pass 1", "# fail 0", "# skipped 0"} {
		assert.True(t, strings.Contains(string(out), want), "npm test printed no %q:\n%s", want, out)
	}
}
