// Command benchscale measures Consentry's instances sharing one
// PostgreSQL database (make bench-scale; issue 26, docs/scaling.md).
// scripts/bench-scale.sh starts the instances; this seeds one data set
// through the first, then for 1, 2, ... of them loads decisions and then
// consents spread over those instances, and prints the rate, p50, p99,
// the CPU the instances and PostgreSQL spent per request, and what the
// audit log's lock did meanwhile (commits, changes per commit, the time
// it was held). Instances append to one log one commit at a time: the
// lock's busy share says how close the cluster is to that cap. Last, it
// fits the lock's time per commit to the changes in it and predicts, from
// the measured costs, what N logs (shards) would carry (docs/scaling.md,
// "A model for N shards").
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/loadgen"
)

type config struct {
	instances       []string
	pids            []int
	admin, app, svc string
	subjects        int
	duration        time.Duration
	connections     int
}

func main() {
	var c config
	var instances, pids string
	flag.StringVar(&instances, "instances", "", "comma-separated base URLs of the instances")
	flag.StringVar(&pids, "pids", "", "comma-separated process ids of the instances, in the same order")
	flag.StringVar(&c.admin, "admin", "", "an admin token")
	flag.StringVar(&c.app, "app", "", "an app token")
	flag.StringVar(&c.svc, "service", "", "the token of the service client named service-client")
	flag.IntVar(&c.subjects, "subjects", 20000, "subjects, each with a consent (nine in ten) or a refusal")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each run")
	flag.IntVar(&c.connections, "connections", 64, "connections of each run, spread over the instances")
	flag.Parse()
	c.instances = strings.Split(instances, ",")
	for _, p := range strings.Split(pids, ",") {
		n, err := strconv.Atoi(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchscale: --pids:", err)
			os.Exit(2)
		}
		c.pids = append(c.pids, n)
	}
	if len(c.pids) != len(c.instances) {
		fmt.Fprintln(os.Stderr, "benchscale: --pids must name one process per instance")
		os.Exit(2)
	}
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

// lockStats are the audit log's counters of all instances, summed.
type lockStats struct {
	commits, changes, held, wait float64
}

func (a lockStats) minus(b lockStats) lockStats {
	return lockStats{a.commits - b.commits, a.changes - b.changes, a.held - b.held, a.wait - b.wait}
}

// run is one measured load of a kind over the first n instances.
type runResult struct {
	kind string
	n    int
	r    loadgen.Result
	pg   time.Duration // PostgreSQL's CPU time during the run
	lock lockStats
}

func run(ctx context.Context, c config) error {
	const purpose, element, category = "security-monitoring", "video", "personal.media.image"
	start := time.Now()
	seeded, err := loadgen.Seed(ctx, c.instances[0], c.admin, c.app, loadgen.DataSet{Subjects: c.subjects, Rules: 1, Purpose: purpose,
		Element: element, Category: category})
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	fmt.Printf("benchscale: seeded in %s: 1 device, %d subjects; %d instances on one PostgreSQL database\n",
		time.Since(start).Round(time.Second), c.subjects, len(c.instances))

	decisions := make([][]byte, 10000)
	for i := range decisions {
		decisions[i], _ = json.Marshal(map[string]string{"subject": loadgen.Subject(i * 7919 % c.subjects), "device_id": seeded.Device,
			"element": element, "purpose": purpose, "action": "use"})
	}
	consents := make([][]byte, 10000)
	for i := range consents {
		consents[i], _ = json.Marshal(map[string]any{"subject": loadgen.Subject(i * 7919 % c.subjects), "device_id": seeded.Device,
			"notice_key": "acme-cam", "notice_version": seeded.NoticeVersion, "notice_hash": seeded.NoticeHash, "locale": "en", "method": "app",
			"choices": []map[string]any{{"purpose": purpose, "granted": true}}})
	}
	var results []runResult
	for n := 1; n <= len(c.instances); n++ {
		for _, kind := range []string{"decisions", "consents"} {
			t := loadgen.Target{Token: c.svc, Bodies: decisions, Conns: c.connections, Duration: c.duration, PIDs: c.pids}
			path := "/v1/decisions"
			if kind == "consents" {
				t.Token, t.Bodies, t.Status, path = c.app, consents, http.StatusCreated, "/v1/consents"
			}
			for _, u := range c.instances[:n] {
				t.URLs = append(t.URLs, u+path)
			}
			before, err := c.lock(ctx)
			if err != nil {
				return err
			}
			pgBefore := loadgen.CPUTimeOf("postgres")
			r := loadgen.Run(ctx, t)
			pg := loadgen.CPUTimeOf("postgres") - pgBefore
			after, err := c.lock(ctx)
			if err != nil {
				return err
			}
			if r.Errors > 0 {
				return fmt.Errorf("%s on %d instances: %d answers failed (first: %s)", kind, n, r.Errors, r.FirstError)
			}
			rr := runResult{kind: kind, n: n, r: r, pg: pg, lock: after.minus(before)}
			results = append(results, rr)
			fmt.Println(" ", rr)
		}
	}
	model(results)
	return nil
}

func (rr runResult) String() string {
	pgPer := float64(rr.pg.Microseconds()) / float64(max(rr.r.Requests, 1))
	l := rr.lock
	busy := l.held / rr.r.Elapsed.Seconds()
	return fmt.Sprintf("%-9s %d instance(s): %s, PostgreSQL CPU %.0f µs/request; log lock: %.0f commits/s, %.1f changes/commit, held %.2f ms/commit (busy %.0f%%), waited %.2f ms/commit",
		rr.kind, rr.n, rr.r, pgPer, l.commits/rr.r.Elapsed.Seconds(), l.changes/max(l.commits, 1), 1000*l.held/max(l.commits, 1), 100*busy,
		1000*l.wait/max(l.commits, 1))
}

// lock sums the audit log's lock counters of every instance.
func (c config) lock(ctx context.Context) (lockStats, error) {
	var s lockStats
	for _, u := range c.instances {
		m, err := loadgen.Metrics(ctx, u)
		if err != nil {
			return s, err
		}
		s.commits += m["consentry_audit_lock_held_seconds_count"]
		s.held += m["consentry_audit_lock_held_seconds_sum"]
		s.wait += m["consentry_audit_lock_wait_seconds_sum"]
		s.changes += m["consentry_audit_batch_changes_sum"]
	}
	return s, nil
}

// model predicts, from the measured costs, what N logs (shards) on one
// PostgreSQL primary would carry. One log commits one batch at a time:
// at the changes per commit and the lock's time per commit of a run, it
// carries at most changes ÷ held a second (its cap; the run's busy share
// says how near it came). N logs, each with its own lock, carry N times
// the best such cap measured, until the primary's cores are spent at the
// PostgreSQL CPU per request measured (the instances are added freely,
// and the network's round trips are taken as on this machine's loopback).
func model(results []runResult) {
	fmt.Println("model: what N logs (shards) would carry, from the measured lock and CPU costs")
	for _, kind := range []string{"decisions", "consents"} {
		var best runResult
		bestCap := 0.0
		for _, rr := range results {
			if rr.kind != kind || rr.lock.held <= 0 {
				continue
			}
			if c := rr.lock.changes / rr.lock.held; c > bestCap {
				best, bestCap = rr, c
			}
		}
		if bestCap == 0 {
			continue
		}
		pgPer := best.pg.Seconds() / float64(max(best.r.Requests, 1))
		appPer := best.r.CPU.Seconds() / float64(max(best.r.Requests, 1))
		fmt.Printf("  %s: one log carries at most %.0f/s (%d instance(s): %.1f changes per commit, the lock held %.2f ms per commit); per request, PostgreSQL %.0f µs and the instances %.0f µs of CPU\n",
			kind, bestCap, best.n, best.lock.changes/best.lock.commits, 1000*best.lock.held/best.lock.commits, pgPer*1e6, appPer*1e6)
		for _, cores := range []int{2, 16, 64} {
			line := fmt.Sprintf("    a primary with %2d cores:", cores)
			for _, n := range []int{1, 2, 4, 8, 16} {
				pred := float64(n) * bestCap
				if pgPer > 0 {
					pred = min(pred, float64(cores)/pgPer)
				}
				line += fmt.Sprintf("  %2d logs %7.0f/s", n, pred)
			}
			fmt.Println(line)
		}
	}
}
