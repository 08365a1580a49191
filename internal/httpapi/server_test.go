package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/consentry/consentry"
	"github.com/consentry/consentry/internal/app"
	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/client"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/findings"
	"github.com/consentry/consentry/internal/gctune"
	"github.com/consentry/consentry/internal/httpapi"
	"github.com/consentry/consentry/internal/incident"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/policy"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/rights"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/subjecttoken"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	// The benchmarks measure the server as consentry serve runs it.
	gctune.Apply()
	os.Exit(m.Run())
}

// env is a running API on a temp SQLite database, with one token per role.
type env struct {
	db *store.DB
	// dir holds the database file and the erasure ledger.
	dir     string
	log     *audit.Log
	rights  *rights.Service
	devices *device.Service
	srv     *httpapi.Server
	tokens  map[privacy.Role]string
	// webhooks is not started: a test that wants deliveries starts it.
	webhooks *webhook.Service
}

// MustOpenEnv builds the real services on a fresh database.
func MustOpenEnv(t testing.TB) *env { return mustOpenEnvWith(t, nil) }

// mustOpenEnvWith is MustOpenEnv with a chance to change the server's
// dependencies (limits) before it is built.
func mustOpenEnvWith(t testing.TB, change func(*httpapi.Deps)) *env {
	t.Helper()
	ctx := context.Background()
	// CONSENTRY_BENCH_SQLITE_VFS=unix: SQLite's own VFS, to measure what
	// sqlitetune's gains (docs/performance.md).
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "consentry.db"), store.Options{SQLiteVFS: os.Getenv("CONSENTRY_BENCH_SQLITE_VFS")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	routes, err := authz.NewRoutes()
	require.NoError(t, err)
	// One registry for the server and the audit writer, as in serve: the
	// benchmarks read the writer's batch sizes from /metrics.
	reg := prometheus.NewRegistry()
	data, err := authz.NewData(func() authz.Lines { return db.Read(context.Background()) })
	require.NoError(t, err)
	// The reactions to committed changes, wired as serve wires them.
	memory, outbox := decide.NewMemory(), webhook.NewOutbox()
	ledger, err := rights.OpenLedger(filepath.Join(dir, rights.LedgerFile), nil)
	require.NoError(t, err)
	log := audittest.MustOpenLog(t, db, audit.Options{Registerer: reg, React: &app.Reactions{Memory: memory, Policy: data, Outbox: outbox, Erasures: ledger}})
	clients := client.NewService(db, log)
	keys := mustKeys(t)
	notices := notice.NewService(db, log)
	review, err := findings.New(findings.Sources{DB: db, Log: log, Rules: data.Rules, KeyCreated: keys.CurrentCreated, Coverage: notices.Coverage}, findings.Options{})
	require.NoError(t, err)
	consents := consent.NewService(db, log, keys, "https://consentry.example")
	subjectRights := rights.New(db, log, consents, keys, ledger, rights.Options{Issuer: "https://consentry.example"})
	devices := device.NewService(db, log).EndConsentsWith(consents.WithdrawDevice)
	deps := httpapi.Deps{Clients: clients, Purposes: purpose.NewService(db, log), Devices: devices, Audit: log,
		Notices: notices, Consents: consents, Rights: subjectRights,
		Decisions: decide.NewService(db, log, data, memory), Policies: policy.NewService(db, log, data),
		Routes: routes, Ready: db.Ping, OpenAPI: consentry.OpenAPI, Registry: reg,
		Incidents: incident.NewService(db), Findings: review, SubjectTokens: mustSubjectTokens(t),
		Evidence: evidence.Sources{DB: db, Log: log, JWKS: keys.JWKS, Findings: review.Refresh, NoticePage: notice.WritePage}}
	if change != nil {
		change(&deps)
	}
	hooks, err := webhook.New(db, log, outbox, webhook.Options{Backoff: 20 * time.Millisecond, Poll: 20 * time.Millisecond, ExpiryScan: 50 * time.Millisecond,
		Timeout: 2 * time.Second, Log: deps.Log})
	require.NoError(t, err)
	t.Cleanup(hooks.Stop)
	deps.Webhooks = hooks
	srv, err := httpapi.NewServer(deps)
	require.NoError(t, err)
	e := &env{db: db, dir: dir, log: log, rights: subjectRights, devices: devices, srv: srv, tokens: map[privacy.Role]string{}, webhooks: hooks}
	for _, r := range privacy.Roles {
		_, tok, err := clients.Create(ctx, string(r)+"-client", r, time.Time{})
		require.NoError(t, err)
		e.tokens[r] = tok
	}
	return e
}

