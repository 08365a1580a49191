package httpapi_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/rights"
	"github.com/consentry/consentry/internal/webhook/webhooktest"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allowNavigation lets the service client use location for navigation,
// so that alice's decisions depend on her consent alone.
func allowNavigation(t *testing.T, e *env) {
	t.Helper()
	r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/policies", map[string]any{"subject": "service-client", "category": "personal.location.*",
		"purpose": "navigation", "action": "use", "effect": "allow"})
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
}

func decideFor(t *testing.T, e *env, subject, deviceID string) map[string]any {
	t.Helper()
	body := decisionBody(deviceID, "location", "navigation", "use")
	body["subject"] = subject
	r := e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", body)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	return r.JSON(t)
}

func TestSubjectRequestsAPI(t *testing.T) {
	e, deviceID, notice := consentEnv(t)
	allowNavigation(t, e)
	c := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true)))
	require.Equal(t, http.StatusCreated, c.Code, c.Body.String())
	require.Equal(t, "allow", decideFor(t, e, "alice", deviceID)["decision"])

	t.Run("bad input", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/alice/requests", map[string]any{}), 422, "invalid", "type")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/alice/requests", map[string]any{"type": "delete", "method": "fax"}),
			422, "invalid", "type", "method")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/alice/requests", map[string]any{"type": "access", "urgent": true}),
			400, "malformed", "urgent")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/erased:00/requests", map[string]any{"type": "access"}),
			422, "invalid", "subject")
		erasedMarker := decisionBody(deviceID, "location", "navigation", "use")
		erasedMarker["subject"] = "erased:00"
		assertProblem(t, e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", erasedMarker), 422, "invalid", "subject")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/subjects/requests?state=late", nil), 422, "invalid", "state")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/subjects/requests?page=2", nil), 400, "malformed", "page")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/subjects/requests/nope", nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleService, http.MethodPost, "/v1/subjects/requests/0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e/confirmations",
			map[string]any{"webhook_id": "0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"}), 404, "not_found")
	})

	t.Run("wrong role", func(t *testing.T) {
		for _, role := range []privacy.Role{privacy.RoleService, privacy.RoleAuditor} {
			assertProblem(t, e.do(t, role, http.MethodPost, "/v1/subjects/alice/requests", map[string]any{"type": "access"}), 403, "forbidden")
		}
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/requests", nil), 403, "forbidden")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/requests/x/close", map[string]any{"reason": "r"}), 403, "forbidden")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/subjects/requests/x/confirmations", map[string]any{"webhook_id": "x"}), 403, "forbidden")
	})

	var access map[string]any
	t.Run("access: a copy of everything, each record proven against a signed checkpoint", func(t *testing.T) {
		r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/alice/requests", map[string]any{"type": "access"})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		out := r.JSON(t)
		access = out["request"].(map[string]any)
		assert.Equal(t, "completed", access["state"])
		assert.Equal(t, "alice", access["subject"])
		assert.Len(t, access["pseudonym"], 64)
		receipt := verifyReceipt(t, out["receipt"].(string), jwksFromHTTP(t, e))
		assert.Equal(t, rights.RequestReceiptType, receipt["type"])
		assert.Equal(t, "alice", receipt["subject"])
		sum := sha256.Sum256([]byte(out["receipt"].(string)))
		assert.Equal(t, hex.EncodeToString(sum[:]), access["receipt_sha256"], "only the receipt's hash is kept")
		due, err := time.Parse(time.RFC3339, access["due_at"].(string))
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now().Add(30*24*time.Hour), due, time.Minute, "due in 30 days by default")

		ex := e.do(t, privacy.RoleApp, http.MethodGet, access["export_url"].(string), nil)
		require.Equal(t, http.StatusOK, ex.Code, ex.Body.String())
		body := ex.Body.Bytes()
		require.True(t, rights.IsExport(body))
		validateExport(t, body)
		key := e.log.VerifierKey()
		s, err := rights.VerifyExport(bytes.NewReader(body), key)
		require.NoError(t, err)
		assert.Equal(t, "alice", s.Subject)
		assert.Equal(t, 1, s.ConsentRecords)
		assert.Equal(t, 1, s.Decisions)
		assert.GreaterOrEqual(t, s.Entries, 4, "the consent, the decision, the request received and completed")
		for _, want := range []string{`"device_id":"` + deviceID, `"service_name":"service-client"`, `"reasons":[]`, "navigation"} {
			assert.Contains(t, string(body), want)
		}
		// Changed by anyone, it fails: a grant turned into a refusal.
		at := bytes.LastIndex(body, []byte(`"granted":true`))
		require.Positive(t, at)
		tampered := append(append(append([]byte{}, body[:at]...), `"granted":false`...), body[at+len(`"granted":true`):]...)
		_, err = rights.VerifyExport(bytes.NewReader(tampered), key)
		assert.ErrorContains(t, err, "not what the entry committed to")

		// The subject's own token reads it; another subject's does not.
		tok := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subject-tokens", map[string]any{"subject": "bob"}).JSON(t)["token"].(string)
		req, _ := http.NewRequest(http.MethodGet, "/v1/subjects/requests/"+access["id"].(string), nil)
		assertProblem(t, e.raw(t, req, tok), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/requests/"+access["id"].(string)+"/confirmations", nil), 405, "method_not_allowed")

		list := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/subjects/alice/requests", nil)
		require.Equal(t, http.StatusOK, list.Code)
		assert.NotContains(t, list.Body.String(), `"subject"`, "auditors see pseudonyms only")
		assert.Len(t, list.JSON(t)["items"], 1)
	})

	const secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtd2ViaG9vaw=="
	rx := webhooktest.New(t, secret, 0)
	hook := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks", map[string]any{"url": rx.URL + "/events",
		"events": []string{"subject.erasure_requested", "consent.withdrawn"}, "secret": secret})
	require.Equal(t, http.StatusCreated, hook.Code, hook.Body.String())
	hookID := hook.JSON(t)["id"].(string)
	bundleBefore := exportBundle(t, e)

	var erasure map[string]any
	t.Run("erasure: everything withdrawn, then erased; backends told, then confirm", func(t *testing.T) {
		e.webhooks.Start()
		r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/alice/requests", map[string]any{"type": "erasure"})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		out := r.JSON(t)
		erasure = out["request"].(map[string]any)
		assert.Equal(t, "in_progress", erasure["state"], "waiting for the backend")
		require.Len(t, out["withdrawals"], 1)
		w := out["withdrawals"].([]any)[0].(map[string]any)
		verifyReceipt(t, w["receipt"].(string), jwksFromHTTP(t, e))
		er := verifyReceipt(t, out["erasure_receipt"].(string), jwksFromHTTP(t, e))
		assert.Equal(t, rights.ErasureReceiptType, er["type"])
		assert.Equal(t, "alice", er["subject"])
		assert.Equal(t, erasure["pseudonym"], er["pseudonym"])
		assert.EqualValues(t, 2, er["erased"].(map[string]any)["consent_records"], "the consent and its withdrawal")
		assert.EqualValues(t, 1, er["erased"].(map[string]any)["decisions"])

		evs := rx.WaitFor(t, 2, 10*time.Second)
		var told bool
		for _, ev := range evs {
			if ev.Kind == privacy.KindSubjectErasureRequested {
				told = true
				assert.Equal(t, "alice", ev.Subject)
				assert.Equal(t, erasure["id"], ev.RequestID)
			}
		}
		require.True(t, told, "the backend is told of the erasure")

		open := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/subjects/requests", nil)
		require.Equal(t, http.StatusOK, open.Code)
		assert.Contains(t, open.Body.String(), erasure["id"].(string))
		assert.NotContains(t, open.Body.String(), "alice")

		assertProblem(t, e.do(t, privacy.RoleService, http.MethodPost, "/v1/subjects/requests/"+erasure["id"].(string)+"/confirmations",
			map[string]any{"webhook_id": "0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"}), 404, "not_found", "webhook_id")
		assertProblem(t, e.do(t, privacy.RoleService, http.MethodPost, "/v1/subjects/requests/"+access["id"].(string)+"/confirmations",
			map[string]any{"webhook_id": hookID}), 409, "conflict")
		var done map[string]any
		require.Eventually(t, func() bool {
			r := e.do(t, privacy.RoleService, http.MethodPost, "/v1/subjects/requests/"+erasure["id"].(string)+"/confirmations",
				map[string]any{"webhook_id": hookID})
			if r.Code == http.StatusOK {
				done = r.JSON(t)
				return done["state"] == "completed"
			}
			// Confirmed already, completed by Advance once the deliveries are in.
			_, _ = e.rights.Advance(context.Background())
			got := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/subjects/requests/"+erasure["id"].(string), nil).JSON(t)
			done = got
			return got["state"] == "completed"
		}, 10*time.Second, 50*time.Millisecond)
		assert.Equal(t, true, done["confirmations"].([]any)[0].(map[string]any)["confirmed"])
		assert.Nil(t, done["subject"], "the subject id is gone with the completion")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/subjects/requests/"+erasure["id"].(string)+"/close",
			map[string]any{"reason": "again"}), 409, "conflict")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, access["export_url"].(string), nil), 410, "gone")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/audit/hash", map[string]any{"value": "alice"}), 404, "not_found")
	})

	t.Run("nothing left names alice, and every proof still verifies", func(t *testing.T) {
		needles := [][]byte{[]byte("alice")}
		// Every secret Consentry holds, as a key over the subject id: none
		// produces a value that the database, backup or bundle holds.
		secrets, err := filepath.Glob(filepath.Join(e.dir, "*"))
		require.NoError(t, err)
		for _, k := range append(secrets, "receipt-keys") {
			b, err := os.ReadFile(k)
			if err != nil {
				continue
			}
			m := hmac.New(sha256.New, bytes.TrimSpace(b))
			m.Write([]byte("alice"))
			needles = append(needles, []byte(hex.EncodeToString(m.Sum(nil))))
		}
		backup := filepath.Join(t.TempDir(), "after.db")
		require.NoError(t, e.db.BackupTo(context.Background(), backup))
		bundleAfter := exportBundle(t, e)
		haystacks := map[string][]byte{}
		for _, f := range []string{"consentry.db", "consentry.db-wal"} {
			b, err := os.ReadFile(filepath.Join(e.dir, f))
			if err == nil {
				haystacks[f] = b
			}
		}
		require.Contains(t, haystacks, "consentry.db")
		b, err := os.ReadFile(backup)
		require.NoError(t, err)
		haystacks["backup"] = b
		for name, data := range unzip(t, bundleAfter) {
			haystacks["bundle:"+name] = data
		}
		for name, hay := range haystacks {
			for _, n := range needles {
				assert.False(t, bytes.Contains(hay, n), "%s holds %q", name, n)
			}
		}
		// The bundles from before and after the erasure verify.
		for _, path := range []string{bundleBefore, bundleAfter} {
			_, err := evidence.Verify(path, evidence.VerifyOptions{VerifierKey: e.log.VerifierKey()})
			require.NoError(t, err, path)
		}
		// The erased records are still served, pseudonymous and without
		// their receipts, checked against their entries.
		r := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/consents/"+c.JSON(t)["id"].(string), nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Equal(t, "erased:"+erasure["pseudonym"].(string), r.JSON(t)["subject"])
		assert.Empty(t, r.JSON(t)["receipt"])
		mine := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/alice/consents", nil)
		require.Equal(t, http.StatusOK, mine.Code)
		assert.NotContains(t, mine.Body.String(), c.JSON(t)["id"].(string))

		// Her device's owner is the erased marker now: she cannot consent
		// on it as its owner without the operator.
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true))),
			403, "forbidden", "subject")

		// A backend that asks about alice again processes her id anew:
		// denied, and recorded under a new pseudonym, unlinked to the old.
		d := decideFor(t, e, "alice", deviceID)
		assert.Equal(t, "deny", d["decision"], "every later decision for the subject denies")
		assert.Equal(t, []any{"no_consent"}, d["reasons"])
		again := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/audit/hash", map[string]any{"value": "alice"})
		require.Equal(t, http.StatusOK, again.Code)
		assert.NotEqual(t, erasure["pseudonym"], again.JSON(t)["pseudonym"])
	})

	t.Run("an operator closes an erasure a backend never confirms", func(t *testing.T) {
		d := newDevice("erasure-bob")
		d["notice_key"], d["owner_subject"] = "cam", "bob"
		mustCreateDevice(t, e, d)
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/subjects/bob/requests", map[string]any{"type": "erasure"})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		q := r.JSON(t)["request"].(map[string]any)
		assert.Equal(t, "in_progress", q["state"])
		assert.EqualValues(t, 1, q["erased"].(map[string]any)["devices"])
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/subjects/requests/"+q["id"].(string)+"/close", map[string]any{}), 422, "invalid", "reason")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/subjects/requests/"+q["id"].(string)+"/close",
			map[string]any{"reason": "gone", "outcome": "maybe"}), 422, "invalid", "outcome")
		closed := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/subjects/requests/"+q["id"].(string)+"/close",
			map[string]any{"reason": "backend decommissioned", "outcome": "completed"})
		require.Equal(t, http.StatusOK, closed.Code, closed.Body.String())
		assert.Equal(t, "completed", closed.JSON(t)["state"])
		assert.Equal(t, "backend decommissioned", closed.JSON(t)["close_reason"])
		assert.Equal(t, false, closed.JSON(t)["confirmations"].([]any)[0].(map[string]any)["confirmed"])
		entries := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=subject.request.completed", nil).JSON(t)["items"].([]any)
		assert.Len(t, entries, 3, "access, alice's erasure, bob's")

		// A backend whose webhook is deleted is no longer waited for.
		r = e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/subjects/carol/requests", map[string]any{"type": "erasure"})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		carol := r.JSON(t)["request"].(map[string]any)
		require.Equal(t, "in_progress", carol["state"])
		require.Equal(t, http.StatusNoContent, e.do(t, privacy.RoleAdmin, http.MethodDelete, "/v1/webhooks/"+hookID, nil).Code)
		_, err := e.rights.Advance(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "completed", e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/subjects/requests/"+carol["id"].(string), nil).JSON(t)["state"])

		// The evidence report counts them, with the time they took.
		report := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence/report", nil)
		require.Equal(t, http.StatusOK, report.Code, report.Body.String())
		month := time.Now().UTC().Format("2006-01")
		assert.Regexp(t, `<tr><th scope="row">`+month+`</th><td class="n">1</td><td class="n">3</td><td class="n">4</td><td class="n">0</td><td class="n">[0-9.]+[a-zµ]+</td>`,
			report.Body.String())
	})
}

// raw sends req with token as the bearer.
func (e *env) raw(t *testing.T, req *http.Request, token string) response {
	t.Helper()
	req.Header.Set("Authorization", "Bearer "+token)
	rec := newRecorder()
	e.srv.ServeHTTP(rec, req)
	return response{rec}
}

// exportBundle writes an evidence bundle of e to a file and returns its path.
func exportBundle(t *testing.T, e *env) string {
	t.Helper()
	r := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	path := filepath.Join(t.TempDir(), "bundle.zip")
	require.NoError(t, os.WriteFile(path, r.Body.Bytes(), 0o600))
	return path
}

// unzip returns every member of the zip at path, uncompressed.
func unzip(t *testing.T, path string) map[string][]byte {
	t.Helper()
	z, err := zip.OpenReader(path)
	require.NoError(t, err)
	defer z.Close()
	out := map[string][]byte{}
	for _, f := range z.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		out[f.Name] = b
	}
	return out
}

// validateExport checks an access export against its published schema.
func validateExport(t *testing.T, body []byte) {
	t.Helper()
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(filepath.Join("..", "..", "api", "subject-export.schema.json"))
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(body)))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(doc))
}
