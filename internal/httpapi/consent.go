package httpapi

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// choiceBody is the choice for one purpose.
type choiceBody struct {
	Purpose string `json:"purpose" binding:"required" example:"navigation"`
	Granted *bool  `json:"granted" binding:"required" example:"true"`
}

// consentRequest records what a subject was shown and chose.
type consentRequest struct {
	// The app's own opaque id of the person.
	Subject  string `json:"subject" binding:"required" maxLength:"200" example:"user-7f3a"`
	DeviceID string `json:"device_id" binding:"required" format:"uuid"`
	// The notice version shown: key, version and content_hash exactly as served.
	NoticeKey     string `json:"notice_key" binding:"required" example:"tracker-notice"`
	NoticeVersion int    `json:"notice_version" binding:"required" example:"1"`
	NoticeHash    string `json:"notice_hash" binding:"required" example:"3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"`
	// The locale the notice was shown in (one of the version's locales).
	Locale string `json:"locale" binding:"required" example:"fr"`
	// One choice per purpose; purposes not listed stay denied.
	Choices []choiceBody `json:"choices" binding:"required,max=100,dive"`
	Method  string       `json:"method" binding:"required" enums:"app,web,voice,paper,api" example:"app"`
	// When the subject chose, by the client's clock; the record's time is the server's.
	ClientTime *time.Time `json:"client_time,omitempty" format:"date-time"`
	// For a subject declared a child: the guardian who consents with them (one of those declared). A guardian's subject token may submit it.
	Guardian string `json:"guardian,omitempty" maxLength:"200" example:"parent-1"`
}

// choiceResponse is one purpose of a record.
type choiceResponse struct {
	Purpose string `json:"purpose" example:"navigation"`
	// For a withdrawal record, false: the purpose is withdrawn.
	Granted   bool       `json:"granted" example:"true"`
	ExpiresAt *time.Time `json:"expires_at,omitempty" format:"date-time"`
}

// consentResponse is a consent or withdrawal record with its receipt.
type consentResponse struct {
	ID            string     `json:"id" format:"uuid"`
	Kind          string     `json:"kind" enums:"consent,withdrawal" example:"consent"`
	Subject       string     `json:"subject" example:"user-7f3a"`
	DeviceID      string     `json:"device_id" format:"uuid"`
	NoticeKey     string     `json:"notice_key" example:"tracker-notice"`
	NoticeVersion int        `json:"notice_version" example:"1"`
	NoticeHash    string     `json:"notice_hash"`
	Locale        string     `json:"locale" example:"fr"`
	Method        string     `json:"method" enums:"app,web,voice,paper,api" example:"app"`
	ClientTime    *time.Time `json:"client_time,omitempty" format:"date-time"`
	CreatedAt     time.Time  `json:"created_at" format:"date-time"`
	Withdraws     string     `json:"withdraws,omitempty" format:"uuid"`
	// For a withdrawal the service made rather than the person, why.
	Reason string `json:"reason,omitempty" enums:"device_disposed,ownership_transferred,member_removed,guest_expired,guardian_removed"`
	// For a proxy consent, the guardian who gave it with the child.
	Guardian string           `json:"guardian,omitempty" example:"parent-1"`
	Choices  []choiceResponse `json:"choices"`
	// The signed receipt: a compact JWS (alg Ed25519 per RFC 9864, EdDSA on receipts issued before it; kid in the header; keys at /.well-known/jwks.json)
	// whose payload is a Kantara Consent Receipt v1.1 with ISO/IEC TS 27560 fields under "iso27560"; every field
	// is described in docs/receipts.md.
	Receipt string `json:"receipt"`
}

func newConsentResponse(r privacy.ConsentRecord) consentResponse {
	out := consentResponse{ID: r.ID, Kind: r.Kind, Subject: r.SubjectID, DeviceID: r.DeviceID, NoticeKey: r.NoticeKey,
		NoticeVersion: r.NoticeVersion, NoticeHash: r.NoticeHash, Locale: r.Locale, Method: string(r.Method), CreatedAt: r.CreatedAt,
		Withdraws: r.Withdraws, Reason: r.Reason, Guardian: r.Guardian, Choices: make([]choiceResponse, len(r.Choices)), Receipt: r.Receipt}
	out.ClientTime = optionalTime(r.ClientTime)
	for i, c := range r.Choices {
		out.Choices[i] = choiceResponse{Purpose: c.Purpose, Granted: c.Granted, ExpiresAt: optionalTime(c.ExpiresAt)}
	}
	return out
}

// withdrawRequest names what to withdraw; an empty body withdraws all.
type withdrawRequest struct {
	// Purposes of the record to withdraw; all of them when absent.
	Purposes []string `json:"purposes,omitempty" validate:"max=100" example:"navigation"`
	Method   string   `json:"method,omitempty" enums:"app,web,voice,paper,api" example:"app"`
}

// withdrawalList is the records a subject-wide withdrawal made.
type withdrawalList struct {
	Records []consentResponse `json:"records"`
}

// stateResponse is the current state of one device and purpose.
type stateResponse struct {
	DeviceID string `json:"device_id" format:"uuid"`
	Purpose  string `json:"purpose" example:"navigation"`
	// Only granted counts as consent; anything else is a deny.
	Status string `json:"status" enums:"granted,denied,withdrawn,expired,reconsent_required" example:"granted"`
	// True only when status is granted.
	Given bool `json:"given" example:"true"`
	// The record the state comes from; absent for a purpose never chosen (denied by default).
	RecordID      string     `json:"record_id,omitempty" format:"uuid"`
	NoticeKey     string     `json:"notice_key" example:"tracker-notice"`
	NoticeVersion int        `json:"notice_version" example:"1"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty" format:"date-time"`
	// When the subject last chose; absent for a purpose never chosen.
	UpdatedAt *time.Time `json:"updated_at,omitempty" format:"date-time"`
}

