#!/usr/bin/env bash
# govulncheck with no network but the Go module proxy: the vulnerability
# database is built from the golang.org/x/vulndb module (its data/osv
# reports, at the version pinned below) by vulndb's own indexdb, into
# VULNDB_DIR, and govulncheck reads it from there. Usage: scripts/vulncheck.sh
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod names it; see the Makefile

VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
GOVULNCHECK_VERSION=v1.9.0
dir="${VULNDB_DIR:-${TMPDIR:-/tmp}/consentry-vulndb-$VULNDB_VERSION}"

if [ ! -f "$dir/index/db.json" ]; then
	src=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	rm -rf "$dir.tmp"
	(cd "${TMPDIR:-/tmp}" && go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$dir.tmp")
	mv "$dir.tmp" "$dir"
fi
echo "vulnerability database: golang.org/x/vulndb@$VULNDB_VERSION ($dir)"
go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$dir" ./...
