package workspace

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxBranchLen is the longest branch name CheckBranch accepts, in bytes.
const MaxBranchLen = 255

// CheckBranch returns why name cannot be cloned as a branch, or "" when it
// can; the empty name means the remote's default branch and is fine. Every
// module that stores or clones a branch name uses it, so that what is
// stored is what a run can clone. The reason is written for a
// derrors.FieldError.
//
// The rules are git check-ref-format's for a branch: no "..", no "@{", not
// "@", no component starting with "." or ending with ".lock", no space,
// control character or any of ~ ^ : ? * [ \, no leading or trailing "/"
// nor "//", no trailing ".". On top of them, a name is at most
// MaxBranchLen bytes of UTF-8 and never starts with "-", where git would
// read it as an option.
func CheckBranch(name string) string {
	if name == "" {
		return ""
	}
	switch {
	case len(name) > MaxBranchLen:
		return fmt.Sprintf("must be at most %d bytes", MaxBranchLen)
	case !utf8.ValidString(name):
		return "must be valid UTF-8"
	case strings.HasPrefix(name, "-"):
		return `must not start with "-"`
	case strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "must not contain spaces or control characters"
	case strings.ContainsAny(name, `~^:?*[\`):
		return `must not contain any of ~ ^ : ? * [ \`
	case strings.Contains(name, ".."):
		return `must not contain ".."`
	case strings.Contains(name, "@{"), name == "@":
		return `must not contain "@{" nor be "@"`
	case strings.HasPrefix(name, "/"), strings.HasSuffix(name, "/"), strings.Contains(name, "//"):
		return `must not start or end with "/" nor contain "//"`
	case strings.HasSuffix(name, "."):
		return `must not end with "."`
	}
	for part := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return `no component between "/" may start with "." or end with ".lock"`
		}
	}
	return ""
}
