package httpapi

import (
	"bufio"
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/rights"
	"github.com/gin-gonic/gin"
)

// subjectRequestBody asks for access or erasure.
type subjectRequestBody struct {
	Type string `json:"type" binding:"required" enums:"access,erasure" example:"erasure"`
	// How the person asked: the method of the withdrawals an erasure makes first (default app).
	Method string `json:"method,omitempty" enums:"app,web,voice,paper,api" example:"app"`
}

// confirmationResponse is one backend's confirmation of an erasure.
type confirmationResponse struct {
	WebhookID   string     `json:"webhook_id" format:"uuid"`
	Confirmed   bool       `json:"confirmed"`
	ConfirmedBy string     `json:"confirmed_by,omitempty" format:"uuid"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty" format:"date-time"`
}

// requestResponse is a data-subject request.
type requestResponse struct {
	ID   string `json:"id" format:"uuid"`
	Type string `json:"type" enums:"access,erasure"`
	// received, in_progress (an erasure made, waiting for backends), completed, or failed (closed so by an operator).
	State string `json:"state" enums:"received,in_progress,completed,failed"`
	// The subject's pseudonym in the audit log and evidence bundles.
	Pseudonym string `json:"pseudonym" example:"9f2c…"`
	// The subject id, while Consentry still holds it: absent once an erasure completed, and for auditors.
	Subject     string     `json:"subject,omitempty" example:"user-7f3a"`
	DueAt       time.Time  `json:"due_at" format:"date-time"`
	Overdue     bool       `json:"overdue"`
	CreatedAt   time.Time  `json:"created_at" format:"date-time"`
	UpdatedAt   time.Time  `json:"updated_at" format:"date-time"`
	CompletedAt *time.Time `json:"completed_at,omitempty" format:"date-time"`
	// SHA-256 (hex) of the request's receipt; the receipt itself went to the requester.
	ReceiptSHA256 string `json:"receipt_sha256"`
	// What an erasure erased, per kind of row.
	Erased *erasedResponse `json:"erased,omitempty"`
	// Why an operator closed the request.
	CloseReason string `json:"close_reason,omitempty"`
	// The backends subscribed to erasures when it was asked, each confirming it erased too.
	Confirmations []confirmationResponse `json:"confirmations"`
	// Where the access export is (access requests only).
	ExportURL string `json:"export_url,omitempty"`
}

func newRequestResponse(q privacy.SubjectRequest, now time.Time, showSubject bool) requestResponse {
	out := requestResponse{ID: q.ID, Type: string(q.Type), State: string(q.State), Pseudonym: q.Pseudonym, DueAt: q.DueAt, Overdue: q.Overdue(now),
		CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt, CompletedAt: optionalTime(q.CompletedAt), ReceiptSHA256: q.ReceiptSHA256,
		CloseReason: q.CloseReason, Confirmations: make([]confirmationResponse, len(q.Confirmations))}
	if showSubject {
		out.Subject = q.SubjectID
	}
	if q.Type == privacy.RequestErasure && q.State != privacy.RequestReceived {
		c := q.Erased
		out.Erased = &erasedResponse{ConsentRecords: c.ConsentRecords, Receipts: c.Receipts, ConsentStates: c.ConsentStates, Decisions: c.Decisions,
			Devices: c.Devices, Requests: c.Requests, WebhookEvents: c.WebhookEvents}
	}
	if q.Type == privacy.RequestAccess && q.SubjectID != "" {
		out.ExportURL = "/v1/subjects/requests/" + q.ID + "/export"
	}
	for i, c := range q.Confirmations {
		out.Confirmations[i] = confirmationResponse{WebhookID: c.WebhookID, Confirmed: !c.ConfirmedAt.IsZero(), ConfirmedBy: c.ConfirmedBy,
			ConfirmedAt: optionalTime(c.ConfirmedAt)}
	}
	return out
}

// erasedResponse counts the rows an erasure changed: each now names the
// subject's erased marker, or, for receipts, is gone.
type erasedResponse struct {
	ConsentRecords int64 `json:"consent_records"`
	Receipts       int64 `json:"receipts"`
	ConsentStates  int64 `json:"consent_states"`
	Decisions      int64 `json:"decisions"`
	Devices        int64 `json:"devices"`
	// Earlier requests of the subject, whose subject id was cleared.
	Requests int64 `json:"requests"`
	// Webhook events about the subject, scrubbed when the request completed.
	WebhookEvents int64 `json:"webhook_events"`
}

