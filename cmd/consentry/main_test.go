package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/google/uuid"
	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The shared test helpers, under the names these tests use.
type syncBuffer = testkit.SyncBuffer

func freeAddr(t *testing.T) string { return testkit.FreeAddr(t) }

// deployment builds the binary and prepares a data directory with the
// example purposes and the acme-cam notice published; cli runs a command
// on it in-process, returning its standard output.
func deployment(t *testing.T) (bin, dataDir string, cli func(args ...string) string) {
	t.Helper()
	bin = testkit.BuildConsentry(t, ".")
	dataDir = filepath.Join(t.TempDir(), "data")
	cli = func(args ...string) string {
		var stdout, stderr bytes.Buffer
		require.NoError(t, run(context.Background(), append(args, "--data-dir", dataDir), getenv(map[string]string{}), &stdout, &stderr), stderr.String())
		return strings.TrimSpace(stdout.String())
	}
	cli("purposes", "load", filepath.Join("..", "..", "notices", "purposes.yaml"))
	cli("notices", "publish", filepath.Join("..", "..", "notices", "acme-cam"))
	return bin, dataDir, cli
}

// running is a server started by MustRunMain.
type running struct {
	addr   string
	stderr *syncBuffer
	stop   func() error
}

// MustRunMain runs `consentry serve` through run(), as the binary would,
// and waits until it answers /readyz.
func MustRunMain(t *testing.T, env map[string]string) *running {
	t.Helper()
	addr := freeAddr(t)
	env["CONSENTRY_ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv(env), &bytes.Buffer{}, stderr) }()
	var stopped bool
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return fmt.Errorf("server did not stop")
		}
	}
	t.Cleanup(func() { _ = stop() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "server did not become ready:\n%s", stderr.String())
		time.Sleep(20 * time.Millisecond)
	}
	return &running{addr: addr, stderr: stderr, stop: stop}
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// call sends a JSON request and decodes the JSON reply.
func call(t *testing.T, token, method, url string, body any) (int, map[string]any) {
	t.Helper()
	resp, m := callResponse(t, token, method, url, body)
	return resp.StatusCode, m
}

// callResponse is call, returning the response (closed) for its headers.
func callResponse(t *testing.T, token, method, url string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		js, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(js)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return resp, m
}

// mustAdminToken reads the token the first start wrote to dataDir.
func mustAdminToken(t *testing.T, dataDir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	require.NoError(t, err)
	return strings.TrimSpace(string(raw))
}

