package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// general reads body into a T as decode's general path does: the strict
// scan, then encoding/json.
func general[T any](body []byte) (T, error) {
	var r T
	sh, err := shapeFor(reflect.TypeFor[T]())
	if err != nil {
		return r, err
	}
	if err := scanBody(body, sh); err != nil {
		return r, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return r, dec.Decode(&r)
}

// generalDecision and generalBatch are general for a decision's body and
// a batch's.
func generalDecision(body []byte) (decisionRequest, error) { return general[decisionRequest](body) }
func generalBatch(body []byte) (batchRequest, error)       { return general[batchRequest](body) }

// plainDecision reads body as decode's plain path does.
func plainDecision(body []byte) (decisionRequest, bool) {
	var r decisionRequest
	ok := r.readPlain(body)
	return r, ok
}

// TestPlainBodiesReadAsTheGeneralPathReadsThem: a body the plain path
// takes gives the request the general path gives; every other body is
// left to the general path, untouched.
func TestPlainBodiesReadAsTheGeneralPathReadsThem(t *testing.T) {
	for _, body := range []string{
		`{"subject":"user-1","device_id":"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e","element":"location","purpose":"navigation","action":"use"}`,
		" \r\n\t{ \"action\" : \"share\" ,\n\"subject\":\"é😀<&>\u2028\" }\n ",
		`{}`, `{"subject":""}`, `{"element":"a/b"}`,
	} {
		plain, ok := plainDecision([]byte(body))
		require.True(t, ok, "plain: %q", body)
		general, err := generalDecision([]byte(body))
		require.NoError(t, err, body)
		assert.Equal(t, general, plain, body)
	}
	for _, body := range []string{
		// Escapes, control characters, bytes that are not UTF-8: the
		// general path decodes or refuses them.
		`{"subject":"a\"b"}`, `{"subject":"\u0061"}`, `{"sub\u006aect":"a"}`, "{\"subject\":\"a\x01\"}", "{\"subject\":\"\xff\"}",
		"{\"subject\":\"\xed\xa0\x80\"}",
		// Not the request's shape, or not one JSON object.
		`{"subject":"a","subject":"b"}`, `{"Subject":"a"}`, `{"extra":"a"}`, `{"subject":1}`, `{"subject":null}`,
		`{"subject":["a"]}`, `{"subject":"a",}`, `{"subject":"a"`, `{"subject" "a"}`, `{,}`, `{"subject":"a"} {}`,
		`{"subject":"a"}x`, `[]`, `null`, ``, ` `, `"a"`, `{"subject":"a}`, "\v{}", "{}\f",
	} {
		plain, ok := plainDecision([]byte(body))
		assert.False(t, ok, "plain: %q", body)
		assert.Zero(t, plain, "left untouched: %q", body)
	}
}

// TestPlainBatchesReadAsTheGeneralPathReadsThem: the same for a batch of
// checks, whose plain path also stops at the most checks a batch holds.
func TestPlainBatchesReadAsTheGeneralPathReadsThem(t *testing.T) {
	check := `{"subject":"u","device_id":"d","element":"e","purpose":"p","action":"use"}`
	for _, body := range []string{
		`{"checks":[` + check + `,` + check + `]}`, ` { "checks" : [ ` + check + ` , {} ] } `, `{"checks":[]}`, `{"checks":[{}]}`,
	} {
		var plain batchRequest
		require.True(t, decodePlainBatch([]byte(body), &plain, 3), "plain: %q", body)
		general, err := generalBatch([]byte(body))
		require.NoError(t, err, body)
		assert.Equal(t, general, plain, body)
	}
	for _, body := range []string{
		`{"checks":[` + check + `,` + check + `,` + check + `,` + check + `]}`, // more than 3
		`{"checks":null}`, `{}`, `{"checks":[],"checks":[]}`, `{"checks":[],"extra":1}`, `{"Checks":[]}`, `{"checks":[` + check + `,]}`,
		`{"checks":[{"subject":"a\"b"}]}`, `{"checks":[{"x":"a"}]}`, `{"checks":[1]}`, `{"checks":[]`, `{"checks":[]}}`, `[]`, ``,
	} {
		var plain batchRequest
		assert.False(t, decodePlainBatch([]byte(body), &plain, 3), "plain: %q", body)
		assert.Zero(t, plain, "left untouched: %q", body)
	}
}

// FuzzDecodePlain: whatever the bytes, the plain paths (a decision's, a
// batch's) never panic, and a body they take is one the general path
// reads alike.
func FuzzDecodePlain(f *testing.F) {
	for _, seed := range []string{
		`{"subject":"user-1","device_id":"d","element":"e","purpose":"p","action":"use"}`,
		`{"subject":"a","subject":"b"}`, `{"subject":"a\"b"}`, `{"Subject":"a"}`, ` {} `, `{"subject":1}`, "{\"subject\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Add([]byte(`{"checks":[{"subject":"a","action":"use"},{}]}`))
	f.Add([]byte(`{"checks":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var batch batchRequest
		if decodePlainBatch(body, &batch, 1000) {
			general, err := generalBatch(body)
			if err != nil {
				t.Fatalf("the plain path took the batch %q, which the general path refuses: %v", body, err)
			}
			if !reflect.DeepEqual(general, batch) {
				t.Fatalf("%q: plain %+v, general %+v", body, batch, general)
			}
		} else if batch.Checks != nil {
			t.Fatalf("a batch not taken changed the request: %q", body)
		}
		plain, ok := plainDecision(body)
		if !ok {
			if plain != (decisionRequest{}) {
				t.Fatalf("a body not taken changed the request: %q", body)
			}
			return
		}
		general, err := generalDecision(body)
		if err != nil {
			t.Fatalf("the plain path took %q, which the general path refuses: %v", body, err)
		}
		if general != plain {
			t.Fatalf("%q: plain %+v, general %+v", body, plain, general)
		}
	})
}

// TestPlainFieldsAreTheRequestsFields: the plain path names every field
// of the request, each a string, in the order it stores them: a field
// added to the request and not here would never be read by the plain
// path (it would send every body that sets it to the general one).
func TestPlainFieldsAreTheRequestsFields(t *testing.T) {
	var r decisionRequest
	names, dst := r.plainFields()
	typ := reflect.TypeFor[decisionRequest]()
	require.Equal(t, typ.NumField(), len(names))
	require.Len(t, dst, len(names))
	for i := range typ.NumField() {
		f := typ.Field(i)
		assert.Equal(t, reflect.String, f.Type.Kind(), f.Name)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		assert.Equal(t, name, names[i], f.Name)
		assert.Same(t, reflect.ValueOf(&r).Elem().Field(i).Addr().Interface().(*string), dst[i], f.Name)
	}
}
