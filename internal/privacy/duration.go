package privacy

import (
	"fmt"
	"strconv"
	"strings"
)

// Duration is an ISO 8601 duration (retention periods, consent validity),
// by component: a year or a month has no fixed length, so the components
// are kept as written.
type Duration struct {
	Years, Months, Weeks, Days, Hours, Minutes, Seconds float64
}

// durationUnits are the designators in the order the grammar requires
// them: the date part, then after T the time part.
var (
	dateUnits = []byte{'Y', 'M', 'D'}
	timeUnits = []byte{'H', 'M', 'S'}
)

// maxDurationDigits bounds each number, so that no component overflows
// what a float64 holds exactly.
const maxDurationDigits = 9

// ParseDuration reads an ISO 8601 duration by its strict grammar:
// P, then years, months and days, each at most once and in that order,
// then optionally T and hours, minutes and seconds likewise (T only when
// one of them follows); or weeks alone (P4W). At least one component; no
// sign; each number 1-9 digits; only the last component may have a
// decimal fraction (with . or ,). P3650D1D, P1D2Y, PT, P1DT and P are
// refused, where lenient parsers read some of them as something else.
func ParseDuration(s string) (Duration, error) {
	var d Duration
	rest, ok := strings.CutPrefix(s, "P")
	if !ok {
		return d, fmt.Errorf("duration %q: must start with P", s)
	}
	if n, ok := strings.CutSuffix(rest, "W"); ok {
		v, _, err := durationNumber(n)
		if err != nil {
			return d, fmt.Errorf("duration %q: weeks are written alone, as P4W", s)
		}
		d.Weeks = v
		return d, nil
	}
	datePart, timePart, hasT := strings.Cut(rest, "T")
	if hasT && timePart == "" {
		return d, fmt.Errorf("duration %q: T must be followed by hours, minutes or seconds", s)
	}
	if datePart == "" && !hasT {
		return d, fmt.Errorf("duration %q: has no component", s)
	}
	dates := []*float64{&d.Years, &d.Months, &d.Days}
	times := []*float64{&d.Hours, &d.Minutes, &d.Seconds}
	fraction := false // a component with a fraction was read: it must be the last
	for _, part := range []struct {
		text  string
		units []byte
		into  []*float64
	}{{datePart, dateUnits, dates}, {timePart, timeUnits, times}} {
		text, next := part.text, 0
		for text != "" {
			i := strings.IndexFunc(text, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.' || r == ',') })
			if i < 0 {
				return d, fmt.Errorf("duration %q: %q has no designator", s, text)
			}
			unit := text[i]
			at := -1
			for j := next; j < len(part.units); j++ {
				if part.units[j] == unit {
					at = j
					break
				}
			}
			if at < 0 {
				return d, fmt.Errorf("duration %q: %c is repeated, out of order or not allowed there", s, unit)
			}
			if fraction {
				return d, fmt.Errorf("duration %q: only the last component may have a fraction", s)
			}
			v, whole, err := durationNumber(text[:i])
			if err != nil {
				return d, fmt.Errorf("duration %q: %w", s, err)
			}
			fraction = !whole
			*part.into[at] = v
			next = at + 1
			text = text[i+1:]
		}
	}
	return d, nil
}

// durationNumber reads one component's number; whole is false when it had
// a fraction.
func durationNumber(n string) (v float64, whole bool, err error) {
	intPart, frac, hasFrac := strings.Cut(strings.Replace(n, ",", ".", 1), ".")
	if intPart == "" || len(intPart) > maxDurationDigits || strings.Trim(intPart, "0123456789") != "" {
		return 0, false, fmt.Errorf("%q is not a number of 1-%d digits", n, maxDurationDigits)
	}
	if hasFrac && (frac == "" || len(frac) > maxDurationDigits || strings.Trim(frac, "0123456789") != "") {
		return 0, false, fmt.Errorf("%q has no digits after its decimal mark", n)
	}
	if hasFrac {
		intPart += "." + frac
	}
	if v, err = strconv.ParseFloat(intPart, 64); err != nil {
		return 0, false, fmt.Errorf("%q: %w", n, err)
	}
	return v, !hasFrac, nil
}

// Positive reports whether d is longer than nothing.
func (d Duration) Positive() bool {
	return d.Years > 0 || d.Months > 0 || d.Weeks > 0 || d.Days > 0 || d.Hours > 0 || d.Minutes > 0 || d.Seconds > 0
}

// String writes d in the grammar ParseDuration reads.
func (d Duration) String() string {
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	if d.Weeks != 0 {
		return "P" + num(d.Weeks) + "W"
	}
	var b strings.Builder
	b.WriteString("P")
	for _, c := range []struct {
		v    float64
		unit string
	}{{d.Years, "Y"}, {d.Months, "M"}, {d.Days, "D"}} {
		if c.v != 0 {
			b.WriteString(num(c.v) + c.unit)
		}
	}
	if d.Hours != 0 || d.Minutes != 0 || d.Seconds != 0 {
		b.WriteString("T")
		for _, c := range []struct {
			v    float64
			unit string
		}{{d.Hours, "H"}, {d.Minutes, "M"}, {d.Seconds, "S"}} {
			if c.v != 0 {
				b.WriteString(num(c.v) + c.unit)
			}
		}
	}
	if b.Len() == 1 {
		return "P0D"
	}
	return b.String()
}
