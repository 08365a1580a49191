package event_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/event/eventtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExamplesCoverEveryKind: every type of this package with an Action
// method is in Examples, so tests that range over Examples (the
// reactions' coverage, Decode's round trip) see a new kind at once.
func TestExamplesCoverEveryKind(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var kinds []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "Action" {
				continue
			}
			kinds = append(kinds, fn.Recv.List[0].Type.(*ast.Ident).Name)
		}
	}
	var examples []string
	for _, e := range eventtest.Examples() {
		examples = append(examples, reflect.TypeOf(e).Name())
	}
	slices.Sort(kinds)
	slices.Sort(examples)
	assert.Equal(t, kinds, examples)
}

// TestDecodeReadsBackWhatAnEntryNames: another instance's entry decodes to
// the kind that wrote it, with the identities its reactions read back.
func TestDecodeReadsBackWhatAnEntryNames(t *testing.T) {
	for _, e := range eventtest.Examples() {
		en := e.Entry()
		got := event.Decode(e.Action(), en.Targets, en.Reasons)
		assert.Equal(t, reflect.TypeOf(e), reflect.TypeOf(got), e.Action())
		assert.Equal(t, e.Action(), got.Action())
		assert.Equal(t, en.Targets, got.Entry().Targets, "%s: the targets survive the round trip", e.Action())
		assert.Equal(t, en.Reasons, got.Entry().Reasons, "%s: the reasons survive the round trip", e.Action())
	}
	assert.Equal(t, event.Unknown{Name: "no.such"}, event.Decode("no.such", nil, nil))
}