// walkthrough is the README's walkthrough, as a test: a first start writes
// the admin token file; clients, purposes, devices, inventories work; a
// restart keeps everything.
func walkthrough(t *testing.T, env map[string]string) {
	dataDir := env["CONSENTRY_DATA_DIR"]
	srv := MustRunMain(t, env)
	base := "http://" + srv.addr

	tokenFile := filepath.Join(dataDir, "admin.token")
	st, err := os.Stat(tokenFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	raw, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	admin := strings.TrimSpace(string(raw))
	assert.Contains(t, srv.stderr.String(), tokenFile, "the log names the token file")
	assert.NotContains(t, srv.stderr.String(), admin, "the log never shows the token")

	// clients create prints the token alone on stdout, while the server runs.
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"clients", "create", "--name", "ios-app", "--role", "app"}, getenv(env), &stdout, &stderr))
	appToken := strings.TrimSuffix(stdout.String(), "\n")
	assert.Regexp(t, `^cst_[A-Za-z0-9_-]{43}$`, appToken)
	assert.Contains(t, stderr.String(), "role app")

	status, _ := call(t, admin, http.MethodPut, base+"/v1/purposes/navigation", map[string]string{"name": "Navigation", "description": "Route guidance", "legal_basis": "contract"})
	require.Equal(t, http.StatusCreated, status)
	status, dev := call(t, admin, http.MethodPost, base+"/v1/devices", map[string]string{"manufacturer": "Acme", "model": "Tracker", "serial": "SN-1",
		"firmware_version": "1.0", "notice_key": "tracker-notice"})
	require.Equal(t, http.StatusCreated, status, dev)
	id := dev["id"].(string)
	status, inv := call(t, admin, http.MethodPut, base+"/v1/devices/"+id+"/inventory", map[string]any{"elements": []map[string]any{{
		"key": "location", "description": "GPS", "category": "personal.location.precise", "sensitivity": "personal",
		"purposes": []string{"navigation"}, "collection_method": "sensor", "retention": "P30D", "storage_region": "EU"}}})
	require.Equal(t, http.StatusCreated, status, inv)
	assert.NotEmpty(t, inv["uncovered"], "no notice is published yet, so nothing is covered")
	delete(inv, "uncovered")
	status, _ = call(t, appToken, http.MethodGet, base+"/v1/devices/"+id+"/inventory", nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = call(t, appToken, http.MethodPost, base+"/v1/devices", map[string]string{})
	require.Equal(t, http.StatusForbidden, status)

	// An auditor verifies the log online, saves the checkpoint and an
	// export, and verifies the export offline.
	stdout.Reset()
	require.NoError(t, run(context.Background(), []string{"clients", "create", "--name", "auditor", "--role", "auditor"}, getenv(env), &stdout, &stderr))
	auditor := strings.TrimSpace(stdout.String())
	dir := t.TempDir()
	keyFile := filepath.Join(dataDir, "audit-verifier.key")
	saved, export := filepath.Join(dir, "saved.checkpoint"), filepath.Join(dir, "entries.ndjson")
	stdout.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "verify", "--server", base, "--key", keyFile, "--save", saved, "--export", export},
		getenv(map[string]string{"CONSENTRY_TOKEN": auditor}), &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "ok: ")
	stdout.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "verify", "--entries", export, "--checkpoint", saved, "--key", keyFile},
		getenv(map[string]string{}), &stdout, &stderr))
	assert.Regexp(t, `ok: consentry/[0-9a-f]{8}, [0-9]+ entries`, stdout.String())

	require.NoError(t, srv.stop(), "graceful shutdown")
	assert.Contains(t, srv.stderr.String(), `"msg":"stopped"`)

	// Restart: same data, no second bootstrap token.
	srv = MustRunMain(t, env)
	base = "http://" + srv.addr
	status, got := call(t, appToken, http.MethodGet, base+"/v1/devices/"+id+"/inventory", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, inv, got)
	raw2, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	assert.Equal(t, string(raw), string(raw2), "a restart does not mint another admin token")
	assert.NotContains(t, srv.stderr.String(), "created an admin client")
	// The log still extends the checkpoint saved before the restart.
	stdout.Reset()
	require.NoError(t, run(context.Background(), []string{"audit", "verify", "--server", base, "--key", keyFile, "--older", saved},
		getenv(map[string]string{"CONSENTRY_TOKEN": auditor}), &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "consistent with the older checkpoint")
	// After the restart, the decision facts were loaded whole once.
	assert.Eventually(t, func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return err == nil && strings.Contains(string(b), "\nconsentry_decision_facts_in_memory 1\n") &&
			strings.Contains(string(b), "\nconsentry_decision_facts_loads_total 1\n")
	}, 5*time.Second, 50*time.Millisecond, "decisions are made from memory, loaded once")
	require.NoError(t, srv.stop())
}

func TestWalkthroughOnSQLite(t *testing.T) {
	walkthrough(t, map[string]string{"CONSENTRY_DATA_DIR": filepath.Join(t.TempDir(), "data")})
}

func TestWalkthroughOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	// A database of its own, so the bootstrap sees no clients.
	name := "consentry_e2e_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	admin := execSQL(t, dsn, "CREATE DATABASE "+name)
	t.Cleanup(func() { admin("DROP DATABASE " + name + " WITH (FORCE)") })
	walkthrough(t, map[string]string{"CONSENTRY_DATA_DIR": t.TempDir(), "CONSENTRY_DB": withDatabase(t, dsn, name)})
}

func TestConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"bad max body env":     {[]string{"migrate"}, map[string]string{"CONSENTRY_MAX_BODY": "lots"}, "CONSENTRY_MAX_BODY"},
		"tiny max body":        {[]string{"migrate", "--max-body", "10"}, map[string]string{}, "--max-body"},
		"bad log level":        {[]string{"serve", "--log-level", "loud"}, map[string]string{}, "--log-level"},
		"bad role":             {[]string{"clients", "create", "--name", "x", "--role", "root"}, map[string]string{}, "role"},
		"missing name":         {[]string{"clients", "create", "--role", "app"}, map[string]string{}, "name"},
		"unknown command":      {[]string{"frobnicate"}, map[string]string{}, "unknown command"},
		"bad webhook env":      {[]string{"serve"}, map[string]string{"CONSENTRY_WEBHOOK_BACKOFF": "soon"}, "CONSENTRY_WEBHOOK_BACKOFF"},
		"bad gather env":       {[]string{"serve"}, map[string]string{"CONSENTRY_AUDIT_GATHER": "a bit"}, "CONSENTRY_AUDIT_GATHER"},
		"long gather":          {[]string{"serve", "--audit-gather", "1s"}, map[string]string{}, "--audit-gather"},
		"no webhook tries":     {[]string{"serve", "--webhook-attempts", "0"}, map[string]string{}, "--webhook-attempts"},
		"short retention":      {[]string{"serve", "--webhook-retention", "1m"}, map[string]string{}, "--webhook-retention"},
		"short sanitization":   {[]string{"serve", "--sanitize-within", "1m"}, map[string]string{}, "--sanitize-within"},
		"bad sanitization env": {[]string{"serve"}, map[string]string{"CONSENTRY_SANITIZE_WITHIN": "a week"}, "CONSENTRY_SANITIZE_WITHIN"},
		"bad request due env":  {[]string{"serve"}, map[string]string{"CONSENTRY_REQUEST_DUE": "a month"}, "CONSENTRY_REQUEST_DUE"},
		"public profiles":      {[]string{"serve", "--pprof-addr", "0.0.0.0:6060"}, map[string]string{}, "--pprof-addr"},
		"profiles by name":     {[]string{"serve"}, map[string]string{"CONSENTRY_PPROF_ADDR": "example.com:6060"}, "--pprof-addr"},
		"profiles, no port":    {[]string{"serve", "--pprof-addr", "127.0.0.1"}, map[string]string{}, "--pprof-addr"},
		"unknown exporter":     {[]string{"serve"}, map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"},
		"OTLP as JSON":         {[]string{"serve"}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/json"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok := tc.env["CONSENTRY_DATA_DIR"]; !ok {
				tc.env["CONSENTRY_DATA_DIR"] = t.TempDir()
			}
			var stdout bytes.Buffer
			err := run(context.Background(), tc.args, getenv(tc.env), &stdout, &bytes.Buffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, stdout.String(), "nothing on stdout when a command fails")
		})
	}
}

// TestProfilesOnTheirOwnListener: --pprof-addr serves Go's profiles there,
// never on the API's address.
func TestProfilesOnTheirOwnListener(t *testing.T) {
	pprofAddr := freeAddr(t)
	srv := MustRunMain(t, map[string]string{"CONSENTRY_DATA_DIR": t.TempDir(), "CONSENTRY_PPROF_ADDR": pprofAddr})
	status := func(url string) int {
		resp, err := http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, status("http://"+pprofAddr+"/debug/pprof/cmdline"))
	assert.Equal(t, http.StatusOK, status("http://"+pprofAddr+"/debug/pprof/heap?debug=1"))
	assert.Equal(t, http.StatusNotFound, status("http://"+srv.addr+"/debug/pprof/cmdline"))
}

func TestMigrateCommand(t *testing.T) {
	var stderr bytes.Buffer
	dir := t.TempDir()
	require.NoError(t, run(context.Background(), []string{"migrate", "--data-dir", dir}, getenv(map[string]string{}), &bytes.Buffer{}, &stderr))
	assert.Regexp(t, `^sqlite3 schema at version [1-9][0-9]*\n$`, stderr.String())
	_, err := os.Stat(filepath.Join(dir, "consentry.db"))
	assert.NoError(t, err)
}

