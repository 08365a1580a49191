# Consentry. `make run` and `make test` are the two set-up commands; every
# tool is pinned in go.mod (go get -tool) and run with `go tool`.
SHELL := /bin/bash
GO ?= go
# go.mod names Go 1.27.3. The machine's Go (1.26.8, whose standard library has
# known vulnerabilities) is set to GOTOOLCHAIN=local; this fetches 1.27.3 from the
# module proxy once and uses it.
export GOTOOLCHAIN := go1.27.3

.PHONY: run build test ts-deps browser-deps test-short walkthrough lint generate check bench bench-peers bench-scale loadtest evidence-load fuzz crashtest soak vulncheck clean

## run: start the service on the embedded SQLite database in ./data
run: build
	@echo "make run: starting bin/consentry serve on 127.0.0.1:8080 (data in ./data; Ctrl-C stops it)"
	./bin/consentry serve

## build: the consentry binary in ./bin
build:
	@if [ ! -x bin/consentry ]; then echo "make: building bin/consentry with Go 1.27.3. The first build fetches the toolchain and modules and compiles SQLite: about 3 minutes on two cores, longer on a busy machine; later builds take seconds."; fi
	$(GO) build -o bin/consentry ./cmd/consentry

## test: every test, with the race detector (PostgreSQL suites run when CONSENTRY_TEST_POSTGRES_DSN is set)
test: ts-deps browser-deps
	$(GO) test -race -count=1 ./...

## ts-deps: the TypeScript client's npm packages (api/ts/package-lock.json), installed with npm ci when missing or stale
ts-deps: api/ts/node_modules/.package-lock.json

api/ts/node_modules/.package-lock.json: api/ts/package.json api/ts/package-lock.json
	npm ci --prefix api/ts --no-audit --no-fund

## browser-deps: what the browser tests load into Chromium (axe-core), pinned in internal/httpapi/testdata/browser
browser-deps: internal/httpapi/testdata/browser/node_modules/.package-lock.json

internal/httpapi/testdata/browser/node_modules/.package-lock.json: internal/httpapi/testdata/browser/package.json internal/httpapi/testdata/browser/package-lock.json
	npm ci --prefix internal/httpapi/testdata/browser --no-audit --no-fund

## walkthrough: run docs/walkthrough.md against a fresh service and check what it promises (CI runs it)
walkthrough:
	./scripts/walkthrough.sh

## lint: vet, gofmt, staticcheck
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) tool staticcheck ./...

## generate: openapi.yaml from the swag annotations (Swagger 2.0 → OpenAPI 3), the Go client (api/client) and the TypeScript client's types (api/ts) from it
generate: ts-deps
	$(GO) tool swag init --quiet --requiredByDefault -d ./internal/httpapi -g server.go -o api --outputTypes yaml
	$(GO) run ./cmd/openapi3 api/swagger.yaml > openapi.yaml.tmp && mv openapi.yaml.tmp openapi.yaml
	$(GO) tool oapi-codegen --config api/client/oapi-codegen.yaml -o api/client/client.gen.go openapi.yaml
	npm --prefix api/ts run --silent generate

## check: what CI checks
check: lint test

## bench: Go benchmarks: audit appends, device registration, inventory reads, consents and decisions over loopback, adversarial bodies, the strict scan, 1M subjects' rate-limit buckets, a pathological notice page (docs/performance.md)
bench:
	$(GO) test -run '^$$' -bench . -skip 'RateLimiterManySubjects' -benchmem -benchtime 3s ./internal/audit/ ./internal/decide/ ./internal/device/ ./internal/httpapi/
	$(GO) test -run '^$$' -bench RateLimiterManySubjects -benchtime 1000000x ./internal/httpapi/
	$(GO) test -run '^$$' -bench NoticePagePathological -benchmem -benchtime 5x ./internal/notice/

