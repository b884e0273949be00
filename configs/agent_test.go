package configs_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/settings"
)

// TestCodexDeploymentAgrees keeps the pieces of a Codex deployment saying
// the same thing: the pin in agent/codex.env, the Dockerfile's defaults,
// the Codex configuration the image installs, README's "Running Codex"
// and the default settings. Nothing else ties them together, and a drift
// shows only when someone builds the image or follows the README.
func TestCodexDeploymentAgrees(t *testing.T) {
	pin := readEnvFile(t, "agent/codex.env")
	version, sum, tarball := pin["CODEX_VERSION"], pin["CODEX_SHA256"], pin["CODEX_TARBALL"]
	require.NotEmpty(t, version, "codex.env: CODEX_VERSION")
	require.Regexp(t, `^[0-9a-f]{64}$`, sum, "codex.env: CODEX_SHA256")
	require.Contains(t, tarball, version, "codex.env: CODEX_TARBALL names another version")

	dockerfile := readFile(t, "agent/Dockerfile")
	args := dockerArgs(dockerfile)
	require.Equal(t, version, args["CODEX_VERSION"], "Dockerfile: ARG CODEX_VERSION differs from codex.env")
	require.Equal(t, sum, args["CODEX_SHA256"], "Dockerfile: ARG CODEX_SHA256 differs from codex.env")
	require.Equal(t, tarball, strings.ReplaceAll(args["CODEX_TARBALL"], "${CODEX_VERSION}", version),
		"Dockerfile: ARG CODEX_TARBALL is not codex.env's URL")
	require.Regexp(t, `(?m)^COPY config\.toml /etc/codex/config\.toml$`, dockerfile,
		"Dockerfile: the image must install agent/config.toml as Codex's system configuration")

	var codex struct {
		ModelProvider  string `toml:"model_provider"`
		ModelProviders map[string]struct {
			BaseURL string `toml:"base_url"`
			EnvKey  string `toml:"env_key"`
		} `toml:"model_providers"`
	}
	_, err := toml.DecodeFile("agent/config.toml", &codex)
	require.NoError(t, err)
	provider, ok := codex.ModelProviders[codex.ModelProvider]
	require.True(t, ok, "config.toml: model_provider %q has no [model_providers] table", codex.ModelProvider)
	require.NotEmpty(t, provider.EnvKey, "config.toml: the provider needs env_key")

	defaults, err := settings.Load(func(string) string { return "" })
	require.NoError(t, err)
	require.Contains(t, defaults.Runs.Egress.Allow, hostPort(t, provider.BaseURL),
		"the model host of config.toml is not in runs.egress.allow of default.yaml")

	section := readmeSection(t, "Running Codex")
	mentions := regexp.MustCompile(`(?:Codex |codex-agent:)(\d+\.\d+\.\d+)`).FindAllStringSubmatch(section, -1)
	require.NotEmpty(t, mentions, "README: Running Codex names no Codex version")
	for _, m := range mentions {
		require.Equal(t, version, m[1], "README: Running Codex names %q", m[0])
	}
	require.True(t, strings.Contains(section, provider.EnvKey),
		"README: Running Codex does not name the key's secret, %s", provider.EnvKey)
	want := jsonArray(t, defaults.Runs.Command)
	require.True(t, strings.Contains(section, want),
		"README: Running Codex does not show the default command of default.yaml:\n%s", want)
	for _, line := range codeBlock(t, section, "dockerfile") {
		if line != "…" {
			require.Contains(t, dockerfile, line, "README: a Dockerfile line that the Dockerfile does not have")
		}
	}

	// The README's override must load, and be the default with a model.
	override := regexp.MustCompile(`(?m)^SLIPWAY_RUN_COMMAND='([^']*)'$`).FindStringSubmatch(section)
	require.NotNil(t, override, "README: Running Codex shows no SLIPWAY_RUN_COMMAND")
	custom, err := settings.Load(func(name string) string {
		if name == "SLIPWAY_RUN_COMMAND" {
			return override[1]
		}
		return ""
	})
	require.NoError(t, err)
	cmd := custom.Runs.Command
	i := slices.Index(cmd, "-m")
	require.True(t, i > 0 && i+1 < len(cmd), "README: the override sets no model: %q", cmd)
	require.Equal(t, defaults.Runs.Command, slices.Delete(slices.Clone(cmd), i, i+2),
		"README: the override is not the default command with -m added")
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

// readEnvFile reads NAME=VALUE lines, skipping blanks and # comments.
func readEnvFile(t *testing.T, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(readFile(t, name)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: %q is not NAME=VALUE", name, line)
		out[k] = v
	}
	return out
}

// dockerArgs returns the defaults of a Dockerfile's ARG NAME=VALUE lines.
func dockerArgs(dockerfile string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG ([A-Z0-9_]+)=(\S+)$`).FindAllStringSubmatch(dockerfile, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// hostPort is the HOST:PORT an https URL connects to, as the egress
// allowlist writes it.
func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	require.Equal(t, "https", u.Scheme, "the proxy only tunnels https: %s", raw)
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// readmeSection returns README.md's "## title" section, up to the next one.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	readme := readFile(t, "../README.md")
	_, rest, ok := strings.Cut(readme, "\n## "+title+"\n")
	require.True(t, ok, "README.md has no section %q", title)
	section, _, _ := strings.Cut(rest, "\n## ")
	return section
}

// codeBlock returns the lines of the first ```lang block of text.
func codeBlock(t *testing.T, text, lang string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(text, "```"+lang+"\n")
	require.True(t, ok, "no ```%s block", lang)
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok, "an unterminated ```%s block", lang)
	return strings.Split(strings.TrimSuffix(block, "\n"), "\n")
}

// jsonArray writes a command as the README does: a JSON array with ", "
// between the arguments.
func jsonArray(t *testing.T, cmd []string) string {
	t.Helper()
	args := make([]string, len(cmd))
	for i, a := range cmd {
		b, err := json.Marshal(a)
		require.NoError(t, err)
		args[i] = string(b)
	}
	return "[" + strings.Join(args, ", ") + "]"
}
