package httpapi

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"golang.org/x/text/language"
)

// The hosted consent flow: pages a mobile app opens (in a WebView or the
// browser) for a person to read the notice in force and choose, per
// purpose, what they allow; to see and withdraw their choices; and to take
// their signed receipt. The app opens GET /consent/{notice_key}?token=<a
// subject token> once: the token becomes an HttpOnly, SameSite=Strict
// cookie and leaves the address (it is never in a link, a Referer, the
// history or the access log, which logs route templates only). Forms post
// with a token bound to the session (CSRF), from this origin only.

const (
	// sessionCookie carries the subject token on the flow's paths only.
	sessionCookie = "consentry_session"
	// csrfPurpose is what the forms' token is bound to.
	csrfPurpose = "consent-flow-csrf"
	// maxFormBytes bounds a form post: a few ids and a checkbox per purpose.
	maxFormBytes = 64 << 10
)

// flowCSP lets the pages load their stylesheet and logo from this origin
// and post forms to it; nothing else: no script, no frame, no other origin.
const flowCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// flowSession authenticates the flow's pages by the session cookie (or,
// on the first GET, the subject token in ?token=, exchanged for the
// cookie) and puts the subject in the request context.
func (s *Server) flowSession() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Content-Security-Policy", flowCSP)
		c.Header("Cache-Control", "no-store")
		if s.subjects == nil {
			s.flowMessage(c, http.StatusServiceUnavailable, "expired", "")
			return
		}
		if tok := c.Query("token"); tok != "" && c.Request.Method == http.MethodGet {
			s.exchangeToken(c, tok)
			return
		}
		cookie, err := c.Cookie(sessionCookie)
		if err != nil || cookie == "" {
			s.flowMessage(c, http.StatusUnauthorized, "expired", "")
			return
		}
		claims, err := s.subjects.Check(cookie, time.Now())
		if err != nil {
			s.flowMessage(c, http.StatusUnauthorized, "expired", "")
			return
		}
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), sessionKey{}, cookie))
		setPrincipal(c, claims.Principal())
		c.Next()
	}
}

type sessionKey struct{}

// exchangeToken sets the session cookie from a valid subject token and
// answers a page that moves on to the same address without the token: a
// page of this origin, so that the SameSite=Strict cookie goes with the
// next request even when the app opened the link from another site.
func (s *Server) exchangeToken(c *gin.Context, tok string) {
	claims, err := s.subjects.Check(tok, time.Now())
	if err != nil {
		s.flowMessage(c, http.StatusUnauthorized, "expired", "")
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/consent/", Expires: claims.Expires,
		MaxAge: int(time.Until(claims.Expires).Seconds()), HttpOnly: true, Secure: s.secureCookies || c.Request.TLS != nil, SameSite: http.SameSiteStrictMode})
	q := c.Request.URL.Query()
	q.Del("token")
	next := c.Request.URL.EscapedPath()
	if len(q) > 0 {
		next += "?" + q.Encode()
	}
	s.flowMessage(c, http.StatusOK, "continue", next)
}

// flowMessage answers a message page in the reader's language.
func (s *Server) flowMessage(c *gin.Context, status int, kind, link string) {
	var b bytes.Buffer
	if err := notice.RenderFlowMessage(&b, notice.FlowMessage{Locale: readerLocale(c), Kind: kind, Link: link, Theme: s.theme}); err != nil {
		s.writeError(c, err)
		return
	}
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
	c.Abort()
}

// readerLocale is the locale asked for in ?locale=, else the browser's
// (browserLocale).
func readerLocale(c *gin.Context) string {
	if l := c.Query("locale"); l != "" {
		if t, err := language.Parse(l); err == nil {
			return t.String()
		}
	}
	return browserLocale(c)
}

// flowAsset serves the pages' stylesheet (in the operator's theme) and
// the theme's logo.
//
// @Summary  Hosted consent flow: stylesheet and logo
// @ID       consentAsset
// @Description style.css (the operator's colors from --consent-theme) and logo.png (when the theme has one). Public.
// @Tags     consent-flow
// @Produce  plain
// @Param    file path string true "style.css or logo.png"
// @Success  200 {string} string "the file"
// @Failure  404 {object} problem "no such file"
// @Router   /consent-assets/{file} [get]
func (s *Server) flowAsset(c *gin.Context) error {
	c.Header("Cache-Control", "public, max-age=3600")
	switch c.Param("file") {
	case "style.css":
		c.Data(http.StatusOK, "text/css; charset=utf-8", s.theme.CSS())
		return nil
	case "logo.png":
		if s.theme.HasLogo() {
			c.Data(http.StatusOK, "image/png", s.theme.Logo)
			return nil
		}
	}
	return privacy.Errorf(privacy.ENotFound, "no such file")
}

