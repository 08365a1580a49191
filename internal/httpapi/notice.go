package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
)

// noticeRequest creates a notice.
type noticeRequest struct {
	// The key devices name in notice_key.
	Key string `json:"key" binding:"required" example:"acme-cam"`
	// BCP 47 tag of the locale served when no better one matches.
	DefaultLocale string `json:"default_locale" binding:"required" example:"en"`
}

// noticeResponse is a notice.
type noticeResponse struct {
	Key           string    `json:"key" example:"acme-cam"`
	DefaultLocale string    `json:"default_locale" example:"en"`
	CreatedAt     time.Time `json:"created_at" format:"date-time"`
}

// controllerBody is who is responsible for the processing.
type controllerBody struct {
	Name string `json:"name" binding:"required" maxLength:"200" example:"Acme Home Security Ltd"`
	// Where people send support and privacy questions.
	Contact string `json:"contact" binding:"required" maxLength:"200" example:"privacy@acme-home.example"`
	Address string `json:"address,omitempty" maxLength:"500" example:"1 Example Street, Dublin, Ireland"`
	// Where the controller answers for the processing; shown in consent receipts.
	Jurisdiction string `json:"jurisdiction,omitempty" maxLength:"100" example:"IE"`
}

// noticePurposeBody is the Control 31-2 checklist for one purpose.
type noticePurposeBody struct {
	// A purpose key from the catalogue.
	Purpose    string `json:"purpose" binding:"required" example:"security-monitoring"`
	LegalBasis string `json:"legal_basis" binding:"required" enums:"consent,contract,legal_obligation,vital_interests,public_task,legitimate_interests" example:"consent"`
	// Data element keys used for this purpose.
	Elements          []string `json:"elements" binding:"required,max=200" example:"video"`
	CollectionMethods []string `json:"collection_methods" binding:"required,max=5" enums:"sensor,user_input,derived,network,third_party" example:"sensor"`
	// How widely data is collected, in words.
	CollectionScope string `json:"collection_scope" binding:"required" maxLength:"1000" example:"Video of the camera's field of view while armed."`
	// The time limit: the longest any element is kept for this purpose (ISO 8601 duration).
	Retention string `json:"retention" binding:"required" example:"P30D"`
	// Who uses the data besides the controller: third parties by name.
	Recipients []string `json:"recipients" validate:"optional,max=50" example:"Acme Cloud Storage Ltd"`
	// How long a consent to this purpose lasts (ISO 8601 duration); P12M when absent.
	Validity string `json:"validity,omitempty" example:"P12M"`
}

// noticeTextBody is one locale's wording.
type noticeTextBody struct {
	Title string `json:"title" binding:"required" maxLength:"200" example:"How your Acme camera uses your data"`
	// Markdown.
	Body string `json:"body" binding:"required" example:"Your camera records video when armed…"`
	// Each purpose of the checklist in this language, by purpose key: its name and
	// collection scope. Publication requires every purpose, element and recipient
	// labelled in every locale.
	Purposes map[string]purposeTextBody `json:"purposes,omitempty" validate:"optional,max=100"`
	// Each data element of the checklist in this language, by element key.
	Elements map[string]string `json:"elements,omitempty" validate:"optional,max=1000" example:"video:Vidéo"`
	// Each recipient of the checklist in this language, by the name the checklist gives it.
	Recipients map[string]string `json:"recipients,omitempty" validate:"optional,max=1000" example:"Acme Cloud Storage Ltd:Acme Cloud Storage (hébergeur)"`
}

// purposeTextBody is one purpose in one language.
type purposeTextBody struct {
	Name string `json:"name" maxLength:"200" example:"Surveillance de sécurité"`
	// How and how widely the purpose's data is collected, in this language.
	CollectionScope string `json:"collection_scope" maxLength:"1000" example:"Vidéo du champ de la caméra quand elle est armée."`
}

