package privacy

import (
	"fmt"
	"regexp"
	"time"
)

// Sensitivity grades how much harm misuse of a data element could do.
type Sensitivity string

// The sensitivity levels, least to most.
const (
	SensitivityNone      Sensitivity = "none"
	SensitivityPersonal  Sensitivity = "personal"
	SensitivitySensitive Sensitivity = "sensitive"
)

// rank orders sensitivities; unknown values rank below none so that a
// comparison with them never passes.
func (s Sensitivity) rank() int {
	switch s {
	case SensitivityNone:
		return 0
	case SensitivityPersonal:
		return 1
	case SensitivitySensitive:
		return 2
	}
	return -1
}

// CollectionMethod says how a device comes by a data element, one of the
// items of the Control 31-2 consent checklist ("method of collection").
type CollectionMethod string

// The collection methods.
const (
	CollectSensor     CollectionMethod = "sensor"
	CollectUserInput  CollectionMethod = "user_input"
	CollectDerived    CollectionMethod = "derived"
	CollectNetwork    CollectionMethod = "network"
	CollectThirdParty CollectionMethod = "third_party"
)

// CollectionMethods lists every collection method.
var CollectionMethods = []CollectionMethod{CollectSensor, CollectUserInput, CollectDerived, CollectNetwork, CollectThirdParty}

func (m CollectionMethod) valid() bool {
	for _, v := range CollectionMethods {
		if m == v {
			return true
		}
	}
	return false
}

// MaxElements bounds an inventory; a device declaring more is a mistake,
// and the bound keeps one request's work small.
const MaxElements = 200

// DataElement is one kind of data a device collects (Control 29).
type DataElement struct {
	Key              string
	Description      string
	Category         string
	Sensitivity      Sensitivity
	Purposes         []string
	CollectionMethod CollectionMethod
	// Retention is an ISO 8601 duration such as P30D or P1Y6M.
	Retention     string
	Recipients    []string
	StorageRegion string
}

// Inventory is one version of a device's declared data elements. Versions
// are never changed; each declaration is a new version.
type Inventory struct {
	DeviceID  string
	Version   int
	Elements  []DataElement
	CreatedBy string
	CreatedAt time.Time
}

// regionPattern accepts region labels such as "EU", "eu-west-1", "US-CA".
var regionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate checks every element and reports every problem at once.
// purposeExists says whether a purpose key is in the catalogue.
func (inv *Inventory) Validate(purposeExists func(string) bool) error {
	var p Problems
	if len(inv.Elements) > MaxElements {
		p.Add("elements", "must have at most %d elements", MaxElements)
		return p.Err("invalid inventory")
	}
	seen := make(map[string]bool, len(inv.Elements))
	for i, e := range inv.Elements {
		f := func(name string) string { return fmt.Sprintf("elements[%d].%s", i, name) }
		switch {
		case !ValidKey(e.Key):
			p.Add(f("key"), keyRule)
		case seen[e.Key]:
			p.Add(f("key"), "duplicates key %q of an earlier element", e.Key)
		}
		seen[e.Key] = true
		checkText(&p, f("description"), e.Description, true, 2000, multiline)

		cat, ok := LookupCategory(e.Category)
		if !ok {
			p.Add(f("category"), "unknown category %q (GET /v1/categories lists them)", e.Category)
		}
		switch {
		case e.Sensitivity.rank() < 0:
			p.Add(f("sensitivity"), "must be one of none, personal, sensitive")
		case ok && e.Sensitivity.rank() < cat.Floor.rank():
			p.Add(f("sensitivity"), "category %s is at least %q", cat.Key, cat.Floor)
		}

		if len(e.Purposes) == 0 {
			p.Add(f("purposes"), "must name at least one purpose")
		}
		dup := map[string]bool{}
		for j, k := range e.Purposes {
			pf := fmt.Sprintf("%s[%d]", f("purposes"), j)
			switch {
			case dup[k]:
				p.Add(pf, "duplicates purpose %q", k)
			case !ValidKey(k) || !purposeExists(k):
				p.Add(pf, "purpose %q is not in the catalogue", k)
			}
			dup[k] = true
		}

		if !e.CollectionMethod.valid() {
			p.Add(f("collection_method"), "must be one of sensor, user_input, derived, network, third_party")
		}
		if err := checkRetention(e.Retention); err != "" {
			p.Add(f("retention"), "%s", err)
		}
		for j, r := range e.Recipients {
			checkText(&p, fmt.Sprintf("%s[%d]", f("recipients"), j), r, true, 200, oneLine)
		}
		if !regionPattern.MatchString(e.StorageRegion) {
			p.Add(f("storage_region"), "must be a region label such as EU, US-CA or eu-west-1")
		}
	}
	return p.Err("invalid inventory")
}

// checkRetention returns why s is not a usable retention period, or "".
// A zero period would declare data kept for no time at all, which is never
// what a device does, so it is refused too.
func checkRetention(s string) string {
	if s == "" {
		return "is required (an ISO 8601 duration such as P30D)"
	}
	d, err := ParseDuration(s)
	if err != nil {
		return fmt.Sprintf("%q is not an ISO 8601 duration such as P30D or P1Y", s)
	}
	// Judged on the components, not on a time.Duration, which would
	// overflow for periods beyond about 292 years.
	if !d.Positive() {
		return "must be a positive duration"
	}
	return ""
}
