package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json/jsontext"
)

// decisionRequest asks whether the calling service may act on personal data.
type decisionRequest struct {
	Subject  string `json:"subject" binding:"required" maxLength:"200" example:"user-7f3a"`
	DeviceID string `json:"device_id" binding:"required" format:"uuid"`
	// A data element key of the device's inventory.
	Element string `json:"element" binding:"required" example:"location"`
	Purpose string `json:"purpose" binding:"required" example:"navigation"`
	Action  string `json:"action" binding:"required" enums:"collect,use,share" example:"use"`
}

func (r decisionRequest) toDomain(p privacy.Client) decide.Request {
	return decide.Request{ServiceID: p.ID, ServiceName: p.Name, Subject: r.Subject, DeviceID: r.DeviceID, Element: r.Element,
		Purpose: r.Purpose, Action: r.Action}
}

// decisionResponse is an answer.
type decisionResponse struct {
	ID       string `json:"id" format:"uuid"`
	Decision string `json:"decision" enums:"allow,deny" example:"allow"`
	// Why a deny: device_inactive, element_not_declared, not_in_notice, policy_denied, no_consent,
	// consent_expired, consent_withdrawn, reconsent_required, then, where a rule about children applies,
	// not_a_child, guardian_consent_required, reconfirmation_required; or error. Empty for an allow.
	Reasons []string `json:"reasons"`
	// The decision's audit entry.
	AuditSeq int64 `json:"audit_seq" example:"42"`
	// For an allow: the consent record and its audit entry, and the notice version it relied on.
	ConsentRecord string    `json:"consent_record,omitempty" format:"uuid"`
	ConsentSeq    *int64    `json:"consent_seq,omitempty" example:"17"`
	NoticeVersion int       `json:"notice_version,omitempty" example:"1"`
	DecidedAt     time.Time `json:"decided_at" format:"date-time"`
}

// jsonContentType is the Content-Type of the JSON answers written
// without writeJSON.
const jsonContentType = "application/json; charset=utf-8"

// appendDecision appends r's JSON, the bytes encoding/json writes for it,
// without reflection: decisions are the hot path (docs/performance.md).
func appendDecision(b []byte, r decisionResponse) []byte {
	b = append(b, `{"id":`...)
	b, _ = jsontext.AppendQuote(b, r.ID)
	b = append(b, `,"decision":`...)
	b, _ = jsontext.AppendQuote(b, r.Decision)
	if r.Reasons == nil {
		b = append(b, `,"reasons":null`...)
	} else {
		b = append(b, `,"reasons":[`...)
		for i, reason := range r.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b, _ = jsontext.AppendQuote(b, reason)
		}
		b = append(b, ']')
	}
	b = append(b, `,"audit_seq":`...)
	b = strconv.AppendInt(b, r.AuditSeq, 10)
	if r.ConsentRecord != "" {
		b = append(b, `,"consent_record":`...)
		b, _ = jsontext.AppendQuote(b, r.ConsentRecord)
	}
	if r.ConsentSeq != nil {
		b = append(b, `,"consent_seq":`...)
		b = strconv.AppendInt(b, *r.ConsentSeq, 10)
	}
	if r.NoticeVersion != 0 {
		b = append(b, `,"notice_version":`...)
		b = strconv.AppendInt(b, int64(r.NoticeVersion), 10)
	}
	b = append(b, `,"decided_at":"`...)
	b = r.DecidedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// appendBatch appends r's JSON as encoding/json writes it, without
// reflection.
func appendBatch(b []byte, r batchResponse) []byte {
	if r.Results == nil {
		return append(b, `{"results":null}`...)
	}
	b = append(b, `{"results":[`...)
	for i, d := range r.Results {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDecision(b, d)
	}
	return append(b, "]}"...)
}

func newDecisionResponse(d decide.Decision) decisionResponse {
	out := decisionResponse{ID: d.ID, Decision: "deny", Reasons: d.Reasons, AuditSeq: d.Seq, DecidedAt: d.CreatedAt}
	if d.Allow {
		seq := d.ConsentSeq
		out.Decision, out.ConsentRecord, out.ConsentSeq, out.NoticeVersion = "allow", d.ConsentRecord, &seq, d.NoticeVersion
	}
	return out
}

// batchRequest carries up to 1,000 checks.
type batchRequest struct {
	Checks []decisionRequest `json:"checks" binding:"required,max=1000,dive"`
}

// batchResponse answers each check, in order.
type batchResponse struct {
	Results []decisionResponse `json:"results"`
}

// stepBody is one check of a decision and its outcome.
type stepBody struct {
	Check  string `json:"check" enums:"device,inventory,notice,policy,consent" example:"consent"`
	OK     bool   `json:"ok" example:"true"`
	Reason string `json:"reason,omitempty" example:"no_consent"`
	Detail string `json:"detail" example:"consent record 0193… grants navigation until 2027-11-28T12:00:00Z"`
}

