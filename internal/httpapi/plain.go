package httpapi

import (
	"unicode/utf8"

	"github.com/consentry/consentry/internal/decide"
)

// A decision is asked for thousands of times a second with a body of five
// short strings. decode reads such a body without the general path (the
// strict scan, then encoding/json by reflection) when it is plain: one
// JSON object whose names are the request's own, each at most once, each
// with a string value that holds no escape and no control character and
// is valid UTF-8, and nothing but whitespace around it. A plain body
// means exactly what the general path reads from it; every other body
// takes that path, which reads it or names what is wrong with it.

// plainBody is a request that reads a plain body itself: decode asks it
// first, and takes the general path when it says the body is not plain.
type plainBody interface {
	// readPlain reads body into the request and reports whether it was
	// plain; when it was not, the request is left as it was.
	readPlain(body []byte) bool
}

// maxPlainFields is the most fields a plain object may have.
const maxPlainFields = 8

var decisionRequestFields = []string{"subject", "device_id", "element", "purpose", "action"}

// plainFields are the request's fields' JSON names and where each one's
// value goes, in the same order.
func (r *decisionRequest) plainFields() ([]string, []*string) {
	return decisionRequestFields, []*string{&r.Subject, &r.DeviceID, &r.Element, &r.Purpose, &r.Action}
}

func (r *decisionRequest) readPlain(body []byte) bool {
	names, dst := r.plainFields()
	return decodePlain(body, names, dst)
}

func (r *batchRequest) readPlain(body []byte) bool { return decodePlainBatch(body, r, decide.MaxBatch) }

// decodePlain reads body into dst, named by names, and reports whether
// body is plain; when it is not, dst is left as it was.
func decodePlain(body []byte, names []string, dst []*string) bool {
	if len(names) > maxPlainFields || len(names) != len(dst) {
		return false
	}
	var o plainValues
	i, ok := o.read(body, skipSpace(body, 0), names)
	if !ok || skipSpace(body, i) != len(body) {
		return false
	}
	o.into(dst)
	return true
}

// plainValues are one plain object's values, by field.
type plainValues struct {
	values [maxPlainFields][]byte
	seen   [maxPlainFields]bool
}

// read reads the plain object at body[i:], of fields names, and returns
// where it ends.
func (o *plainValues) read(body []byte, i int, names []string) (int, bool) {
	*o = plainValues{}
	if i >= len(body) || body[i] != '{' {
		return 0, false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return i + 1, true
	}
	for {
		name, next, ok := plainString(body, i)
		if !ok {
			return 0, false
		}
		field := -1
		for k, n := range names {
			if n == string(name) {
				field = k
				break
			}
		}
		if field < 0 || o.seen[field] {
			return 0, false
		}
		i = skipSpace(body, next)
		if i >= len(body) || body[i] != ':' {
			return 0, false
		}
		value, next, ok := plainString(body, skipSpace(body, i+1))
		if !ok {
			return 0, false
		}
		o.values[field], o.seen[field] = value, true
		i = skipSpace(body, next)
		if i >= len(body) {
			return 0, false
		}
		if body[i] == '}' {
			return i + 1, true
		}
		if body[i] != ',' {
			return 0, false
		}
		i = skipSpace(body, i+1)
	}
}

// into stores the values read in dst, field by field.
func (o *plainValues) into(dst []*string) {
	for k, p := range dst {
		if o.seen[k] {
			*p = string(o.values[k])
		}
	}
}

// decodePlainBatch reads a batch's body, {"checks": [...]} with every
// check plain and at most most of them, and reports whether it is plain;
// when it is not, r is left as it was.
func decodePlainBatch(body []byte, r *batchRequest, most int) bool {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	name, next, ok := plainString(body, skipSpace(body, i+1))
	if !ok || string(name) != "checks" {
		return false
	}
	i = skipSpace(body, next)
	if i >= len(body) || body[i] != ':' {
		return false
	}
	i = skipSpace(body, i+1)
	if i >= len(body) || body[i] != '[' {
		return false
	}
	checks := make([]decisionRequest, 0, min(most, len(body)/64+1))
	var o plainValues
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == ']' {
		i++
	} else {
		for {
			if len(checks) == most {
				return false
			}
			if i, ok = o.read(body, i, decisionRequestFields); !ok {
				return false
			}
			checks = append(checks, decisionRequest{})
			_, dst := checks[len(checks)-1].plainFields()
			o.into(dst)
			i = skipSpace(body, i)
			if i >= len(body) {
				return false
			}
			if body[i] == ']' {
				i++
				break
			}
			if body[i] != ',' {
				return false
			}
			i = skipSpace(body, i+1)
		}
	}
	i = skipSpace(body, i)
	if i >= len(body) || body[i] != '}' || skipSpace(body, i+1) != len(body) {
		return false
	}
	r.Checks = checks
	return true
}

// plainString is the JSON string at body[i:] without its quotes, and
// where it ends, when it is plain: no escape, no control character,
// valid UTF-8.
func plainString(body []byte, i int) ([]byte, int, bool) {
	if i >= len(body) || body[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(body); j++ {
		switch c := body[j]; {
		case c == '"':
			s := body[i+1 : j]
			return s, j + 1, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// skipSpace is the first index from i on that is not JSON whitespace.
func skipSpace(body []byte, i int) int {
	for i < len(body) {
		switch body[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