func textToDomain(t noticeTextBody) privacy.NoticeText {
	out := privacy.NoticeText{Title: t.Title, Body: t.Body, Elements: t.Elements, Recipients: t.Recipients}
	if len(t.Purposes) > 0 {
		out.Purposes = make(map[string]privacy.PurposeText, len(t.Purposes))
		for k, p := range t.Purposes {
			out.Purposes[k] = privacy.PurposeText(p)
		}
	}
	return out
}

func newTextBody(t privacy.NoticeText) noticeTextBody {
	out := noticeTextBody{Title: t.Title, Body: t.Body, Elements: t.Elements, Recipients: t.Recipients}
	if len(t.Purposes) > 0 {
		out.Purposes = make(map[string]purposeTextBody, len(t.Purposes))
		for k, p := range t.Purposes {
			out.Purposes[k] = purposeTextBody(p)
		}
	}
	return out
}

// noticeVersionRequest is a version's content.
type noticeVersionRequest struct {
	Controller controllerBody      `json:"controller" binding:"required"`
	Purposes   []noticePurposeBody `json:"purposes" binding:"required,max=100,dive"`
	// Title and Markdown body per BCP 47 locale (at most 50); must include the notice's default locale.
	Texts map[string]noticeTextBody `json:"texts" binding:"required,max=50,dive"`
}

func (r noticeVersionRequest) toDomain() privacy.NoticeContent {
	c := privacy.NoticeContent{Controller: privacy.Controller(r.Controller), Purposes: make([]privacy.NoticePurpose, len(r.Purposes)),
		Texts: make(map[string]privacy.NoticeText, len(r.Texts))}
	for i, p := range r.Purposes {
		methods := make([]privacy.CollectionMethod, len(p.CollectionMethods))
		for j, m := range p.CollectionMethods {
			methods[j] = privacy.CollectionMethod(m)
		}
		c.Purposes[i] = privacy.NoticePurpose{Purpose: p.Purpose, LegalBasis: privacy.LegalBasis(p.LegalBasis), Elements: p.Elements,
			CollectionMethods: methods, CollectionScope: p.CollectionScope, Retention: p.Retention, Recipients: p.Recipients, Validity: p.Validity}
	}
	for tag, t := range r.Texts {
		c.Texts[tag] = textToDomain(t)
	}
	return c
}

// checklist is the content shared by every locale.
type checklist struct {
	Controller controllerBody      `json:"controller"`
	Purposes   []noticePurposeBody `json:"purposes"`
}

func newChecklist(c privacy.NoticeContent) checklist {
	out := checklist{Controller: controllerBody(c.Controller), Purposes: make([]noticePurposeBody, len(c.Purposes))}
	for i, p := range c.Purposes {
		methods := make([]string, len(p.CollectionMethods))
		for j, m := range p.CollectionMethods {
			methods[j] = string(m)
		}
		recipients := p.Recipients
		if recipients == nil {
			recipients = []string{}
		}
		out.Purposes[i] = noticePurposeBody{Purpose: p.Purpose, LegalBasis: string(p.LegalBasis), Elements: p.Elements,
			CollectionMethods: methods, CollectionScope: p.CollectionScope, Retention: p.Retention, Recipients: recipients, Validity: p.Validity}
	}
	return out
}

// noticeVersionResponse is one version.
type noticeVersionResponse struct {
	NoticeKey string `json:"notice_key" example:"acme-cam"`
	Version   int    `json:"version" example:"1"`
	Status    string `json:"status" enums:"draft,published" example:"published"`
	// Hex SHA-256 of the version's RFC 8785 canonical content: names exactly what was shown.
	ContentHash string     `json:"content_hash" example:"3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"`
	PublishedAt *time.Time `json:"published_at,omitempty" format:"date-time"`
	// Purposes this version changed materially against the previous published one
	// (new purpose, element or recipient, longer retention, other legal basis); set at publication.
	MaterialPurposes []string  `json:"material_purposes"`
	CreatedAt        time.Time `json:"created_at" format:"date-time"`
	UpdatedAt        time.Time `json:"updated_at" format:"date-time"`
	checklist
	Texts map[string]noticeTextBody `json:"texts"`
}

