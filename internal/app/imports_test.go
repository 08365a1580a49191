package app_test

import (
	"go/build"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/consentry/consentry/internal/"

// Layers of internal/: a capability is one slice of the product; the
// shared packages are what every capability builds on.
var (
	capabilities = []string{"client", "consent", "decide", "device", "evidence", "findings", "incident", "notice", "policy",
		"purpose", "rights", "subjecttoken", "webhook"}
	// audit (the log every change goes through) and authz (the data
	// policy and the routes' roles) are capabilities that others use;
	// tracing (spans, trace context) and receiptjws (the receipts' JWS,
	// signed by consent, checked by evidence) are leaves every layer may use.
	shared = []string{"privacy", "event", "audit", "authz", "store", "memo", "tracing", "receiptjws"}
)

// imports lists the internal packages dir's non-test files import.
func imports(t *testing.T, dir string) []string {
	t.Helper()
	p, err := build.ImportDir(filepath.Join("..", dir), 0)
	require.NoError(t, err)
	var out []string
	for _, imp := range p.Imports {
		if rest, ok := strings.CutPrefix(imp, module); ok {
			out = append(out, rest)
		}
	}
	return out
}

// TestNoSidewaysImports: capabilities import only the shared packages,
// never each other (what one needs of another is handed to it by the
// wiring: a function, an interface); httpapi imports capabilities and
// the domain vocabulary, never the store.
func TestNoSidewaysImports(t *testing.T) {
	for _, c := range capabilities {
		for _, imp := range imports(t, c) {
			assert.Contains(t, shared, imp, "%s imports %s: capabilities import shared packages only", c, imp)
		}
	}
	for _, imp := range imports(t, "httpapi") {
		ok := slices.Contains(capabilities, imp) || slices.Contains([]string{"privacy", "event", "audit", "authz", "tracing"}, imp)
		assert.True(t, ok, "httpapi imports %s: it serves capabilities, it does not reach past them", imp)
	}
}
