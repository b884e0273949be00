package apptest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
)

func TestCreateProjectBelongsToTheCaller(t *testing.T) {
	a := apptest.Start(t)
	owner, other := a.SignUp(), a.SignUp()
	id := a.CreateProject(owner.Token)
	require.Equal(t, http.StatusOK, a.Get("/v1/projects/"+id, owner.Token).Status)
	require.Equal(t, http.StatusNotFound, a.Get("/v1/projects/"+id, other.Token).Status)
}