func newNoticeVersionResponse(v privacy.NoticeVersion) noticeVersionResponse {
	out := noticeVersionResponse{NoticeKey: v.NoticeKey, Version: v.Version, Status: "draft", ContentHash: v.ContentHash,
		MaterialPurposes: v.MaterialPurposes, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, checklist: newChecklist(v.Content),
		Texts: make(map[string]noticeTextBody, len(v.Content.Texts))}
	if v.Published() {
		t := v.PublishedAt
		out.Status, out.PublishedAt = "published", &t
	}
	for tag, t := range v.Content.Texts {
		out.Texts[tag] = newTextBody(t)
	}
	return out
}

// currentNoticeResponse is the notice to show, in one locale.
type currentNoticeResponse struct {
	NoticeKey   string    `json:"notice_key" example:"acme-cam"`
	Version     int       `json:"version" example:"2"`
	ContentHash string    `json:"content_hash" example:"3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"`
	PublishedAt time.Time `json:"published_at" format:"date-time"`
	// The locale served.
	Locale string `json:"locale" example:"fr"`
	// The locale asked for, when one was.
	RequestedLocale string `json:"requested_locale,omitempty" example:"fr-CA"`
	// True when the served locale is not the one asked for.
	Fallback bool `json:"fallback" example:"true"`
	// Every locale this version has.
	Locales []string `json:"locales" example:"en,fr"`
	Title   string   `json:"title" example:"Comment votre caméra Acme utilise vos données"`
	// Markdown.
	Body string `json:"body"`
	checklist
	// The checklist in the served locale: every purpose's name and collection scope,
	// every element's and recipient's label (the key itself where a version published
	// before notices carried labels has none).
	Labels           labelsBody `json:"labels"`
	MaterialPurposes []string   `json:"material_purposes"`
}

// labelsBody is what a person reads for the checklist's keys, in one locale.
type labelsBody struct {
	Purposes   map[string]purposeTextBody `json:"purposes"`
	Elements   map[string]string          `json:"elements" example:"video:Vidéo"`
	Recipients map[string]string          `json:"recipients" example:"Acme Cloud Storage Ltd:Acme Cloud Storage (hébergeur)"`
}

func newLabels(c privacy.NoticeContent, t privacy.NoticeText) labelsBody {
	out := labelsBody{Purposes: map[string]purposeTextBody{}, Elements: map[string]string{}, Recipients: map[string]string{}}
	for _, p := range c.Purposes {
		out.Purposes[p.Purpose] = purposeTextBody{Name: t.PurposeName(p.Purpose), CollectionScope: t.Scope(p)}
		for _, e := range p.Elements {
			out.Elements[e] = t.ElementLabel(e)
		}
		for _, r := range p.Recipients {
			out.Recipients[r] = t.RecipientLabel(r)
		}
	}
	return out
}

// gap is one thing a device collects that a notice does not state.
type gap struct {
	DeviceID string `json:"device_id" format:"uuid"`
	Element  string `json:"element" example:"audio"`
	Purpose  string `json:"purpose" example:"security-monitoring"`
	Kind     string `json:"kind" enums:"purpose_not_stated,element_not_stated,recipient_not_disclosed,retention_not_disclosed" example:"element_not_stated"`
	Detail   string `json:"detail" example:"the notice does not state element audio under purpose security-monitoring"`
}

func newGaps(gs []privacy.Gap) []gap {
	if gs == nil {
		return nil
	}
	out := make([]gap, len(gs))
	for i, g := range gs {
		out[i] = gap(g)
	}
	return out
}

// coverageResponse lists what the notice in force does not state.
type coverageResponse struct {
	NoticeKey string `json:"notice_key" example:"acme-cam"`
	// The version in force; absent when none is published (then everything collected is a gap).
	Version *int  `json:"version,omitempty" example:"2"`
	Gaps    []gap `json:"gaps"`
}

