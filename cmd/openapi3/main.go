// Command openapi3 turns the Swagger 2.0 document that swag generates from
// the handlers' annotations into the OpenAPI 3 contract, openapi.yaml:
//
//	go run ./cmd/openapi3 api/swagger.yaml > openapi.yaml
//
// Beside the plain conversion (kin-openapi openapi2conv) it states what
// Swagger 2.0 cannot: the bearer scheme is HTTP bearer auth, and error
// bodies are application/problem+json. The result is validated before it
// is written.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "openapi3:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: openapi3 SWAGGER.yaml > openapi.yaml")
	}
	in, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	out, err := convert(in)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// convert turns Swagger 2.0 YAML into validated OpenAPI 3 YAML.
func convert(swagger []byte) ([]byte, error) {
	js, err := yaml.YAMLToJSON(swagger)
	if err != nil {
		return nil, fmt.Errorf("read swagger: %w", err)
	}
	var v2 openapi2.T
	if err := json.Unmarshal(js, &v2); err != nil {
		return nil, fmt.Errorf("parse swagger: %w", err)
	}
	v3, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	v3.Servers = openapi3.Servers{{URL: "http://127.0.0.1:8080", Description: "make run (the default CONSENTRY_ADDR)"}}
	if v3.Components != nil && v3.Components.SecuritySchemes != nil {
		if _, ok := v3.Components.SecuritySchemes["BearerAuth"]; ok {
			v3.Components.SecuritySchemes["BearerAuth"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewJWTSecurityScheme().
				WithBearerFormat("opaque").WithDescription("An API client token: `Authorization: Bearer cst_…`.")}
		}
	}
	for _, item := range v3.Paths.Map() {
		for _, op := range item.Operations() {
			problemContent(op)
		}
	}
	if err := v3.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the converted document is not valid OpenAPI 3: %w", err)
	}
	out, err := json.Marshal(v3)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return yaml.JSONToYAML(out)
}

// problemContent declares every 4xx/5xx body as application/problem+json,
// the media type the server sends them with.
func problemContent(op *openapi3.Operation) {
	if op.Responses == nil {
		return
	}
	for code, r := range op.Responses.Map() {
		n, err := strconv.Atoi(code)
		if err != nil || n < 400 || r.Value == nil {
			continue
		}
		for mt, c := range r.Value.Content {
			if mt != "application/problem+json" {
				delete(r.Value.Content, mt)
				r.Value.Content["application/problem+json"] = c
			}
		}
	}
}