## bench-peers: Consentry's audited decisions beside OPA (installed with go install) on one data set, loaded by wrk (apt-get installs it when missing), alternating; PEERS_TIME per run (docs/performance.md)
PEERS_TIME ?= 10s
bench-peers:
	./scripts/bench-peers.sh "$(PEERS_TIME)"

## bench-scale: 1 to 3 instances on one PostgreSQL database (consentry_scale), decisions and consents, the audit log's lock measured, and a model for N shards; SCALE_TIME per run (docs/scaling.md)
SCALE_TIME ?= 10s
SCALE_DB ?= postgres://postgres@127.0.0.1:5432/consentry_scale?sslmode=disable
bench-scale:
	./scripts/bench-scale.sh "$(SCALE_DB)" "$(SCALE_TIME)"

## loadtest: bin/consentry on SQLite loaded by wrk from a second process over loopback (consents, decisions, batches); LOAD_TIME per run (docs/performance.md)
LOAD_TIME ?= 10s
LOAD_CONNECTIONS ?= 64
loadtest: build
	./scripts/loadtest.sh "$(LOAD_TIME)" "$(LOAD_CONNECTIONS)"

## crashtest: 20 rounds of SIGKILL under 64 concurrent consent writers (make test runs 3)
crashtest:
	set -o pipefail; CONSENTRY_CRASH_ROUNDS=20 $(GO) test -count=1 -run '^TestCrashConsents$$' -v ./cmd/consentry/ | grep -E 'round|^(ok|FAIL|---)'

## fuzz: run every fuzz target for FUZZTIME inputs each (seeds are in the targets; CI runs a short form)
# FUZZTIME is a count (Nx), not a duration: on this machine duration runs of
# the slow targets reported a handful of inputs where a count run tests
# thousands, and a count makes CI's work the same every run.
FUZZTIME ?= 20000x
FUZZ_TARGETS := internal/httpapi:FuzzRequestBodies internal/notice:FuzzLoadDir internal/audit:FuzzVerifyCheckpoint \
	internal/evidence:FuzzVerifyBundle internal/evidence:FuzzConsistencyProof internal/evidence:FuzzReceipt \
	internal/privacy:FuzzParseDuration internal/httpapi:FuzzStrictScan internal/rights:FuzzVerifyExport internal/store:FuzzPacked \
	internal/httpapi:FuzzDecodePlain
fuzz:
	@set -eo pipefail; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$pkg/ | grep -v '^fuzz: elapsed'; \
	done

## evidence-load: seed 200,000 consents and a 1,000,000-entry audit log, then export and verify a bundle under /usr/bin/time -v (docs/performance.md)
EVIDENCE_DIR ?= /tmp/consentry-evidence-load
evidence-load: build
	rm -rf $(EVIDENCE_DIR)
	$(GO) run ./cmd/evidence-seed --data-dir $(EVIDENCE_DIR)/data --consents 200000 --entries 1000000
	/usr/bin/time -v ./bin/consentry evidence export --data-dir $(EVIDENCE_DIR)/data --out $(EVIDENCE_DIR)/evidence.zip 2>&1 | grep -E 'wrote|Maximum resident|Elapsed'
	/usr/bin/time -v ./bin/consentry evidence verify $(EVIDENCE_DIR)/evidence.zip --key $(EVIDENCE_DIR)/data/audit-verifier.key 2>&1 | grep -E 'ok:|NOT|Maximum resident|Elapsed'

## vulncheck: govulncheck against a vulnerability database built offline from the golang.org/x/vulndb module
vulncheck:
	./scripts/vulncheck.sh

clean:
	rm -rf bin

## soak: three instances on one PostgreSQL database (consentry_soak), mixed load for SOAK_TIME (docs/performance.md)
SOAK_TIME ?= 5m
SOAK_DB ?= postgres://postgres@127.0.0.1:5432/consentry_soak?sslmode=disable
soak: build
	./scripts/soak.sh "$(SOAK_DB)" "$(SOAK_TIME)"
