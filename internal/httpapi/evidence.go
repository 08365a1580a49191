package httpapi

import (
	"bytes"
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// queryTime reads an optional RFC 3339 query parameter.
func queryTime(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, privacy.FieldErrorf(privacy.EInvalid, name, "must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z")
	}
	return t, nil
}

// zipWriter sets the archive's headers on the first write, so that an
// export refused before it starts still answers with a problem document.
type zipWriter struct {
	c       *gin.Context
	started bool
}

func (w *zipWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		w.c.Header("Content-Type", "application/zip")
		w.c.Header("Content-Disposition", `attachment; filename="consentry-evidence.zip"`)
		w.c.Status(http.StatusOK)
	}
	return w.c.Writer.Write(p)
}

// getEvidence streams the evidence bundle.
//
// @Summary  Evidence bundle for auditors
// @ID       getEvidence
// @Description A zip archive an auditor verifies offline with `consentry evidence verify` (format: docs/evidence-bundle.md): a manifest signed with the audit log's key listing every file with its SHA-256; the audit entries up to a newly signed checkpoint, with the checkpoint, and the consistency proof from previous_size when given; the record of every consent entry written in [from, to), in the form the entries commit to (record_sha256), in entry order; every published notice version (checklist JSON and rendered HTML per locale); devices; every inventory version; the data policy; the public keys. By default the bundle is pseudonymous: subjects appear only under the audit log's keyed pseudonym and receipts by their SHA-256. An admin may add the signed receipts, which name their subjects (receipts=true; the profile with-receipts). It is streamed in constant memory. An error after streaming has begun ends the archive without its manifest, which no verifier accepts. The export is recorded in the audit log (evidence.exported).
// @Tags     evidence
// @Security BearerAuth
// @Produce  application/zip
// @Param    from          query string false "consent records whose audit entries were written at or after this RFC 3339 time (default: all)" format(date-time)
// @Param    to            query string false "consent records whose audit entries were written before this RFC 3339 time (default: the time of the export)" format(date-time)
// @Param    previous_size query int    false "size of the checkpoint in the auditor's previous bundle: this bundle then proves the log extends it" minimum(1)
// @Param    receipts      query bool   false "admins only: add the signed receipts, which name their subjects (default false: a pseudonymous bundle)"
// @Success  200 {file} file "the evidence bundle (zip)"
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "only auditors and admins export evidence, and only admins with receipts"
// @Failure  404 {object} problem "the audit log is empty: nothing to prove yet"
// @Failure  422 {object} problem "bad from, to or previous_size (to not after from, previous_size larger than the log)"
// @Failure  503 {object} problem "the audit log is inconsistent with its last signed checkpoint; nothing is exported"
// @Router   /v1/evidence [get]
func (s *Server) getEvidence(c *gin.Context) error {
	opts, err := evidenceOptions(c, "from", "to", "previous_size", "receipts")
	if err != nil {
		return err
	}
	if opts.Receipts && privacy.ActorFrom(c.Request.Context()).Role != string(privacy.RoleAdmin) {
		return privacy.Errorf(privacy.EForbidden, "only an admin exports the receipts, which name their subjects; leave out receipts for a pseudonymous bundle")
	}
	release, err := s.oneExport(c)
	if err != nil {
		return err
	}
	defer release()
	// A large bundle takes longer than the server's write timeout.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(time.Hour))
	w := &zipWriter{c: c}
	m, err := evidence.Export(c.Request.Context(), w, s.evidence, opts)
	if err != nil {
		if !w.started {
			return err
		}
		s.streamFailed(c, "evidence export", err)
		return nil
	}
	_, err = s.audit.Append(c.Request.Context(), event.EvidenceExported{AuditSize: m.AuditSize, From: m.From, To: m.To, Profile: m.Profile})
	if err != nil {
		s.log.Error("evidence exported but not recorded in the audit log", "error", err)
	}
	return nil
}

// evidenceOptions reads the period and the previous checkpoint size.
func evidenceOptions(c *gin.Context, allowed ...string) (evidence.Options, error) {
	q, err := strictQuery(c, allowed...)
	if err != nil {
		return evidence.Options{}, err
	}
	var opts evidence.Options
	if opts.From, err = queryTime(q.Get("from"), "from"); err != nil {
		return opts, err
	}
	if opts.To, err = queryTime(q.Get("to"), "to"); err != nil {
		return opts, err
	}
	if opts.PreviousSize, err = queryInt(q, "previous_size", 0); err != nil {
		return opts, err
	}
	switch q.Get("receipts") {
	case "", "false":
	case "true":
		opts.Receipts = true
	default:
		return opts, privacy.FieldErrorf(privacy.EInvalid, "receipts", "must be true or false")
	}
	return opts, opts.Validate()
}

// getEvidenceReport renders the report of the evidence bundle.
//
// @Summary  Evidence report
// @ID       getEvidenceReport
// @Description The report.html of an evidence bundle for the same period, as a page: for each of Controls 29-35, what Consentry does and what the data shows (devices and inventories, notices and their coverage gaps, consents given, refused, withdrawn, expired and awaiting re-consent per purpose, decisions allowed and denied by reason, allows without a consent in force), with inline SVG charts (decisions per day, consent state per purpose) and no script. It is computed by the same pass as an export, over the whole audit log, so it takes as long as an export.
// @Tags     evidence
// @Security BearerAuth
// @Produce  html
// @Param    from query string false "events at or after this RFC 3339 time (default: all)" format(date-time)
// @Param    to   query string false "events before this RFC 3339 time (default: now)" format(date-time)
// @Success  200 {string} string "HTML page"
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "only admins and auditors read the report"
// @Failure  404 {object} problem "the audit log is empty: nothing to report yet"
// @Failure  422 {object} problem "bad from or to (to not after from)"
// @Failure  503 {object} problem "the audit log is inconsistent with its last signed checkpoint"
// @Router   /v1/evidence/report [get]
func (s *Server) getEvidenceReport(c *gin.Context) error {
	opts, err := evidenceOptions(c, "from", "to")
	if err != nil {
		return err
	}
	release, err := s.oneExport(c)
	if err != nil {
		return err
	}
	defer release()
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(time.Hour))
	r, err := evidence.BuildReport(c.Request.Context(), s.evidence, opts)
	if err != nil {
		return err
	}
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		return err
	}
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", page.Bytes())
	return nil
}
