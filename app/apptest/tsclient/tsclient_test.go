package tsclient_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/platform/testenv"
)

// toolTimeout bounds each npm tool run; together they take a few seconds.
const toolTimeout = 60 * time.Second

// project returns the absolute path of this npm project, after checking that
// node and the npm ci'd tools are there.
func project(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	require.NoError(t, err)
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Unavailable(t, "node is not installed (Node 20.19 or later)")
	}
	for _, bin := range []string{"openapi-typescript", "tsc", "redocly"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", bin)); err != nil {
			testenv.Unavailable(t, "%s is missing: run npm ci in %s", bin, dir)
		}
	}
	return dir
}

// spec starts the app and returns it with its OpenAPI document, saved in dir.
func spec(t *testing.T, dir string) (*apptest.App, string) {
	t.Helper()
	a := apptest.Start(t)
	res := a.Get("/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, res.Status)
	path := filepath.Join(dir, "openapi.json")
	require.NoError(t, os.WriteFile(path, res.Body, 0o600))
	return a, path
}

// run runs an npm tool of proj (or node) in dir and returns its standard
// output, failing the test with both outputs when it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s: %s", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	require.NoError(t, err, "%s %s\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), stdout.String(), stderr.String())
	return stdout.String()
}

// quietRedocly keeps Redocly CLI from phoning home or looking for updates.
var quietRedocly = []string{"REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1"}

// TestOpenAPIPassesRedocly lints the served document with Redocly CLI's
// recommended ruleset: no errors, and no warning but info-license (the
// project has chosen no license, so the document names none).
func TestOpenAPIPassesRedocly(t *testing.T) {
	proj := project(t)
	_, doc := spec(t, t.TempDir())
	out := run(t, proj, quietRedocly, filepath.Join(proj, "node_modules", ".bin", "redocly"),
		"lint", "--config", filepath.Join(proj, "redocly.yaml"), "--format", "json", doc)
	var report struct {
		Totals struct {
			Errors   int `json:"errors"`
			Warnings int `json:"warnings"`
		} `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &report), out)
	var unexpected []string
	for _, p := range report.Problems {
		if p.RuleID == "info-license" {
			continue
		}
		at := ""
		if len(p.Location) > 0 {
			at = p.Location[0].Pointer
		}
		unexpected = append(unexpected, p.Severity+" "+p.RuleID+" at "+at+": "+p.Message)
	}
	require.Empty(t, unexpected, "Redocly found problems in /v1/openapi.json")
	require.Zero(t, report.Totals.Errors)
	t.Logf("redocly: %d errors, %d warnings", report.Totals.Errors, report.Totals.Warnings)
}

// TestTypeScriptClient generates TypeScript types from the served document,
// type-checks src/client.ts against them and runs it against the server: it
// signs up, creates projects, lists them over two pages and reads
// details.fields of a 422 without a cast.
func TestTypeScriptClient(t *testing.T) {
	proj := project(t)
	work := t.TempDir()
	a, doc := spec(t, work)

	// A copy of the project with the generated types beside the client;
	// node_modules is linked, so tsc and node resolve the same packages.
	require.NoError(t, os.Mkdir(filepath.Join(work, "src"), 0o700))
	for _, f := range []string{"package.json", "tsconfig.json", filepath.Join("src", "client.ts")} {
		b, err := os.ReadFile(filepath.Join(proj, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(work, f), b, 0o600))
	}
	require.NoError(t, os.Symlink(filepath.Join(proj, "node_modules"), filepath.Join(work, "node_modules")))

	bin := func(name string) string { return filepath.Join(proj, "node_modules", ".bin", name) }
	run(t, work, quietRedocly, bin("openapi-typescript"), doc, "--output", filepath.Join("src", "schema.d.ts"))
	run(t, work, nil, bin("tsc"), "-p", "tsconfig.json")
	out := run(t, work, []string{"SLIPWAY_URL=" + a.URL}, "node", filepath.Join("dist", "client.js"))

	var result struct {
		OK       bool   `json:"ok"`
		User     string `json:"user"`
		Pages    int    `json:"pages"`
		Projects int    `json:"projects"`
		Fields   []struct {
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"fields"`
	}
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &result), out)
	require.True(t, result.OK)
	require.True(t, strings.HasPrefix(result.User, "usr_"), result.User)
	require.Equal(t, 2, result.Pages)
	require.Equal(t, 3, result.Projects)
	require.Len(t, result.Fields, 1)
	require.Equal(t, "name", result.Fields[0].Field)
}