// subjectConsents is a subject's current state and history.
type subjectConsents struct {
	Subject string          `json:"subject" example:"user-7f3a"`
	Current []stateResponse `json:"current"`
	// Records, newest first.
	History []consentResponse `json:"history"`
	// Pass as ?cursor= for older records; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// privacyElement is one data element, as a person reads it.
type privacyElement struct {
	Key         string `json:"key" example:"location"`
	Description string `json:"description" example:"GPS position of the tracker"`
	Category    string `json:"category" example:"personal.location.precise"`
	Sensitivity string `json:"sensitivity" enums:"none,personal,sensitive" example:"personal"`
	Retention   string `json:"retention" example:"P30D"`
}

// privacyPurpose is one purpose on one device and the subject's choice.
type privacyPurpose struct {
	Purpose     string           `json:"purpose" example:"navigation"`
	Name        string           `json:"name" example:"Navigation"`
	Description string           `json:"description" example:"Turn-by-turn route guidance."`
	Elements    []privacyElement `json:"elements"`
	Recipients  []string         `json:"recipients"`
	// The longest retention among the elements.
	Retention string     `json:"retention" example:"P30D"`
	Status    string     `json:"status" enums:"granted,denied,withdrawn,expired,reconsent_required" example:"granted"`
	ExpiresAt *time.Time `json:"expires_at,omitempty" format:"date-time"`
	// The whole of it in plain language.
	Summary string `json:"summary" example:"Your Acme Corp Tracker 2 collects gps position for navigation. It is kept for up to 30 days and shared with acme-cloud. You agreed on 28 November 2026; your consent lasts until 28 November 2027 unless you withdraw it."`
}

// privacyDevice is one device that concerns the subject.
type privacyDevice struct {
	DeviceID     string `json:"device_id" format:"uuid"`
	Manufacturer string `json:"manufacturer" example:"Acme Corp"`
	Model        string `json:"model" example:"Tracker 2"`
	Status       string `json:"status" enums:"active,deactivated,disposed" example:"active"`
	NoticeKey    string `json:"notice_key" example:"tracker-notice"`
	// How the subject is on the device; absent where they only made a choice.
	Role string `json:"role,omitempty" enums:"owner,member,guest" example:"member"`
	// A guest's stay ends then.
	Until *time.Time `json:"until,omitempty" format:"date-time"`
	// The other people on the device: its owner and members.
	Others   []privacySharer  `json:"others"`
	Purposes []privacyPurpose `json:"purposes"`
}

// privacySharer is someone else on a device.
type privacySharer struct {
	Subject string     `json:"subject" example:"user-9b21"`
	Role    string     `json:"role" enums:"owner,member,guest" example:"owner"`
	Until   *time.Time `json:"until,omitempty" format:"date-time"`
}

// privacyView is everything that concerns a subject.
type privacyView struct {
	Subject string          `json:"subject" example:"user-7f3a"`
	Devices []privacyDevice `json:"devices"`
}

// recordConsent stores a subject's choices.
//
// @Summary  Record consent
// @ID       recordConsent
// @Description Binds the choices to the exact notice version shown (key, version, content_hash, locale). Purposes not listed stay denied. Refused, storing nothing: a version that is not the one in force or a hash that does not match (409, the detail names the current version and hash), a purpose the notice does not state (422), a device that is not active (409), a subject who is not the device's owner (403).
// @Tags     consents
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    body body consentRequest true "what was shown and chosen"
// @Success  201 {object} consentResponse
// @Header   201 {string} Location "/v1/consents/{id}"
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not record consent, or the device belongs to another subject"
// @Failure  404 {object} problem "no such device or notice"
// @Failure  409 {object} problem "not the notice in force, hash mismatch, device not active, or its inventory replaced three times while the consent was written"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid fields, or a purpose the notice does not state"
// @Failure  503 {object} problem "the audit log cannot be written; nothing was stored"
// @Router   /v1/consents [post]
func (s *Server) recordConsent(c *gin.Context) error {
	var req consentRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	p, _ := principal(c.Request.Context())
	// A guardian's token consents with the child it names.
	if req.Guardian == "" || p.Role != privacy.RoleSubject || p.Subject != req.Guardian {
		if err := ownSubject(c, req.Subject, false); err != nil {
			return err
		}
	}
	in := consent.Input{SubjectID: req.Subject, DeviceID: req.DeviceID, NoticeKey: req.NoticeKey, NoticeVersion: req.NoticeVersion,
		NoticeHash: req.NoticeHash, Locale: req.Locale, Method: privacy.ConsentMethod(req.Method), ClientID: p.ID, Guardian: req.Guardian}
	if req.ClientTime != nil {
		in.ClientTime = *req.ClientTime
	}
	for _, ch := range req.Choices {
		in.Choices = append(in.Choices, privacy.ConsentChoice{Purpose: ch.Purpose, Granted: *ch.Granted})
	}
	rec, err := s.consents.Record(c.Request.Context(), in)
	if err != nil {
		return err
	}
	c.Header("Location", "/v1/consents/"+rec.ID)
	writeJSON(c, http.StatusCreated, newConsentResponse(rec))
	return nil
}

// getConsent returns a record and its receipt.
//
// @Summary  Get a consent record
// @ID       getConsent
// @Description The record as its audit entries committed to it (a record changed in the database is refused, 500). The read is recorded in the audit log (personal_data.read: client, route, the subject's pseudonym).
// @Tags     consents
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "record id" format(uuid)
// @Success  200 {object} consentResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read consent records"
// @Failure  404 {object} problem "no such record"
// @Failure  500 {object} problem "the record is not what its audit entry recorded: the database was changed"
// @Router   /v1/consents/{id} [get]
func (s *Server) getConsent(c *gin.Context) error {
	rec, err := s.consents.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if err := ownSubject(c, rec.SubjectID, true); err != nil {
		return err
	}
	s.noteReads(c, rec.SubjectID)
	writeJSON(c, http.StatusOK, newConsentResponse(rec))
	return nil
}

// decodeOptional decodes a body when there is one: an empty body is
// allowed where every field is optional.
func (s *Server) decodeOptional(c *gin.Context, v any) error {
	if c.Request.ContentLength == 0 {
		return nil
	}
	return s.decode(c, v)
}

// withdrawConsent withdraws a record's purposes.
//
// @Summary  Withdraw consent
// @ID       withdrawConsent
// @Description One call, as easy as giving: withdraws the listed purposes of the record, or all of them with an empty body. The withdrawal is itself a record with its own signed receipt.
// @Tags     consents
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    id   path string true "consent record id" format(uuid)
// @Param    body body withdrawRequest false "what to withdraw (all when empty)"
// @Success  201 {object} consentResponse
// @Header   201 {string} Location "/v1/consents/{id}"
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not withdraw consent"
// @Failure  404 {object} problem "no such record"
// @Failure  409 {object} problem "the record is itself a withdrawal"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "a purpose the record has no choice for"
// @Router   /v1/consents/{id}/withdraw [post]
func (s *Server) withdrawConsent(c *gin.Context) error {
	var req withdrawRequest
	if err := s.decodeOptional(c, &req); err != nil {
		return err
	}
	p, _ := principal(c.Request.Context())
	if p.Role == privacy.RoleSubject {
		// The record must be the token's subject's before anything changes.
		rec, err := s.consents.Get(c.Request.Context(), c.Param("id"))
		if err != nil {
			return err
		}
		if err := ownSubject(c, rec.SubjectID, true); err != nil {
			return err
		}
	}
	rec, err := s.consents.Withdraw(c.Request.Context(), c.Param("id"), req.Purposes, privacy.ConsentMethod(req.Method), p.ID)
	if err != nil {
		return err
	}
	c.Header("Location", "/v1/consents/"+rec.ID)
	writeJSON(c, http.StatusCreated, newConsentResponse(rec))
	return nil
}

// withdrawSubject withdraws everything a subject granted.
//
// @Summary  Withdraw everything
// @ID       withdrawSubject
// @Description Withdraws every granted purpose of the subject on every device: one withdrawal record, with its receipt, per device and notice version. Nothing granted: an empty list.
// @Tags     subjects
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    subject path string true "subject id"
// @Param    body    body withdrawRequest false "the method (purposes must be absent)"
// @Success  200 {object} withdrawalList
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not withdraw consent"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid subject or method, or purposes given"
// @Router   /v1/subjects/{subject}/withdraw [post]
func (s *Server) withdrawSubject(c *gin.Context) error {
	var req withdrawRequest
	if err := s.decodeOptional(c, &req); err != nil {
		return err
	}
	if len(req.Purposes) > 0 {
		return privacy.FieldErrorf(privacy.EInvalid, "purposes", "withdraws everything; to withdraw some purposes use POST /v1/consents/{id}/withdraw")
	}
	p, _ := principal(c.Request.Context())
	recs, err := s.consents.WithdrawSubject(c.Request.Context(), c.Param("subject"), privacy.ConsentMethod(req.Method), p.ID)
	if err != nil {
		return err
	}
	out := withdrawalList{Records: make([]consentResponse, len(recs))}
	for i, r := range recs {
		out.Records[i] = newConsentResponse(r)
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// subjectConsents returns a subject's current state and history.
//
// @Summary  A subject's consents
// @ID       subjectConsents
// @Description The current state per device and purpose (status now: granted, denied, withdrawn, expired, or reconsent_required after a material notice change), then the records, newest first, paged. Each read of a subject's personal data is recorded in the audit log (personal_data.read: client, route, the subject's pseudonym).
// @Tags     subjects
// @Security BearerAuth
// @Produce  json
// @Param    subject path  string true  "subject id"
// @Param    cursor  query string false "next_cursor of the previous page"
// @Param    limit   query int    false "history page size, 1-200 (default 50)" minimum(1) maximum(200)
// @Success  200 {object} subjectConsents
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read consents"
// @Failure  422 {object} problem "bad subject, cursor or limit"
// @Router   /v1/subjects/{subject}/consents [get]
func (s *Server) subjectConsents(c *gin.Context) error {
	q, err := strictQuery(c, "cursor", "limit")
	if err != nil {
		return err
	}
	limit, err := queryInt(q, "limit", 50)
	if err != nil {
		return err
	}
	if limit < 1 || limit > 200 {
		return privacy.FieldErrorf(privacy.EInvalid, "limit", "must be between 1 and 200")
	}
	subject := c.Param("subject")
	states, err := s.consents.State(c.Request.Context(), subject)
	if err != nil {
		return err
	}
	history, next, err := s.consents.History(c.Request.Context(), subject, q.Get("cursor"), int(limit))
	if err != nil {
		return err
	}
	out := subjectConsents{Subject: subject, Current: make([]stateResponse, len(states)), History: make([]consentResponse, len(history)), NextCursor: next}
	for i, st := range states {
		out.Current[i] = stateResponse{DeviceID: st.DeviceID, Purpose: st.Purpose, Status: string(st.Status), Given: st.Status == privacy.StatusGranted,
			RecordID: st.RecordID, NoticeKey: st.NoticeKey, NoticeVersion: st.NoticeVersion}
		out.Current[i].UpdatedAt, out.Current[i].ExpiresAt = optionalTime(st.UpdatedAt), optionalTime(st.ExpiresAt)
	}
	for i, r := range history {
		out.History[i] = newConsentResponse(r)
	}
	s.noteReads(c, subject)
	writeJSON(c, http.StatusOK, out)
	return nil
}

// subjectPrivacy shows a subject everything that concerns them.
//
// @Summary  A subject's privacy, in plain language
// @ID       subjectPrivacy
// @Description Every device of the subject (owned, shared as a member or guest, or where they made a choice), who else is on it, what it collects, for which purposes, who receives it, for how long, and the subject's choice for each, with a plain-language summary. Each read of a subject's personal data is recorded in the audit log (personal_data.read: client, route, the subject's pseudonym).
// @Tags     subjects
// @Security BearerAuth
// @Produce  json
// @Param    subject path string true "subject id"
// @Success  200 {object} privacyView
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read a subject's privacy view"
// @Failure  422 {object} problem "bad subject"
// @Router   /v1/subjects/{subject}/privacy [get]
func (s *Server) subjectPrivacy(c *gin.Context) error {
	subject := c.Param("subject")
	views, err := s.consents.Privacy(c.Request.Context(), subject)
	if err != nil {
		return err
	}
	out := privacyView{Subject: subject, Devices: make([]privacyDevice, len(views))}
	var others []string
	for i, v := range views {
		d := privacyDevice{DeviceID: v.Device.ID, Manufacturer: v.Device.Manufacturer, Model: v.Device.Model, Status: string(v.Device.Status),
			NoticeKey: v.NoticeKey, Role: v.Role, Until: optionalTime(v.Until), Others: make([]privacySharer, len(v.Others)),
			Purposes: make([]privacyPurpose, len(v.Purposes))}
		for j, o := range v.Others {
			d.Others[j] = privacySharer{Subject: o.Subject, Role: o.Role, Until: optionalTime(o.Until)}
			others = append(others, o.Subject)
		}
		for j, p := range v.Purposes {
			pp := privacyPurpose{Purpose: p.Purpose.Key, Name: p.Purpose.Name, Description: p.Purpose.Description, Recipients: p.Recipients,
				Retention: p.Retention, Status: string(p.Status), Summary: p.Summary, Elements: make([]privacyElement, len(p.Elements))}
			if p.Status == privacy.StatusGranted {
				t := p.ExpiresAt
				pp.ExpiresAt = &t
			}
			for k, e := range p.Elements {
				pp.Elements[k] = privacyElement{Key: e.Key, Description: e.Description, Category: e.Category, Sensitivity: string(e.Sensitivity), Retention: e.Retention}
			}
			d.Purposes[j] = pp
		}
		out.Devices[i] = d
	}
	s.noteReads(c, append(others, subject)...)
	writeJSON(c, http.StatusOK, out)
	return nil
}

// jwks publishes the receipt verification keys.
//
// @Summary  Receipt verification keys
// @ID       jwks
// @Description The current and every previous Ed25519 public key that signed consent receipts; a receipt's kid names its key. Receipts are signed with alg Ed25519 (RFC 9864); a key that also signed receipts with alg EdDSA (before RFC 9864) is listed once more with that alg, same kid and key, so that verifiers matching alg find it.
// @Tags     consents
// @Produce  json
// @Success  200 {object} jwkSet
// @Router   /.well-known/jwks.json [get]
func (s *Server) jwks(c *gin.Context) {
	set := s.consents.Keys().JWKS()
	out := jwkSet{Keys: make([]jwk, 0, len(set.Keys))}
	for _, k := range set.Keys {
		pub, ok := k.Key.(ed25519.PublicKey)
		if !ok {
			continue // only Ed25519 keys sign receipts
		}
		out.Keys = append(out.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: k.KeyID, Alg: k.Algorithm, Use: k.Use})
	}
	c.Header("Cache-Control", "public, max-age=300")
	writeJSON(c, http.StatusOK, out)
}

// jwkSet documents the JWKS shape for the contract.
type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// jwk is an Ed25519 public key (RFC 8037).
type jwk struct {
	Kty string `json:"kty" example:"OKP"`
	Crv string `json:"crv" example:"Ed25519"`
	X   string `json:"x" example:"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"`
	Kid string `json:"kid" example:"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"`
	Alg string `json:"alg" enums:"Ed25519,EdDSA" example:"Ed25519"`
	Use string `json:"use" example:"sig"`
}
