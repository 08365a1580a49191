package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenAPIIsFresh regenerates the contract from the annotations, and the
// Go client from the contract, as `make generate` does, and fails when a
// committed file differs: something changed without `make generate`.
func TestOpenAPIIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING: runs swag through the go command")
	}
	out := t.TempDir()
	swag := exec.Command("go", "tool", "swag", "init", "--quiet", "--requiredByDefault", "-d", "./internal/httpapi", "-g", "server.go", "-o", out, "--outputTypes", "yaml")
	swag.Dir = "../.."
	msg, err := swag.CombinedOutput()
	require.NoError(t, err, string(msg))

	swagger, err := os.ReadFile(filepath.Join(out, "swagger.yaml"))
	require.NoError(t, err)
	committedSwagger, err := os.ReadFile("../../api/swagger.yaml")
	require.NoError(t, err)
	assert.True(t, string(committedSwagger) == string(swagger), "api/swagger.yaml is stale: run make generate")

	got, err := convert(swagger)
	require.NoError(t, err)
	committed, err := os.ReadFile("../../openapi.yaml")
	require.NoError(t, err)
	assert.True(t, string(committed) == string(got), "openapi.yaml is stale: run make generate")

	// The Go client is generated from the committed contract.
	client := filepath.Join(out, "client.gen.go")
	gen := exec.Command("go", "tool", "oapi-codegen", "--config", "api/client/oapi-codegen.yaml", "-o", client, "openapi.yaml")
	gen.Dir = "../.."
	msg, err = gen.CombinedOutput()
	require.NoError(t, err, string(msg))
	generated, err := os.ReadFile(client)
	require.NoError(t, err)
	committedClient, err := os.ReadFile("../../api/client/client.gen.go")
	require.NoError(t, err)
	assert.True(t, string(committedClient) == string(generated), "api/client/client.gen.go is stale: run make generate")

	// So is the TypeScript client's schema, with the openapi-typescript
	// that api/ts/package.json pins (installed by make test's npm ci).
	tsgen := "../../api/ts/node_modules/.bin/openapi-typescript"
	if _, err := os.Stat(tsgen); err != nil {
		if os.Getenv("CONSENTRY_REQUIRE_NODE") != "" {
			t.Fatalf("CONSENTRY_REQUIRE_NODE is set but %s is missing (make test runs npm ci in api/ts)", tsgen)
		}
		t.Skip("SKIPPING the TypeScript schema: api/ts/node_modules is missing; make test installs it")
	}
	schema := filepath.Join(out, "schema.d.ts")
	ts := exec.Command("node_modules/.bin/openapi-typescript", "../../openapi.yaml", "--output", schema)
	ts.Dir = "../../api/ts"
	msg, err = ts.CombinedOutput()
	require.NoError(t, err, string(msg))
	generatedTS, err := os.ReadFile(schema)
	require.NoError(t, err)
	committedTS, err := os.ReadFile("../../api/ts/src/schema.d.ts")
	require.NoError(t, err)
	assert.True(t, string(committedTS) == string(generatedTS), "api/ts/src/schema.d.ts is stale: run make generate")
}

func TestConvertRefusesNonsense(t *testing.T) {
	_, err := convert([]byte("swagger: '2.0'\npaths: 42\n"))
	assert.Error(t, err)
}
