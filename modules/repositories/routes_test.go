package repositories_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/modules/repositories"
	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/apierror"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

func project(t *testing.T, a *apptest.App, token string) string {
	t.Helper()
	res := a.Post("/v1/projects", token, map[string]any{"name": "p"})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	return res.JSON(t)["id"].(string)
}

func TestRepositoryLifecycle(t *testing.T) { lifecycleFlow(t, apptest.Start(t)) }

func lifecycleFlow(t *testing.T, a *apptest.App) {
	u := a.SignUp()
	pid := project(t, a, u.Token)

	res := a.Post("/v1/projects/"+pid+"/repositories", u.Token, map[string]any{"url": "https://git.example.org/team/app.git"})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	r := res.JSON(t)
	id := r["id"].(string)
	require.True(t, strings.HasPrefix(id, "rep_"))
	require.Equal(t, pid, r["project_id"])
	require.Equal(t, "app", r["name"], "the name defaults to the url's last segment")
	require.Equal(t, "https://git.example.org/team/app.git", r["url"])
	require.Contains(t, r, "default_branch")
	require.Nil(t, r["default_branch"], "no default branch is null")
	require.Equal(t, r["created_at"], r["updated_at"])
	require.ElementsMatch(t, []string{"id", "project_id", "name", "url", "default_branch", "created_at", "updated_at"}, keys(r))

	res = a.Get("/v1/repositories/"+id, u.Token)
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, r, res.JSON(t))

	res = a.Patch("/v1/repositories/"+id, u.Token, map[string]any{"default_branch": "release/1.x", "url": "git@git.example.org:team/app2.git"})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	got := res.JSON(t)
	require.Equal(t, "app", got["name"], "fields not sent stay, the name included")
	require.Equal(t, "git@git.example.org:team/app2.git", got["url"])
	require.Equal(t, "release/1.x", got["default_branch"])
	require.NotEqual(t, r["updated_at"], got["updated_at"])
	require.Equal(t, r["created_at"], got["created_at"])

	res = a.Patch("/v1/repositories/"+id, u.Token, map[string]any{"default_branch": "", "name": "renamed"})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Nil(t, res.JSON(t)["default_branch"], `"" resets to the remote's default`)
	require.Equal(t, "renamed", res.JSON(t)["name"])

	res = a.Post("/v1/projects/"+pid+"/repositories", u.Token,
		map[string]any{"url": "ssh://git@git.example.org:2222/team/tool.git", "name": "The Tool", "default_branch": "main"})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	second := res.JSON(t)
	require.Equal(t, "The Tool", second["name"])
	require.Equal(t, "main", second["default_branch"])

	list := a.Get("/v1/projects/"+pid+"/repositories", u.Token).JSON(t)
	require.Nil(t, list["next_cursor"])
	require.Equal(t, []string{id, second["id"].(string)}, itemIDs(list))

	res = a.Delete("/v1/repositories/"+id, u.Token)
	require.Equal(t, http.StatusNoContent, res.Status)
	require.Empty(t, res.Body)
	res = a.Get("/v1/repositories/"+id, u.Token)
	require.Equal(t, http.StatusNotFound, res.Status)
	require.Equal(t, "not_found", res.ErrorCode(t))
	require.Contains(t, string(res.Body), "repository "+id, "the message names the kind and id")
	require.Equal(t, http.StatusNotFound, a.Delete("/v1/repositories/"+id, u.Token).Status)

	// Deleting the project takes its repositories with it.
	require.Equal(t, http.StatusNoContent, a.Delete("/v1/projects/"+pid, u.Token).Status)
	require.Equal(t, http.StatusNotFound, a.Get("/v1/repositories/"+second["id"].(string), u.Token).Status)
	res = a.Get("/v1/projects/"+pid+"/repositories", u.Token)
	require.Equal(t, http.StatusNotFound, res.Status)
	require.Contains(t, string(res.Body), "project "+pid)
}

