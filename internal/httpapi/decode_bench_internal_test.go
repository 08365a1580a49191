package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// BenchmarkStrictScan is what the strict scan (scanBody) adds to decoding a
// request body with encoding/json: a consent and a batch of 100 checks.
// Run: go test -run '^$' -bench StrictScan ./internal/httpapi/
func BenchmarkStrictScan(b *testing.B) {
	consent := []byte(`{"subject":"user-7f3a","device_id":"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e","notice_key":"tracker-notice",
		"notice_version":1,"notice_hash":"3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b","locale":"fr",
		"choices":[{"purpose":"navigation","granted":true},{"purpose":"maintenance","granted":false}],"method":"app"}`)
	check := `{"subject":"user-%d","device_id":"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e","element":"location","purpose":"navigation","action":"use"}`
	checks := make([]string, 100)
	for i := range checks {
		checks[i] = fmt.Sprintf(check, i)
	}
	batch := []byte(`{"checks":[` + strings.Join(checks, ",") + `]}`)
	for _, tc := range []struct {
		name string
		body []byte
		v    func() any
	}{
		{"consent", consent, func() any { return &consentRequest{} }},
		{"batch-100", batch, func() any { return &batchRequest{} }},
	} {
		sh, err := shapeFor(reflect.TypeOf(tc.v()).Elem())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/scan", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				if err := scanBody(tc.body, sh); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				dec := json.NewDecoder(bytes.NewReader(tc.body))
				dec.DisallowUnknownFields()
				if err := dec.Decode(tc.v()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeDecision is a single decision's body, and a batch of 100
// checks, read by the plain path and by the general one (the strict scan,
// then encoding/json).
// Run: go test -run '^$' -bench DecodeDecision ./internal/httpapi/
func BenchmarkDecodeDecision(b *testing.B) {
	body := []byte(`{"subject":"user-7f3a","device_id":"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e","element":"location","purpose":"navigation","action":"use"}`)
	checks := make([]string, 100)
	for i := range checks {
		checks[i] = string(body)
	}
	batch := []byte(`{"checks":[` + strings.Join(checks, ",") + `]}`)
	for _, tc := range []struct {
		name string
		read func() error
	}{
		{"batch-100/plain", func() error {
			if !(&batchRequest{}).readPlain(batch) {
				return errors.New("not plain")
			}
			return nil
		}},
		{"batch-100/general", func() error { _, err := generalBatch(batch); return err }},
		{"plain", func() error {
			if _, ok := plainDecision(body); !ok {
				return errors.New("not plain")
			}
			return nil
		}},
		{"general", func() error { _, err := generalDecision(body); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