// requestCreated is a request as made, with what its requester keeps.
type requestCreated struct {
	Request requestResponse `json:"request"`
	// The signed receipt of the request (compact JWS, alg Ed25519; verify with /.well-known/jwks.json). It names the subject; Consentry keeps only its hash.
	Receipt string `json:"receipt"`
	// An erasure's withdrawals, made first, each with its receipt.
	Withdrawals []consentResponse `json:"withdrawals,omitempty"`
	// An erasure's signed receipt: what was erased, when, and the pseudonym the subject's entries keep in the log.
	ErasureReceipt string `json:"erasure_receipt,omitempty"`
}

// requestList is a list of requests.
type requestList struct {
	Items []requestResponse `json:"items"`
}

// confirmBody is a backend's confirmation.
type confirmBody struct {
	// The webhook through which the backend was told of the erasure.
	WebhookID string `json:"webhook_id" binding:"required" format:"uuid"`
}

// closeBody is an operator's close of a request.
type closeBody struct {
	// Why; recorded in the audit log.
	Reason string `json:"reason" binding:"required" maxLength:"500" example:"backend decommissioned on 2026-12-01; its data deleted with it"`
	// completed (default) or failed.
	Outcome string `json:"outcome,omitempty" enums:"completed,failed" example:"completed"`
}

// showsSubject reports whether the caller may see subject ids in requests:
// auditors see pseudonyms only.
func showsSubject(c *gin.Context) bool {
	return privacy.ActorFrom(c.Request.Context()).Role != string(privacy.RoleAuditor)
}

// createSubjectRequest records a data-subject request.
//
// @Summary  Ask for access or erasure
// @ID       createSubjectRequest
// @Description A data-subject request (ISO/IEC 27400 Control 33), by an app for a user it has verified, by the subject's own token, or by an admin. An access request completes at once: its export (export_url) holds everything Consentry holds about the subject, each record with its audit entry and inclusion proof. An erasure, in one transaction, withdraws every consent (withdrawals, each with its receipt: every later decision denies), then erases: every row that held the subject id holds "erased:<pseudonym>" instead, receipts Consentry held are deleted (their hashes stay, as the log committed to them), and the link from the id to the pseudonym is destroyed; every audit entry, checkpoint and proof stays valid. Backends subscribed to subject.erasure_requested are told and confirm (POST /v1/subjects/requests/{id}/confirmations); the request is completed when all have and every delivery about the subject is done (at once when there are none). The receipts name the subject: give them to the person, Consentry keeps none. Every step is in the audit log.
// @Tags     subjects
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    subject path string true "subject id"
// @Param    body    body subjectRequestBody true "type, and how the person asked"
// @Success  201 {object} requestCreated
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not make requests, or a subject token for another subject"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid subject, type or method"
// @Failure  503 {object} problem "the audit log cannot be written: nothing was done"
// @Router   /v1/subjects/{subject}/requests [post]
func (s *Server) createSubjectRequest(c *gin.Context) error {
	var req subjectRequestBody
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if s.rights == nil {
		return privacy.Errorf(privacy.EUnavailable, "subject requests are not enabled on this server")
	}
	p, _ := principal(c.Request.Context())
	res, err := s.rights.Request(c.Request.Context(), c.Param("subject"), privacy.RequestType(req.Type), privacy.ConsentMethod(req.Method), p.ID)
	if err != nil {
		return err
	}
	out := requestCreated{Request: newRequestResponse(res.Request, time.Now(), true), Receipt: res.Receipt, ErasureReceipt: res.ErasureReceipt}
	for _, w := range res.Withdrawals {
		out.Withdrawals = append(out.Withdrawals, newConsentResponse(w))
	}
	c.Header("Location", "/v1/subjects/requests/"+res.Request.ID)
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusCreated, out)
	return nil
}