// consentPage renders the notice in force with a toggle per purpose, the
// person's current choices per device, and, after a save or a withdrawal,
// its result.
//
// @Summary  Hosted consent flow: the page
// @ID       consentPage
// @Description For a mobile app to open (WebView or browser) instead of building its own consent screen. Open it once with `?token=<subject token>` (POST /v1/subject-tokens): the token is exchanged for an HttpOnly, SameSite=Strict session cookie scoped to /consent/ and the page reloads without it in the address. The page shows, in the reader's locale (`locale`, else Accept-Language, with the notice's fallback), the notice in force and one toggle per purpose, every one off, each with what it collects, how, for how long, who receives it and on what basis; the person's current choices per device, each withdrawable, and a withdraw-everything button. `device` picks the device (else the person's devices under the notice are listed, or the only one is taken); `redirect_uri`, when registered for the app client, is where "Return to the app" leads, with `record_id`. Plain HTML forms, no script; CSP forbids everything but this origin's stylesheet, logo and forms.
// @Tags     consent-flow
// @Produce  html
// @Param    key          path  string true  "notice key"
// @Param    token        query string false "a subject token, on the first request only"
// @Param    device       query string false "the device to choose for" format(uuid)
// @Param    locale       query string false "BCP 47 language tag"
// @Param    redirect_uri query string false "one of the app client's registered redirect URIs"
// @Param    recorded     query string false "the record of a save or withdrawal, whose result and receipt the page shows (the flow's own redirect sets it)" format(uuid)
// @Param    withdrawn    query string false "with recorded: the result is a withdrawal (the flow's own redirect sets it)"
// @Success  200 {string} string "HTML page"
// @Failure  401 {string} string "no session, or it expired (HTML)"
// @Failure  404 {string} string "no such notice, or none published (HTML)"
// @Failure  422 {string} string "a redirect_uri the app did not register, or a bad device id (HTML)"
// @Router   /consent/{key} [get]
func (s *Server) consentPage(c *gin.Context) {
	q := c.Request.URL.Query()
	for k := range q {
		if !slices.Contains([]string{"device", "locale", "redirect_uri", "recorded", "withdrawn"}, k) {
			s.flowProblem(c, privacy.FieldErrorf(privacy.EMalformed, k, "unknown query parameter %s", k))
			return
		}
	}
	s.renderConsent(c, http.StatusOK, q.Get("device"), q.Get("redirect_uri"), q.Get("recorded"), q.Has("withdrawn"), "")
}

// renderConsent builds and writes the page with status; problem, when
// set, says why the person's save was refused.
func (s *Server) renderConsent(c *gin.Context, status int, device, redirect, recorded string, withdrawn bool, problem string) {
	ctx := c.Request.Context()
	p, _ := principal(ctx)
	key := c.Param("key")
	shown, err := s.notices.Current(ctx, key, readerLocale(c))
	if err != nil {
		s.flowProblem(c, err)
		return
	}
	if redirect != "" {
		if err := s.checkRedirect(ctx, p.ID, redirect); err != nil {
			s.flowProblem(c, err)
			return
		}
	}
	if device != "" {
		if _, err := uuid.Parse(device); err != nil {
			s.flowProblem(c, privacy.FieldErrorf(privacy.EInvalid, "device", "must be a device id"))
			return
		}
	}
	views, err := s.consents.Privacy(ctx, p.Subject)
	if err != nil {
		s.flowProblem(c, err)
		return
	}
	states, err := s.consents.State(ctx, p.Subject)
	if err != nil {
		s.flowProblem(c, err)
		return
	}
	s.noteReads(c, p.Subject)
	page := notice.FlowPage{Shown: shown, Action: c.Request.URL.Path, WithdrawAction: c.Request.URL.Path + "/withdraw",
		CSRF: s.subjects.Bind(session(ctx), csrfPurpose), RedirectURI: redirect, Problem: problem, Theme: s.theme}
	base := url.Values{}
	if redirect != "" {
		base.Set("redirect_uri", redirect)
	}
	if l := c.Query("locale"); l != "" {
		base.Set("locale", l)
	}
	page.DeviceURL = c.Request.URL.Path + "?" + encodeWith(base, "device") + "="
	names := map[string]string{}
	for _, v := range views {
		if v.NoticeKey != key {
			continue
		}
		d := notice.FlowDevice{ID: v.Device.ID, Name: v.Device.Manufacturer + " " + v.Device.Model}
		names[d.ID] = d.Name
		page.Devices = append(page.Devices, d)
		cur := notice.FlowCurrent{Device: d}
		for _, pv := range v.Purposes {
			ch := notice.FlowChoice{Purpose: pv.Purpose.Key, Status: pv.Status}
			if pv.Since.IsZero() {
				ch.Status = ""
			}
			for _, st := range states {
				if st.DeviceID == d.ID && st.Purpose == pv.Purpose.Key && st.Status == privacy.StatusGranted {
					ch.RecordID = st.RecordID
					ch.Until = st.ExpiresAt.Format("2006-01-02")
				}
			}
			cur.Choices = append(cur.Choices, ch)
		}
		page.Current = append(page.Current, cur)
	}
	switch {
	case device != "":
		page.Device = notice.FlowDevice{ID: device, Name: names[device]}
		if page.Device.Name == "" {
			page.Device.Name = device
		}
	case len(page.Devices) == 1:
		page.Device = page.Devices[0]
	}
	if recorded != "" {
		if _, err := uuid.Parse(recorded); err == nil {
			res := &notice.FlowResult{Withdrawn: withdrawn, ReceiptURL: c.Request.URL.Path + "/receipts/" + recorded}
			if redirect != "" {
				res.ReturnURL = returnURL(redirect, recorded)
			}
			page.Result = res
		}
	}
	var b bytes.Buffer
	if err := s.pages.RenderConsentPage(&b, page); err != nil {
		s.flowProblem(c, err)
		return
	}
	c.Header("Content-Language", shown.Locale)
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
}

