package repositories

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// vanishingProjects lets the caller change a project that the store does
// not hold: the project was deleted between the service's check and its
// insert.
type vanishingProjects struct{ owner string }

func (v vanishingProjects) VisibleProject(_ context.Context, _ identity.Principal, id string) (string, error) {
	return "", derrors.NotFound("project", id)
}

func (v vanishingProjects) WritableProject(context.Context, identity.Principal, string) (string, error) {
	return v.owner, nil
}

// TestCreateRaceWithProjectDelete: a project deleted after the service's
// access check makes the store refuse the insert, and the caller is told the
// project is gone (the store contract checks the same on both backends, with
// real concurrent deletes).
func TestCreateRaceWithProjectDelete(t *testing.T) {
	db, err := jsonstore.Open(t.TempDir(), jsonstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	store, err := newJSONStore(db)
	require.NoError(t, err)
	owner := ids.New("usr")
	svc := NewService(store, vanishingProjects{owner: owner}, &URLPolicy{AllowPrivate: true})
	pid := ids.New("prj")

	_, err = svc.Create(context.Background(), identity.Principal{ID: owner}, pid, Input{URL: "https://h.example/a/b"})
	var ae *derrors.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, derrors.CodeNotFound, ae.Code)
	require.Contains(t, ae.Message, pid)
	res, err := store.List(context.Background(), pid, page.Request{})
	require.NoError(t, err)
	require.Empty(t, res.Items, "no orphan is left behind")
}

// TestServiceCheckURL is the re-check runs make before a clone: a refusal
// is a reason without the URL's secrets, not an error; an accepted URL has
// no reason.
func TestServiceCheckURL(t *testing.T) {
	svc := NewService(nil, vanishingProjects{}, &URLPolicy{Resolver: testResolver()})
	check, err := svc.CheckURL(context.Background(), "https://93.184.216.34/a/b")
	require.NoError(t, err)
	require.Empty(t, check.Refusal)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("93.184.216.34")}, check.Addrs)
	check, err = svc.CheckURL(context.Background(), "git@git.example.org:a/b.git")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("93.184.216.34")}, check.Addrs, "the addresses the clone is pinned to")
	for _, bad := range []string{"https://10.0.0.1/a/b", "file:///srv/x", "https://u:p@93.184.216.34/a/b", "https://intranet.example/a/b"} {
		check, err := svc.CheckURL(context.Background(), bad)
		require.NoError(t, err, bad)
		require.NotEmpty(t, check.Refusal, bad)
		require.Empty(t, check.Addrs, bad)
		require.NotContains(t, check.Refusal, "u:p")
		require.NotContains(t, check.Refusal, "10.")
	}
	_, err = svc.CheckURL(context.Background(), "https://servfail.example/a/b")
	require.ErrorIs(t, err, derrors.ErrUnavailable)
}
