package httpapi

import (
	"bytes"
	"net/http"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/language"
)

// noticePage renders the notice in force as a page people read.
//
// @Summary  The notice as a web page
// @ID       noticePage
// @Description The current version as plain, accessible HTML: the text, the checklist as a table (purposes, data, collection, retention, recipients, legal basis), the controller and contact; the version and content hash in the footer. Locale fallback as for the JSON form.
// @Tags     notices
// @Produce  html
// @Param    key    path  string true  "notice key"
// @Param    locale query string false "BCP 47 language tag, e.g. fr-CA"
// @Success  200 {string} string "HTML page"
// @Failure  400 {object} problem "locale is not a BCP 47 tag, or unknown query parameter"
// @Failure  404 {object} problem "no such notice, or none published"
// @Router   /notices/{key} [get]
func (s *Server) noticePage(c *gin.Context) error {
	q, err := strictQuery(c, "locale")
	if err != nil {
		return err
	}
	locale := q.Get("locale")
	if locale == "" {
		locale = browserLocale(c)
	}
	shown, err := s.notices.Current(c.Request.Context(), c.Param("key"), locale)
	if err != nil {
		return err
	}
	if q.Get("locale") == "" {
		// A locale guessed from Accept-Language is not worth a fallback line.
		shown.Requested = ""
	}
	// The page is built whole before it is sent, so a failure is still a problem.
	var page bytes.Buffer
	if err := s.pages.Render(&page, shown); err != nil {
		return err
	}
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	c.Header("Content-Language", shown.Locale)
	c.Data(http.StatusOK, "text/html; charset=utf-8", page.Bytes())
	return nil
}

// browserLocale is the first language the reader's browser prefers
// (Accept-Language), or "" for none.
func browserLocale(c *gin.Context) string {
	if tags, _, err := language.ParseAcceptLanguage(c.GetHeader("Accept-Language")); err == nil && len(tags) > 0 {
		return tags[0].String()
	}
	return ""
}