// TestAuditVerifyNamesATamperedEntry changes one byte of one entry in the
// database under a running server, as an operator could, and expects
// `consentry audit verify` to fail and name that entry.
func TestAuditVerifyNamesATamperedEntry(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"CONSENTRY_DATA_DIR": dataDir}
	srv := MustRunMain(t, env)
	base := "http://" + srv.addr
	admin := mustAdminToken(t, dataDir)
	for i := range 5 {
		status, _ := call(t, admin, http.MethodPut, fmt.Sprintf("%s/v1/purposes/p%d", base, i), map[string]string{"name": "n", "description": "d", "legal_basis": "consent"})
		require.Equal(t, http.StatusCreated, status)
	}
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"clients", "create", "--name", "auditor", "--role", "auditor"}, getenv(env), &stdout, &stderr))
	auditor := getenv(map[string]string{"CONSENTRY_TOKEN": strings.TrimSpace(stdout.String())})
	keyFile := filepath.Join(dataDir, "audit-verifier.key")
	saved := filepath.Join(t.TempDir(), "saved.checkpoint")
	require.NoError(t, run(context.Background(), []string{"audit", "verify", "--server", base, "--key", keyFile, "--save", saved}, auditor, &stdout, &stderr))

	db, err := sql.Open("sqlite3", filepath.Join(dataDir, "consentry.db"))
	require.NoError(t, err)
	defer db.Close()
	var seq int64
	require.NoError(t, db.QueryRow(`SELECT seq FROM audit_entries WHERE action = 'purpose.put' ORDER BY seq LIMIT 1 OFFSET 2`).Scan(&seq))
	_, err = db.Exec(`DROP TRIGGER audit_entries_no_update`)
	require.NoError(t, err)
	storetest.EditLeaf(t, db, seq, `"p2"`, `"q2"`)

	err = run(context.Background(), []string{"audit", "verify", "--server", base, "--key", keyFile, "--older", saved}, auditor, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("entry %d: altered", seq))

	// An earlier leaf rewritten into bytes that are not JSON: the server
	// still serves its page, and the verifier names that entry, not the
	// first of the page.
	_, err = db.Exec(`UPDATE audit_entries SET leaf = CAST('{"seq":' AS BLOB) WHERE seq = ?`, seq-1)
	require.NoError(t, err)
	err = run(context.Background(), []string{"audit", "verify", "--server", base, "--key", keyFile}, auditor, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("entry %d: form", seq-1))

	// The same with a value that looks packed (the version byte) but does
	// not unpack: served as stored, named by the verifier.
	_, err = db.Exec(`UPDATE audit_entries SET leaf = X'01FFFFFFFF0F00' WHERE seq = ?`, seq-2)
	require.NoError(t, err)
	err = run(context.Background(), []string{"audit", "verify", "--server", base, "--key", keyFile}, auditor, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("entry %d: form", seq-2))
}

// TestServeOnATakenPort: a start that fails on its port says so, and
// logs no error on the way out. (The continuous review once could log one,
// reading the database serve had closed; that was a race this test does
// not reliably provoke.)
func TestServeOnATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var stderr syncBuffer
	err = run(context.Background(), []string{"serve", "--addr", ln.Addr().String()}, getenv(map[string]string{"CONSENTRY_DATA_DIR": t.TempDir()}),
		&bytes.Buffer{}, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listen")
	assert.NotContains(t, stderr.String(), `"level":"ERROR"`)
}

