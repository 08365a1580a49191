// Package loadgen is the load generator of Consentry's benchmarks that
// run servers as processes (make bench-peers, make bench-scale): bounded
// runs of JSON POSTs over loopback, their rate and latencies, and the CPU
// time the servers spent meanwhile, read from /proc. It is a tool, not
// part of the service.
package loadgen

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one run: Bodies posted in turn over Conns connections for
// Duration, connection i to URLs[i % len(URLs)].
type Target struct {
	URLs     []string
	Token    string
	Bodies   [][]byte
	Conns    int
	Duration time.Duration
	// Checks is how many answers one request carries (1, or a batch's size).
	Checks int
	// PIDs are the server processes whose CPU time the run reports.
	PIDs []int
	// Status is the answer expected (200 when 0).
	Status int
}

// Result is one run's measure.
type Result struct {
	Requests, Errors int64
	Checks           int
	Elapsed          time.Duration
	P50, P99         time.Duration
	// CPU is the servers' CPU time during the run.
	CPU        time.Duration
	FirstError string
}

// PerSecond is the rate of answers (checks, for batches).
func (r Result) PerSecond() float64 {
	return float64(r.Requests) * float64(r.Checks) / r.Elapsed.Seconds()
}

// CPUPerRequest is the servers' CPU time per request (0 when unknown).
func (r Result) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

func (r Result) String() string {
	unit := "requests/s"
	if r.Checks > 1 {
		unit = "checks/s"
	}
	cpu := ""
	if r.CPU > 0 && r.Requests > 0 {
		cpu = fmt.Sprintf(", server CPU %.0f µs/request", float64(r.CPU.Microseconds())/float64(r.Requests))
	}
	return fmt.Sprintf("%9.0f %s, p50 %6.2f ms, p99 %6.2f ms%s", r.PerSecond(), unit, r.P50.Seconds()*1000, r.P99.Seconds()*1000, cpu)
}

// Run loads t and measures. A request that fails or answers other than
// t.Status counts in Errors.
func Run(ctx context.Context, t Target) Result {
	tr := &http.Transport{MaxIdleConnsPerHost: t.Conns, MaxConnsPerHost: t.Conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		next, errs atomic.Int64
		firstErr   atomic.Value
		wg         sync.WaitGroup
		mu         sync.Mutex
		latencies  []time.Duration
	)
	want := cmp.Or(t.Status, http.StatusOK)
	cpuBefore := CPUTime(t.PIDs...)
	start := time.Now()
	deadline := start.Add(t.Duration)
	for w := range t.Conns {
		url := t.URLs[w%len(t.URLs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1<<14)
			for time.Now().Before(deadline) {
				i := next.Add(1)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(t.Bodies[int(i)%len(t.Bodies)]))
				req.Header.Set("Content-Type", "application/json")
				if t.Token != "" {
					req.Header.Set("Authorization", "Bearer "+t.Token)
				}
				began := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != want {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				mine = append(mine, time.Since(began))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := Result{Requests: int64(len(latencies)), Errors: errs.Load(), Checks: max(t.Checks, 1), Elapsed: time.Since(start),
		CPU: CPUTime(t.PIDs...) - cpuBefore}
	if s, ok := firstErr.Load().(string); ok {
		r.FirstError = s
	}
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		r.P50, r.P99 = latencies[n*50/100], latencies[min(n-1, n*99/100)]
	}
	return r
}

// CPUTime is the user and system CPU time the processes have used (0 for
// one that cannot be read).
func CPUTime(pids ...int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		if pid > 0 {
			total += cpuOf(fmt.Sprintf("/proc/%d/stat", pid))
		}
	}
	return total
}

// CPUTimeOf is the CPU time used by every process whose command name is
// comm (postgres: its server and every backend, those that ended too
// being counted in their parent's children's time).
func CPUTimeOf(comm string) time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(b)) != comm {
			continue
		}
		total += cpuOf("/proc/" + e.Name() + "/stat")
	}
	return total
}

// cpuOf reads a /proc/<pid>/stat file's CPU times: the process's own, and
// those of its children that ended and were waited for.
func cpuOf(path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// The fields after the command name, which may hold spaces, in ().
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, k := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		n, _ := strconv.ParseInt(f[k], 10, 64)
		ticks += n
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ticks) * time.Second / hz
}

// Parallel runs fn(0..n-1) on workers goroutines; the first error wins.
func Parallel(n, workers int, fn func(i int) error) error {
	var (
		next  atomic.Int64
		first atomic.Value
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || first.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

// httpClient sends the seeding and sampled requests.
var httpClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// Call sends v as JSON and decodes a 2xx answer into out (when not nil).
func Call(ctx context.Context, method, url, token string, v, out any) error {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Metrics reads a server's unlabelled samples from base's /metrics,
// by name.
func Metrics(ctx context.Context, base string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// CallRaw posts body as is.
func CallRaw(ctx context.Context, url, token string, body []byte, out any) error {
	var v json.RawMessage = body
	return Call(ctx, http.MethodPost, url, token, v, out)
}
