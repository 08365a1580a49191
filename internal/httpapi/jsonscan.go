package httpapi

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/go-json-experiment/json/jsontext"
)

// A request body is scanned once, token by token, against the shape of the
// type it will be decoded into, before encoding/json allocates anything for
// it. The scan refuses, with the offending field, what encoding/json would
// accept silently or pay for dearly: invalid UTF-8 and lone surrogates
// (which it replaces with U+FFFD, so two different subjects become one),
// duplicate member names (the last would win), member names in another
// case than the field's, unknown fields, a value of the wrong JSON kind
// (an array where a string belongs would be decoded item by item), and
// arrays or maps with more items than the max=N bound of the field's
// binding (or validate) tag allows, which openapi.yaml shows as maxItems.
// The work is one pass over the bytes, whatever the body holds.

// field is a struct member: its JSON name (kept, so that reading a name
// allocates nothing) and its shape.
type field struct {
	name  string
	shape *shape
}

// shapeKind is the JSON kind a field takes.
type shapeKind uint8

const (
	shapeString shapeKind = iota + 1
	shapeNumber
	shapeBool
	shapeStruct // an object with the struct's members
	shapeMap    // an object with any member names
	shapeArray
)

var shapeKindName = map[shapeKind]string{shapeString: "string", shapeNumber: "number", shapeBool: "boolean",
	shapeStruct: "object", shapeMap: "object", shapeArray: "array"}

// shape is the JSON a request type accepts.
type shape struct {
	kind   shapeKind
	fields map[string]field // shapeStruct: by JSON name
	elem   *shape           // shapeArray, shapeMap: the items
	max    int              // shapeArray, shapeMap: the most items
}

// shapes caches each request type's shape: reflect.Type → *shape.
var shapes sync.Map

// shapeFor returns the shape of t, built once per type.
func shapeFor(t reflect.Type) (*shape, error) {
	if s, ok := shapes.Load(t); ok {
		return s.(*shape), nil
	}
	s, err := buildShape(t, "")
	if err != nil {
		return nil, err
	}
	got, _ := shapes.LoadOrStore(t, s)
	return got.(*shape), nil
}

var (
	timeType            = reflect.TypeFor[time.Time]()
	jsonUnmarshalerType = reflect.TypeFor[interface{ UnmarshalJSON([]byte) error }]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// buildShape reads t's fields; every slice and map must carry its bound as
// max=N in its binding tag (checked again by the validator) or validate
// tag (read only by swag), so that no request array is unbounded; swag
// writes it into openapi.yaml as maxItems.
func buildShape(t reflect.Type, path string) (*shape, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return &shape{kind: shapeString}, nil
	case reflect.PointerTo(t).Implements(jsonUnmarshalerType):
		return nil, fmt.Errorf("httpapi: %s (%s) decodes itself; the strict scan cannot bound it", path, t)
	case reflect.PointerTo(t).Implements(textUnmarshalerType) && t.Kind() != reflect.String:
		return &shape{kind: shapeString}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return &shape{kind: shapeString}, nil
	case reflect.Bool:
		return &shape{kind: shapeBool}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return &shape{kind: shapeNumber}, nil
	case reflect.Struct:
		s := &shape{kind: shapeStruct, fields: map[string]field{}}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fs, err := buildShape(f.Type, joinField(path, name))
			if err != nil {
				return nil, err
			}
			if fs.kind == shapeArray || fs.kind == shapeMap {
				max := tagMax(f.Tag)
				if max < 1 {
					return nil, fmt.Errorf("httpapi: %s needs its bound as max=N in its binding or validate tag", joinField(path, name))
				}
				fs.max = max
			}
			s.fields[name] = field{name: name, shape: fs}
		}
		return s, nil
	case reflect.Slice, reflect.Array:
		elem, err := buildShape(t.Elem(), path+"[]")
		if err != nil {
			return nil, err
		}
		return &shape{kind: shapeArray, elem: elem}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("httpapi: %s: only maps keyed by strings can be JSON objects", path)
		}
		elem, err := buildShape(t.Elem(), path+".*")
		if err != nil {
			return nil, err
		}
		return &shape{kind: shapeMap, elem: elem}, nil
	}
	return nil, fmt.Errorf("httpapi: %s: a %s cannot be in a request body", path, t)
}

