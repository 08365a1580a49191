package httpapi

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
	"github.com/go-playground/validator/v10"
)

// newValidator returns a validator of `binding:` tags that names fields by
// their JSON names. It is the Server's own, so gin's global one is never
// touched.
func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.SetTagName("binding")
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	return v
}

// jsonRenderer writes v as JSON without gin's HTML escaping quirks, with
// contentType (application/json when empty).
type jsonRenderer struct {
	v           any
	contentType string
}

func (r jsonRenderer) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(r.v)
}

func (r jsonRenderer) WriteContentType(w http.ResponseWriter) {
	ct := r.contentType
	if ct == "" {
		ct = "application/json; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
}

// decode reads the JSON body into v, strictly: the body must be
// application/json in UTF-8, within the size limit, one JSON value that
// fits v's shape (scanBody: no unknown or duplicate fields, valid UTF-8,
// arrays within their maxItems) with nothing after it, and v's `binding:`
// rules must hold. Every failure is a problem naming the field; nothing
// has been stored. The work is bounded by the body's size: arrays are
// counted before anything is allocated for their items.
func (s *Server) decode(c *gin.Context, v any) error {
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return privacy.Errorf(privacy.EUnsupportedMediaType, "the body must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return privacy.FieldErrorf(privacy.EMalformed, "Content-Type", "the body must be UTF-8 JSON; charset=%s is not accepted", cs)
	}
	limit := s.bodyLimit(c)
	if c.Request.ContentLength > limit {
		return tooLarge(limit)
	}
	body, err := readBody(c, limit)
	if err != nil {
		return err
	}
	if p, ok := v.(plainBody); ok && p.readPlain(body) {
		return s.validated(v)
	}
	sh, err := shapeFor(reflect.TypeOf(v).Elem())
	if err != nil {
		return err
	}
	if err := scanBody(body, sh); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return s.decodeError(err)
	}
	return s.validated(v)
}

// validated checks v's `binding:` rules.
func (s *Server) validated(v any) error {
	if err := s.validate.Struct(v); err != nil {
		return validationError(err)
	}
	return nil
}

// readBody reads the whole body, up to limit bytes, into a buffer of the
// declared length when there is one (a grown buffer would cost twice).
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	r := http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	var (
		body []byte
		err  error
	)
	if n := c.Request.ContentLength; n >= 0 && n <= limit {
		body = make([]byte, n)
		if _, err = io.ReadFull(r, body); err == nil {
			// Nothing may follow the declared length.
			var one [1]byte
			if k, rerr := r.Read(one[:]); k > 0 || (rerr != nil && !errors.Is(rerr, io.EOF)) {
				err = cmp.Or(rerr, io.ErrUnexpectedEOF)
			}
		}
	} else {
		body, err = io.ReadAll(r)
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge(limit)
	case err != nil:
		return nil, privacy.Errorf(privacy.EMalformed, "the body could not be read: %s", err.Error())
	}
	return body, nil
}

// largeBodies are the routes whose bodies can be large: inventories and
// notices (many elements, long texts), consents and decision batches.
// Every other body is a handful of fields and gets SmallBody at most.
var largeBodies = map[string]bool{
	"/v1/devices/:id/inventory":          true,
	"/v1/notices/:key/versions":          true,
	"/v1/notices/:key/versions/:version": true,
	"/v1/consents":                       true,
	"/v1/decisions/batch":                true,
}

// SmallBody caps the bodies of the routes not in largeBodies.
const SmallBody = 16 << 10

// bodyLimit is the body cap of the request's route.
func (s *Server) bodyLimit(c *gin.Context) int64 {
	if largeBodies[c.FullPath()] {
		return s.maxBody
	}
	return min(s.maxBody, SmallBody)
}

func tooLarge(limit int64) error {
	return privacy.Errorf(privacy.ETooLarge, "the body is larger than the limit of %d bytes", limit)
}

// decodeError explains a json decoding error in the client's terms.
func (s *Server) decodeError(err error) error {
	var (
		mbe    *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	case errors.Is(err, io.EOF):
		return privacy.Errorf(privacy.EMalformed, "the body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return privacy.Errorf(privacy.EMalformed, "the body ends in the middle of a JSON value")
	case errors.As(err, &syntax):
		return privacy.Errorf(privacy.EMalformed, "the body is not valid JSON (at byte %d): %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return privacy.Errorf(privacy.EMalformed, "the body must be a JSON object")
		}
		return privacy.FieldErrorf(privacy.EMalformed, field, "must be a JSON %s, not %s", jsonKind(typ.Type), typ.Value)
	}
	// encoding/json has no typed error for unknown fields.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return privacy.FieldErrorf(privacy.EMalformed, name, "unknown field %q", name)
	}
	return privacy.Errorf(privacy.EMalformed, "the body could not be read: %s", err.Error())
}

// jsonKind names a Go type as the JSON kind a client should send.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}

// validationError turns validator errors into one EInvalid listing each field.
func validationError(err error) error {
	var ves validator.ValidationErrors
	if !errors.As(err, &ves) {
		return fmt.Errorf("httpapi: validate: %w", err)
	}
	var p privacy.Problems
	for _, fe := range ves {
		// Namespace is "structName.field.sub[0].x"; drop the Go struct name.
		_, path, _ := strings.Cut(fe.Namespace(), ".")
		switch fe.Tag() {
		case "required":
			p.Add(path, "is required")
		case "oneof":
			p.Add(path, "must be one of %s", strings.ReplaceAll(fe.Param(), " ", ", "))
		case "max":
			p.Add(path, "must be at most %s long", fe.Param())
		default:
			p.Add(path, "fails the %q rule", fe.Tag())
		}
	}
	return p.Err("the request is invalid")
}

// writeJSON writes v as a JSON response, newline-terminated so that curl
// output stays readable.
func writeJSON(c *gin.Context, status int, v any) {
	c.Render(status, jsonRenderer{v: v})
}

// optionalTime is t for an optional JSON field: absent for the zero time.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// strictQuery parses the query and refuses parameters not in allowed.
func strictQuery(c *gin.Context, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		return nil, privacy.Errorf(privacy.EMalformed, "the query string is not valid: %s", err.Error())
	}
outer:
	for k := range q {
		for _, a := range allowed {
			if k == a {
				continue outer
			}
		}
		return nil, privacy.FieldErrorf(privacy.EMalformed, k, "unknown query parameter %q", k)
	}
	return q, nil
}

// idPage reads a list's paging parameters: limit (1-max, def when absent)
// and cursor, an id the service issued as next_cursor (base64url), after
// which the page starts.
func idPage(q url.Values, def, max int) (after string, limit int, err error) {
	limit = def
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			return "", 0, privacy.FieldErrorf(privacy.EInvalid, "limit", "must be a whole number between 1 and %d", max)
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return "", 0, privacy.FieldErrorf(privacy.EInvalid, "cursor", "is not a cursor this service issued")
		}
		after = string(b)
	}
	return after, limit, nil
}

// nextCursor is the next_cursor of a page whose last item has id last.
func nextCursor(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }
