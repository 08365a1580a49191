#!/usr/bin/env bash
# Three consentry instances on one fresh PostgreSQL database, driven by
# cmd/soak for a bounded time over loopback; stops them and verifies the
# audit log afterwards. Usage: scripts/soak.sh DSN DURATION
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod names it; see the Makefile
dsn=$1 duration=$2
db=${dsn##*/}; db=${db%%\?*}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export CONSENTRY_DB=$dsn CONSENTRY_DATA_DIR=$work/data CONSENTRY_RATE_LIMIT=0
# shellcheck source=scripts/deployment.sh
. "$(dirname "$0")/deployment.sh"
prepare_deployment soak
export ADMIN APP SERVICE
start_instances 3 18081 "$work"
go run ./cmd/soak --instances "$(IFS=,; echo "${urls[*]}")" --duration "$duration"
verify_deployment "${urls[2]}" "$work"/*.log
# And the database itself: every record against the entry that committed
# to it, every decision of the three instances judged again at its place.
./bin/consentry audit verify --database | grep -E '^ok: [0-9]+ (decisions judged|consent records)'
# Each instance made its decisions from memory, loaded whole once and
# kept current since, the other instances' changes read back one by one.
for u in "${urls[@]}"; do
	echo "$u: $(curl -fsS "$u/metrics" | grep -E '^consentry_decision_facts_(in_memory|loads_total|consent_states) ' | tr '\n' ' ')"
done
