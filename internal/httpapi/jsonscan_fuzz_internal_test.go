package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
)

// FuzzStrictScan: whatever the bytes, scanBody answers nil or a malformed
// or invalid problem, never panics; and a body it accepts is one that
// encoding/json reads without a syntax error or an unknown field, so the
// scan never lets through what the strict decode would refuse as
// unreadable.
func FuzzStrictScan(f *testing.F) {
	for _, seed := range []string{
		`{"choices":[{"purpose":"p","granted":true}],"subject":"a","locale":"fr"}`,
		`{"checks":[{"subject":"a","device_id":"d","element":"e","purpose":"p","action":"use"}]}`,
		`{"purposes":[{"elements":["a"],"collection_methods":["sensor"]}],"texts":{"en":{"title":"t","body":"b"}}}`,
		`{nope`, `{"subject":"ab\ud800"}`, `{"subject":"a","subject":"b"}`, `{"Subject":"a"}`, `{"ch\u006fices":[]}`,
		`[1,2]`, `{} {}`, ``, `null`, `{"texts":{"en":null}}`,
	} {
		f.Add([]byte(seed))
	}
	types := []reflect.Type{reflect.TypeFor[consentRequest](), reflect.TypeFor[batchRequest](), reflect.TypeFor[noticeVersionRequest](),
		reflect.TypeFor[inventoryRequest](), reflect.TypeFor[clientRequest]()}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, typ := range types {
			sh, err := shapeFor(typ)
			if err != nil {
				t.Fatal(err)
			}
			err = scanBody(body, sh)
			if err != nil {
				var pe *privacy.Error
				if !errors.As(err, &pe) || (pe.Code != privacy.EMalformed && pe.Code != privacy.EInvalid) {
					t.Fatalf("%s: %q: %v", typ, body, err)
				}
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			err = dec.Decode(reflect.New(typ).Interface())
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) || (err != nil && strings.Contains(err.Error(), "unknown field")) {
				t.Fatalf("%s: the scan accepted %q, encoding/json refused it: %v", typ, body, err)
			}
		}
	})
}
