package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// RunWrk loads t with wrk (github.com/wg/wrk, the binary at path) rather
// than Go's HTTP client: a C load generator with one event loop per
// thread, which spends a few microseconds of CPU per request where
// net/http's client spends tens and hands each request between goroutines.
// Its Lua script holds t's requests ready-made and sends them in turn.
// wrk reports latencies to the microsecond and counts answers outside
// 2xx and 3xx; any such answer, or any socket error, is in Errors, so
// t.Status can only be 200.
func RunWrk(ctx context.Context, path string, t Target) (Result, error) {
	if t.Status != 0 && t.Status != 200 {
		return Result{}, fmt.Errorf("loadgen: wrk tells 2xx and 3xx answers from others, not status %d", t.Status)
	}
	if len(t.URLs) != 1 {
		return Result{}, fmt.Errorf("loadgen: wrk loads one URL, not %d", len(t.URLs))
	}
	if len(t.Bodies) == 0 {
		return Result{}, errors.New("loadgen: no request bodies")
	}
	dir, err := os.MkdirTemp("", "loadgen-wrk")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	u, err := url.Parse(t.URLs[0])
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	script := filepath.Join(dir, "requests.lua")
	if err := os.WriteFile(script, wrkScript(t, u.RequestURI()), 0o600); err != nil {
		return Result{}, err
	}
	threads := min(2, t.Conns)
	// A request unanswered for 30 s is an error, as in Run (wrk's own
	// default, 2 s, would count a batch queued behind a WAL restart).
	cmd := exec.CommandContext(ctx, path, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(t.Conns),
		"-d", strconv.Itoa(max(1, int(t.Duration.Round(time.Second).Seconds())))+"s", "--timeout", "30s", "--latency", "-s", script, t.URLs[0])
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cpuBefore := CPUTime(t.PIDs...)
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("loadgen: wrk: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	r, err := parseWrk(out.String())
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: %w in wrk's output:\n%s", err, out.String())
	}
	r.Checks, r.CPU = max(t.Checks, 1), CPUTime(t.PIDs...)-cpuBefore
	return r, nil
}

// wrkScript is the Lua script of a run: t's requests to path, formatted
// once when each thread starts, sent in turn (each thread from its own
// place).
func wrkScript(t Target, path string) []byte {
	var b bytes.Buffer
	b.WriteString("local headers = {[\"Content-Type\"] = \"application/json\"")
	if t.Token != "" {
		b.WriteString(", [\"Authorization\"] = ")
		b.WriteString(luaString("Bearer " + t.Token))
	}
	b.WriteString("}\nlocal bodies = {\n")
	for _, body := range t.Bodies {
		b.WriteString(luaString(string(body)))
		b.WriteString(",\n")
	}
	fmt.Fprintf(&b, `}
-- Each thread starts at its own place in the requests.
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
-- Formatted in init: the Host header is not set yet as the script loads.
local requests, n = {}, 0
function init(args)
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format("POST", %s, headers, body)
  end
  n = (offset or 0) %% #requests
end
function request()
  n = n %% #requests + 1
  return requests[n]
end
`, luaString(path))
	return b.Bytes()
}

// luaString is s as a Lua string literal: printable ASCII as it is, every
// other byte, and the quote and backslash, as a decimal escape (Lua 5.1,
// which wrk's LuaJIT reads).
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "\\%03d", c)
	}
	b.WriteByte('"')
	return b.String()
}

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h),`)
	wrkLatency  = regexp.MustCompile(`(?m)^\s*(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads what a run of wrk --latency printed.
func parseWrk(out string) (Result, error) {
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		return Result{}, errors.New("no request count")
	}
	var r Result
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	elapsed, err := wrkDuration(m[2], m[3])
	if err != nil || elapsed <= 0 {
		return Result{}, fmt.Errorf("no duration: %q", m[0])
	}
	r.Elapsed = elapsed
	for _, l := range wrkLatency.FindAllStringSubmatch(out, -1) {
		d, err := wrkDuration(l[2], l[3])
		if err != nil {
			return Result{}, err
		}
		if l[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.P50 == 0 || r.P99 == 0 {
		return Result{}, errors.New("no latency distribution (--latency)")
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.Errors += n
		r.FirstError = m[0]
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.Errors += n
		}
		if r.FirstError == "" {
			r.FirstError = strings.TrimSpace(m[0])
		}
	}
	return r, nil
}

// wrkDuration reads one of wrk's durations: a number and its unit.
func wrkDuration(n, unit string) (time.Duration, error) {
	f, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return 0, err
	}
	scale := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	return time.Duration(f * float64(scale)), nil
}
