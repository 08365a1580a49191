#!/usr/bin/env bash
# Runs docs/walkthrough.md as it stands: every ```sh block, in order, against a
# fresh service on a free loopback port and a scratch data directory, then
# checks what its comments promise and that it left nothing in the work tree.
# Usage: scripts/walkthrough.sh   (make walkthrough; .ci/run runs it)
set -euo pipefail
export GOTOOLCHAIN=go1.27.3
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
server=""
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

before=$(git status --porcelain --untracked-files=all)
echo "walkthrough: building bin/consentry"
go build -o bin/consentry ./cmd/consentry
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export CONSENTRY="http://127.0.0.1:$port" CONSENTRY_DATA_DIR="$tmp/data"
unset CONSENTRY_DB
bin/consentry serve --addr "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
	curl -sf "$CONSENTRY/readyz" >/dev/null && break
	sleep 0.1
done
curl -sf "$CONSENTRY/readyz" >/dev/null || { cat "$tmp/server.log"; exit 1; }

# The page's shell blocks; console blocks (make run, psql) are instructions, not run.
awk '/^```sh$/ {on=1; next} /^```$/ {on=0} on' docs/walkthrough.md >"$tmp/walk.sh"
echo "walkthrough: running $(wc -l <"$tmp/walk.sh") lines of docs/walkthrough.md against $CONSENTRY"
# -e: a command that fails stops the run. Not pipefail: `curl | head` ends curl
# early by design.
if ! (cd "$PWD" && bash -e "$tmp/walk.sh") >"$tmp/out.txt" 2>&1; then
	cat "$tmp/out.txt"
	echo "walkthrough: a command failed (server log: $tmp/server.log)"
	tail -20 "$tmp/server.log"
	exit 1
fi

# What the comments promise, in the order they promise it.
device=$(sed -n 's/^device //p' "$tmp/out.txt" | head -1)
check() {
	grep -qF -- "$1" "$tmp/out.txt" || { cat "$tmp/out.txt"; echo "walkthrough: missing: $2 ($1)"; exit 1; }
}
check '"code":"conflict"' "the look-alike identity is a duplicate (409)"
check '"kind": "recipient_not_disclosed"' "the uncovered notice is refused with its gaps"
check '"fallback": true' "fr-CA falls back to fr"
check '"code":"forbidden"' "an app may not register devices (403)"
check '{"decision":"deny","reasons":["policy_denied"]}' "nothing is allowed before the policy says so"
check '"decision":"allow"' "the decision allowed once consented and permitted"
check '{"decision":"deny","reasons":["consent_withdrawn"]}' "the decision after the withdrawal is a deny"
check '"state":"delivered"' "the withdrawal's webhook was delivered"
check '{"subject":"user-b2c9","role":"member"}' "the owner shares the device with a member"
check '{"decision":"allow","reasons":[]}' "the member's own consent allows"
check '{"code":"invalid","fields":["guardian"]}' "a child's consent without a guardian is refused"
check '"guardian":"user-7f3a"}' "the receipt names the child and the guardian"
check '<label for="p-maintenance">Autoriser : Soin de la batterie</label>' "the hosted page, in French, a toggle per purpose"
check '{"purpose":"maintenance","status":"granted"}' "the hosted page's form recorded the consent"
check '["1.4.2","1.5.0"]' "the firmware history"
check "[\"$device\"]" "incident search finds the device by the firmware it ran then"
check 'ok:' "the audit log and the evidence bundle verify"

after=$(git status --porcelain --untracked-files=all)
if [ "$before" != "$after" ]; then
	echo "walkthrough: it changed the work tree:"
	diff <(echo "$before") <(echo "$after") || true
	exit 1
fi
echo "walkthrough: ok ($(grep -c '' "$tmp/out.txt") lines of output)"
