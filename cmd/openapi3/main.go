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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

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

// schemaName matches swag's package-qualified schema names.
var schemaName = regexp.MustCompile(`httpapi\.([a-z])`)

// convert turns Swagger 2.0 YAML into validated OpenAPI 3 YAML.
func convert(swagger []byte) ([]byte, error) {
	// "httpapi.decisionRequest" becomes "DecisionRequest": the Go package
	// is no part of the contract, and generated clients name their types
	// after the schemas.
	swagger = schemaName.ReplaceAllFunc(swagger, func(m []byte) []byte { return bytes.ToUpper(m[len(m)-1:]) })
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
	// Relative: Swagger UI, served by the service itself, calls the
	// address it was loaded from, whatever CONSENTRY_ADDR is.
	v3.Servers = openapi3.Servers{{URL: "/", Description: "the service that serves this contract (make run: http://127.0.0.1:8080)"}}
	if v3.Components != nil && v3.Components.SecuritySchemes != nil {
		if _, ok := v3.Components.SecuritySchemes["BearerAuth"]; ok {
			v3.Components.SecuritySchemes["BearerAuth"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewJWTSecurityScheme().
				WithBearerFormat("opaque").WithDescription("An API client token: `Authorization: Bearer cst_…`.")}
		}
	}
	schema := v3.Components.Schemas["Problem"]
	if schema == nil {
		return nil, fmt.Errorf("the swagger document has no Problem schema")
	}
	problem := openapi3.NewSchemaRef("#/components/schemas/Problem", schema.Value)
	for _, item := range v3.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) > 0 && op.Responses.Status(429) == nil {
				tooMany := openapi3.NewResponse().
					WithDescription("rate_limited: the client exceeded its request rate (per client token bucket), or too many evidence exports run; wait the Retry-After seconds").
					WithContent(openapi3.Content{"application/problem+json": openapi3.NewMediaType().WithSchemaRef(problem)})
				tooMany.Headers = retryAfter()
				op.Responses.Set("429", &openapi3.ResponseRef{Value: tooMany})
			}
			if op.Security != nil && len(*op.Security) > 0 && method != "GET" && op.Responses.Status(503) == nil {
				op.Responses.Set("503", &openapi3.ResponseRef{Value: openapi3.NewResponse().
					WithDescription("unavailable: the audit log cannot be written (the database is unreachable, or locked by another writer past the lock timeout, 2 s by default), so the change was not made (every change is audited in its own transaction); retry after the Retry-After seconds").
					WithContent(openapi3.Content{"application/problem+json": openapi3.NewMediaType().WithSchemaRef(problem)})})
			}
			if r := op.Responses.Status(503); r != nil && r.Value != nil {
				r.Value.Headers = retryAfter()
			}
			problemContent(op)
			everyResponse(op, problem)
			plainBodies(op)
			if op.Security == nil {
				// Say "no authentication" explicitly rather than by omission.
				op.Security = &openapi3.SecurityRequirements{}
			}
		}
	}
	if err := webhookCallback(v3); err != nil {
		return nil, err
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

// everyResponse documents what every route of the server does, so the
// annotations need not repeat it: the X-Request-ID header on every
// response, and a 500 problem (a panic or a database failure) on every
// operation.
func everyResponse(op *openapi3.Operation, problem *openapi3.SchemaRef) {
	if op.Responses.Status(500) == nil {
		op.Responses.Set("500", &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("internal error; the cause is logged under the request id, never returned").
			WithContent(openapi3.Content{"application/problem+json": openapi3.NewMediaType().WithSchemaRef(problem)})})
	}
	requestID := &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{
		Description: "The request id: the caller's X-Request-ID when it is 1-64 characters of [A-Za-z0-9._:-], a new UUIDv7 otherwise.",
		Schema:      openapi3.NewStringSchema().NewRef(),
	}}}
	for _, r := range op.Responses.Map() {
		if r.Value == nil {
			continue
		}
		if r.Value.Headers == nil {
			r.Value.Headers = openapi3.Headers{}
		}
		r.Value.Headers["X-Request-ID"] = requestID
	}
}

