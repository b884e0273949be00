package workspace

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckBranch(t *testing.T) {
	tests := []struct {
		name string
		want string // the reason, "" for accepted
		// gitDiffers marks names git check-ref-format --branch judges
		// otherwise: our extra bounds, and "@", which git expands to HEAD.
		gitDiffers bool
	}{
		{"", "", true}, // the remote's default branch
		{"main", "", false},
		{"feature/x", "", false},
		{"release-1.2", "", false},
		{"v1.0", "", false},
		{"a_b", "", false},
		{"ünïcode", "", false},
		{"a.b/c.d", "", false},
		{"a.lockx", "", false},
		{"lock/x", "", false},
		{"a@b", "", false},
		{"@a", "", false},
		{"a{b}", "", false},
		{strings.Repeat("b", 255), "", false},

		{strings.Repeat("b", 256), "must be at most 255 bytes", true},
		{"a\xffb", "must be valid UTF-8", true},
		{"-x", `must not start with "-"`, false},
		{"--upload-pack=x", `must not start with "-"`, false},
		{"a b", "must not contain spaces or control characters", false},
		{"a\tb", "must not contain spaces or control characters", false},
		{"a\x00b", "must not contain spaces or control characters", true}, // git cannot take a NUL argument
		{"a\x1fb", "must not contain spaces or control characters", false},
		{"a\x7fb", "must not contain spaces or control characters", false},
		{"a~1", `must not contain any of ~ ^ : ? * [ \`, false},
		{"a^", `must not contain any of ~ ^ : ? * [ \`, false},
		{"a:b", `must not contain any of ~ ^ : ? * [ \`, false},
		{"a?", `must not contain any of ~ ^ : ? * [ \`, false},
		{"a*", `must not contain any of ~ ^ : ? * [ \`, false},
		{"a[b", `must not contain any of ~ ^ : ? * [ \`, false},
		{`a\b`, `must not contain any of ~ ^ : ? * [ \`, false},
		{"a..b", `must not contain ".."`, false},
		{"a/../b", `must not contain ".."`, false},
		{"a@{1}", `must not contain "@{" nor be "@"`, false},
		{"@", `must not contain "@{" nor be "@"`, true},
		{"/a", `must not start or end with "/" nor contain "//"`, false},
		{"a/", `must not start or end with "/" nor contain "//"`, false},
		{"a//b", `must not start or end with "/" nor contain "//"`, false},
		{"a.", `must not end with "."`, false},
		{"a/b.", `must not end with "."`, false},
		{".a", `no component between "/" may start with "." or end with ".lock"`, false},
		{"a/.b", `no component between "/" may start with "." or end with ".lock"`, false},
		{"a.lock", `no component between "/" may start with "." or end with ".lock"`, false},
		{"a.lock/b", `no component between "/" may start with "." or end with ".lock"`, false},
		{"x/a.lock/b", `no component between "/" may start with "." or end with ".lock"`, false},
	}
	dir := t.TempDir() // not a repository: git judges the name alone
	for _, tt := range tests {
		require.Equal(t, tt.want, CheckBranch(tt.name), "%q", tt.name)
		if tt.gitDiffers {
			continue
		}
		cmd := exec.Command("git", "check-ref-format", "--branch", tt.name)
		cmd.Dir = dir
		gitAccepts := cmd.Run() == nil
		require.Equal(t, tt.want == "", gitAccepts, "git check-ref-format --branch %q agrees", tt.name)
	}
}
