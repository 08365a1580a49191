#!/usr/bin/env bash
# Consentry's audited decisions side by side with Open Policy Agent holding
# the same data (issue 26; docs/performance.md, "Beside OPA"). Builds
# bin/consentry, installs OPA with `go install` into a temporary GOBIN
# (nothing by hand), starts both on loopback, and runs cmd/benchpeers: one
# data set seeded into both (SUBJECTS subjects with a consent or a refusal,
# POLICY_RULES rules), a sample both must answer alike, then alternating
# runs of DURATION at 64 connections and at one, and Consentry's batches,
# loaded by wrk (installed from Debian's packages when missing), as the
# issue's first measurement was taken; PEERS_LOADGEN=go loads them with
# cmd/benchpeers' own Go HTTP client instead.
# Consentry runs as shipped: SQLite with synchronous=FULL, every decision
# in the audit log before its answer.
# Usage: scripts/bench-peers.sh [DURATION]   (make bench-peers PEERS_TIME=10s)
#        PEERS_PROFILE=/tmp/prof PEERS_ROUNDS=1 scripts/bench-peers.sh 10s   (one round, with CPU profiles)
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod names it; see the Makefile
duration=${1:-10s}
opa_version=${OPA_VERSION:-v1.22.3}
subjects=${SUBJECTS:-100000} rules=${POLICY_RULES:-1000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

loadgen=(--wrk wrk)
case ${PEERS_LOADGEN:-wrk} in
wrk) ;;
go) loadgen=() ;;
*) echo "bench-peers: PEERS_LOADGEN is wrk (the default) or go, not ${PEERS_LOADGEN}" >&2; exit 2 ;;
esac
if [ ${#loadgen[@]} -gt 0 ] && ! command -v wrk >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "bench-peers: installing wrk (apt-get install wrk)"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
	else
		echo "bench-peers: wrk is needed (Debian: apt-get install wrk)" >&2
		exit 1
	fi
fi
[ ${#loadgen[@]} -eq 0 ] || loadgen=(--wrk "$(command -v wrk)")
go build -o bin/consentry ./cmd/consentry
go build -o "$work/benchpeers" ./cmd/benchpeers
echo "bench-peers: installing OPA $opa_version (go install, into $work/bin)"
GOBIN=$work/bin go install "github.com/open-policy-agent/opa@$opa_version"

export CONSENTRY_DATA_DIR=$work/data CONSENTRY_RATE_LIMIT=0
consentry=http://127.0.0.1:${PEERS_PORT:-18190} opa=http://127.0.0.1:${OPA_PORT:-18191}
# shellcheck source=scripts/deployment.sh
. "$(dirname "$0")/deployment.sh"
prepare_deployment peers
# PEERS_PROFILE=dir: CPU profiles of Consentry's first-round runs go there
# (go tool pprof -top bin/consentry dir/consentry-single.pprof).
profile=()
if [ -n "${PEERS_PROFILE:-}" ]; then
	mkdir -p "$PEERS_PROFILE"
	export CONSENTRY_PPROF_ADDR=127.0.0.1:${PPROF_PORT:-18192}
	profile=(--pprof "http://$CONSENTRY_PPROF_ADDR" --profile-dir "$PEERS_PROFILE")
fi
./bin/consentry serve --addr "${consentry#http://}" --log-level warn 2>"$work/serve.log" &
server=$!
"$work/bin/opa" run --server --addr "${opa#http://}" --log-level error >"$work/opa.log" 2>&1 &
opa_pid=$!
wait_ready "$consentry" "$work/serve.log" "$server"
for _ in $(seq 1 60); do curl -sf "$opa/health" >/dev/null && break; sleep 0.5; done
curl -sf "$opa/health" >/dev/null || { cat "$work/opa.log"; exit 1; }

lg="Go's HTTP client"
[ ${#loadgen[@]} -eq 0 ] || lg=$(wrk -v 2>&1 | awk 'NR == 1 {print $1, $2}' || true) # wrk -v exits 1
echo "bench-peers: $(nproc) cores shared by both servers and the load generator ($lg); OPA $("$work/bin/opa" version | awk '/^Version/ {print $2}')"
"$work/benchpeers" --consentry "$consentry" --opa "$opa" --admin "$ADMIN" --app "$APP" --service "$SERVICE" \
	--consentry-pid "$server" --opa-pid "$opa_pid" --subjects "$subjects" --rules "$rules" --duration "$duration" --rounds "${PEERS_ROUNDS:-2}" "${loadgen[@]}" "${profile[@]}"
# Every decision was audited: the whole log verifies.
verify_deployment "$consentry" "$work/serve.log"