// TestDeletingProjectDeletesRepositoriesOnJSON looks into the JSON store
// after the app stopped: a deleted project's repositories are gone from it,
// not merely hidden, and other projects' are kept.
func TestDeletingProjectDeletesRepositoriesOnJSON(t *testing.T) {
	a := apptest.Start(t)
	u := a.SignUp()
	gone, kept := project(t, a, u.Token), project(t, a, u.Token)
	for _, pid := range []string{gone, gone, kept} {
		res := a.Post("/v1/projects/"+pid+"/repositories", u.Token, map[string]any{"url": "https://h.example/a/b"})
		require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	}
	require.Equal(t, http.StatusNoContent, a.Delete("/v1/projects/"+gone, u.Token).Status)
	a.Stop()

	db, err := jsonstore.Open(filepath.Join(a.Settings.Storage.DataDir, "records"), jsonstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	s, err := repositories.NewStore(&storage.Records{Backend: settings.BackendJSON, JSON: db})
	require.NoError(t, err)
	for pid, n := range map[string]int{gone: 0, kept: 1} {
		res, err := s.List(context.Background(), pid, page.Request{})
		require.NoError(t, err)
		require.Len(t, res.Items, n, pid)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func itemIDs(list map[string]any) []string {
	var out []string
	for _, it := range list["items"].([]any) {
		out = append(out, it.(map[string]any)["id"].(string))
	}
	return out
}

func TestRepositoryOwnership(t *testing.T) { ownershipFlow(t, apptest.Start(t)) }

func ownershipFlow(t *testing.T, a *apptest.App) {
	owner, stranger := a.SignUp(), a.SignUp()
	operator, root := a.CreateUser("operator"), a.CreateUser("root")
	pid := project(t, a, owner.Token)
	body := map[string]any{"url": "https://git.example.org/team/app.git"}
	id := a.Post("/v1/projects/"+pid+"/repositories", owner.Token, body).JSON(t)["id"].(string)

	for name, res := range map[string]*apptest.Response{
		"get":    a.Get("/v1/repositories/"+id, stranger.Token),
		"patch":  a.Patch("/v1/repositories/"+id, stranger.Token, map[string]any{"name": "mine"}),
		"delete": a.Delete("/v1/repositories/"+id, stranger.Token),
		"list":   a.Get("/v1/projects/"+pid+"/repositories", stranger.Token),
		"create": a.Post("/v1/projects/"+pid+"/repositories", stranger.Token, body),
	} {
		require.Equal(t, http.StatusNotFound, res.Status, "%s: someone else's repository does not exist for the caller", name)
		require.Equal(t, "not_found", res.ErrorCode(t))
	}
	require.NotContains(t, string(a.Get("/v1/repositories/"+id, stranger.Token).Body), pid,
		"a hidden repository's 404 does not reveal its project")

	require.Equal(t, http.StatusOK, a.Get("/v1/repositories/"+id, operator.Token).Status, "operators read everything")
	require.Equal(t, []string{id}, itemIDs(a.Get("/v1/projects/"+pid+"/repositories", operator.Token).JSON(t)))
	for name, res := range map[string]*apptest.Response{
		"patch":  a.Patch("/v1/repositories/"+id, operator.Token, map[string]any{"name": "x"}),
		"delete": a.Delete("/v1/repositories/"+id, operator.Token),
		"create": a.Post("/v1/projects/"+pid+"/repositories", operator.Token, body),
	} {
		require.Equal(t, http.StatusForbidden, res.Status, name)
		require.Equal(t, "forbidden", res.ErrorCode(t))
		require.Contains(t, string(res.Body), `"required_group":"root"`)
	}

	res := a.Patch("/v1/repositories/"+id, root.Token, map[string]any{"name": "renamed by root"})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res = a.Post("/v1/projects/"+pid+"/repositories", root.Token, body)
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	require.Equal(t, http.StatusNoContent, a.Delete("/v1/repositories/"+res.JSON(t)["id"].(string), root.Token).Status)
	require.Equal(t, http.StatusNoContent, a.Delete("/v1/repositories/"+id, root.Token).Status)

	for _, path := range []string{"/v1/repositories/not-an-id", "/v1/repositories/" + pid, "/v1/projects/not-an-id/repositories"} {
		res := a.Get(path, owner.Token)
		require.Equal(t, http.StatusNotFound, res.Status, path)
		require.Equal(t, "not_found", res.ErrorCode(t))
	}
	res = a.Post("/v1/projects/prj_nope/repositories", owner.Token, body)
	require.Equal(t, http.StatusNotFound, res.Status)

	res = a.Get("/v1/repositories/"+id, "")
	require.Equal(t, http.StatusUnauthorized, res.Status)
	require.Equal(t, "invalid_token", res.ErrorCode(t))
}

// TestRepositoryAccess checks access.Repositories, as the runs module uses it.
func TestRepositoryAccess(t *testing.T) {
	var repos access.Repositories
	a := apptest.StartWith(t, apptest.Settings(t), fx.Populate(&repos))
	owner, stranger := a.SignUp(), a.SignUp()
	operator := a.CreateUser("operator")
	pid := project(t, a, owner.Token)
	id := a.Post("/v1/projects/"+pid+"/repositories", owner.Token,
		map[string]any{"url": "https://git.example.org/team/app.git", "default_branch": "dev"}).JSON(t)["id"].(string)
	ctx := context.Background()
	want := access.Repository{ID: id, ProjectID: pid, OwnerID: owner.ID, URL: "https://git.example.org/team/app.git", DefaultBranch: "dev"}

	got, err := repos.WritableRepository(ctx, identity.Principal{ID: owner.ID}, id)
	require.NoError(t, err)
	require.Equal(t, want, got)
	got, err = repos.VisibleRepository(ctx, identity.Principal{ID: operator.ID, Groups: []string{identity.GroupOperator}}, id)
	require.NoError(t, err)
	require.Equal(t, want, got, "OwnerID is the project's owner, not the caller")
	_, err = repos.WritableRepository(ctx, identity.Principal{ID: operator.ID, Groups: []string{identity.GroupOperator}}, id)
	requireStatus(t, err, http.StatusForbidden)
	_, err = repos.VisibleRepository(ctx, identity.Principal{ID: stranger.ID}, id)
	requireStatus(t, err, http.StatusNotFound)
	got, err = repos.VisibleRepository(ctx, identity.Principal{ID: "system:runs", Groups: []string{identity.GroupRoot}}, id)
	require.NoError(t, err, "a system principal with root sees every repository")
	require.Equal(t, want, got)

	require.Equal(t, http.StatusNoContent, a.Delete("/v1/projects/"+pid, owner.Token).Status)
	_, err = repos.VisibleRepository(ctx, identity.Principal{ID: owner.ID}, id)
	requireStatus(t, err, http.StatusNotFound)
}

func requireStatus(t *testing.T, err error, status int) {
	t.Helper()
	require.Equal(t, status, apierror.Status(derrors.KindOf(err)), "%v", err)
}

// staticResolver answers lookups from a table, so API tests need no DNS:
// names not in it do not exist.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if addrs, ok := r[host]; ok {
		return addrs, nil
	}
	if host == "servfail.example" {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// strict runs the app with production's URL rules (no file URLs, no
// private hosts) and a table instead of DNS.
func strict(t *testing.T, allowFile, allowPrivate bool) *apptest.App {
	s := apptest.Settings(t, func(s *settings.Settings) {
		s.Runs.AllowFileURLs = allowFile
		s.Runs.AllowPrivateHosts = allowPrivate
	})
	return apptest.StartWith(t, s, fx.Decorate(func(p *repositories.URLPolicy) *repositories.URLPolicy {
		p.Resolver = staticResolver{
			"git.example.org":  {netip.MustParseAddr("93.184.216.34")},
			"intranet.example": {netip.MustParseAddr("10.1.2.3")},
			"mixed.example":    {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("fd00::1")},
		}
		return p
	}))
}

func TestRepositoryURLValidation(t *testing.T) {
	type setting struct{ allowFile, allowPrivate bool }
	apps := map[setting]*apptest.App{}
	users := map[setting]apptest.User{}
	projects := map[setting]string{}
	for _, s := range []setting{{false, false}, {true, false}, {false, true}, {true, true}} {
		apps[s] = strict(t, s.allowFile, s.allowPrivate)
		users[s] = apps[s].SignUp()
		projects[s] = project(t, apps[s], users[s].Token)
	}
	tests := []struct {
		url          string
		allowFile    bool
		allowPrivate bool
		status       int
		reason       string
	}{
		{url: "https://git.example.org/team/app.git", status: 201},
		{url: "https://93.184.216.34/team/app.git", status: 201},
		{url: "ssh://git@git.example.org:2222/team/app.git", status: 201},
		{url: "ssh://git.example.org/team/app.git", status: 201},
		{url: "git@git.example.org:team/app.git", status: 201},
		{url: "http://git.example.org/team/app.git", status: 422, reason: `scheme \"http\" is not allowed`},
		{url: "git://git.example.org/team/app.git", status: 422, reason: `scheme \"git\" is not allowed`},
		{url: "ext::sh -c id", status: 422, reason: "whitespace"},
		{url: "ext::id", allowFile: true, allowPrivate: true, status: 422, reason: "remote helper"},
		{url: "-uhttps://git.example.org/a/b", status: 422, reason: "'-'"},
		{url: "--upload-pack=id", allowFile: true, allowPrivate: true, status: 422, reason: "'-'"},
		{url: "https://user:hunter2@git.example.org/a/b", status: 422, reason: "credentials"},
		{url: "https://token@git.example.org/a/b", status: 422, reason: "credentials"},
		{url: "ssh://git:hunter2@git.example.org/a/b", status: 422, reason: "credentials"},
		{url: "https://git.example.org/a b", status: 422, reason: "whitespace"},
		{url: "https://git.example.org/a\tb", status: 422, reason: "whitespace"},
		{url: "https://git.example.org/a\u0000b", status: 422, reason: "control"},
		{url: "https://git.example.org/" + strings.Repeat("a", 2048), status: 422, reason: "at most 2048"},
		{url: "", status: 422, reason: "must not be empty"},
		{url: "file:///srv/git/app.git", status: 422, reason: "file:// urls are not allowed"},
		{url: "file:///srv/git/app.git", allowFile: true, status: 201},
		{url: "/srv/git/app.git", status: 422, reason: "local paths"},
		{url: "/srv/git/app.git", allowFile: true, status: 201},
		{url: "https://127.0.0.1/a/b", status: 422, reason: "loopback"},
		{url: "https://[::1]/a/b", status: 422, reason: "loopback"},
		{url: "https://localhost/a/b", status: 422, reason: "localhost"},
		{url: "git@localhost:a/b.git", status: 422, reason: "localhost"},
		{url: "https://169.254.169.254/a/b", status: 422, reason: "metadata"},
		{url: "https://169.254.1.1/a/b", status: 422, reason: "link-local"},
		{url: "https://[fe80::1]/a/b", status: 422, reason: "link-local"},
		{url: "https://10.0.0.1/a/b", status: 422, reason: "private"},
		{url: "https://172.16.0.1/a/b", status: 422, reason: "private"},
		{url: "https://192.168.0.1/a/b", status: 422, reason: "private"},
		{url: "https://[fd00::1]/a/b", status: 422, reason: "private"},
		{url: "https://0.0.0.0/a/b", status: 422, reason: "unspecified"},
		{url: "https://100.64.0.1/a/b", status: 422, reason: "CGNAT"},
		{url: "https://224.0.0.1/a/b", status: 422, reason: "multicast"},
		{url: "https://2130706433/a/b", status: 422, reason: "non-standard form"},
		{url: "https://intranet.example/a/b", status: 422, reason: "resolves to a private address"},
		{url: "https://mixed.example/a/b", status: 422, reason: "resolves to a private address"},
		{url: "https://nowhere.example/a/b", status: 422, reason: "does not resolve"},
		{url: "https://127.0.0.1/a/b", allowPrivate: true, status: 201},
		{url: "https://localhost/a/b", allowPrivate: true, status: 201},
		{url: "https://intranet.example/a/b", allowPrivate: true, status: 201},
		{url: "https://169.254.1.1/a/b", allowPrivate: true, status: 201},
		{url: "https://169.254.169.254/a/b", allowPrivate: true, status: 422, reason: "metadata"},
		{url: "file:///srv/git/app.git", allowPrivate: true, status: 422, reason: "file://"},
		{url: "http://127.0.0.1/a/b", allowFile: true, allowPrivate: true, status: 422, reason: "not allowed"},
		// Local mode accepted this as the scp address host "javascript",
		// path "alert(1)"; a web client showing it as a link runs it.
		{url: "javascript:alert(1)", allowFile: true, allowPrivate: true, status: 422, reason: `scheme \"javascript\" is not allowed`},
		{url: "data:text/html,<script>alert(1)</script>", allowFile: true, allowPrivate: true, status: 422, reason: `scheme \"data\" is not allowed`},
		{url: "vbscript:msgbox(1)", allowFile: true, allowPrivate: true, status: 422, reason: `scheme \"vbscript\" is not allowed`},
		{url: "git@git.example.org:team/app.git", allowFile: true, allowPrivate: true, status: 201},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%.60q file=%v private=%v", tt.url, tt.allowFile, tt.allowPrivate)
		t.Run(name, func(t *testing.T) {
			s := setting{tt.allowFile, tt.allowPrivate}
			a, u, pid := apps[s], users[s], projects[s]
			res := a.Post("/v1/projects/"+pid+"/repositories", u.Token, map[string]any{"url": tt.url})
			require.Equal(t, tt.status, res.Status, "%s", res.Body)
			if tt.status == 201 {
				id := res.JSON(t)["id"].(string)
				// The same URL passes on PATCH too.
				res = a.Patch("/v1/repositories/"+id, u.Token, map[string]any{"url": tt.url})
				require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
				return
			}
			requireFieldError(t, res, "url", tt.reason)
			require.NotContains(t, string(res.Body), "hunter2", "a refused url's secret is not echoed")
		})
	}

	t.Run("PATCH applies the same rules", func(t *testing.T) {
		s := setting{false, false}
		a, u := apps[s], users[s]
		id := a.Post("/v1/projects/"+projects[s]+"/repositories", u.Token,
			map[string]any{"url": "https://git.example.org/a/b"}).JSON(t)["id"].(string)
		for _, bad := range []string{"https://10.0.0.1/a/b", "https://intranet.example/a/b", "file:///srv/x", "http://git.example.org/a/b"} {
			res := a.Patch("/v1/repositories/"+id, u.Token, map[string]any{"url": bad})
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, bad)
			requireFieldError(t, res, "url", "")
		}
		require.Equal(t, "https://git.example.org/a/b", a.Get("/v1/repositories/"+id, u.Token).JSON(t)["url"])
	})

	t.Run("DNS failure is an outage", func(t *testing.T) {
		s := setting{false, false}
		res := apps[s].Post("/v1/projects/"+projects[s]+"/repositories", users[s].Token,
			map[string]any{"url": "https://servfail.example/a/b"})
		require.Equal(t, http.StatusServiceUnavailable, res.Status, "%s", res.Body)
		require.Equal(t, "service_unavailable", res.ErrorCode(t))
		require.Equal(t, true, res.JSON(t)["error"].(map[string]any)["retryable"])
	})
}

// requireFieldError checks a 422 envelope naming field, whose reason
// contains reason.
func requireFieldError(t *testing.T, res *apptest.Response, field, reason string) {
	t.Helper()
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
	require.Equal(t, "validation_error", res.ErrorCode(t))
	var env struct {
		Error struct {
			Details struct {
				Fields []derrors.FieldError `json:"fields"`
			} `json:"details"`
		} `json:"error"`
	}
	res.Decode(t, &env)
	for _, f := range env.Error.Details.Fields {
		if f.Field == field {
			require.Contains(t, f.Reason, strings.ReplaceAll(reason, `\"`, `"`), "%s", res.Body)
			return
		}
	}
	require.Fail(t, "no error on field "+field, "%s", res.Body)
}

func TestRepositoryFieldValidation(t *testing.T) {
	a := apptest.Start(t)
	u := a.SignUp()
	pid := project(t, a, u.Token)
	path := "/v1/projects/" + pid + "/repositories"
	tests := []struct {
		name, body, field string
	}{
		{"missing url", `{}`, "url"},
		{"url not a string", `{"url":42}`, "url"},
		{"id by assignment", `{"url":"https://h.example/a/b","id":"rep_mine"}`, "id"},
		{"project by assignment", `{"url":"https://h.example/a/b","project_id":"prj_x"}`, "project_id"},
		{"unknown field", `{"url":"https://h.example/a/b","branch":"main"}`, "branch"},
		{"empty name", `{"url":"https://h.example/a/b","name":""}`, "name"},
		{"blank name", `{"url":"https://h.example/a/b","name":"  "}`, "name"},
		{"long name", `{"url":"https://h.example/a/b","name":"` + strings.Repeat("n", 101) + `"}`, "name"},
		{"control chars in name", `{"url":"https://h.example/a/b","name":"a\u0007b"}`, "name"},
		{"name not derivable", `{"url":"https://h.example/a/.git"}`, "name"},
		{"branch starting with dash", `{"url":"https://h.example/a/b","default_branch":"-f"}`, "default_branch"},
		{"branch with dots", `{"url":"https://h.example/a/b","default_branch":"a..b"}`, "default_branch"},
		{"branch with space", `{"url":"https://h.example/a/b","default_branch":"a b"}`, "default_branch"},
		{"branch with colon", `{"url":"https://h.example/a/b","default_branch":"a:b"}`, "default_branch"},
		{"branch lock", `{"url":"https://h.example/a/b","default_branch":"a.lock"}`, "default_branch"},
		{"branch trailing slash", `{"url":"https://h.example/a/b","default_branch":"a/"}`, "default_branch"},
		{"branch too long", `{"url":"https://h.example/a/b","default_branch":"` + strings.Repeat("b", 256) + `"}`, "default_branch"},
		{"branch with control", `{"url":"https://h.example/a/b","default_branch":"a\u0001"}`, "default_branch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.Do(apptest.Request{Method: http.MethodPost, Path: path, Token: u.Token, Body: tt.body})
			requireFieldError(t, res, tt.field, "")
		})
	}

	t.Run("every bad field at once", func(t *testing.T) {
		res := a.Post(path, u.Token, map[string]any{"url": "http://x/y", "name": "", "default_branch": "-x"})
		require.Equal(t, http.StatusUnprocessableEntity, res.Status)
		for _, f := range []string{"url", "name", "default_branch"} {
			requireFieldError(t, res, f, "")
		}
	})

	id := a.Post(path, u.Token, map[string]any{"url": "https://h.example/a/b"}).JSON(t)["id"].(string)
	for name, body := range map[string]string{
		"empty name":        `{"name":""}`,
		"bad branch":        `{"default_branch":"a~1"}`,
		"empty url":         `{"url":""}`,
		"unknown field":     `{"project_id":"prj_x"}`,
		"id by assignment":  `{"id":"rep_x"}`,
		"created_at":        `{"created_at":"2020-01-01T00:00:00Z"}`,
		"default_branch 42": `{"default_branch":42}`,
	} {
		t.Run("PATCH "+name, func(t *testing.T) {
			res := a.Do(apptest.Request{Method: http.MethodPatch, Path: "/v1/repositories/" + id, Token: u.Token, Body: body})
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
			require.Equal(t, "validation_error", res.ErrorCode(t))
		})
	}

	for name, req := range map[string]struct {
		body        string
		contentType string
		status      int
		code        string
	}{
		"not json":      {`{"url":`, "application/json", 400, "invalid_json"},
		"not an object": {`["https://h.example/a/b"]`, "application/json", 400, "invalid_json"},
		"not json type": {`url=x`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
	} {
		t.Run(name, func(t *testing.T) {
			res := a.Do(apptest.Request{Method: http.MethodPost, Path: path, Token: u.Token, Body: req.body,
				Header: map[string]string{"Content-Type": req.contentType}})
			require.Equal(t, req.status, res.Status, "%s", res.Body)
			require.Equal(t, req.code, res.ErrorCode(t))
		})
	}
}

func TestRepositoryPagination(t *testing.T) { paginationFlow(t, apptest.Start(t)) }

func paginationFlow(t *testing.T, a *apptest.App) {
	u := a.SignUp()
	pid, other := project(t, a, u.Token), project(t, a, u.Token)
	a.Post("/v1/projects/"+other+"/repositories", u.Token, map[string]any{"url": "https://h.example/o/elsewhere"})
	var want []string
	for i := range 7 {
		res := a.Post("/v1/projects/"+pid+"/repositories", u.Token, map[string]any{"url": fmt.Sprintf("https://h.example/o/r%d.git", i)})
		require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
		want = append(want, res.JSON(t)["id"].(string))
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		path := "/v1/projects/" + pid + "/repositories?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res := a.Get(path, u.Token)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		body := res.JSON(t)
		require.LessOrEqual(t, len(body["items"].([]any)), 3)
		got = append(got, itemIDs(body)...)
		if body["next_cursor"] == nil {
			break
		}
		cursor = body["next_cursor"].(string)
	}
	require.Equal(t, want, got, "every repository of the project once, oldest first")

	empty := a.Get("/v1/projects/"+project(t, a, u.Token)+"/repositories", u.Token)
	require.Equal(t, http.StatusOK, empty.Status)
	require.JSONEq(t, `{"items":[],"next_cursor":null}`, string(empty.Body))

	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=garbage"} {
		res := a.Get("/v1/projects/"+pid+"/repositories?"+q, u.Token)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, q)
		require.Equal(t, "validation_error", res.ErrorCode(t))
	}
}

func TestRepositoryRoutesInOpenAPI(t *testing.T) {
	a := apptest.Start(t)
	res := a.Get("/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, res.Status)
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	res.Decode(t, &doc)
	for path, ops := range map[string]map[string]string{
		"/v1/projects/{project_id}/repositories": {"post": "createRepository", "get": "listRepositories"},
		"/v1/repositories/{repository_id}":       {"get": "getRepository", "patch": "updateRepository", "delete": "deleteRepository"},
	} {
		for method, id := range ops {
			require.Equal(t, id, doc.Paths[path][method].OperationID, "%s %s", method, path)
		}
	}
	schema, ok := doc.Components.Schemas["RepositoryResponse"]
	require.True(t, ok, "components: %v", keysOf(doc.Components.Schemas))
	var resp struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(schema, &resp))
	require.Equal(t, []any{"string", "null"}, resp.Properties["default_branch"].Type, "default_branch is documented as nullable")
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
