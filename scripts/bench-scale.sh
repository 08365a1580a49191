#!/usr/bin/env bash
# Consentry's instances on one PostgreSQL database, 1 to INSTANCES of
# them loaded in turn with decisions and consents (issue 26;
# docs/scaling.md). A fresh database each run; every instance runs as
# shipped, every decision and consent in the one audit log before its
# answer; the log verifies afterwards. All processes share this
# machine's cores: the CPU per request is what carries to other machines.
# Usage: scripts/bench-scale.sh DSN [DURATION]   (make bench-scale SCALE_TIME=10s)
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod names it; see the Makefile
dsn=$1 duration=${2:-10s} instances=${INSTANCES:-3}
db=${dsn##*/}; db=${db%%\?*}
work=$(mktemp -d)
# On failure, the instances' last log lines say why.
trap 'rc=$?; [ $rc -eq 0 ] || tail -n 5 "$work"/*.log 2>/dev/null; kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o bin/consentry ./cmd/consentry
go build -o "$work/benchscale" ./cmd/benchscale
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export CONSENTRY_DB=$dsn CONSENTRY_DATA_DIR=$work/data CONSENTRY_RATE_LIMIT=0
# shellcheck source=scripts/deployment.sh
. "$(dirname "$0")/deployment.sh"
prepare_deployment scale
start_instances "$instances" 18281 "$work"
echo "bench-scale: $(nproc) cores shared by PostgreSQL $(psql -tA -h 127.0.0.1 -U postgres -c 'SHOW server_version'), $instances instances and the load generator"
"$work/benchscale" --instances "$(IFS=,; echo "${urls[*]}")" --pids "$(IFS=,; echo "${pids[*]}")" \
	--admin "$ADMIN" --app "$APP" --service "$SERVICE" --subjects "${SUBJECTS:-20000}" --duration "$duration"
verify_deployment "${urls[0]}" "$work"/*.log