// listSubjectRequests lists a subject's requests.
//
// @Summary  A subject's requests
// @ID       listSubjectRequests
// @Description Every request of the subject, oldest first. An erased subject has none any more: its requests name only its pseudonym (an admin or auditor finds them in GET /v1/subjects/requests while open, or by id).
// @Tags     subjects
// @Security BearerAuth
// @Produce  json
// @Param    subject path string true "subject id"
// @Success  200 {object} requestList
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read requests, or a subject token for another subject"
// @Failure  422 {object} problem "invalid subject"
// @Router   /v1/subjects/{subject}/requests [get]
func (s *Server) listSubjectRequests(c *gin.Context) error {
	if s.rights == nil {
		return privacy.Errorf(privacy.EUnavailable, "subject requests are not enabled on this server")
	}
	qs, err := s.rights.List(c.Request.Context(), c.Param("subject"))
	if err != nil {
		return err
	}
	s.noteReads(c, c.Param("subject"))
	out := requestList{Items: make([]requestResponse, len(qs))}
	now, show := time.Now(), showsSubject(c)
	for i, q := range qs {
		out.Items[i] = newRequestResponse(q, now, show)
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// listOpenRequests lists the requests still running.
//
// @Summary  Open and overdue requests
// @ID       listOpenRequests
// @Description The requests not yet completed (state=open, the default) or only those past their due date (state=overdue), due first, at most 1,000. Auditors see pseudonyms, not subject ids.
// @Tags     subjects
// @Security BearerAuth
// @Produce  json
// @Param    state query string false "open (default) or overdue" Enums(open, overdue)
// @Success  200 {object} requestList
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not list requests"
// @Failure  422 {object} problem "bad state"
// @Router   /v1/subjects/requests [get]
func (s *Server) listOpenRequests(c *gin.Context) error {
	q, err := strictQuery(c, "state")
	if err != nil {
		return err
	}
	state := q.Get("state")
	if state != "" && state != "open" && state != "overdue" {
		return privacy.FieldErrorf(privacy.EInvalid, "state", "must be open or overdue")
	}
	if s.rights == nil {
		return privacy.Errorf(privacy.EUnavailable, "subject requests are not enabled on this server")
	}
	qs, err := s.rights.Open(c.Request.Context(), state == "overdue")
	if err != nil {
		return err
	}
	out := requestList{Items: make([]requestResponse, len(qs))}
	now, show := time.Now(), showsSubject(c)
	subjects := make([]string, 0, len(qs))
	for i, rq := range qs {
		out.Items[i] = newRequestResponse(rq, now, show)
		if show && rq.SubjectID != "" {
			subjects = append(subjects, rq.SubjectID)
		}
	}
	s.noteReads(c, subjects...)
	writeJSON(c, http.StatusOK, out)
	return nil
}

// ownRequest loads request id, refusing a subject token any request not
// its subject's (as not found).
func (s *Server) ownRequest(c *gin.Context) (privacy.SubjectRequest, error) {
	if s.rights == nil {
		return privacy.SubjectRequest{}, privacy.Errorf(privacy.EUnavailable, "subject requests are not enabled on this server")
	}
	q, err := s.rights.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		return privacy.SubjectRequest{}, err
	}
	if p, _ := principal(c.Request.Context()); p.Role == privacy.RoleSubject {
		own, err := s.audit.PseudonymOf(c.Request.Context(), p.Subject)
		if err != nil {
			return privacy.SubjectRequest{}, err
		}
		if own == "" || own != q.Pseudonym {
			return privacy.SubjectRequest{}, privacy.Errorf(privacy.ENotFound, "subject request not found")
		}
	}
	return q, nil
}

// getSubjectRequest returns one request.
//
// @Summary  Get a request
// @ID       getSubjectRequest
// @Description One request, with its state, due date and, for an erasure, what was erased and which backends confirmed. A subject token sees only its own. Auditors see the pseudonym, not the subject id.
// @Tags     subjects
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "request id" format(uuid)
// @Success  200 {object} requestResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read requests"
// @Failure  404 {object} problem "no such request"
// @Router   /v1/subjects/requests/{id} [get]
func (s *Server) getSubjectRequest(c *gin.Context) error {
	q, err := s.ownRequest(c)
	if err != nil {
		return err
	}
	show := showsSubject(c)
	if show && q.SubjectID != "" {
		s.noteReads(c, q.SubjectID)
	}
	writeJSON(c, http.StatusOK, newRequestResponse(q, time.Now(), show))
	return nil
}

// exportSubjectRequest streams an access request's export.
//
// @Summary  Access export
// @ID       exportSubjectRequest
// @Description Everything Consentry holds about the subject of an access request, as one JSON document (format consentry-subject-export/1, docs/subject-rights.md), streamed: consent records with their receipts, the current state per device and purpose, every decision made about them (which service asked, for what, when, the outcome, reasons and steps), the devices they own, the webhook deliveries about them, their requests; and every audit entry naming them, with its exact bytes and its RFC 6962 inclusion proof against the signed checkpoint included. `consentry evidence verify FILE --key audit-verifier.key` checks it offline. The read is recorded in the audit log.
// @Tags     subjects
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "access request id" format(uuid)
// @Success  200 {file} file "the export: JSON, format consentry-subject-export/1, schema api/subject-export.schema.json"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not export"
// @Failure  404 {object} problem "no such request"
// @Failure  409 {object} problem "an erasure request has no export"
// @Failure  410 {object} problem "the subject was erased since"
// @Router   /v1/subjects/requests/{id}/export [get]
func (s *Server) exportSubjectRequest(c *gin.Context) error {
	q, err := s.ownRequest(c)
	if err != nil {
		return err
	}
	// Checked before the answer's status is sent: a refusal is still a
	// problem document.
	if err := rights.Exportable(q); err != nil {
		return err
	}
	s.noteReads(c, q.SubjectID)
	// The profile names the document's format, for a client that keeps
	// exports of several versions.
	c.Header("Content-Type", `application/json; profile="`+rights.ExportFormat+`"`)
	c.Header("Content-Disposition", `attachment; filename="subject-export-`+q.ID+`.json"`)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	w := bufio.NewWriter(c.Writer)
	if err := s.rights.Export(c.Request.Context(), q, w); err != nil {
		s.streamFailed(c, "subject export", err)
		return nil
	}
	if err := w.Flush(); err != nil {
		s.streamFailed(c, "subject export", err)
	}
	return nil
}

// confirmSubjectRequest records a backend's confirmation of an erasure.
//
// @Summary  Confirm an erasure
// @ID       confirmSubjectRequest
// @Description A backend told of an erasure (webhook kind subject.erasure_requested) confirms, as a service client, that it erased what it held about the subject, naming the webhook it was told through. The request completes when every subscribed backend has confirmed and every delivery about the subject is done. Recorded in the audit log with the confirming client.
// @Tags     subjects
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string      true "erasure request id" format(uuid)
// @Param    body body confirmBody true "the webhook"
// @Success  200 {object} requestResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "only service clients confirm"
// @Failure  404 {object} problem "no such request, or the webhook has no confirmation pending for it"
// @Failure  409 {object} problem "an access request, or a request completed already"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "webhook_id missing"
// @Router   /v1/subjects/requests/{id}/confirmations [post]
func (s *Server) confirmSubjectRequest(c *gin.Context) error {
	var req confirmBody
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if s.rights == nil {
		return privacy.Errorf(privacy.EUnavailable, "subject requests are not enabled on this server")
	}
	p, _ := principal(c.Request.Context())
	q, err := s.rights.Confirm(c.Request.Context(), c.Param("id"), req.WebhookID, p.ID)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newRequestResponse(q, time.Now(), false))
	return nil
}

