// Package validate holds the field checks several domains share, each
// returning the reason a value is refused ("" when it is fine), ready for an
// derrors.FieldError. Domain rules stay in their modules; only the shapes
// that repeat live here.
package validate

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// HasControl reports whether s holds a control character (C0 or DEL).
func HasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Name checks a required, human-visible name of at most max characters.
func Name(s string, max int) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "must not be empty"
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("must be at most %d characters", max)
	case HasControl(s):
		return "must not contain control characters"
	}
	return ""
}

// Text checks optional free text of at most max characters (newlines and
// tabs allowed).
func Text(s string, max int) string {
	if utf8.RuneCountInString(s) > max {
		return fmt.Sprintf("must be at most %d characters", max)
	}
	return ""
}

// Label checks an optional one-line label of at most max characters.
func Label(s string, max int) string {
	if r := Text(s, max); r != "" {
		return r
	}
	if HasControl(s) {
		return "must not contain control characters"
	}
	return ""
}
