package workspace

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// The trust boundary: whatever the agent writes into the tree, host git runs
// none of it and host code follows none of its symlinks.

// hookNames are hooks some git command could run.
var hookNames = []string{
	"pre-commit", "post-commit", "post-checkout", "post-index-change", "reference-transaction",
	"pre-auto-gc", "post-rewrite", "post-merge", "pre-push", "fsmonitor-watchman", "push-to-checkout",
}

// hostile plants, like a malicious agent, scripts under tree/.evil that
// each leave a marker file named after themselves in markers when run, and
// returns the text of a git config that names all of them.
func hostile(t *testing.T, tree, markers string) string {
	t.Helper()
	s := filepath.Join(tree, ".evil")
	script := func(name, body string) {
		writeFile(t, filepath.Join(s, name), fmt.Sprintf("#!/bin/sh\necho \"$0 $*\" > %q\n%s", filepath.Join(markers, strings.ReplaceAll(name, "/", "-")), body), 0o755)
	}
	for _, name := range []string{
		"fsmonitor", "included-fsmonitor", "pager", "sshcommand", "askpass", "editor", "gitproxy",
		"diffext", "included-diffext", "textconv", "diffcmd", "credential", "pagerdiff", "pageradd",
		"packobjects", "seqeditor", "gpg", "ext", "submodule",
	} {
		script(name, "")
	}
	script("clean", "cat\n")
	script("smudge", "cat\n")
	script("process", "exit 1\n")
	for _, h := range hookNames {
		script("hooks/"+h, "")
	}
	writeFile(t, filepath.Join(s, "attributes"), "* filter=x diff=x\n", 0o644)
	writeFile(t, filepath.Join(s, "included.cfg"), fmt.Sprintf("[core]\n\tfsmonitor = %[1]s/included-fsmonitor\n[diff]\n\texternal = %[1]s/included-diffext\n", s), 0o644)
	writeFile(t, filepath.Join(tree, ".gitattributes"), "* filter=x diff=x\n*.bin filter=y\n", 0o644)
	writeFile(t, filepath.Join(tree, ".gitmodules"), fmt.Sprintf("[submodule \"m\"]\n\tpath = m\n\turl = ext::%[1]s/ext\n\tupdate = !%[1]s/submodule\n", s), 0o644)
	return fmt.Sprintf(`[core]
	repositoryformatversion = 0
	bare = false
	fsmonitor = %[1]s/fsmonitor
	hooksPath = %[1]s/hooks
	pager = %[1]s/pager
	sshCommand = %[1]s/sshcommand
	askPass = %[1]s/askpass
	editor = %[1]s/editor
	gitProxy = %[1]s/gitproxy
	attributesFile = %[1]s/attributes
[diff]
	external = %[1]s/diffext
[diff "x"]
	textconv = %[1]s/textconv
	command = %[1]s/diffcmd
[filter "x"]
	clean = %[1]s/clean
	smudge = %[1]s/smudge
	required = true
[filter "y"]
	process = %[1]s/process
	required = true
[credential]
	helper = !%[1]s/credential
[pager]
	diff = %[1]s/pagerdiff
	add = %[1]s/pageradd
[uploadpack]
	packObjectsHook = %[1]s/packobjects
[sequence]
	editor = %[1]s/seqeditor
[gpg]
	program = %[1]s/gpg
[commit]
	gpgSign = true
[protocol]
	allow = always
[include]
	path = %[1]s/included.cfg
`, s)
}

// plantGitDir writes, with plain file writes, a directory git accepts as a
// repository: HEAD, objects, refs, the hostile config and hooks.
func plantGitDir(t *testing.T, dir, config string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "HEAD"), "ref: refs/heads/main\n", 0o644)
	writeFile(t, filepath.Join(dir, "config"), config, 0o644)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "objects"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "refs", "heads"), 0o755))
	for _, h := range hookNames {
		writeFile(t, filepath.Join(dir, "hooks", h), "#!/bin/sh\n. \"$(dirname \"$0\")/../../.evil/hooks/"+h+"\"\n", 0o755)
	}
}

// attack is one way the agent can plant git metadata in its tree. hostGit
// is a directory outside the workspace holding a hostile repository.
type attack struct {
	name  string
	plant func(t *testing.T, tree, hostGit, config string)
}

