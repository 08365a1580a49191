// Command benchpeers measures Consentry's audited decisions side by side
// with Open Policy Agent holding the same data (make bench-peers; issue 26,
// docs/performance.md). scripts/bench-peers.sh starts both servers; this
// seeds one data set into both (a device, its inventory and notice,
// POLICY rules, a consent or refusal for each of SUBJECTS subjects), checks
// on a sample that both answer alike, then loads each in turn over
// loopback and prints requests/s, p50, p99, the CPU each server used per
// request, and the ratios.
//
// The load generator is wrk (--wrk, which the script passes), the same for
// both servers, sharing the machine's cores with them; without --wrk, this
// program's own (Go's HTTP client, one goroutine per connection), which
// spends more CPU and adds more latency per request.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/loadgen"
)

// config is what the script passes.
type config struct {
	consentry, opa             string
	admin, app, service        string
	consentryPID, opaPID       int
	subjects, rules, sample    int
	duration                   time.Duration
	connections, batchConns    int
	rounds                     int
	purpose, element, category string
	// pprof and profileDir, when set: Consentry's runtime profiles, and
	// where the first round's CPU profiles of its runs are written.
	pprof, profileDir string
	// wrk is the wrk binary that loads the servers ("": Go's client).
	wrk string
}

func main() {
	var c config
	flag.StringVar(&c.consentry, "consentry", "", "Consentry's base URL")
	flag.StringVar(&c.opa, "opa", "", "OPA's base URL")
	flag.StringVar(&c.admin, "admin", "", "an admin token")
	flag.StringVar(&c.app, "app", "", "an app token")
	flag.StringVar(&c.service, "service", "", "the token of the service client named service-client")
	flag.IntVar(&c.consentryPID, "consentry-pid", 0, "Consentry's process id, for its CPU time")
	flag.IntVar(&c.opaPID, "opa-pid", 0, "OPA's process id, for its CPU time")
	flag.IntVar(&c.subjects, "subjects", 100000, "subjects, each with a consent (nine in ten) or a refusal")
	flag.IntVar(&c.rules, "rules", 1000, "data policy rules")
	flag.IntVar(&c.sample, "sample", 2000, "requests both must answer alike")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each run")
	flag.IntVar(&c.connections, "connections", 64, "connections of the concurrent runs")
	flag.IntVar(&c.batchConns, "batch-connections", 16, "connections of the batch runs")
	flag.IntVar(&c.rounds, "rounds", 2, "alternating rounds")
	flag.StringVar(&c.pprof, "pprof", "", "Consentry's --pprof-addr as a URL: profile its runs of the first round")
	flag.StringVar(&c.profileDir, "profile-dir", "", "where the CPU profiles go (with --pprof)")
	flag.StringVar(&c.wrk, "wrk", "", "wrk's path: the load generator (without it, Go's HTTP client)")
	flag.Parse()
	c.purpose, c.element, c.category = "security-monitoring", "video", "personal.media.image"
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeers:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	start := time.Now()
	device, expires, err := seedConsentry(ctx, c)
	if err != nil {
		return fmt.Errorf("seeding Consentry: %w", err)
	}
	fmt.Printf("benchpeers: Consentry seeded in %s: 1 device, %d policy rules, %d subjects\n", time.Since(start).Round(time.Second), c.rules, c.subjects)
	if err := seedOPA(ctx, c, device, expires); err != nil {
		return fmt.Errorf("seeding OPA: %w", err)
	}
	if err := agree(ctx, c, device); err != nil {
		return err
	}
	fmt.Printf("benchpeers: both answer %d sampled requests alike\n", c.sample)

	load := func(t loadgen.Target) (loadgen.Result, error) {
		if c.wrk != "" {
			return loadgen.RunWrk(ctx, c.wrk, t)
		}
		return loadgen.Run(ctx, t), nil
	}
	single := func(peer string, conns int) (loadgen.Result, error) {
		bodies := make([][]byte, 10000)
		for i := range bodies {
			q := query{subject: loadgen.Subject(i * 7919 % c.subjects), device: device, element: c.element, purpose: c.purpose, action: "use", service: "service-client"}
			bodies[i] = q.body(peer)
		}
		if peer == "consentry" {
			return load(loadgen.Target{URLs: []string{c.consentry + "/v1/decisions"}, Token: c.service, Bodies: bodies, Conns: conns,
				Duration: c.duration, PIDs: []int{c.consentryPID}})
		}
		return load(loadgen.Target{URLs: []string{c.opa + "/v1/data/consentry/allow"}, Bodies: bodies, Conns: conns, Duration: c.duration,
			PIDs: []int{c.opaPID}})
	}
	batch := func() (loadgen.Result, error) {
		bodies := make([][]byte, c.subjects/100)
		for i := range bodies {
			checks := make([]string, 100)
			for k := range checks {
				q := query{subject: loadgen.Subject((i*100 + k) % c.subjects), device: device, element: c.element, purpose: c.purpose, action: "use"}
				checks[k] = string(q.body("consentry"))
			}
			bodies[i] = []byte(`{"checks":[` + strings.Join(checks, ",") + `]}`)
		}
		return load(loadgen.Target{URLs: []string{c.consentry + "/v1/decisions/batch"}, Token: c.service, Bodies: bodies, Conns: c.batchConns,
			Duration: c.duration, Checks: 100, PIDs: []int{c.consentryPID}})
	}

	runs := map[string][]loadgen.Result{}
	record := func(name string, r loadgen.Result, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		runs[name] = append(runs[name], r)
		fmt.Printf("  %-44s %s\n", name, r)
		return nil
	}
	for round := 1; round <= c.rounds; round++ {
		fmt.Printf("round %d of %d (%s each)\n", round, c.rounds, c.duration)
		profile := func(name string) func() {
			if round != 1 || c.pprof == "" {
				return func() {}
			}
			return startProfile(ctx, c.pprof, c.duration, filepath.Join(c.profileDir, name+".pprof"))
		}
		steps := []struct {
			name, profile string
			run           func() (loadgen.Result, error)
		}{
			{fmt.Sprintf("Consentry, single, %d connections", c.connections), "consentry-single", func() (loadgen.Result, error) { return single("consentry", c.connections) }},
			{fmt.Sprintf("OPA, single, %d connections", c.connections), "", func() (loadgen.Result, error) { return single("opa", c.connections) }},
			{"Consentry, single, 1 connection", "consentry-single-1", func() (loadgen.Result, error) { return single("consentry", 1) }},
			{"OPA, single, 1 connection", "", func() (loadgen.Result, error) { return single("opa", 1) }},
			{fmt.Sprintf("Consentry, batches of 100, %d connections", c.batchConns), "consentry-batch", batch},
		}
		for _, st := range steps {
			done := func() {}
			if st.profile != "" {
				done = profile(st.profile)
			}
			r, err := st.run()
			done()
			if err := record(st.name, r, err); err != nil {
				return err
			}
		}
	}
	for _, rs := range runs {
		for _, r := range rs {
			if r.Errors > 0 {
				return fmt.Errorf("%d answers were not 200, or failed (first: %s)", r.Errors, r.FirstError)
			}
		}
	}
	fmt.Println("ratios, round by round (Consentry / OPA):")
	cs, ops := runs[fmt.Sprintf("Consentry, single, %d connections", c.connections)], runs[fmt.Sprintf("OPA, single, %d connections", c.connections)]
	c1, o1 := runs["Consentry, single, 1 connection"], runs["OPA, single, 1 connection"]
	bs := runs[fmt.Sprintf("Consentry, batches of 100, %d connections", c.batchConns)]
	for i := range cs {
		fmt.Printf("  round %d: %d connections: %.2fx the decisions/s, p99 %.2fx; 1 connection: p50 %.2fx; batches: %.2fx OPA's single decisions/s in checks/s\n",
			i+1, c.connections, cs[i].PerSecond()/ops[i].PerSecond(), cs[i].P99.Seconds()/ops[i].P99.Seconds(), c1[i].P50.Seconds()/o1[i].P50.Seconds(),
			bs[i].PerSecond()/ops[i].PerSecond())
		fmt.Printf("    targets: %s\n", verdicts(cs[i], ops[i], c1[i], bs[i]))
	}
	return nil
}

