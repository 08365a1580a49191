// Command example-backend is how a backend service uses Consentry, with the
// Go client generated from openapi.yaml (package api/client):
//
//   - before it uses a person's data, it asks for a decision and acts on
//     nothing but an allow (decide);
//   - it takes Consentry's webhook deliveries, checks their signatures,
//     drops repeats, and stops processing when consent goes (listen).
//
// Usage:
//
//	export CONSENTRY_URL=http://127.0.0.1:8080 CONSENTRY_TOKEN=<a service client's token>
//	example-backend decide --subject user-7f3a --device <id> --element location --purpose navigation [--action use]
//	example-backend listen --addr 127.0.0.1:9090 --secret <the webhook's secret>
//
// decide exits 0 for an allow, 1 for a deny, 2 when no decision could be
// had (which the backend must treat as a deny).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/consentry/consentry/api/client"
	"github.com/consentry/consentry/api/webhooksig"
	"github.com/google/uuid"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: example-backend decide|listen [flags]")
		return 2
	}
	switch args[0] {
	case "decide":
		return decide(ctx, args[1:], getenv, stdout, stderr)
	case "listen":
		return listen(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprintf(stderr, "unknown command %q: want decide or listen\n", args[0])
	return 2
}

// decide asks whether this service may act on one data element, prints
// the answer and the reasoning behind it, and exits accordingly.
func decide(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decide", flag.ContinueOnError)
	fs.SetOutput(stderr)
	subject := fs.String("subject", "", "the app's id of the person")
	device := fs.String("device", "", "the device id")
	element := fs.String("element", "", "the data element (a key of the device's inventory)")
	purpose := fs.String("purpose", "", "the purpose of the use")
	action := fs.String("action", "use", "collect, use or share")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	base, token := getenv("CONSENTRY_URL"), getenv("CONSENTRY_TOKEN")
	deviceID, err := uuid.Parse(*device)
	if base == "" || token == "" || err != nil {
		fmt.Fprintln(stderr, "decide needs CONSENTRY_URL, CONSENTRY_TOKEN and --device <uuid>")
		return 2
	}
	decider, err := client.NewDecider(base, token)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	res, err := decider.Decide(ctx, client.DecisionRequest{Subject: *subject, DeviceId: deviceID, Element: *element, Purpose: *purpose,
		Action: client.DecisionRequestAction(*action)})
	if err != nil {
		// No answer is not an allow.
		fmt.Fprintln(stdout, "deny: no decision:", err)
		return 2
	}
	if res.Decision == client.DecisionResponseDecisionAllow {
		fmt.Fprintf(stdout, "allow (decision %s, audit entry %d, consent %v)\n", res.Id, res.AuditSeq, deref(res.ConsentRecord))
	} else {
		fmt.Fprintf(stdout, "deny: %s (decision %s, audit entry %d)\n", strings.Join(res.Reasons, ","), res.Id, res.AuditSeq)
	}
	// The reasoning, as support or an auditor would read it.
	api, err := client.NewClientWithResponses(base, client.WithRequestEditorFn(client.BearerToken(token)))
	if err == nil {
		if ex, err := api.GetDecisionWithResponse(ctx, res.Id); err == nil && ex.JSON200 != nil {
			for _, s := range ex.JSON200.Steps {
				fmt.Fprintf(stdout, "  %-9s ok=%-5v %s\n", s.Check, s.Ok, s.Detail)
			}
		}
	}
	if res.Decision == client.DecisionResponseDecisionAllow {
		return 0
	}
	return 1
}

func deref[T any](p *T) any {
	if p == nil {
		return "-"
	}
	return *p
}

// listen receives webhook deliveries: it checks each signature (the
// documented check), ignores events it has seen (at-least-once delivery
// means repeats), and prints one line per new event.
func listen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "address to receive deliveries on")
	secret := fs.String("secret", getenv("CONSENTRY_WEBHOOK_SECRET"), "the webhook's secret (env CONSENTRY_WEBHOOK_SECRET)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *secret == "" {
		fmt.Fprintln(stderr, "listen needs --secret (or CONSENTRY_WEBHOOK_SECRET)")
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if err := webhooksig.Verify(*secret, r.Header, body, time.Now(), webhooksig.DefaultTolerance); err != nil {
			fmt.Fprintln(stderr, "refused a delivery:", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(webhooksig.HeaderID)
		mu.Lock()
		dup := seen[id]
		seen[id] = true
		if !dup {
			fmt.Fprintln(stdout, describe(r.Header.Get(webhooksig.HeaderEventKind), body))
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, err)
		return 2
	}
	return 0
}

// describe says what a backend does about an event.
func describe(kind string, body []byte) string {
	what := map[string]string{
		"consent.withdrawn":          "stop processing; delete where the notice says so",
		"consent.expired":            "stop processing until consent is given again",
		"consent.reconsent_required": "stop processing until the person consents to the new notice",
		"device.deactivated":         "stop processing the device's data",
		"device.disposed":            "delete the device's data",
		"consent.granted":            "processing may start (each use still asks for a decision)",
		"notice.published":           "a new notice version is in force",
	}[kind]
	return fmt.Sprintf("%s: %s %s", kind, what, body)
}
