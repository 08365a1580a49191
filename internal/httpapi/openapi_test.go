package httpapi_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/consentry/consentry"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ginParam matches gin's ":name" path parameters.
var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(consentry.OpenAPI)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	assert.True(t, strings.HasPrefix(doc.OpenAPI, "3."), "openapi.yaml is OpenAPI 3, got %q", doc.OpenAPI)

	e := MustOpenEnv(t)
	served := map[string]bool{}
	for _, r := range e.srv.Engine().Routes() {
		path := ginParam.ReplaceAllString(r.Path, "{$1}")
		served[r.Method+" "+path] = true
		item := doc.Paths.Find(path)
		if !assert.NotNil(t, item, "route %s %s is missing from openapi.yaml", r.Method, path) {
			continue
		}
		op := item.GetOperation(r.Method)
		if !assert.NotNil(t, op, "route %s %s is missing from openapi.yaml", r.Method, path) {
			continue
		}
		if strings.HasPrefix(path, "/v1/") {
			assert.NotNil(t, op.Security, "%s %s must declare BearerAuth", r.Method, path)
			for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
				assert.NotNil(t, op.Responses.Status(status), "%s %s must document %d", r.Method, path, status)
			}
		}
		for code, resp := range op.Responses.Map() {
			if code >= "400" {
				assert.Contains(t, resp.Value.Content, "application/problem+json", "%s %s %s", r.Method, path, code)
			}
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			assert.True(t, served[method+" "+path], "openapi.yaml documents %s %s, which the server does not serve", method, path)
		}
	}
}