// response is a recorded reply.
type response struct {
	*httptest.ResponseRecorder
}

// JSON decodes the body into a map.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body.Bytes(), &m), r.Body.String())
	return m
}

// do sends a request as role ("" for no token). body is JSON-encoded unless
// it is already []byte.
func (e *env) do(t testing.TB, role privacy.Role, method, path string, body any) response {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		js, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(js)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	checkContract(t, req, rec)
	return response{rec}
}

// assertProblem checks a problem+json reply: status, code and, if given,
// the offending fields.
func assertProblem(t *testing.T, r response, status int, code string, fields ...string) map[string]any {
	t.Helper()
	require.Equal(t, status, r.Code, r.Body.String())
	assert.Equal(t, "application/problem+json", r.Header().Get("Content-Type"))
	p := r.JSON(t)
	assert.Equal(t, code, p["code"])
	assert.EqualValues(t, status, p["status"])
	assert.Equal(t, "urn:consentry:problem:"+code, p["type"])
	assert.NotEmpty(t, p["request_id"])
	assert.Equal(t, r.Header().Get("X-Request-ID"), p["request_id"])
	if len(fields) > 0 {
		var got []string
		errs, _ := p["errors"].([]any)
		for _, e := range errs {
			got = append(got, e.(map[string]any)["field"].(string))
		}
		assert.ElementsMatch(t, fields, got, r.Body.String())
		assert.Equal(t, got[0], p["field"])
	}
	return p
}

func TestOperationalEndpoints(t *testing.T) {
	e := MustOpenEnv(t)
	tests := []struct {
		path, contentType string
		want              string
	}{
		{"/healthz", "application/json", `"status":"ok"`},
		{"/readyz", "application/json", `"status":"ready"`},
		{"/metrics", "text/plain", "consentry_http_requests_total"},
		{"/openapi.yaml", "application/yaml", "openapi: 3."},
		{"/docs", "text/html", "swagger-ui"},
		{"/docs/swagger-ui.css", "text/css", ".swagger-ui"},
		{"/docs/consentry-init.js", "text/javascript", "/openapi.yaml"},
	}
	// One request first, so /metrics has a series to show.
	e.do(t, "", http.MethodGet, "/healthz", nil)
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := e.do(t, "", http.MethodGet, tc.path, nil)
			require.Equal(t, http.StatusOK, r.Code)
			assert.Contains(t, r.Header().Get("Content-Type"), tc.contentType)
			assert.Contains(t, r.Body.String(), tc.want)
		})
	}
	assertProblem(t, e.do(t, "", http.MethodGet, "/docs/nope.js", nil), 404, "not_found")
}

func TestReadyzFailsWhenTheDatabaseIsGone(t *testing.T) {
	e := MustOpenEnv(t)
	require.NoError(t, e.db.Close())
	assertProblem(t, e.do(t, "", http.MethodGet, "/readyz", nil), 503, "unavailable")
}