// encodeWith is v encoded, then "&key" (or "key" when v is empty), to
// which the caller appends "=value".
func encodeWith(v url.Values, key string) string {
	if len(v) == 0 {
		return key
	}
	return v.Encode() + "&" + key
}

// returnURL is redirect with record_id added to its query.
func returnURL(redirect, recordID string) template.URL {
	sep := "?"
	if strings.Contains(redirect, "?") {
		sep = "&"
	}
	return template.URL(redirect + sep + "record_id=" + url.QueryEscape(recordID))
}

// checkRedirect refuses a redirect URI the app client did not register.
func (s *Server) checkRedirect(ctx context.Context, appID, redirect string) error {
	cl, err := s.clients.Get(ctx, appID)
	if err == nil && slices.Contains(cl.RedirectURIs, redirect) {
		return nil
	}
	return privacy.FieldErrorf(privacy.EInvalid, "redirect_uri", "is not a redirect URI registered for this app")
}

// session is the request's session token.
func session(ctx context.Context) string {
	v, _ := ctx.Value(sessionKey{}).(string)
	return v
}

// flowForm reads a posted form: url-encoded, bounded, only the fields
// named (and csrf, redirect_uri; any other is refused), from this origin,
// with the session's CSRF token and, when it has one, a redirect URI the
// app registered.
func (s *Server) flowForm(c *gin.Context, fields ...string) (url.Values, error) {
	if ct := c.ContentType(); ct != "application/x-www-form-urlencoded" {
		return nil, privacy.Errorf(privacy.EUnsupportedMediaType, "the form must be application/x-www-form-urlencoded")
	}
	// A browser says where a post comes from; one from another origin is
	// refused whatever else it carries.
	if o := c.GetHeader("Origin"); o != "" && o != "null" && !sameOrigin(c, o) {
		return nil, privacy.Errorf(privacy.EForbidden, "the form was posted from another site")
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	if err := c.Request.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, privacy.Errorf(privacy.ETooLarge, "the form is larger than %d bytes", maxFormBytes)
		}
		return nil, privacy.Errorf(privacy.EMalformed, "the form cannot be read")
	}
	form := c.Request.PostForm
	for k := range form {
		if k != "csrf" && k != "redirect_uri" && !slices.Contains(fields, k) {
			return nil, privacy.FieldErrorf(privacy.EMalformed, k, "unknown field %s", k)
		}
	}
	if !s.subjects.CheckBound(session(c.Request.Context()), csrfPurpose, form.Get("csrf")) {
		return nil, privacy.FieldErrorf(privacy.EForbidden, "csrf", "the form is not from this session's page: reload the page")
	}
	if r := form.Get("redirect_uri"); r != "" {
		p, _ := principal(c.Request.Context())
		if err := s.checkRedirect(c.Request.Context(), p.ID, r); err != nil {
			return nil, err
		}
	}
	return form, nil
}

