package repositories

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slipwayhq/slipway/platform/validate"
)

// Repository is a stored repository.
type Repository struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	// DefaultBranch is the branch runs start from when they name none; ""
	// means the remote's default branch, resolved at clone time.
	DefaultBranch string    `json:"default_branch"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Field limits.
const (
	MaxNameLen   = 100
	MaxURLLen    = 2048
	MaxBranchLen = 255
)

func checkName(name string) string { return validate.Name(name, MaxNameLen) }

// checkBranch accepts the names git accepts for a branch (git
// check-ref-format) that cannot be read as an option; "" is the remote's
// default branch.
func checkBranch(b string) string {
	if b == "" {
		return ""
	}
	switch {
	case len(b) > MaxBranchLen:
		return "must be at most 255 bytes"
	case strings.HasPrefix(b, "-"):
		return "must not start with '-'"
	case strings.ContainsFunc(b, func(r rune) bool { return r <= 0x20 || r == 0x7f || r == utf8.RuneError }):
		return "must not contain spaces or control characters"
	case strings.ContainsAny(b, `~^:?*[\`):
		return `must not contain any of ~ ^ : ? * [ \`
	case strings.Contains(b, ".."), strings.Contains(b, "@{"), b == "@":
		return `must not contain ".." or "@{", nor be "@"`
	case strings.HasPrefix(b, "/"), strings.HasSuffix(b, "/"), strings.Contains(b, "//"):
		return "must not start or end with '/' nor contain '//'"
	case strings.HasSuffix(b, "."), strings.HasSuffix(b, ".lock"):
		return `must not end with "." or ".lock"`
	}
	for part := range strings.SplitSeq(b, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return `no path component may start with "." or end with ".lock"`
		}
	}
	return ""
}
