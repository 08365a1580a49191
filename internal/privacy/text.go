package privacy

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// keyPattern is the shape of every machine key in the API (purposes, notice
// keys, data element keys): short, lower case, safe in a URL path segment
// and in a Casbin policy line without escaping.
var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// ValidKey reports whether s is a well-formed key.
func ValidKey(s string) bool { return keyPattern.MatchString(s) }

// keyRule is the human wording of keyPattern for error details.
const keyRule = "must be 1-64 characters: a lower-case letter, then lower-case letters, digits, '_', '.' or '-'"

// Whether checkText lets a value span lines.
const (
	oneLine   = false
	multiline = true
)

// checkText adds a problem when s is empty (if required), longer than max
// runes, or holds control characters, which have no place in labels and
// would let a value forge lines in logs or rendered notices. A multiline
// value may hold tabs and line breaks, nothing else.
func checkText(p *Problems, field, s string, required bool, max int, lines bool) {
	switch {
	case required && strings.TrimSpace(s) == "":
		p.Add(field, "is required")
	case !utf8.ValidString(s):
		p.Add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		p.Add(field, "must be at most %d characters", max)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && !(lines && (r == '\n' || r == '\r' || r == '\t')) }) >= 0:
		if lines {
			p.Add(field, "must not contain control characters other than tabs and line breaks")
		} else {
			p.Add(field, "must be one line without control characters")
		}
	}
}

// collapseSpace trims s and folds every run of white space to one space, so
// that "Acme  Corp " and "Acme Corp" are one manufacturer.
func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