// verdicts says which of the targets docs/performance.md holds Consentry
// to (issue 26) one round met: at the concurrent connections, at least
// 1.2 times OPA's decisions/s with a p99 no worse; at one connection, a
// p50 of 0.5 ms at most; batches, at least 4 times OPA's single
// decisions/s in checks/s.
func verdicts(concurrent, opa, one, batches loadgen.Result) string {
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	return fmt.Sprintf("decisions/s >= 1.2x OPA's with p99 <= OPA's: %s; p50 at 1 connection <= 0.5 ms: %s; batches >= 4x OPA's decisions/s: %s",
		met(concurrent.PerSecond() >= 1.2*opa.PerSecond() && concurrent.P99 <= opa.P99), met(one.P50 <= 500*time.Microsecond),
		met(batches.PerSecond() >= 4*opa.PerSecond()))
}

// seedConsentry seeds Consentry (loadgen.Seed) and returns the device id
// and the grants' expiry, by subject.
func seedConsentry(ctx context.Context, c config) (string, map[string]int64, error) {
	d, err := loadgen.Seed(ctx, c.consentry, c.admin, c.app, loadgen.DataSet{Subjects: c.subjects, Rules: c.rules, Purpose: c.purpose,
		Element: c.element, Category: c.category})
	return d.Device, d.Expires, err
}

