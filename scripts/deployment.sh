# Sourced by soak.sh and loadtest.sh, from the repository's root.
#
# prepare_deployment NAME: the purposes, the acme-cam notice and four API
# clients, written through the CLI before any instance serves (the caller
# sets CONSENTRY_DB or CONSENTRY_DATA_DIR); sets ADMIN, APP, SERVICE and
# AUDITOR to the tokens of new clients named after NAME.
prepare_deployment() {
	./bin/consentry purposes load notices/purposes.yaml >/dev/null
	./bin/consentry notices publish notices/acme-cam >/dev/null
	ADMIN=$(./bin/consentry clients create --name "$1-admin" --role admin)
	APP=$(./bin/consentry clients create --name "$1-app" --role app)
	# The data policy's rules name this service.
	SERVICE=$(./bin/consentry clients create --name service-client --role service)
	AUDITOR=$(./bin/consentry clients create --name "$1-auditor" --role auditor)
}

# wait_ready URL LOG PID: waits up to 30 s for the instance PID to be ready
# on URL; if it is not, or it exits (its port taken by another server,
# say, which would otherwise answer in its place), prints its log and fails.
wait_ready() {
	for _ in $(seq 1 60); do
		if ! kill -0 "$3" 2>/dev/null; then
			echo "$(basename "$0"): the server for $1 exited:" >&2
			cat "$2" >&2
			return 1
		fi
		curl -sf --max-time 2 "$1/readyz" >/dev/null && return 0
		sleep 0.5
	done
	echo "$(basename "$0"): the server did not become ready on $1:" >&2
	cat "$2" >&2
	return 1
}

# start_instances N FIRST_PORT DIR: N `consentry serve` on 127.0.0.1 from
# FIRST_PORT up, each logging to DIR/PORT.log, and waits until all are
# ready; their URLs and process ids are left in urls and pids.
start_instances() {
	local n=$1 first=$2 dir=$3 i port
	urls=() pids=()
	for i in $(seq 0 $((n - 1))); do
		port=$((first + i))
		./bin/consentry serve --addr "127.0.0.1:$port" --log-level warn 2>"$dir/$port.log" &
		urls+=("http://127.0.0.1:$port") pids+=($!)
	done
	for i in "${!urls[@]}"; do
		wait_ready "${urls[$i]}" "$dir/${urls[$i]##*:}.log" "${pids[$i]}"
	done
}

# verify_deployment URL LOG...: after a run, the whole audit log verifies
# against the deployment's key (read through instance URL with AUDITOR's
# token), and the count of errors the instances logged.
verify_deployment() {
	local url=$1
	shift
	CONSENTRY_TOKEN=$AUDITOR ./bin/consentry audit verify --server "$url" --key "$CONSENTRY_DATA_DIR/audit-verifier.key" | grep -v '^warning'
	echo "errors logged by the server: $(cat "$@" | grep -c '"level":"ERROR"' || true)"
	cat "$@" | grep '"level":"ERROR"' | head -3 || true
}