// tagMax is the N of the first max=N rule that applies to the field itself
// (before any dive) in its binding or validate tag; 0 when there is none.
func tagMax(tag reflect.StructTag) int {
	for _, key := range []string{"binding", "validate"} {
		for rule := range strings.SplitSeq(tag.Get(key), ",") {
			if rule == "dive" {
				break
			}
			if n, ok := strings.CutPrefix(rule, "max="); ok {
				if v, err := strconv.Atoi(n); err == nil {
					return v
				}
			}
		}
	}
	return 0
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// scanFrame is an object or array the scan is inside.
type scanFrame struct {
	s        *shape
	array    bool
	count    int    // items, or members so far
	name     string // the member being read (objects)
	wantName bool   // objects: the next string is a member name
}

// scanBody checks body against s (see the top of this file). It returns a
// malformed problem, or an invalid one for an array or map past its bound,
// naming the field where it can. Names are read as raw values and looked
// up without a copy, and decoders are pooled: a scan allocates nothing in
// the usual case.
func scanBody(body []byte, s *shape) error {
	sc := scanners.Get().(*scanner)
	defer func() {
		sc.r.Reset(nil)
		sc.dec.Reset(&sc.r) // drops its hold on body
		scanners.Put(sc)
	}()
	sc.r.Reset(body)
	sc.dec.Reset(&sc.r) // strict UTF-8, no duplicate names: the defaults
	dec := sc.dec
	var (
		stack = sc.stack[:0]
		seen  bool // the root value has begun
	)
	defer func() { sc.stack = stack[:0] }()
	for {
		kind := dec.PeekKind()
		var top *scanFrame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if kind == 0 {
			// The end of the body, or an error, which a read reports.
			_, err := dec.ReadToken()
			switch {
			case errors.Is(err, io.EOF) && !seen:
				return privacy.Errorf(privacy.EMalformed, "the body is empty; a JSON %s is required", shapeKindName[s.kind])
			case errors.Is(err, io.EOF) && len(stack) == 0:
				return nil
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				return privacy.Errorf(privacy.EMalformed, "the body ends in the middle of a JSON value")
			case err != nil:
				return scanError(err, stack)
			}
			return privacy.Errorf(privacy.EMalformed, "the body could not be read")
		}
		if seen && len(stack) == 0 {
			return privacy.Errorf(privacy.EMalformed, "the body must hold exactly one JSON value; found data after it")
		}
		seen = true
		if top != nil && !top.array && top.wantName && kind == '"' {
			raw, err := dec.ReadValue()
			if err != nil {
				return scanError(err, stack)
			}
			top.count++
			if top.s.kind == shapeMap {
				if top.count > top.s.max {
					return privacy.FieldErrorf(privacy.EInvalid, scanPath(stack[:len(stack)-1]),
						"must have at most %d members", top.s.max)
				}
				top.name = unquote(raw)
			} else {
				name := raw[1 : len(raw)-1]
				f, ok := top.s.fields[string(name)]
				if !ok && bytes.IndexByte(name, '\\') >= 0 {
					f, ok = top.s.fields[unquote(raw)]
				}
				if !ok {
					top.name = unquote(raw)
					return privacy.FieldErrorf(privacy.EMalformed, scanPath(stack), "unknown field %q", top.name)
				}
				top.name = f.name
			}
			top.wantName = false
			continue
		}
		if top != nil && !top.array && top.wantName && kind != '}' {
			// Not a name where one must be: the read says what is wrong.
			if _, err := dec.ReadToken(); err != nil {
				return scanError(err, stack)
			}
			return privacy.FieldErrorf(privacy.EMalformed, scanPath(stack), "an object member must start with its name")
		}
		if kind == '}' || kind == ']' {
			if _, err := dec.ReadToken(); err != nil {
				return scanError(err, stack)
			}
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && !stack[len(stack)-1].array {
				stack[len(stack)-1].wantName = true
			}
			continue
		}
		// A value: of the root, an array item or a member's.
		want := s
		if top != nil {
			switch {
			case top.array:
				top.count++
				if top.count > top.s.max {
					return privacy.FieldErrorf(privacy.EInvalid, scanPath(stack[:len(stack)-1]),
						"must have at most %d items", top.s.max)
				}
				want = top.s.elem
			case top.s.kind == shapeMap:
				want = top.s.elem
			default:
				want = top.s.fields[top.name].shape
			}
		}
		if want == nil {
			// Cannot happen: every name read was looked up. Refuse
			// rather than guess.
			return privacy.Errorf(privacy.EMalformed, "the body could not be read")
		}
		if got, ok := kindFits(kind, want.kind); !ok {
			if len(stack) == 0 {
				return privacy.Errorf(privacy.EMalformed, "the body must be a JSON %s, not %s", shapeKindName[want.kind], got)
			}
			return privacy.FieldErrorf(privacy.EMalformed, scanPath(stack), "must be a JSON %s, not %s", shapeKindName[want.kind], got)
		}
		switch kind {
		case '{', '[':
			if _, err := dec.ReadToken(); err != nil {
				return scanError(err, stack)
			}
			stack = append(stack, scanFrame{s: want, array: kind == '[', wantName: kind == '{'})
		default:
			// A scalar, read whole: its bytes are checked (UTF-8,
			// escapes), never copied.
			if _, err := dec.ReadValue(); err != nil {
				return scanError(err, stack)
			}
			if top != nil && !top.array {
				top.wantName = true
			}
		}
	}
}

// scanner is what one scan reuses from the last: the decoder's buffers and
// the frame stack.
type scanner struct {
	r     bytes.Reader
	dec   *jsontext.Decoder
	stack []scanFrame
}

var scanners = sync.Pool{New: func() any {
	sc := &scanner{}
	sc.dec = jsontext.NewDecoder(&sc.r)
	return sc
}}

// unquote is a JSON string's text (its bytes already checked by the
// decoder).
func unquote(raw []byte) string {
	b, err := jsontext.AppendUnquote(nil, raw)
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// kindFits reports whether a token of kind may start a value of want; null
// fits everything, as in encoding/json (required fields are checked after).
func kindFits(kind jsontext.Kind, want shapeKind) (string, bool) {
	switch kind {
	case 'n':
		return "null", true
	case '"':
		return "string", want == shapeString
	case '0':
		return "number", want == shapeNumber
	case 't', 'f':
		return "boolean", want == shapeBool
	case '{':
		return "object", want == shapeStruct || want == shapeMap
	case '[':
		return "array", want == shapeArray
	}
	return "a " + kind.String(), false
}

// scanPath names the value stack's innermost frame is reading, as a JSON
// path such as elements[3].purposes; scanPath(stack[:len(stack)-1]) names
// that frame's container itself.
func scanPath(stack []scanFrame) string {
	var b strings.Builder
	for i := range stack {
		f := &stack[i]
		if f.array {
			b.WriteString("[" + strconv.Itoa(f.count-1) + "]")
		} else {
			b.WriteString("." + f.name)
		}
	}
	return strings.TrimPrefix(b.String(), ".")
}

// scanError turns jsontext's syntax errors into a malformed problem at the
// field where they happened.
func scanError(err error, stack []scanFrame) error {
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		return privacy.Errorf(privacy.EMalformed, "the body could not be read: %s", err.Error())
	}
	detail := se.Err.Error()
	detail = strings.TrimPrefix(detail, "jsontext: ")
	field := pointerPath(se.JSONPointer, stack)
	if field == "" {
		return privacy.Errorf(privacy.EMalformed, "the body is not valid JSON (at byte %d): %s", se.ByteOffset, detail)
	}
	return privacy.FieldErrorf(privacy.EMalformed, field, "is not valid JSON (at byte %d): %s", se.ByteOffset, detail)
}

// pointerPath writes a JSON pointer as the API's field paths: the frames
// of stack tell which tokens are array indices.
func pointerPath(p jsontext.Pointer, stack []scanFrame) string {
	var b strings.Builder
	i := 0
	for tok := range p.Tokens() {
		if i < len(stack) && stack[i].array {
			b.WriteString("[" + tok + "]")
		} else {
			b.WriteString("." + tok)
		}
		i++
	}
	return strings.TrimPrefix(b.String(), ".")
}
