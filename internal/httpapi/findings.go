package httpapi

import (
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/findings"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// findingObject is one thing a finding is about.
type findingObject struct {
	// device, element, notice, purpose, policy_rule or receipt_key.
	Type string `json:"type" example:"device"`
	ID   string `json:"id" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
}

// findingAck is an acknowledgment of a finding.
type findingAck struct {
	ID          string    `json:"id" format:"uuid"`
	FindingID   string    `json:"finding_id" example:"device_without_inventory"`
	Fingerprint string    `json:"fingerprint" example:"3f2a9c1b7d4e5f60"`
	Note        string    `json:"note" example:"inventory due from the vendor on Monday"`
	ClientID    string    `json:"client_id" format:"uuid"`
	AuditSeq    int64     `json:"audit_seq" example:"812"`
	CreatedAt   time.Time `json:"created_at" format:"date-time"`
}

func newFindingAck(a privacy.FindingAck) findingAck {
	return findingAck{ID: a.ID, FindingID: a.FindingID, Fingerprint: a.Fingerprint, Note: a.Note, ClientID: a.ClientID, AuditSeq: a.AuditSeq, CreatedAt: a.CreatedAt}
}

// findingResponse is one finding of the continuous review.
type findingResponse struct {
	// Stable while the finding lasts: its kind, and what it is about.
	ID string `json:"id" example:"notice_uncovered:acme-cam"`
	// notice_uncovered, policy_purpose_not_in_notice, policy_rule_unconsentable, consents_expiring, device_without_inventory, device_without_notice, deactivated_device_owned, receipt_key_rotation_due, review_overdue or webhook_deliveries_dead.
	Kind     string `json:"kind" example:"notice_uncovered"`
	Severity string `json:"severity" enums:"high,medium,low" example:"high"`
	// The ISO/IEC 27400 control it concerns: 29, 30, 31-1, 31-2, 32, 34 or 35-1.
	Control string `json:"control" example:"31-1"`
	Detail  string `json:"detail" example:"the notice acme-cam in force does not state 2 things its active devices collect"`
	Remedy  string `json:"remedy" example:"publish a notice version that states them"`
	// The first 100 objects concerned; count is how many in all.
	Objects []findingObject `json:"objects"`
	Count   int             `json:"count" example:"3"`
	// Changes when what the finding is about changes.
	Fingerprint string `json:"fingerprint" example:"3f2a9c1b7d4e5f60"`
	// Open unless acknowledged as it stands (same fingerprint).
	Open bool `json:"open" example:"true"`
	// The latest acknowledgment, when there is one.
	Acknowledgment *findingAck `json:"acknowledgment,omitempty"`
}

// findingList is the latest review.
type findingList struct {
	Items []findingResponse `json:"items"`
	// When the review last ran.
	ReviewedAt time.Time `json:"reviewed_at" format:"date-time"`
	// Open findings by severity.
	Open map[string]int `json:"open"`
}

// ackRequest acknowledges a finding.
type ackRequest struct {
	// What was decided about it.
	Note string `json:"note" binding:"required" maxLength:"2000" example:"inventory due from the vendor on Monday"`
}

// listFindings returns the latest continuous review.
//
// @Summary  Findings of the continuous review
// @ID       listFindings
// @Description Where the privacy controls have weakened, recomputed after every relevant change (at most once a second) and every minute: notices that no longer cover their devices' inventories, policy rules for a purpose no notice states or over data no one can consent to, consents ending within 30 days, active devices without an inventory or without a published notice, deactivated devices still linked to an owner, a receipt signing key older than 365 days, and the review itself when no one acknowledged it within 90 days. Sorted by severity. Prometheus: consentry_findings_open{severity}.
// @Tags     findings
// @Security BearerAuth
// @Produce  json
// @Success  200 {object} findingList
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "only admins and auditors read findings"
// @Router   /v1/findings [get]
func (s *Server) listFindings(c *gin.Context) error {
	if _, err := strictQuery(c); err != nil {
		return err
	}
	fs, ran := s.findings.Current()
	if ran.IsZero() {
		// Not run yet (the server just started): run it now.
		var err error
		if fs, err = s.findings.Refresh(c.Request.Context()); err != nil {
			return err
		}
		ran = time.Now()
	}
	out := findingList{Items: make([]findingResponse, len(fs)), ReviewedAt: ran.UTC(), Open: map[string]int{}}
	for _, sev := range findings.Severities {
		out.Open[sev] = 0
	}
	for i, f := range fs {
		r := findingResponse{ID: f.ID, Kind: f.Kind, Severity: f.Severity, Control: f.Control, Detail: f.Detail, Remedy: f.Remedy,
			Objects: make([]findingObject, len(f.Objects)), Count: f.Count, Fingerprint: f.Fingerprint, Open: f.Open()}
		for j, o := range f.Objects {
			r.Objects[j] = findingObject{Type: o.Type, ID: o.ID}
		}
		if f.Ack != nil {
			a := newFindingAck(*f.Ack)
			r.Acknowledgment = &a
		}
		if r.Open {
			out.Open[f.Severity]++
		}
		out.Items[i] = r
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// acknowledgeFinding records that a person reviewed a finding.
//
// @Summary  Acknowledge a finding
// @ID       acknowledgeFinding
// @Description Records, in the audit log (finding.acknowledged) and append-only, that the finding was reviewed as it stands and what was decided. The finding stays listed, not open, until what it is about changes (its fingerprint), when it is open again. Acknowledging review_overdue is the periodic review.
// @Tags     findings
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string     true "finding id"
// @Param    body body ackRequest true "what was decided"
// @Success  201 {object} findingAck
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "only admins acknowledge findings"
// @Failure  404 {object} problem "no such finding (it may have cleared)"
// @Failure  409 {object} problem "already acknowledged as it stands"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "note missing or longer than 2000 characters"
// @Failure  503 {object} problem "the audit log cannot be written; nothing was recorded"
// @Router   /v1/findings/{id}/acknowledge [post]
func (s *Server) acknowledgeFinding(c *gin.Context) error {
	var req ackRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	ack, err := s.findings.Acknowledge(c.Request.Context(), c.Param("id"), req.Note)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusCreated, newFindingAck(ack))
	return nil
}
