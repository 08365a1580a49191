package sqlitetune

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/require"
)

// TestHeaderIsGoSQLite3s: sqlite3.h, which walbuf.c is compiled against,
// is byte for byte the SQLite header inside the sqlite3-binding.h of the
// go-sqlite3 that go.mod names, whose SQLite is the one linked. After a
// go-sqlite3 upgrade this fails until -update copies the new header.
func TestHeaderIsGoSQLite3s(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/mattn/go-sqlite3").Output()
	require.NoError(t, err, "go list go-sqlite3")
	binding, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "sqlite3-binding.h"))
	require.NoError(t, err)
	// The binding wraps the header: "#ifndef USE_LIBSQLITE3\n" header
	// "#else // USE_LIBSQLITE3" (then an include of the system's).
	_, header, ok := strings.Cut(string(binding), "#ifndef USE_LIBSQLITE3\n")
	require.True(t, ok, "sqlite3-binding.h lost its USE_LIBSQLITE3 guard")
	i := strings.LastIndex(header, "#else // USE_LIBSQLITE3")
	require.Positive(t, i, "sqlite3-binding.h lost its #else")
	header = header[:i]
	require.Contains(t, header, "#define SQLITE_VERSION_NUMBER")

	if testkit.Update() {
		require.NoError(t, os.WriteFile("sqlite3.h", []byte(header), 0o644))
	}
	ours, err := os.ReadFile("sqlite3.h")
	require.NoError(t, err)
	require.True(t, string(ours) == header, "sqlite3.h is not go-sqlite3's header; run with -update to copy it")
}