// sameOrigin reports whether origin is this request's own.
func sameOrigin(c *gin.Context, origin string) bool {
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	if origin == scheme+"://"+c.Request.Host {
		return true
	}
	// Behind a TLS proxy the request reaches us in plain HTTP.
	return origin == "https://"+c.Request.Host
}

// consentSubmit records the person's choices against the exact version
// and hash shown, and redirects to the page, which shows the result.
//
// @Summary  Hosted consent flow: record the choices
// @ID       consentSubmit
// @Description The page's form: device, version, hash and locale as shown, one `purpose` field per purpose turned on (every other purpose is recorded as refused), the session's `csrf`, and `redirect_uri` when the page had one. Records a consent (method web) as POST /v1/consents does, then redirects (303) to the page, which shows the result, the receipt link and "Return to the app". A version or hash other than those of the notice in force is refused, and the page shows the notice in force.
// @Tags     consent-flow
// @Accept   x-www-form-urlencoded
// @Produce  html
// @Param    key path string true "notice key"
// @Success  303 {string} string "to the page, with the record"
// @Failure  400 {string} string "malformed form or unknown field (HTML)"
// @Failure  401 {string} string "no session (HTML)"
// @Failure  403 {string} string "wrong or missing csrf, another origin, or a device the person may not consent for (HTML)"
// @Failure  409 {string} string "the version posted is not the notice in force: the page shows the one in force (HTML)"
// @Failure  422 {string} string "invalid choices or redirect_uri (HTML)"
// @Router   /consent/{key} [post]
func (s *Server) consentSubmit(c *gin.Context) {
	form, err := s.flowForm(c, "device", "version", "hash", "locale", "purpose")
	if err != nil {
		s.flowProblem(c, err)
		return
	}
	ctx := c.Request.Context()
	p, _ := principal(ctx)
	key := c.Param("key")
	redirect := form.Get("redirect_uri") // checked by flowForm
	version, err := strconv.Atoi(form.Get("version"))
	if err != nil {
		s.flowProblem(c, privacy.FieldErrorf(privacy.EInvalid, "version", "must be a version number"))
		return
	}
	cur, err := s.notices.Current(ctx, key, form.Get("locale"))
	if err != nil {
		s.flowProblem(c, err)
		return
	}
	granted := form["purpose"]
	for _, g := range granted {
		if _, ok := cur.Version.Content.Purpose(g); !ok {
			s.flowProblem(c, privacy.FieldErrorf(privacy.EInvalid, "purpose", "%s is not a purpose of this notice", g))
			return
		}
	}
	// Every purpose of the version shown gets an explicit choice: on
	// when turned on, refused otherwise (the strictest default).
	in := consent.Input{SubjectID: p.Subject, DeviceID: form.Get("device"), NoticeKey: key, NoticeVersion: version, NoticeHash: form.Get("hash"),
		Locale: form.Get("locale"), Method: privacy.MethodWeb, ClientID: p.ID}
	for _, np := range cur.Version.Content.Purposes {
		in.Choices = append(in.Choices, privacy.ConsentChoice{Purpose: np.Purpose, Granted: slices.Contains(granted, np.Purpose)})
	}
	rec, err := s.consents.Record(ctx, in)
	if err != nil {
		var pe *privacy.Error
		if privacy.ErrorCode(err) == privacy.EConflict && errors.As(err, &pe) {
			// Record refuses a version or hash other than the notice in
			// force's: the page shows the notice in force, to choose on.
			s.renderConsent(c, http.StatusConflict, in.DeviceID, redirect, "", false, pe.Detail)
			return
		}
		s.flowProblem(c, err)
		return
	}
	s.redirectToPage(c, in.DeviceID, redirect, rec.ID, false)
}

// redirectToPage answers 303 to the flow's page showing record's result.
func (s *Server) redirectToPage(c *gin.Context, device, redirect, record string, withdrawn bool) {
	q := url.Values{}
	if device != "" {
		q.Set("device", device)
	}
	if redirect != "" {
		q.Set("redirect_uri", redirect)
	}
	if l := c.Request.PostForm.Get("locale"); l != "" {
		q.Set("locale", l)
	}
	q.Set("recorded", record)
	if withdrawn {
		q.Set("withdrawn", "1")
	}
	c.Redirect(http.StatusSeeOther, "/consent/"+url.PathEscape(c.Param("key"))+"?"+q.Encode())
}

