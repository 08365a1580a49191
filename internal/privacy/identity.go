package privacy

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// A device's identity (Control 35-1) must not be registered twice under
// characters that look alike. Identity text is therefore put in Unicode
// NFKC (fullwidth ＳＮ is SN, ﬁ is fi), every dash (hyphen, en and em
// dash, minus sign…) becomes '-', and white space is folded; what is left
// may hold letters, combining marks, digits, punctuation, spaces and '+',
// with its letters and digits from one script (Latin may mix with Han, Hiragana,
// Katakana, Hangul or Bopomofo, as Japanese, Chinese and Korean names
// do). Invisible characters (zero-width spaces and joiners, bidi
// controls), emoji and other symbols are refused, and so is a Cyrillic
// 'А' inside a Latin word.

// foldIdentity is s in NFKC with every dash as '-' and every run of white
// space as one space, trimmed.
func foldIdentity(s string) string {
	s = norm.NFKC.String(s)
	s = strings.Map(func(r rune) rune {
		if r == '\u2212' || r == '\u2043' || r == '\uFE63' || r == '\uFF0D' || unicode.Is(unicode.Pd, r) {
			return '-'
		}
		return r
	}, s)
	return collapseSpace(s)
}

// checkIdentity adds a problem when the folded identity text s holds a
// character an identity may not (see the top of this file).
func checkIdentity(p *Problems, field, s string) {
	scripts := map[string]bool{}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			// Digits count too: a Devanagari zero (०) in a Latin serial
			// reads as 0. ASCII digits are Common and count for none.
			if sc := scriptOf(r); sc != "" {
				scripts[sc] = true
			}
		case unicode.IsMark(r) || unicode.IsPunct(r) || r == ' ' || r == '+':
		case unicode.IsControl(r):
			return // checkText reports it
		case unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
			p.Add(field, "must not contain invisible or bidirectional control characters (U+%04X)", r)
			return
		default:
			p.Add(field, "may hold letters, digits, punctuation, spaces and '+' only, not %q (U+%04X)", r, r)
			return
		}
	}
	if len(scripts) > 1 && !mixableScripts(scripts) {
		names := make([]string, 0, len(scripts))
		for sc := range scripts {
			names = append(names, sc)
		}
		p.Add(field, "mixes the %s scripts; an identity writes its letters in one script", joinSorted(names))
	}
}

// scriptOf names the script of the letter or digit r ("" for Common and
// Inherited).
func scriptOf(r rune) string {
	for _, name := range identityScripts {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	for name, table := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

// identityScripts are tried first: nearly every identity is written in one.
var identityScripts = []string{"Latin", "Han", "Cyrillic", "Greek", "Hiragana", "Katakana", "Hangul", "Arabic", "Hebrew"}

// mixableScripts reports whether the scripts are one of the mixes that
// East Asian writing uses with Latin.
func mixableScripts(scripts map[string]bool) bool {
	for _, allowed := range []map[string]bool{
		{"Latin": true, "Han": true, "Hiragana": true, "Katakana": true},
		{"Latin": true, "Han": true, "Bopomofo": true},
		{"Latin": true, "Han": true, "Hangul": true},
	} {
		ok := true
		for sc := range scripts {
			ok = ok && allowed[sc]
		}
		if ok {
			return true
		}
	}
	return false
}

func joinSorted(names []string) string {
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return strings.Join(names, " and ")
}
