package privacy

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the API contract (the `code` member of every
// problem+json body), so they never change once released.
const (
	// EMalformed: the request could not be read: bad JSON, an unknown or
	// duplicated field, trailing data, a wrong JSON type.
	EMalformed = "malformed"
	// EInvalid: the request was read but a value breaks a rule.
	EInvalid = "invalid"
	// ENotFound: the addressed resource does not exist.
	ENotFound = "not_found"
	// EConflict: the request clashes with what is stored (a duplicate identity).
	EConflict = "conflict"
	// EGone: the resource was there and is no more (its subject erased).
	EGone = "gone"
	// EInvalidTransition: a lifecycle change that the current state forbids.
	EInvalidTransition = "invalid_transition"
	// EUnauthorized: no valid bearer token.
	EUnauthorized = "unauthorized"
	// EForbidden: the caller's role may not use this route.
	EForbidden = "forbidden"
	// ETooLarge: the request body exceeds the configured limit.
	ETooLarge = "too_large"
	// EUnsupportedMediaType: the body is not application/json.
	EUnsupportedMediaType = "unsupported_media_type"
	// ERouteNotFound: no such route.
	ERouteNotFound = "route_not_found"
	// EMethodNotAllowed: the route exists but not for this method.
	EMethodNotAllowed = "method_not_allowed"
	// EUnavailable: a dependency (the database) cannot be reached.
	EUnavailable = "unavailable"
	// ENoticeUncovered: a notice version does not state what the devices it
	// governs collect; the problem lists every gap.
	ENoticeUncovered = "notice_uncovered"
	// ERateLimited: the client sent more requests than its limit, or an
	// expensive operation is already running; Retry-After says when to retry.
	ERateLimited = "rate_limited"
	// EInternal: anything else. Its details are logged, never returned.
	EInternal = "internal"
)

// FieldError names one offending field (a JSON path such as
// `elements[2].retention`) and what is wrong with it.
type FieldError struct {
	Field  string
	Detail string
}

// Error is the one error type that crosses package boundaries with a code a
// client can act on. Anything that is not an *Error is treated as EInternal.
type Error struct {
	Code   string
	Detail string
	// Fields lists every offending field, so a client can fix all of them in
	// one round trip rather than one per request.
	Fields []FieldError
	// Omitted counts the offending fields left out of Fields, which lists
	// at most MaxFieldErrors: a hostile body must not buy an answer (and
	// the memory to build it) larger than itself.
	Omitted int
	// Gaps lists, for ENoticeUncovered, what the notice fails to state.
	Gaps []Gap
}

// MaxFieldErrors is the most field errors one error lists; the rest are
// counted in Omitted.
const MaxFieldErrors = 100

// Error implements the error interface.
func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Detail)
	}
	return fmt.Sprintf("%s: %s (%s: %s, …%d fields)", e.Code, e.Detail, e.Fields[0].Field, e.Fields[0].Detail, len(e.Fields))
}

// Errorf returns an *Error with a formatted detail.
func Errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, a...)}
}

// FieldErrorf returns an *Error about a single field.
func FieldErrorf(code, field, format string, a ...any) *Error {
	d := fmt.Sprintf(format, a...)
	return &Error{Code: code, Detail: d, Fields: []FieldError{{Field: field, Detail: d}}}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for
// any other error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// Problems collects field errors while a value is validated, so that every
// problem is reported at once.
type Problems struct {
	fields  []FieldError
	omitted int
}

// Add records that field is wrong. Past MaxFieldErrors it only counts.
func (p *Problems) Add(field, format string, a ...any) {
	if len(p.fields) >= MaxFieldErrors {
		p.omitted++
		return
	}
	p.fields = append(p.fields, FieldError{Field: field, Detail: fmt.Sprintf(format, a...)})
}

// Merge adds every field error of e, and counts the ones e left out.
func (p *Problems) Merge(e *Error) {
	for _, f := range e.Fields {
		p.Add(f.Field, "%s", f.Detail)
	}
	p.omitted += e.Omitted
}

// Err returns nil when nothing was added, otherwise an EInvalid *Error listing
// every field.
func (p *Problems) Err(detail string) error {
	if len(p.fields) == 0 {
		return nil
	}
	return &Error{Code: EInvalid, Detail: detail, Fields: p.fields, Omitted: p.omitted}
}
