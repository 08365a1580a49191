package httpapi

import (
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/subjecttoken"
	"github.com/gin-gonic/gin"
)

// subjectTokenRequest asks for a token for one subject.
type subjectTokenRequest struct {
	// The subject the token acts for: the app's own id for its user.
	Subject string `json:"subject" binding:"required" maxLength:"200" example:"user-7f3a"`
	// Lifetime in seconds, 60 to 3600 (default 900).
	TTLSeconds int `json:"ttl_seconds,omitempty" minimum:"60" maximum:"3600" example:"900"`
}

// subjectTokenResponse is the minted token.
type subjectTokenResponse struct {
	// Send as Authorization: Bearer <token>. A JWT (HS256), audience-bound to this deployment.
	Token     string    `json:"token" example:"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…"`
	Subject   string    `json:"subject" example:"user-7f3a"`
	ExpiresAt time.Time `json:"expires_at" format:"date-time"`
}

// mintSubjectToken lets an app act as one of its users.
//
// @Summary  Mint a subject token
// @ID       mintSubjectToken
// @Description A short-lived token (at most one hour) for one subject, which the app hands to its mobile client. Calls made with it have the role "subject" and reach only that subject: record consent for them (POST /v1/consents with their id), read and withdraw their records, their consents, their privacy view, everything of theirs (POST /v1/subjects/{subject}/withdraw), and the current notice. Another subject's path is 403, another subject's record 404. Minting is recorded in the audit log (subject as its HMAC).
// @Tags     consents
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    body body subjectTokenRequest true "subject and lifetime"
// @Success  201 {object} subjectTokenResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "only apps mint subject tokens"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "subject missing or not an opaque id; ttl_seconds outside 60-3600"
// @Failure  503 {object} problem "subject tokens are not enabled, or the audit log cannot be written"
// @Router   /v1/subject-tokens [post]
func (s *Server) mintSubjectToken(c *gin.Context) error {
	var req subjectTokenRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	ttl := 15 * time.Minute
	if req.TTLSeconds != 0 {
		if req.TTLSeconds < 60 || req.TTLSeconds > int(subjecttoken.MaxTTL/time.Second) {
			return privacy.FieldErrorf(privacy.EInvalid, "ttl_seconds", "must be between 60 and 3600")
		}
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	var problems privacy.Problems
	privacy.CheckSubject(&problems, "subject", req.Subject)
	if err := problems.Err("invalid subject token request"); err != nil {
		return err
	}
	if s.subjects == nil {
		return privacy.Errorf(privacy.EUnavailable, "subject tokens are not enabled on this server")
	}
	p, _ := principal(c.Request.Context())
	token, exp, err := s.subjects.Mint(p.ID, req.Subject, time.Now(), ttl)
	if err != nil {
		return err
	}
	if _, err := s.audit.Append(c.Request.Context(), event.SubjectTokenIssued{Subject: req.Subject, ExpiresAt: exp}); err != nil {
		return err
	}
	writeJSON(c, http.StatusCreated, subjectTokenResponse{Token: token, Subject: req.Subject, ExpiresAt: exp.UTC()})
	return nil
}