// TestAuditVerifyDatabaseNamesAnEditedRecord: an operator with write
// access drops the trigger and turns a refusal into a grant in the
// database; `audit verify --database` names the record.
func TestAuditVerifyDatabaseNamesAnEditedRecord(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"CONSENTRY_DATA_DIR": dataDir}
	cli := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, getenv(env), &stdout, &stderr)
		return strings.TrimSpace(stdout.String()), err
	}
	_, err := cli("purposes", "load", filepath.Join("..", "..", "notices", "purposes.yaml"))
	require.NoError(t, err)
	_, err = cli("notices", "publish", filepath.Join("..", "..", "notices", "acme-cam"))
	require.NoError(t, err)
	app, err := cli("clients", "create", "--name", "app", "--role", "app")
	require.NoError(t, err)
	admin, err := cli("clients", "create", "--name", "ops", "--role", "admin")
	require.NoError(t, err)
	service, err := cli("clients", "create", "--name", "recorder", "--role", "service")
	require.NoError(t, err)
	srv := MustRunMain(t, env)
	base := "http://" + srv.addr
	status, dev := call(t, admin, http.MethodPost, base+"/v1/devices", map[string]string{"manufacturer": "Acme", "model": "Cam",
		"serial": "EDIT-1", "firmware_version": "1", "notice_key": "acme-cam"})
	require.Equal(t, http.StatusCreated, status, dev)
	status, notice := call(t, app, http.MethodGet, base+"/v1/notices/acme-cam/versions/current", nil)
	require.Equal(t, http.StatusOK, status)
	status, rec := call(t, app, http.MethodPost, base+"/v1/consents", map[string]any{"subject": "subject-1", "device_id": dev["id"],
		"notice_key": "acme-cam", "notice_version": notice["version"], "notice_hash": notice["content_hash"], "locale": "en", "method": "app",
		"choices": []map[string]any{{"purpose": "security-monitoring", "granted": false}}})
	require.Equal(t, http.StatusCreated, status, rec)
	status, dec := call(t, service, http.MethodPost, base+"/v1/decisions", map[string]any{"subject": "subject-1", "device_id": dev["id"],
		"element": "video", "purpose": "security-monitoring", "action": "use"})
	require.Equal(t, http.StatusOK, status, dec)
	require.NoError(t, srv.stop())

	out, err := cli("audit", "verify", "--database")
	require.NoError(t, err, out)
	assert.Contains(t, out, "ok: 1 consent records, each as its audit entries recorded it")
	assert.Contains(t, out, "ok: 1 stored decisions, each with the request, outcome, reasons and steps its entry recorded")
	assert.Contains(t, out, "ok: 1 decisions judged again at their place")
	assert.Contains(t, out, "ok: the subject index holds exactly the 0 entries below its marks")

	db, err := sql.Open("sqlite3", filepath.Join(dataDir, "consentry.db"))
	require.NoError(t, err)
	defer db.Close()
	// A row added to the subject index: a search by its subject would
	// find an entry the index should not hold.
	_, err = db.Exec(`INSERT INTO audit_subjects (run, subject_hmac, seq) SELECT 0, subject_hmac, seq FROM audit_entries WHERE subject_hmac <> '' LIMIT 1`)
	require.NoError(t, err)
	_, err = cli("audit", "verify", "--database")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the database does NOT match the audit log: the audit subject index's row (run 0, subject ")
	_, err = db.Exec(`DROP TRIGGER audit_subjects_no_delete`)
	require.NoError(t, err)
	_, err = db.Exec(`DELETE FROM audit_subjects`)
	require.NoError(t, err)
	// A deny turned into an allow in the decisions table, then put back.
	var reasons string
	require.NoError(t, db.QueryRow(`SELECT reasons FROM decisions WHERE id = ?`, dec["id"]).Scan(&reasons))
	_, err = db.Exec(`DROP TRIGGER decisions_no_update`)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE decisions SET allow = 1, reasons = '[]' WHERE id = ?`, dec["id"])
	require.NoError(t, err)
	_, err = cli("audit", "verify", "--database")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decision "+dec["id"].(string)+":")
	_, err = db.Exec(`UPDATE decisions SET allow = 0, reasons = ? WHERE id = ?`, reasons, dec["id"])
	require.NoError(t, err)
	out, err = cli("audit", "verify", "--database")
	require.NoError(t, err, out)

	// A device's status edited behind the log: its entries say otherwise.
	_, err = db.Exec(`UPDATE devices SET status = 'disposed' WHERE id = ?`, dev["id"])
	require.NoError(t, err)
	_, err = cli("audit", "verify", "--database")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "devices.ndjson line 1 (device "+dev["id"].(string)+")")
	_, err = db.Exec(`UPDATE devices SET status = 'active' WHERE id = ?`, dev["id"])
	require.NoError(t, err)
	// A data policy rule added behind the log.
	_, err = db.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'ad-broker', '*', '*', '*', 'allow', '')`)
	require.NoError(t, err)
	_, err = cli("audit", "verify", "--database")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "policies.json: is not the data policy the policy.* entries leave")
	_, err = db.Exec(`DELETE FROM casbin_rule WHERE v0 = 'ad-broker'`)
	require.NoError(t, err)

	_, err = db.Exec(`DROP TRIGGER consent_events_no_update`)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE consent_events SET granted = 1 WHERE record_id = ?`, rec["id"])
	require.NoError(t, err)
	_, err = cli("audit", "verify", "--database")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "consents/records.ndjson line 1 (record "+rec["id"].(string)+")")
	assert.Contains(t, err.Error(), "a field was changed")

	// Nor does the API serve the edited record as evidence.
	srv = MustRunMain(t, env)
	status, body := call(t, app, http.MethodGet, "http://"+srv.addr+"/v1/consents/"+rec["id"].(string), nil)
	assert.Equal(t, http.StatusInternalServerError, status, body)
	assert.Contains(t, srv.stderr.String(), "is not what entry")
}
