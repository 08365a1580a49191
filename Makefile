# Consentry. `make run` and `make test` are the two set-up commands; every
# tool is pinned in go.mod (go get -tool) and run with `go tool`.
SHELL := /bin/bash
GO ?= go

.PHONY: run build test test-short lint generate check bench clean

## run: start the service on the embedded SQLite database in ./data
run: build
	./bin/consentry serve

## build: the consentry binary in ./bin
build:
	$(GO) build -o bin/consentry ./cmd/consentry

## test: every test, with the race detector (PostgreSQL suites run when CONSENTRY_TEST_POSTGRES_DSN is set)
test:
	$(GO) test -race -count=1 ./...

## lint: vet, gofmt, staticcheck
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) tool staticcheck ./...

## generate: openapi.yaml from the swag annotations (Swagger 2.0 → OpenAPI 3)
generate:
	$(GO) tool swag init --quiet -d ./internal/httpapi -g server.go -o api --outputTypes yaml
	$(GO) run ./cmd/openapi3 api/swagger.yaml > openapi.yaml.tmp && mv openapi.yaml.tmp openapi.yaml

## check: what CI checks
check: lint test

## bench: device registration and inventory reads per second (docs/performance.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3s ./internal/audit/ ./internal/device/ ./internal/httpapi/

clean:
	rm -rf bin
