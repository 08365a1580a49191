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
}

func TestConvertRefusesNonsense(t *testing.T) {
	_, err := convert([]byte("swagger: '2.0'\npaths: 42\n"))
	assert.Error(t, err)
}
