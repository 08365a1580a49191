#!/usr/bin/env bash
# The shipped binary on its embedded SQLite default (synchronous=FULL, group
# commit, every request audited), loaded by wrk from a second process over
# loopback: consents with signed receipts, single decisions, batches of 100
# checks. Subjects are spread over SUBJECTS; POLICY_RULES rules are loaded.
# Any answer outside 2xx (wrk's own count), or any socket error, fails the run.
# Usage: scripts/loadtest.sh [DURATION] [CONNECTIONS]
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod names it; see the Makefile
duration=${1:-10s} conns=${2:-64}
subjects=${SUBJECTS:-100000} rules=${POLICY_RULES:-1000}
if ! command -v wrk >/dev/null; then
	echo "loadtest: wrk is needed (Debian: apt-get install wrk)" >&2
	exit 1
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
export CONSENTRY_DATA_DIR=$work/data CONSENTRY_RATE_LIMIT=0
base=http://127.0.0.1:${LOADTEST_PORT:-18090}

# shellcheck source=scripts/deployment.sh
. "$(dirname "$0")/deployment.sh"
prepare_deployment load
./bin/consentry serve --addr "${base#http://}" --log-level warn 2>"$work/serve.log" &
server=$!
wait_ready "$base" "$work/serve.log" "$server"

api() { # method path token [body]
	curl -sSf -X "$1" "$base$2" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' ${4:+-d "$4"}
}
device=$(api POST /v1/devices "$ADMIN" \
	'{"manufacturer":"Acme","model":"Cam","serial":"LOAD-1","firmware_version":"1","notice_key":"acme-cam"}' | jq -r .id)
api PUT "/v1/devices/$device/inventory" "$ADMIN" '{"elements":[{"key":"video","description":"Camera video",
	"category":"personal.media.image","sensitivity":"sensitive","purposes":["security-monitoring"],"collection_method":"sensor",
	"retention":"P30D","recipients":["Acme Cloud Storage Ltd"],"storage_region":"EU"}]}' >/dev/null
api POST /v1/policies "$ADMIN" '{"subject":"service-client","category":"personal.*","purpose":"security-monitoring","action":"use","effect":"allow"}' >/dev/null
# Rules for other services, so that the policy holds POLICY_RULES in all.
for i in $(seq 2 "$rules"); do
	printf '{"subject":"other-%d","category":"personal.media.*","purpose":"security-monitoring","action":"share","effect":"allow"}\n' "$i"
done | while read -r rule; do api POST /v1/policies "$ADMIN" "$rule" >/dev/null; done
notice=$(api GET /v1/notices/acme-cam/versions/current "$APP")
version=$(jq .version <<<"$notice") hash=$(jq .content_hash <<<"$notice")

# lua_script PREPARED REQUEST: a run's script. Each thread prepares PREPARED
# requests once, in init, REQUEST being the Lua expression of request k
# (subject(k) is the k-th subject of the thread's walk, from its own
# offset), and cycles through them. wrk shares the two cores with the
# server, so its script is kept to that: formatting each request in Lua,
# and a Lua response callback to check each status (about 14 us of wrk's
# CPU per consent), took CPU the server then lacked. wrk counts answers
# outside 2xx itself, and run fails on any.
lua_script() {
	cat <<EOF
n, offset, threads, requests = 0, 0, {}, {}
setup = function(thread)
  table.insert(threads, thread)
  thread:set("offset", (#threads - 1) * $((subjects / 2 + 1)))
end
subject = function(k) return "load-" .. ((offset + k) % $subjects) end
check = function(k)
  return string.format('{"subject":"%s","device_id":"$device","element":"video","purpose":"security-monitoring","action":"use"}', subject(k))
end
post = function(path, token, body)
  return wrk.format("POST", path, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
init = function(args)
  for k = 1, $1 do requests[k] = $2 end
end
request = function()
  n = n % #requests + 1
  return requests[n]
end
done = function(summary, latency, requests)
  print(string.format("%d requests; p50 %.2f ms, p99 %.2f ms", summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
batch = function(k)
  local checks = {}
  for i = 1, 100 do checks[i] = check(k * 100 + i) end
  return post("/v1/decisions/batch", "$SERVICE", '{"checks":[' .. table.concat(checks, ",") .. ']}')
end
EOF
}
# Consents go to a new subject each, up to half the subjects per thread;
# decisions and batches cycle through the same subjects.
lua_script $((subjects / 2)) "post(\"/v1/consents\", \"$APP\", string.format('{\"subject\":\"%s\",\"device_id\":\"$device\",\"notice_key\":\"acme-cam\",\"notice_version\":$version,\"notice_hash\":$hash,\"locale\":\"en\",\"method\":\"app\",\"choices\":[{\"purpose\":\"security-monitoring\",\"granted\":true},{\"purpose\":\"device-maintenance\",\"granted\":false}]}', subject(k)))" >"$work/consents.lua"
lua_script 10000 "post(\"/v1/decisions\", \"$SERVICE\", check(k))" >"$work/decisions.lua"
lua_script $((subjects / 200)) "batch(k)" >"$work/batches.lua"

# cpu_seconds PID: the CPU time (user and system) the process has used.
cpu_seconds() {
	awk -v tck="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / tck }' "/proc/$1/stat"
}
run() { # name script connections path
	echo "== $1: wrk -t2 -c$3 -d$duration"
	# The CPU wrk and the server each used, as both share the cores.
	local TIMEFORMAT="wrk used %U s user + %S s system of CPU" before status=0
	before=$(cpu_seconds "$server")
	{ time wrk -t2 -c"$3" -d"$duration" -s "$work/$2" "$base${4}" >"$work/wrk.out"; } 2>"$work/wrk.time" || status=$?
	grep -E 'Requests/sec|requests;|Non-2xx|Socket errors' "$work/wrk.out" || true
	echo "$(cat "$work/wrk.time"); the server used $(awk -v a="$before" -v b="$(cpu_seconds "$server")" 'BEGIN { printf "%.2f", b - a }') s"
	if grep -qE 'Non-2xx|Socket errors' "$work/wrk.out"; then
		echo "loadtest: $1: answers outside 2xx or socket errors (above)" >&2
		status=1
	fi
	return "$status"
}
echo "loadtest: $(nproc) cores, $subjects subjects, $rules policy rules, bin/consentry on SQLite in $work/data"
run consents consents.lua "$conns" /v1/consents
run decisions decisions.lua "$conns" /v1/decisions
run "decisions, batches of 100 (checks/s = 100 x requests/s)" batches.lua 16 /v1/decisions/batch
# Every answer was audited: the whole log verifies.
verify_deployment "$base" "$work/serve.log"
# Decisions were made from memory, loaded whole once (at start) and kept
# current since.
curl -fsS "$base/metrics" | grep -E '^consentry_decision_facts_(in_memory|loads_total|consent_states) '

