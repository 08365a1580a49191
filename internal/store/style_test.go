package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOneQueryStylePerTable holds the package doc's rule: a table whose
// record has a TableName (gorm's builder) is never named in written SQL,
// and every table is named in the doc's list of its style.
func TestOneQueryStylePerTable(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	builder, written := map[string]string{}, map[string]string{}
	// Keywords upper case, tables lower; a name with "(" right after it is
	// a function (FROM unnest(...)), not a table.
	tableInSQL := regexp.MustCompile(`\b(?:FROM|JOIN|INTO|UPDATE)\s+([a-z_]+)\b(\()?`)
	var doc string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		require.NoError(t, err)
		if f.Doc != nil {
			doc += f.Doc.Text()
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Name.Name == "TableName" && len(n.Body.List) == 1 {
					ret := n.Body.List[0].(*ast.ReturnStmt).Results[0].(*ast.BasicLit)
					table, _ := strconv.Unquote(ret.Value)
					builder[table] = fset.Position(n.Pos()).String()
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					for _, m := range tableInSQL.FindAllStringSubmatch(n.Value, -1) {
						if m[2] == "" {
							written[m[1]] = fset.Position(n.Pos()).String()
						}
					}
				}
			}
			return true
		})
	}
	require.NotEmpty(t, builder)
	require.NotEmpty(t, written)
	for table, at := range written {
		_, both := builder[table]
		assert.False(t, both, "%s is queried by gorm's builder (%s) and in written SQL (%s)", table, builder[table], at)
	}
	docText := strings.Join(strings.Fields(doc), " ")
	sqlPart, builderPart, ok := strings.Cut(docText, "gorm's builder, for")
	require.True(t, ok, "the package doc names the two styles")
	for table := range written {
		assert.Contains(t, sqlPart, table, "the package doc lists %s among the SQL tables", table)
	}
	for table := range builder {
		assert.Contains(t, builderPart, table, "the package doc lists %s among the builder's tables", table)
	}
}
