package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenAPIIsFresh regenerates the contract from the annotations, as
// `make generate` does, and fails when the committed openapi.yaml differs:
// an annotation changed without `make generate`.
func TestOpenAPIIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING: runs swag through the go command")
	}
	out := t.TempDir()
	swag := exec.Command("go", "tool", "swag", "init", "--quiet", "-d", "./internal/httpapi", "-g", "server.go", "-o", out, "--outputTypes", "yaml")
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
}

func TestConvertRefusesNonsense(t *testing.T) {
	_, err := convert([]byte("swagger: '2.0'\npaths: 42\n"))
	assert.Error(t, err)
}
