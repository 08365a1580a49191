package httpapi

import (
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// childBody declares a subject a child.
type childBody struct {
	// When the child comes of age; give it, an age band, or both.
	MajorityAt *time.Time `json:"majority_at,omitempty" format:"date-time"`
	AgeBand    string     `json:"age_band,omitempty" enums:"under_13,13_15,16_17" example:"13_15"`
	// The child's guardians (1-4): a proxy consent names one of them.
	Guardians []string `json:"guardians" binding:"required,max=4" maxItems:"4" example:"parent-1"`
}

// childResponse is a subject's declaration as a child.
type childResponse struct {
	Subject    string     `json:"subject" example:"kid-42"`
	AgeBand    string     `json:"age_band,omitempty" enums:"under_13,13_15,16_17"`
	MajorityAt *time.Time `json:"majority_at,omitempty" format:"date-time"`
	// Whether the subject is a child now (before majority_at).
	Minor      bool      `json:"minor"`
	Guardians  []string  `json:"guardians"`
	DeclaredAt time.Time `json:"declared_at" format:"date-time"`
	// The client that made the declaration.
	DeclaredBy string `json:"declared_by" format:"uuid"`
	// The audit entry of the declaration (or of the majority).
	AuditSeq int64 `json:"audit_seq"`
}

func newChildResponse(c privacy.Child, now time.Time) childResponse {
	out := childResponse{Subject: c.Subject, AgeBand: c.AgeBand, MajorityAt: optionalTime(c.MajorityAt), Minor: c.Minor(now),
		Guardians: c.Guardians, DeclaredAt: c.DeclaredAt, DeclaredBy: c.DeclaredBy, AuditSeq: c.AuditSeq}
	if out.Guardians == nil {
		out.Guardians = []string{}
	}
	return out
}

// declareChild declares a subject a child.
//
// @Summary  Declare a subject a child, with their guardians
// @ID       declareChild
// @Description From this declaration until majority_at, the subject's consent is a proxy consent: given with one of the guardians named here (POST /v1/consents with `guardian`), one record naming both, with a receipt naming both. Decisions for a child deny a grant given without a guardian (reason guardian_consent_required); data of category personal.child is used only for a subject declared a child, with a guardian's consent in force (otherwise reason not_a_child). At majority_at, or when the majority is declared (POST .../child/majority), the consents given with a guardian no longer count (reason reconfirmation_required) until the person consents themself. A declaration replaces an earlier one; a guardian no longer named ends the proxy consents they gave (withdrawals with receipts, reason guardian_removed). Audited (subject.child_declared, naming the guardians by pseudonym).
// @Tags     subjects
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    subject path string    true "the child's subject id"
// @Param    body    body childBody true "majority, age band, guardians"
// @Success  200 {object} childResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not declare children"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "no majority_at nor age_band, majority_at not in the future, unknown age band, 0 or more than 4 guardians, a guardian named twice or the child themself"
// @Router   /v1/subjects/{subject}/child [put]
func (s *Server) declareChild(c *gin.Context) error {
	var req childBody
	if err := s.decode(c, &req); err != nil {
		return err
	}
	child := privacy.Child{Subject: c.Param("subject"), AgeBand: req.AgeBand, Guardians: req.Guardians}
	if req.MajorityAt != nil {
		child.MajorityAt = *req.MajorityAt
	}
	p, _ := principal(c.Request.Context())
	out, err := s.consents.DeclareChild(c.Request.Context(), child, p.ID)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newChildResponse(out, time.Now()))
	return nil
}

// getChild reads a subject's declaration as a child.
//
// @Summary  A subject's declaration as a child
// @ID       getChild
// @Description The declaration, its guardians, and whether the subject is a child now. A subject token reads its own. The read is recorded in the audit log.
// @Tags     subjects
// @Security BearerAuth
// @Produce  json
// @Param    subject path string true "subject id"
// @Success  200 {object} childResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read declarations, or another subject's token"
// @Failure  404 {object} problem "the subject was never declared a child"
// @Failure  422 {object} problem "bad subject"
// @Router   /v1/subjects/{subject}/child [get]
func (s *Server) getChild(c *gin.Context) error {
	out, err := s.consents.Child(c.Request.Context(), c.Param("subject"))
	if err != nil {
		return err
	}
	s.noteReads(c, append([]string{out.Subject}, out.Guardians...)...)
	writeJSON(c, http.StatusOK, newChildResponse(out, time.Now()))
	return nil
}

// declareMajority declares a child of age.
//
// @Summary  Declare a child of age
// @ID       declareMajority
// @Description The child comes of age now (before the majority_at declared, if any): the consents given with a guardian no longer count (decisions deny, reason reconfirmation_required) until the person consents themself. Audited (subject.majority_declared).
// @Tags     subjects
// @Security BearerAuth
// @Produce  json
// @Param    subject path string true "the child's subject id"
// @Success  200 {object} childResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not declare majority"
// @Failure  404 {object} problem "the subject was never declared a child"
// @Failure  409 {object} problem "the subject came of age already"
// @Router   /v1/subjects/{subject}/child/majority [post]
func (s *Server) declareMajority(c *gin.Context) error {
	p, _ := principal(c.Request.Context())
	out, err := s.consents.DeclareMajority(c.Request.Context(), c.Param("subject"), p.ID)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newChildResponse(out, time.Now()))
	return nil
}