// policy is the Rego equivalent of Consentry's checks for this data set:
// the device active, the element declared for the purpose and stated by
// the notice, a rule granting the service the action on the element's
// category for the purpose (a category pattern as Consentry's: an exact
// category, or a prefix and *; null delimiters, so that * spans dots), and
// the subject's grant unexpired. The data is under data.peers.
const policy = `package consentry

import rego.v1

default allow := false

allow if {
	device := data.peers.devices[input.device_id]
	device.active
	element := device.elements[input.element]
	input.purpose in element.purposes
	input.element in device.stated[input.purpose]
	some pattern in data.peers.rules[input.service][input.purpose][input.action]
	glob.match(pattern, null, element.category)
	data.peers.consents[input.subject][input.device_id][input.purpose] > time.now_ns()
}
`

// seedOPA pushes the same data and the policy into OPA.
func seedOPA(ctx context.Context, c config, device string, expires map[string]int64) error {
	rules := map[string]map[string]map[string][]string{"service-client": {c.purpose: {"use": {"personal.*"}}}}
	for i := 1; i < c.rules; i++ {
		rules[fmt.Sprintf("other-%d", i)] = map[string]map[string][]string{c.purpose: {"share": {"personal.media.*"}}}
	}
	consents := make(map[string]map[string]map[string]int64, len(expires))
	for s, t := range expires {
		consents[s] = map[string]map[string]int64{device: {c.purpose: t}}
	}
	doc := map[string]any{
		"devices": map[string]any{device: map[string]any{"active": true,
			"elements": map[string]any{c.element: map[string]any{"category": c.category, "purposes": []string{c.purpose}}},
			"stated":   map[string][]string{c.purpose: {c.element}}}},
		"rules":    rules,
		"consents": consents,
	}
	if err := loadgen.Call(ctx, http.MethodPut, c.opa+"/v1/data/peers", "", doc, nil); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.opa+"/v1/policies/consentry", strings.NewReader(policy))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT policy: %s: %s", resp.Status, b)
	}
	return nil
}

// query is one decision request, as either peer takes it.
type query struct{ subject, device, element, purpose, action, service string }

func (q query) body(peer string) []byte {
	if peer == "opa" {
		b, _ := json.Marshal(map[string]any{"input": map[string]string{"subject": q.subject, "device_id": q.device, "element": q.element,
			"purpose": q.purpose, "action": q.action, "service": q.service}})
		return b
	}
	b, _ := json.Marshal(map[string]string{"subject": q.subject, "device_id": q.device, "element": q.element, "purpose": q.purpose, "action": q.action})
	return b
}

// agree asks both peers the same sampled requests (subjects with a grant
// and without, actions the policy grants and not, another element) and
// fails on the first answer that differs. The requests go to Consentry
// as service-client, whose rule grants use; share is granted to no one.
func agree(ctx context.Context, c config, device string) error {
	r := rand.New(rand.NewPCG(1, 2))
	allows := 0
	for n := 0; n < c.sample; n++ {
		q := query{subject: loadgen.Subject(r.IntN(c.subjects)), device: device, element: c.element, purpose: c.purpose, action: "use", service: "service-client"}
		switch r.IntN(10) {
		case 0:
			q.action = "share"
		case 1:
			q.element = "audio"
		case 2:
			q.subject = "nobody-" + strconv.Itoa(n)
		}
		var mine struct {
			Decision string `json:"decision"`
		}
		if err := loadgen.CallRaw(ctx, c.consentry+"/v1/decisions", c.service, q.body("consentry"), &mine); err != nil {
			return err
		}
		var theirs struct {
			Result bool `json:"result"`
		}
		if err := loadgen.CallRaw(ctx, c.opa+"/v1/data/consentry/allow", "", q.body("opa"), &theirs); err != nil {
			return err
		}
		if (mine.Decision == "allow") != theirs.Result {
			return fmt.Errorf("the peers disagree on %+v: Consentry %s, OPA %v", q, mine.Decision, theirs.Result)
		}
		if theirs.Result {
			allows++
		}
	}
	if allows == 0 || allows == c.sample {
		return fmt.Errorf("the sample holds %d allows of %d: it tells nothing", allows, c.sample)
	}
	return nil
}

// startProfile takes a CPU profile of a run of length d from base's
// /debug/pprof/ into file; the function returned waits for it.
func startProfile(ctx context.Context, base string, d time.Duration, file string) func() {
	secs := max(int(d/time.Second)-1, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var out bytes.Buffer
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.Copy(&out, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		if err == nil {
			err = os.WriteFile(file, out.Bytes(), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchpeers: profile:", err)
			return
		}
		fmt.Printf("  (CPU profile of the run: %s)\n", file)
	}()
	return func() { <-done }
}
