package sqlitetune

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWALBufDeclarationsMatchSQLite compiles walbuf.c's copy of SQLite's
// VFS structs and the sqlite3-binding.h bundled with the go-sqlite3 that
// go.mod names, prints every struct's size and every member's offset and size from
// each, and requires them equal: walbuf.c re-declares the structs (cgo
// cannot include a header from another module), and a go-sqlite3 upgrade
// whose SQLite changed them must fail here, not corrupt memory.
func TestWALBufDeclarationsMatchSQLite(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("SKIPPING: no gcc (cgo needs it to build this package anyway)")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/mattn/go-sqlite3").Output()
	require.NoError(t, err, "go list go-sqlite3")
	sqliteDir := strings.TrimSpace(string(out))
	require.FileExists(t, filepath.Join(sqliteDir, "sqlite3-binding.h"))

	src, err := os.ReadFile("walbuf.c")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(src), "// BEGIN sqlite3.h subset")
	require.True(t, ok, "walbuf.c lost its BEGIN marker")
	subset, _, ok := strings.Cut(rest, "// END sqlite3.h subset")
	require.True(t, ok, "walbuf.c lost its END marker")
	_, subset, _ = strings.Cut(subset, "\n") // the rest of the marker's comment line

	printer := layoutPrinter(t, subset)
	dir := t.TempDir()
	ours := compileAndRun(t, dir, "ours", "#include <stddef.h>\n#include <stdio.h>\n"+subset+printer)
	theirs := compileAndRun(t, dir, "theirs", "#include <stddef.h>\n#include <stdio.h>\n#include \"sqlite3-binding.h\"\n"+printer, "-I", sqliteDir)
	assert.Equal(t, theirs, ours, "walbuf.c's SQLite declarations differ from go-sqlite3's sqlite3-binding.h")
	assert.Contains(t, ours, "sqlite3_vfs.xNextSystemCall", "the printer covered the structs")
}

// memberName finds the name a struct member declares: the identifier
// before the ";", or inside "(*name)" for a function pointer.
var memberName = regexp.MustCompile(`\(\*\(?(\w+)\)?\s*\(|(\w+)\s*;`)

// layoutPrinter is a C main that prints sizeof each struct in subset and
// the offset and size of each of its members.
func layoutPrinter(t *testing.T, subset string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("int main(void) {\n")
	structs := regexp.MustCompile(`(?s)struct (\w+) \{(.*?)\n\};`).FindAllStringSubmatch(subset, -1)
	require.NotEmpty(t, structs)
	for _, s := range structs {
		name, body := s[1], s[2]
		fmt.Fprintf(&b, "  printf(\"%s %%zu\\n\", sizeof(struct %s));\n", name, name)
		for _, line := range strings.Split(body, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			m := memberName.FindStringSubmatch(line)
			require.NotNil(t, m, "cannot read the member in %q", line)
			member := m[1] + m[2]
			fmt.Fprintf(&b, "  printf(\"%s.%s %%zu %%zu\\n\", offsetof(struct %s, %s), sizeof(((struct %s *)0)->%s));\n",
				name, member, name, member, name, member)
		}
	}
	b.WriteString("  return 0;\n}\n")
	return b.String()
}

func compileAndRun(t *testing.T, dir, name, program string, flags ...string) string {
	t.Helper()
	c := filepath.Join(dir, name+".c")
	bin := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(c, []byte(program), 0o600))
	args := append([]string{"-o", bin, c}, flags...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", name, err, out)
	}
	out, err := exec.Command(bin).Output()
	require.NoError(t, err)
	return string(out)
}