func TestConventions(t *testing.T) {
	e := MustOpenEnv(t)
	t.Run("unknown route is a 404 problem", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/nothing-here", nil), 404, "route_not_found")
		assertProblem(t, e.do(t, "", http.MethodGet, "/nope", nil), 404, "route_not_found")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/purposes/", nil), 404, "route_not_found")
	})
	t.Run("wrong method is a 405 problem", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodDelete, "/v1/purposes", nil), 405, "method_not_allowed")
	})
	t.Run("no token is 401 with a challenge", func(t *testing.T) {
		r := e.do(t, "", http.MethodGet, "/v1/purposes", nil)
		assertProblem(t, r, 401, "unauthorized")
		assert.Contains(t, r.Header().Get("WWW-Authenticate"), "Bearer")
	})
	t.Run("bad tokens are 401", func(t *testing.T) {
		good, _ := client.NewToken()
		for _, h := range []string{"Bearer", "Basic abc", "Bearer cst_short", "Bearer " + good} {
			req := httptest.NewRequest(http.MethodGet, "/v1/purposes", nil)
			req.Header.Set("Authorization", h)
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			assertProblem(t, response{rec}, 401, "unauthorized")
		}
	})
	t.Run("request id is kept when sane, replaced otherwise", func(t *testing.T) {
		for in, keep := range map[string]bool{"abc-123": true, "bad id\nforged": false} {
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			req.Header.Set("X-Request-ID", in)
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-ID")
			assert.NotEmpty(t, got)
			assert.Equal(t, keep, got == in)
		}
	})
	t.Run("body must be JSON", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/v1/devices", bytes.NewReader([]byte("manufacturer=x")))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+e.tokens[privacy.RoleAdmin])
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		assertProblem(t, response{rec}, 415, "unsupported_media_type")
	})
	t.Run("malformed bodies are 400", func(t *testing.T) {
		for name, body := range map[string]string{
			"empty":         "",
			"not json":      "{nope",
			"truncated":     `{"manufacturer":"x"`,
			"trailing data": `{"manufacturer":"x"} {}`,
			"array":         `[]`,
		} {
			t.Run(name, func(t *testing.T) {
				assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", []byte(body)), 400, "malformed")
			})
		}
		p := assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", `{"manufacturer":42}`), 400, "malformed", "manufacturer")
		assert.Contains(t, p["detail"], "string")
	})
	t.Run("2 MiB body is 413, with or without a Content-Length", func(t *testing.T) {
		big := append([]byte(`{"manufacturer":"`), bytes.Repeat([]byte("a"), 2<<20)...)
		big = append(big, `"}`...)
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", big), 413, "too_large")

		req := httptest.NewRequest(http.MethodPost, "/v1/devices", bytes.NewReader(big))
		req.ContentLength = -1 // chunked: the limit must hold while reading
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.tokens[privacy.RoleAdmin])
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		assertProblem(t, response{rec}, 413, "too_large")
		list := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices", nil).JSON(t)
		assert.Empty(t, list["items"], "nothing was stored")
	})
}

func TestRoutePolicyDeniesUnlistedRoutes(t *testing.T) {
	// A policy with no rule for /v1/purposes: every role gets 403.
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "c.db"), store.Options{})
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	routes, err := authz.LoadRoutes(policyModel(t), "p, admin, /v1/categories, GET\n")
	require.NoError(t, err)
	log := audittest.MustOpenLog(t, db, audit.Options{})
	clients := client.NewService(db, log)
	srv, err := httpapi.NewServer(httpapi.Deps{Clients: clients, Purposes: purpose.NewService(db, log), Devices: device.NewService(db, log), Audit: log, Routes: routes})
	require.NoError(t, err)
	_, tok, err := clients.Create(ctx, "admin", privacy.RoleAdmin, time.Time{})
	require.NoError(t, err)
	for path, want := range map[string]int{"/v1/categories": 200, "/v1/purposes": 403} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		assert.Equal(t, want, rec.Code, path)
	}
}