// versionParam reads the {version} path parameter.
func versionParam(c *gin.Context) (int, error) {
	n, err := strconv.Atoi(c.Param("version"))
	if err != nil || n < 1 {
		return 0, privacy.FieldErrorf(privacy.EInvalid, "version", "must be a positive whole number or current")
	}
	return n, nil
}

// createNotice makes a notice.
//
// @Summary  Create a notice
// @ID       createNotice
// @Tags     notices
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    body body noticeRequest true "the notice"
// @Success  201 {object} noticeResponse
// @Header   201 {string} Location "/v1/notices/{key}/versions/current"
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not create notices"
// @Failure  409 {object} problem "a notice with this key exists"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "bad key or default locale"
// @Router   /v1/notices [post]
func (s *Server) createNotice(c *gin.Context) error {
	var req noticeRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	n, err := s.notices.Create(c.Request.Context(), req.Key, req.DefaultLocale)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusCreated, noticeResponse{Key: n.Key, DefaultLocale: n.DefaultLocale, CreatedAt: n.CreatedAt})
	return nil
}

// draftNoticeVersion starts a new version as a draft.
//
// @Summary  Draft a notice version
// @ID       draftNoticeVersion
// @Description The new version is a draft until published; there is at most one draft at a time. Locales are canonicalized (fr-ca becomes fr-CA).
// @Tags     notices
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    key  path string true "notice key"
// @Param    body body noticeVersionRequest true "the version's content"
// @Success  201 {object} noticeVersionResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not draft notices"
// @Failure  404 {object} problem "no such notice"
// @Failure  409 {object} problem "a draft already exists"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid content, listed field by field"
// @Router   /v1/notices/{key}/versions [post]
func (s *Server) draftNoticeVersion(c *gin.Context) error {
	var req noticeVersionRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	v, err := s.notices.Draft(c.Request.Context(), c.Param("key"), req.toDomain())
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusCreated, newNoticeVersionResponse(v))
	return nil
}

// updateNoticeDraft replaces a draft's content.
//
// @Summary  Change a draft
// @ID       updateNoticeDraft
// @Tags     notices
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    key     path string true "notice key"
// @Param    version path int    true "version number" minimum(1)
// @Param    body    body noticeVersionRequest true "the version's content"
// @Success  200 {object} noticeVersionResponse
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not change notices"
// @Failure  404 {object} problem "no such notice or version"
// @Failure  409 {object} problem "the version is published and immutable"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid content, listed field by field"
// @Router   /v1/notices/{key}/versions/{version} [put]
func (s *Server) updateNoticeDraft(c *gin.Context) error {
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	var req noticeVersionRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	v, err := s.notices.UpdateDraft(c.Request.Context(), c.Param("key"), n, req.toDomain())
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newNoticeVersionResponse(v))
	return nil
}

// deleteNoticeDraft discards a draft.
//
// @Summary  Discard a draft
// @ID       deleteNoticeDraft
// @Description Only a draft can be deleted; a published version is evidence of what people were shown and is refused with 409.
// @Tags     notices
// @Security BearerAuth
// @Param    key     path string true "notice key"
// @Param    version path int    true "version number" minimum(1)
// @Success  204 "deleted"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not delete drafts"
// @Failure  404 {object} problem "no such notice or version"
// @Failure  409 {object} problem "the version is published and immutable"
// @Failure  422 {object} problem "version is not a positive whole number"
// @Router   /v1/notices/{key}/versions/{version} [delete]
func (s *Server) deleteNoticeDraft(c *gin.Context) error {
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	if err := s.notices.DeleteDraft(c.Request.Context(), c.Param("key"), n); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// publishNoticeVersion makes a draft the notice in force.
//
// @Summary  Publish a notice version
// @ID       publishNoticeVersion
// @Description Refused with 422 (code notice_uncovered) and every gap listed in `gaps` while an active device naming this notice collects an element or purpose the version does not state, or has a recipient or a longer retention it does not disclose; then with 422 (code invalid) and each missing label named (e.g. `texts.fr.elements.video`) while a locale lacks the name or collection scope of a purpose or the label of an element or recipient: every string a person reads is in their language. Once published the version never changes.
// @Tags     notices
// @Security BearerAuth
// @Produce  json
// @Param    key     path string true "notice key"
// @Param    version path int    true "version number" minimum(1)
// @Success  200 {object} noticeVersionResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not publish notices"
// @Failure  404 {object} problem "no such notice or version"
// @Failure  409 {object} problem "already published"
// @Failure  422 {object} problem "the version does not cover the inventory (code notice_uncovered, see gaps), or a locale lacks a label (code invalid)"
// @Router   /v1/notices/{key}/versions/{version}/publish [post]
func (s *Server) publishNoticeVersion(c *gin.Context) error {
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	v, err := s.notices.Publish(c.Request.Context(), c.Param("key"), n)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newNoticeVersionResponse(v))
	return nil
}