var attacks = []attack{
	{"git dir in tree and nested gitdir file", func(t *testing.T, tree, hostGit, config string) {
		plantGitDir(t, filepath.Join(tree, ".git"), config)
		writeFile(t, filepath.Join(tree, "sub", ".git"), "gitdir: "+hostGit+"\n", 0o644)
		writeFile(t, filepath.Join(tree, "sub", "f.txt"), "sub file\n", 0o644)
	}},
	{"gitdir file to host path and nested git dir", func(t *testing.T, tree, hostGit, config string) {
		writeFile(t, filepath.Join(tree, ".git"), "gitdir: "+hostGit+"\n", 0o644)
		plantGitDir(t, filepath.Join(tree, "sub", ".git"), config)
		writeFile(t, filepath.Join(tree, "sub", "f.txt"), "sub file\n", 0o644)
	}},
	{"gitdir file to the private git dir", func(t *testing.T, tree, _, _ string) {
		writeFile(t, filepath.Join(tree, ".git"), "gitdir: ../git\n", 0o644)
		writeFile(t, filepath.Join(tree, "sub", ".git"), "gitdir: ../../git\n", 0o644)
		writeFile(t, filepath.Join(tree, "sub", "f.txt"), "sub file\n", 0o644)
	}},
}

func markersIn(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestHostileTreeControl shows the planted metadata is a real attack: plain
// git run in such a tree executes the agent's programs. Without this, the
// trust-boundary tests below could pass with a harmless plant.
func TestHostileTreeControl(t *testing.T) {
	for _, a := range attacks[:2] {
		t.Run(a.name, func(t *testing.T) {
			tree, markers := t.TempDir(), t.TempDir()
			hostGit := filepath.Join(t.TempDir(), "hostgit")
			config := hostile(t, tree, markers)
			plantGitDir(t, hostGit, config)
			a.plant(t, tree, hostGit, config)
			writeFile(t, filepath.Join(tree, "README.md"), "hello\n", 0o644)
			dir := tree
			if !strings.HasPrefix(a.name, "git dir") {
				dir = filepath.Join(tree, "sub")
			}
			for _, args := range [][]string{{"status"}, {"add", "-A"}, {"diff", "--cached"}} {
				cmd := exec.Command("git", args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
				_ = cmd.Run() // the hostile filters may make it fail; what matters is what ran
			}
			fired := markersIn(t, markers)
			t.Logf("naive git ran: %v", fired)
			require.NotEmpty(t, fired)
		})
	}
}

func TestTrustBoundary(t *testing.T) {
	src := newSource(t)
	for _, agentGit := range []bool{false, true} {
		for _, a := range attacks {
			t.Run(fmt.Sprintf("%s agentgit=%v", a.name, agentGit), func(t *testing.T) {
				m := newManager(t, func(c *Config) { c.AgentGit = agentGit })
				w, err := m.Prepare(t.Context(), "run_1", src, "")
				require.NoError(t, err)
				privateConfig, err := os.ReadFile(filepath.Join(w.gitDir, "config"))
				require.NoError(t, err)

				tree, markers := w.TreeDir(), t.TempDir()
				hostGit := filepath.Join(t.TempDir(), "hostgit")
				config := hostile(t, tree, markers)
				plantGitDir(t, hostGit, config)
				if agentGit {
					require.NoError(t, os.RemoveAll(filepath.Join(tree, ".git")))
				}
				a.plant(t, tree, hostGit, config)
				writeFile(t, filepath.Join(tree, "README.md"), "hello from the agent\n", 0o644)
				writeFile(t, filepath.Join(tree, "new.bin"), binaryContent(5, 100), 0o644)

				patch, err := w.Patch(t.Context())
				require.NoError(t, err)
				require.Empty(t, markersIn(t, markers), "host git ran an agent program during Patch")

				paths := patchPaths(patch)
				require.Contains(t, paths, "a/README.md b/README.md")
				require.Contains(t, paths, "a/new.bin b/new.bin")
				require.Contains(t, paths, "a/sub/f.txt b/sub/f.txt")
				require.Contains(t, string(patch), "+hello from the agent")
				for _, p := range paths {
					require.NotContains(t, strings.ToLower(p), ".git/", "git metadata in the patch")
					require.NotContains(t, p, "sub/.git")
				}
				require.NotContains(t, string(patch), "Subproject commit")

				require.NoError(t, w.Remove())
				require.Empty(t, markersIn(t, markers), "Remove ran an agent program")
				require.NoDirExists(t, w.dir)
				got, err := os.ReadFile(filepath.Join(hostGit, "config"))
				require.NoError(t, err, "Remove must not follow a gitdir file out of the workspace")
				require.Equal(t, config, string(got))
				require.NotContains(t, string(privateConfig), ".evil", "the private git dir config is clone's alone")
			})
		}
	}
}

// TestRootInsideHostileRepository puts Root under a directory whose .git
// is hostile: host git must never discover it from its working directory.
func TestRootInsideHostileRepository(t *testing.T) {
	src := newSource(t)
	parent, markers := t.TempDir(), t.TempDir()
	plantGitDir(t, filepath.Join(parent, ".git"), hostile(t, parent, markers))
	m := newManager(t, func(c *Config) { c.Root = filepath.Join(parent, "workspaces"); c.AgentGit = true })
	w := prepare(t, m, "run_1", src, "")
	writeFile(t, filepath.Join(w.TreeDir(), "README.md"), "changed\n", 0o644)
	patch, err := w.Patch(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"a/README.md b/README.md"}, patchPaths(patch))
	require.NoError(t, w.Remove())
	require.Empty(t, markersIn(t, markers))
}

func TestSymlinksToHost(t *testing.T) {
	const secret = "TOP-SECRET-HOST-CONTENT"
	host := t.TempDir()
	writeFile(t, filepath.Join(host, "secret.txt"), secret+"\n", 0o600)
	writeFile(t, filepath.Join(host, "dir", "inner.txt"), secret+"\n", 0o600)

	// The repository itself carries a symlink to the host file: chowning
	// the tree must change the link, not the file.
	srcDir := t.TempDir()
	testGit(t, srcDir, "init", "-q", "-b", "main")
	writeFile(t, filepath.Join(srcDir, "README.md"), "hello\n", 0o644)
	require.NoError(t, os.Symlink(filepath.Join(host, "secret.txt"), filepath.Join(srcDir, "repo-link")))
	testGit(t, srcDir, "add", "-A")
	testGit(t, srcDir, "commit", "-q", "-m", "base")

	m := newManager(t, nil)
	w, err := m.Prepare(t.Context(), "run_1", "file://"+srcDir, "")
	require.NoError(t, err)
	tree := w.TreeDir()

	// The agent links everywhere it can think of.
	require.NoError(t, os.Symlink(filepath.Join(host, "secret.txt"), filepath.Join(tree, "leak")))
	require.NoError(t, os.Symlink(filepath.Join(host, "dir"), filepath.Join(tree, "dirleak")))
	require.NoError(t, os.Symlink("../../../../../../../..", filepath.Join(tree, "up")))
	require.NoError(t, os.Remove(filepath.Join(tree, "README.md")))
	require.NoError(t, os.Symlink(filepath.Join(host, "secret.txt"), filepath.Join(tree, "README.md")))
	require.NoError(t, os.Symlink(filepath.Join(host, "secret.txt"), filepath.Join(tree, ".gitattributes")))
	require.NoError(t, os.Symlink(filepath.Join(host, "secret.txt"), filepath.Join(tree, ".gitignore")))
	require.NoError(t, os.Symlink(filepath.Join(host, "dir"), filepath.Join(tree, ".git")))

	patch, err := w.Patch(t.Context())
	require.NoError(t, err)
	require.NotContains(t, string(patch), secret, "a symlink target's content reached the patch")
	require.Contains(t, string(patch), "new file mode 120000")
	require.Contains(t, string(patch), "+"+filepath.Join(host, "secret.txt"))
	require.Equal(t, []string{
		"a/.gitattributes b/.gitattributes", "a/.gitignore b/.gitignore", "a/README.md b/README.md", "a/README.md b/README.md",
		"a/dirleak b/dirleak", "a/leak b/leak", "a/up b/up",
	}, patchPaths(patch))

	require.NoError(t, w.Remove())
	for _, p := range []string{"secret.txt", "dir/inner.txt"} {
		b, err := os.ReadFile(filepath.Join(host, p))
		require.NoError(t, err, "Remove followed a symlink out of the workspace")
		require.Equal(t, secret+"\n", string(b))
		info, err := os.Stat(filepath.Join(host, p))
		require.NoError(t, err)
		require.Equal(t, uint32(os.Geteuid()), info.Sys().(*syscall.Stat_t).Uid, "ownership of %s changed", p)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	}
}