func policyModel(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../policies/routes_model.conf")
	require.NoError(t, err)
	return string(b)
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustSubjectTokens(t testing.TB) *subjecttoken.Issuer {
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	i, err := subjecttoken.New(key, "consentry/test")
	require.NoError(t, err)
	return i
}

func mustKeys(t testing.TB) *consent.Keys {
	t.Helper()
	k, err := consent.OpenKeys(filepath.Join(t.TempDir(), "receipt-keys.json"))
	require.NoError(t, err)
	return k
}

// brokenConn is a client connection that fails every write, as a socket
// whose peer is gone does; hangUp, when set, ends the request's context
// at the first write, as net/http does when the client has hung up.
type brokenConn struct {
	*httptest.ResponseRecorder
	hangUp context.CancelFunc
}

func (w brokenConn) Write([]byte) (int, error) {
	if w.hangUp != nil {
		w.hangUp()
	}
	return 0, syscall.EPIPE
}

// TestAClientThatHangsUpMidStreamIsNoServerError: once a streamed answer
// (the evidence bundle, the incident CSV) has begun, a client that hangs
// up ends it early and is logged as information; a write that fails while
// the client is still there is an error.
func TestAClientThatHangsUpMidStreamIsNoServerError(t *testing.T) {
	var logged testkit.SyncBuffer
	e := mustOpenEnvWith(t, func(d *httpapi.Deps) {
		d.Log = slog.New(slog.NewJSONHandler(&logged, nil))
	})
	consentEnvOn(t, e)
	get := func(role privacy.Role, url string, hangUp bool) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens[role])
		w := brokenConn{ResponseRecorder: httptest.NewRecorder()}
		if hangUp {
			w.hangUp = cancel
		}
		e.srv.ServeHTTP(w, req)
		assert.Equal(t, http.StatusOK, w.Code, "%s: the status was sent before the body", url)
	}
	streams := []struct {
		role privacy.Role
		url  string
	}{
		{privacy.RoleAuditor, "/v1/evidence"},
		{privacy.RoleAdmin, "/v1/incidents/devices?manufacturer=acme%20corp&format=csv"},
	}
	for _, r := range streams {
		get(r.role, r.url, true)
	}
	out := logged.String()
	assert.Equal(t, 1, strings.Count(out, `"msg":"client closed the request while evidence export streamed"`), out)
	assert.Equal(t, 1, strings.Count(out, `"msg":"client closed the request while incident CSV streamed"`), out)
	assert.NotContains(t, out, `"level":"ERROR"`)

	for _, r := range streams {
		get(r.role, r.url, false)
	}
	out = logged.String()
	assert.Equal(t, 1, strings.Count(out, `"msg":"evidence export failed while streaming"`), out)
	assert.Equal(t, 1, strings.Count(out, `"msg":"incident CSV failed while streaming"`), out)
}

// TestAClientThatHangsUpIsNoServerError: a request whose client has gone
// (its context canceled) is recorded as 499 and logged as information,
// not as a failed request, whether it ends in a read or in the writer.
func TestAClientThatHangsUpIsNoServerError(t *testing.T) {
	var logged testkit.SyncBuffer
	e := mustOpenEnvWith(t, func(d *httpapi.Deps) {
		d.Log = slog.New(slog.NewJSONHandler(&logged, nil))
	})
	_, deviceID, notice := consentEnvOn(t, e)
	for _, r := range []struct {
		role        privacy.Role
		method, url string
		body        any
	}{
		{privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true))},
		{privacy.RoleService, http.MethodPost, "/v1/decisions", decisionBody(deviceID, "location", "navigation", "use")},
		{privacy.RoleApp, http.MethodGet, "/v1/subjects/alice/consents", nil},
	} {
		var body []byte
		if r.body != nil {
			body, _ = json.Marshal(r.body)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, r.method, r.url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.tokens[r.role])
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		assert.Equal(t, 499, rec.Code, "%s %s: %s", r.method, r.url, rec.Body.String())
	}
	out := logged.String()
	assert.Equal(t, 3, strings.Count(out, `"msg":"client closed the request"`), out)
	assert.NotContains(t, out, `"level":"ERROR"`)
}
