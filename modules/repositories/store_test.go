package repositories_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/modules/repositories"
	"github.com/slipwayhq/slipway/modules/repositories/storetest"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/parenttest"
)

// prefixes are those of the projects and users the stand-ins make: the
// projects and users modules own them (domains do not import each other).
var prefixes = parenttest.Prefixes{Project: "prj", User: "usr"}

func jsonBackend(t *testing.T) storetest.Backend {
	db, err := jsonstore.Open(t.TempDir(), jsonstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	projects := parenttest.JSON(t, db, prefixes)
	s, err := repositories.NewStore(&storage.Records{Backend: settings.BackendJSON, JSON: db})
	require.NoError(t, err)
	return storetest.Backend{Store: s, NewProject: projects.New, DeleteProject: projects.Delete}
}

func TestJSONStoreContract(t *testing.T) {
	storetest.Run(t, jsonBackend)
}