// webhookCallback documents, as an OpenAPI callback of createWebhook, the
// request Consentry makes to a subscribed URL: Swagger 2.0 has no way to
// say it, and a receiver needs its body and headers as much as any reply.
func webhookCallback(v3 *openapi3.T) error {
	item := v3.Paths.Find("/v1/webhooks")
	event := v3.Components.Schemas["WebhookEvent"]
	if item == nil || item.Post == nil || event == nil {
		return fmt.Errorf("the swagger document has no POST /v1/webhooks or no WebhookEvent schema")
	}
	header := func(name, desc string, required bool) *openapi3.ParameterRef {
		return &openapi3.ParameterRef{Value: openapi3.NewHeaderParameter(name).WithDescription(desc).WithRequired(required).
			WithSchema(openapi3.NewStringSchema())}
	}
	delivery := openapi3.NewOperation()
	delivery.OperationID = "webhookDelivery"
	delivery.Summary = "A delivery to the subscribed URL"
	delivery.Description = "One event per request, retried with exponential backoff until the receiver answers 2xx. Signed in the " +
		"Standard Webhooks format (https://www.standardwebhooks.com): check webhook-signature over webhook-id, webhook-timestamp and " +
		"the exact body (any of the specification's libraries does), refuse a timestamp more than 5 minutes from now, then " +
		"de-duplicate on webhook-id (docs/webhooks.md)."
	delivery.Parameters = openapi3.Parameters{
		header("webhook-id", "the event's id, stable across retries and instances: de-duplicate on it", true),
		header("webhook-timestamp", "when this try was signed, Unix seconds", true),
		header("webhook-signature", "v1,<base64 HMAC-SHA256(key, webhook-id + \".\" + webhook-timestamp + \".\" + body)>, space-separated "+
			"when more than one; key is the base64-decoded part of the whsec_ secret", true),
		header("Consentry-Event-Id", "the same as webhook-id", true),
		header("Consentry-Signature", "deprecated, for receivers written before Standard Webhooks: "+
			"t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + \".\" + body)>, keyed with the secret string's bytes", true),
		header("Consentry-Event-Kind", "the event's kind", true),
		header("traceparent", "W3C trace context of the request whose change the event announces (absent when it carried none): "+
			"the delivery continues that trace", false),
		header("tracestate", "W3C tracestate that came with that traceparent", false),
		header("Consentry-Delivery-Id", "the delivery, as GET /v1/webhooks/{id}/deliveries lists it", true),
		header("Consentry-Delivery-Attempt", "1 for the first try, then 2, 3, ...", true),
	}
	delivery.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).
		WithJSONSchemaRef(openapi3.NewSchemaRef("#/components/schemas/WebhookEvent", event.Value))}
	delivery.Responses = openapi3.NewResponses(
		openapi3.WithStatus(204, &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("taken (any 2xx): the delivery is done")}),
		openapi3.WithStatus(401, &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("the receiver refused the signature: a failed try, like any other answer but 2xx")}),
		openapi3.WithName("default", openapi3.NewResponse().WithDescription("anything else, or no answer within --webhook-timeout: tried again later")))
	// The receiver authenticates the sender by the signature, not by a token.
	v3.Components.SecuritySchemes["WebhookSignature"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewSecurityScheme().WithType("apiKey").
		WithIn("header").WithName("webhook-signature").
		WithDescription("Webhook deliveries only, Standard Webhooks: v1,<base64 HMAC-SHA256 of webhook-id + \".\" + webhook-timestamp + \".\" + body, keyed with the webhook's secret>.")}
	delivery.Security = openapi3.NewSecurityRequirements().With(openapi3.NewSecurityRequirement().Authenticate("WebhookSignature"))
	item.Post.Callbacks = openapi3.Callbacks{"event": &openapi3.CallbackRef{Value: openapi3.NewCallback(
		openapi3.WithCallback("{$request.body#/url}", &openapi3.PathItem{Post: delivery}))}}
	return nil
}

// plainBodies gives success bodies that are not JSON (CSV, HTML, YAML,
// files) a string schema: Swagger 2.0 has one schema for every media type
// an operation produces, and the CSV of an operation that also answers
// JSON is not that JSON object.
func plainBodies(op *openapi3.Operation) {
	for code, r := range op.Responses.Map() {
		if r.Value == nil || code >= "400" {
			continue
		}
		for mt, media := range r.Value.Content {
			if mt == "application/json" || strings.HasSuffix(mt, "+json") {
				continue
			}
			schema := openapi3.NewStringSchema()
			if strings.HasPrefix(mt, "image/") || mt == "application/zip" || mt == "application/octet-stream" {
				schema.Format = "binary"
			}
			media.Schema = schema.NewRef()
		}
	}
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

// retryAfter is the Retry-After header of 429 and 503 answers.
func retryAfter() openapi3.Headers {
	return openapi3.Headers{"Retry-After": &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{
		Description: "seconds to wait before retrying", Schema: openapi3.NewIntegerSchema().NewRef()}}}}
}
