package httpapi

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryRequestBodyHasABoundedShape: every type a handler decodes a
// body into has a shape, so every array in it has a bound; a handler
// decoding into a type missing here fails the test.
func TestEveryRequestBodyHasABoundedShape(t *testing.T) {
	types := map[string]reflect.Type{
		"ackRequest": reflect.TypeFor[ackRequest](), "batchRequest": reflect.TypeFor[batchRequest](),
		"clientRequest": reflect.TypeFor[clientRequest](), "consentRequest": reflect.TypeFor[consentRequest](),
		"decisionRequest": reflect.TypeFor[decisionRequest](), "deviceRequest": reflect.TypeFor[deviceRequest](),
		"hashRequest": reflect.TypeFor[hashRequest](), "inventoryRequest": reflect.TypeFor[inventoryRequest](),
		"noticeRequest": reflect.TypeFor[noticeRequest](), "noticeVersionRequest": reflect.TypeFor[noticeVersionRequest](),
		"policyChange": reflect.TypeFor[policyChange](), "purposeRequest": reflect.TypeFor[purposeRequest](),
		"rotateRequest": reflect.TypeFor[rotateRequest](), "subjectTokenRequest": reflect.TypeFor[subjectTokenRequest](),
		"webhookRequest": reflect.TypeFor[webhookRequest](), "withdrawRequest": reflect.TypeFor[withdrawRequest](),
		"subjectRequestBody": reflect.TypeFor[subjectRequestBody](), "confirmBody": reflect.TypeFor[confirmBody](),
		"closeBody": reflect.TypeFor[closeBody](), "disposeBody": reflect.TypeFor[disposeBody](),
		"sanitizationBody": reflect.TypeFor[sanitizationBody](), "transferBody": reflect.TypeFor[transferBody](),
		"deviceChangeBody": reflect.TypeFor[deviceChangeBody](), "memberBody": reflect.TypeFor[memberBody](),
		"childBody": reflect.TypeFor[childBody](),
	}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	decoded := regexp.MustCompile(`var req (\w+)`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range decoded.FindAllStringSubmatch(string(src), -1) {
			assert.Contains(t, types, m[1], "%s decodes a %s: add it here", f, m[1])
		}
	}
	for name, typ := range types {
		_, err := buildShape(typ, "")
		assert.NoError(t, err, name)
	}

	// A slice without a bound is refused when the shape is built.
	type unbounded struct {
		Items []string `json:"items"`
	}
	_, err = buildShape(reflect.TypeFor[unbounded](), "")
	assert.ErrorContains(t, err, "items needs its bound")
}