// explainedDecision is a decision with its request and reasoning.
type explainedDecision struct {
	decisionResponse
	Service  string     `json:"service" example:"route-planner"`
	Subject  string     `json:"subject" example:"user-7f3a"`
	DeviceID string     `json:"device_id" format:"uuid"`
	Element  string     `json:"element" example:"location"`
	Purpose  string     `json:"purpose" example:"navigation"`
	Action   string     `json:"action" enums:"collect,use,share" example:"use"`
	Steps    []stepBody `json:"steps"`
}

// decideOne answers one check.
//
// @Summary  Access decision
// @ID       decide
// @Description May the calling service act on this data element of this device, for this subject and purpose? Checks, each able only to deny: device active; element declared for the purpose in the current inventory; stated by the notice in force; allowed by the data policy for the service, the element's category, the purpose and the action; consent granted, unexpired, not withdrawn, not awaiting re-consent. Any error is a deny. The answer holds at the decision's place in the audit log: an allow never follows the withdrawal of the consent it relied on. Every decision is audited (its entry is audit_seq) before it is answered; when it cannot be, the answer is 503 and nothing was decided.
// @Tags     decisions
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    body body decisionRequest true "the question"
// @Success  200 {object} decisionResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not ask for decisions"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid fields"
// @Failure  503 {object} problem "the decision could not be audited, so none is given"
// @Router   /v1/decisions [post]
func (s *Server) decideOne(c *gin.Context) error {
	var req decisionRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	p, _ := principal(c.Request.Context())
	d, err := s.decisions.Decide(c.Request.Context(), req.toDomain(p))
	if err != nil {
		return err
	}
	c.Data(http.StatusOK, jsonContentType, append(appendDecision(make([]byte, 0, 320), newDecisionResponse(d)), '\n'))
	return nil
}

// decideBatch answers up to 1,000 checks.
//
// @Summary  Access decisions, in a batch
// @ID       decideBatch
// @Description Up to 1,000 checks, answered in order, each decided and audited as by POST /v1/decisions, in one commit.
// @Tags     decisions
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    body body batchRequest true "the questions"
// @Success  200 {object} batchResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not ask for decisions"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid fields (checks[i].field), or not 1 to 1,000 checks"
// @Failure  503 {object} problem "the decisions could not be audited, so none is given"
// @Router   /v1/decisions/batch [post]
func (s *Server) decideBatch(c *gin.Context) error {
	var req batchRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	p, _ := principal(c.Request.Context())
	rs := make([]decide.Request, len(req.Checks))
	for i, r := range req.Checks {
		rs[i] = r.toDomain(p)
	}
	ds, err := s.decisions.DecideBatch(c.Request.Context(), rs)
	if err != nil {
		return err
	}
	out := batchResponse{Results: make([]decisionResponse, len(ds))}
	for i, d := range ds {
		out.Results[i] = newDecisionResponse(d)
	}
	c.Data(http.StatusOK, jsonContentType, append(appendBatch(make([]byte, 0, 16+320*len(ds)), out), '\n'))
	return nil
}

// getDecision explains a decision.
//
// @Summary  Explain a decision
// @ID       getDecision
// @Description The decision with its request and every check with its outcome, for support and auditors. A service sees only its own decisions. A decision whose row no longer matches its audit entry (changed in the database) is refused (500). Each read of a subject's personal data is recorded in the audit log (personal_data.read: client, route, the subject's pseudonym).
// @Tags     decisions
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "decision id" format(uuid)
// @Success  200 {object} explainedDecision
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read decisions"
// @Failure  404 {object} problem "no such decision (or another service's)"
// @Failure  500 {object} problem "the decision is not what its audit entry recorded: the database was changed"
// @Router   /v1/decisions/{id} [get]
func (s *Server) getDecision(c *gin.Context) error {
	d, err := s.decisions.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	// A service sees its own decisions only: others' name their subjects.
	if p, _ := principal(c.Request.Context()); p.Role == privacy.RoleService && d.Request.ServiceID != p.ID {
		return privacy.Errorf(privacy.ENotFound, "decision not found")
	}
	out := explainedDecision{decisionResponse: newDecisionResponse(d), Service: d.Request.ServiceName, Subject: d.Request.Subject,
		DeviceID: d.Request.DeviceID, Element: d.Request.Element, Purpose: d.Request.Purpose, Action: d.Request.Action,
		Steps: make([]stepBody, len(d.Steps))}
	for i, st := range d.Steps {
		out.Steps[i] = stepBody(st)
	}
	s.noteReads(c, d.Request.Subject)
	writeJSON(c, http.StatusOK, out)
	return nil
}