// consentWithdraw withdraws one purpose of a record, or everything.
//
// @Summary  Hosted consent flow: withdraw
// @ID       consentWithdraw
// @Description The page's withdrawal buttons: `record` and `purpose` withdraw that purpose of that record (the person's own); `all=1` withdraws every consent the person has given, on every device (as POST /v1/subjects/{subject}/withdraw). Needs the session's `csrf`. Redirects (303) to the page, which shows the result and the withdrawal's receipt.
// @Tags     consent-flow
// @Accept   x-www-form-urlencoded
// @Produce  html
// @Param    key path string true "notice key"
// @Success  303 {string} string "to the page, with the withdrawal"
// @Failure  400 {string} string "malformed form or unknown field (HTML)"
// @Failure  401 {string} string "no session (HTML)"
// @Failure  403 {string} string "wrong or missing csrf, or another origin (HTML)"
// @Failure  404 {string} string "no such record of this person (HTML)"
// @Failure  422 {string} string "nothing to withdraw named (HTML)"
// @Router   /consent/{key}/withdraw [post]
func (s *Server) consentWithdraw(c *gin.Context) {
	form, err := s.flowForm(c, "record", "purpose", "all", "locale")
	if err != nil {
		s.flowProblem(c, err)
		return
	}
	ctx := c.Request.Context()
	p, _ := principal(ctx)
	redirect := form.Get("redirect_uri") // checked by flowForm
	if form.Get("all") == "1" {
		recs, err := s.consents.WithdrawSubject(ctx, p.Subject, privacy.MethodWeb, p.ID)
		if err != nil {
			s.flowProblem(c, err)
			return
		}
		if len(recs) == 0 {
			s.redirectToPage(c, "", redirect, "", true)
			return
		}
		s.redirectToPage(c, recs[0].DeviceID, redirect, recs[0].ID, true)
		return
	}
	id := form.Get("record")
	if id == "" || form.Get("purpose") == "" {
		s.flowProblem(c, privacy.FieldErrorf(privacy.EInvalid, "record", "name a record and a purpose, or all=1"))
		return
	}
	rec, err := s.consents.Get(ctx, id)
	if err == nil && rec.SubjectID != p.Subject {
		err = privacy.Errorf(privacy.ENotFound, "no such record")
	}
	if err != nil {
		s.flowProblem(c, err)
		return
	}
	w, err := s.consents.Withdraw(ctx, id, []string{form.Get("purpose")}, privacy.MethodWeb, p.ID)
	if err != nil {
		s.flowProblem(c, err)
		return
	}
	s.redirectToPage(c, rec.DeviceID, redirect, w.ID, true)
}

// consentReceipt downloads the signed receipt of one of the person's
// records.
//
// @Summary  Hosted consent flow: a receipt
// @ID       consentReceipt
// @Description The signed receipt (compact JWS, alg Ed25519; docs/receipts.md) of one of the session's person's records, as a file to keep. Anyone else's record is 404.
// @Tags     consent-flow
// @Produce  plain
// @Param    key path string true "notice key"
// @Param    id  path string true "record id" format(uuid)
// @Success  200 {string} string "the compact JWS (application/jose)"
// @Failure  401 {string} string "no session (HTML)"
// @Failure  404 {string} string "no such record of this person (HTML)"
// @Router   /consent/{key}/receipts/{id} [get]
func (s *Server) consentReceipt(c *gin.Context) {
	ctx := c.Request.Context()
	p, _ := principal(ctx)
	rec, err := s.consents.Get(ctx, c.Param("id"))
	if err == nil && (rec.SubjectID != p.Subject || rec.Receipt == "") {
		err = privacy.Errorf(privacy.ENotFound, "no such record")
	}
	if err != nil {
		s.flowProblem(c, err)
		return
	}
	s.noteReads(c, p.Subject)
	c.Header("Content-Disposition", `attachment; filename="consent-receipt-`+rec.ID+`.jws"`)
	c.Data(http.StatusOK, "application/jose", []byte(rec.Receipt))
}

// flowProblem answers err as a page in the reader's language; a server
// failure is logged and says nothing of its cause.
func (s *Server) flowProblem(c *gin.Context, err error) {
	code := privacy.ErrorCode(err)
	status, ok := statusOf[code]
	detail := ""
	var pe *privacy.Error
	if ok && errors.As(err, &pe) {
		detail = pe.Detail
	}
	if !ok {
		status = http.StatusInternalServerError
		s.log.ErrorContext(c.Request.Context(), "request failed", "request_id", requestID(c), "route", c.FullPath(), "error", err)
	}
	var b bytes.Buffer
	if rerr := notice.RenderFlowMessage(&b, notice.FlowMessage{Locale: readerLocale(c), Kind: "problem", Detail: detail, Theme: s.theme}); rerr != nil {
		s.writeError(c, rerr)
		return
	}
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
	c.Abort()
}