// getNoticeVersion returns one version, draft or published.
//
// @Summary  Get a notice version
// @ID       getNoticeVersion
// @Tags     notices
// @Security BearerAuth
// @Produce  json
// @Param    key     path string true "notice key"
// @Param    version path int    true "version number" minimum(1)
// @Success  200 {object} noticeVersionResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read notice versions"
// @Failure  404 {object} problem "no such notice or version"
// @Failure  422 {object} problem "version is not a positive whole number"
// @Router   /v1/notices/{key}/versions/{version} [get]
func (s *Server) getNoticeVersion(c *gin.Context) error {
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	v, err := s.notices.Version(c.Request.Context(), c.Param("key"), n)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, newNoticeVersionResponse(v))
	return nil
}

// currentNotice returns the version in force, in the best locale.
//
// @Summary  The notice to show
// @ID       currentNotice
// @Description The newest published version. ?locale= picks the text: the tag itself, then its parents (fr-CA → fr), then the notice's default locale; `locale` says which was served and `fallback` whether it differs from the one asked for.
// @Tags     notices
// @Security BearerAuth
// @Produce  json
// @Param    key    path  string true  "notice key"
// @Param    locale query string false "BCP 47 language tag, e.g. fr-CA"
// @Success  200 {object} currentNoticeResponse
// @Failure  400 {object} problem "locale is not a BCP 47 tag, or unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read notices"
// @Failure  404 {object} problem "no such notice, or none published"
// @Router   /v1/notices/{key}/versions/current [get]
func (s *Server) currentNotice(c *gin.Context) error {
	q, err := strictQuery(c, "locale")
	if err != nil {
		return err
	}
	shown, err := s.notices.Current(c.Request.Context(), c.Param("key"), q.Get("locale"))
	if err != nil {
		return err
	}
	v := shown.Version
	writeJSON(c, http.StatusOK, currentNoticeResponse{NoticeKey: v.NoticeKey, Version: v.Version, ContentHash: v.ContentHash,
		PublishedAt: v.PublishedAt, Locale: shown.Locale, RequestedLocale: shown.Requested, Fallback: shown.Fallback,
		Locales: notice.Locales(v), Title: shown.Text.Title, Body: shown.Text.Body, checklist: newChecklist(v.Content),
		Labels: newLabels(v.Content, shown.Text), MaterialPurposes: v.MaterialPurposes})
	return nil
}

// noticeCoverage lists what the notice in force does not state.
//
// @Summary  Notice coverage gaps
// @ID       noticeCoverage
// @Description Every element, purpose, recipient or retention that an active device naming this notice declares and the version in force does not state. Decisions deny what is listed here.
// @Tags     notices
// @Security BearerAuth
// @Produce  json
// @Param    key path string true "notice key"
// @Success  200 {object} coverageResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not read coverage"
// @Failure  404 {object} problem "no such notice"
// @Router   /v1/notices/{key}/coverage [get]
func (s *Server) noticeCoverage(c *gin.Context) error {
	version, gaps, err := s.notices.Coverage(c.Request.Context(), c.Param("key"))
	if err != nil {
		return err
	}
	out := coverageResponse{NoticeKey: c.Param("key"), Gaps: newGaps(gaps)}
	if version > 0 {
		out.Version = &version
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}