// closeSubjectRequest ends an open request.
//
// @Summary  Close a request
// @ID       closeSubjectRequest
// @Description An operator ends a request that cannot complete by itself (a backend gone for good), as completed or failed, with a reason recorded in the audit log. Closing an erasure scrubs the subject id from the webhook outbox: pending deliveries about the subject are cancelled.
// @Tags     subjects
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string    true "request id" format(uuid)
// @Param    body body closeBody true "reason and outcome"
// @Success  200 {object} requestResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "only admins close requests"
// @Failure  404 {object} problem "no such request"
// @Failure  409 {object} problem "the request is completed already"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "reason missing or too long, or a bad outcome"
// @Router   /v1/subjects/requests/{id}/close [post]
func (s *Server) closeSubjectRequest(c *gin.Context) error {
	var req closeBody
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if req.Outcome != "" && req.Outcome != "completed" && req.Outcome != "failed" {
		return privacy.FieldErrorf(privacy.EInvalid, "outcome", "must be completed or failed")
	}
	if s.rights == nil {
		return privacy.Errorf(privacy.EUnavailable, "subject requests are not enabled on this server")
	}
	q, err := s.rights.Close(c.Request.Context(), c.Param("id"), req.Reason, req.Outcome == "failed")
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newRequestResponse(q, time.Now(), true))
	return nil
}
