package secrets_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/app/apptest"
	"github.com/slipwayhq/slipway/modules/secrets"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
	"github.com/slipwayhq/slipway/platform/storage/jsonstore"
	"github.com/slipwayhq/slipway/platform/storage/postgres/pgtest"
)

// forms are the ways a value could show up stored or logged by mistake.
func forms(value string) []string {
	return []string{value, base64.StdEncoding.EncodeToString([]byte(value)), hex.EncodeToString([]byte(value))}
}

// TestSecretValuesNeverReachTheLog writes, replaces, refuses and deletes
// secrets, then searches every log entry, at every level, for the values;
// and finds the writes and deletes logged with project, name and user.
func TestSecretValuesNeverReachTheLog(t *testing.T) {
	h := start(t, apptest.Settings(t))
	owner, operator := h.SignUp(), h.CreateUser("operator")
	pid := h.CreateProject(owner.Token)
	values := []string{"value-written-first", "value-written-second", "value-refused-reserved", "value-refused-operator",
		strings.Repeat("value-refused-too-long", 3000)}
	h.putValue(t, owner.Token, pid, "API_KEY", values[0])
	h.putValue(t, owner.Token, pid, "API_KEY", values[1])
	require.Equal(t, http.StatusUnprocessableEntity, h.put(owner.Token, pid, "PATH", map[string]any{"value": values[2]}).Status)
	require.Equal(t, http.StatusForbidden, h.put(operator.Token, pid, "API_KEY", map[string]any{"value": values[3]}).Status)
	require.Equal(t, http.StatusUnprocessableEntity, h.put(owner.Token, pid, "LONG", map[string]any{"value": values[4]}).Status)
	_, err := h.runs.RunSecrets(context.Background(), pid)
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, h.Delete(path(pid, "API_KEY"), owner.Token).Status)

	entries := h.Logs().All()
	require.NotEmpty(t, entries)
	for _, e := range entries {
		line, err := json.Marshal(map[string]any{"msg": e.Message, "fields": e.ContextMap()})
		require.NoError(t, err)
		for _, v := range values {
			for _, f := range forms(v[:min(len(v), 40)]) {
				require.NotContains(t, string(line), f, "a log entry carries a secret's value: %s", line)
			}
		}
	}
	written := h.Logs().FilterMessage("secret written").All()
	require.Len(t, written, 2)
	for _, e := range written {
		require.Equal(t, pid, e.ContextMap()["project_id"])
		require.Equal(t, "API_KEY", e.ContextMap()["name"])
		require.Equal(t, owner.ID, e.ContextMap()["user_id"])
	}
	require.Equal(t, true, written[0].ContextMap()["created"])
	require.Equal(t, false, written[1].ContextMap()["created"])
	deleted := h.Logs().FilterMessage("secret deleted").All()
	require.Len(t, deleted, 1)
	require.Equal(t, map[string]any{"project_id": pid, "name": "API_KEY", "user_id": owner.ID}, deleted[0].ContextMap())
}

// TestValuesAreEncryptedAtRestOnJSON reads every file the JSON store wrote:
// the value is in none, in any form, and the stored document holds a
// ciphertext and a key id.
func TestValuesAreEncryptedAtRestOnJSON(t *testing.T) {
	h := start(t, apptest.Settings(t))
	u := h.SignUp()
	pid := h.CreateProject(u.Token)
	const value = "plaintext-that-must-not-be-stored"
	h.putValue(t, u.Token, pid, "API_KEY", value)
	h.Stop()

	dir := h.Settings.Storage.DataDir
	files := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, f := range forms(value) {
			require.NotContains(t, string(raw), f, "%s holds the value", p)
		}
		return nil
	}))
	require.NotZero(t, files)

	db, err := jsonstore.Open(filepath.Join(dir, "records"), jsonstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	store, err := secrets.NewStore(&storage.Records{Backend: settings.BackendJSON, JSON: db})
	require.NoError(t, err)
	stored, err := store.Get(context.Background(), pid, "API_KEY")
	require.NoError(t, err)
	require.Len(t, stored.Ciphertext, len(value)+secrets.Overhead)
	require.Regexp(t, `^[0-9a-f]{16}$`, stored.KeyID)
}

// TestValuesAreEncryptedAtRestOnPostgres reads the table as text: the
// value is in no column, in any form. A ciphertext moved to another
// project or another name, by someone who can write the table, does not
// decrypt: the worker's lookup fails naming the secret.
func TestValuesAreEncryptedAtRestOnPostgres(t *testing.T) {
	h := start(t, apptest.Settings(t, apptest.Postgres(t)))
	u := h.SignUp()
	p1, p2 := h.CreateProject(u.Token), h.CreateProject(u.Token)
	const value = "plaintext-that-must-not-be-stored"
	h.putValue(t, u.Token, p1, "API_KEY", value)
	h.putValue(t, u.Token, p1, "OTHER", "the other secret's value")
	h.putValue(t, u.Token, p2, "API_KEY", "the second project's value")

	db := pgtest.Open(t, h.Settings.Storage.DatabaseURL)
	ctx := context.Background()
	var rows []string
	require.NoError(t, db.NewRaw("SELECT s::text FROM secrets s").Scan(ctx, &rows))
	require.Len(t, rows, 3)
	for _, r := range rows {
		for _, f := range forms(value) {
			require.NotContains(t, r, f)
		}
	}
	require.Equal(t, value, h.values(t, p1)["API_KEY"])

	// The first project's ciphertext, copied over the second's.
	_, err := db.ExecContext(ctx, `UPDATE secrets SET (key_id, ciphertext) =
		(SELECT key_id, ciphertext FROM secrets WHERE project_id = ? AND name = 'API_KEY')
		WHERE project_id = ? AND name = 'API_KEY'`, p1, p2)
	require.NoError(t, err)
	_, err = h.runs.RunSecrets(ctx, p2)
	require.ErrorIs(t, err, secrets.ErrCorrupt)
	require.ErrorContains(t, err, "secret API_KEY of project "+p2)
	require.NotContains(t, err.Error(), value)

	// And over another name of the same project.
	_, err = db.ExecContext(ctx, `UPDATE secrets SET (key_id, ciphertext) =
		(SELECT key_id, ciphertext FROM secrets WHERE project_id = ? AND name = 'API_KEY')
		WHERE project_id = ? AND name = 'OTHER'`, p1, p1)
	require.NoError(t, err)
	_, err = h.runs.RunSecrets(ctx, p1)
	require.ErrorIs(t, err, secrets.ErrCorrupt)
	require.ErrorContains(t, err, "secret OTHER of project "+p1)
}

// TestKeyRotation restarts the app on one data dir with the key rotated:
// secrets written under the old key still decrypt while it is among the
// old keys, new writes use the new key, and once the old key is dropped
// only what was written again decrypts.
func TestKeyRotation(t *testing.T) {
	oldKey := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	newKey := base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	s := apptest.Settings(t, func(s *settings.Settings) { s.Secrets.Key = oldKey })
	h := start(t, s)
	u := h.SignUp()
	pid := h.CreateProject(u.Token)
	h.putValue(t, u.Token, pid, "WRITTEN_BEFORE", "sealed under the old key")
	h.putValue(t, u.Token, pid, "WRITTEN_AGAIN", "sealed under the old key")
	h.Stop()

	s.Secrets.Key, s.Secrets.OldKeys = newKey, []string{oldKey}
	h = start(t, s)
	require.Equal(t, map[string]string{"WRITTEN_BEFORE": "sealed under the old key", "WRITTEN_AGAIN": "sealed under the old key"},
		h.values(t, pid), "the old key still opens what it sealed")
	h.putValue(t, u.Token, pid, "WRITTEN_AGAIN", "sealed under the new key")
	h.putValue(t, u.Token, pid, "WRITTEN_AFTER", "sealed under the new key")
	h.Stop()

	keyIDs := storedKeyIDs(t, s, pid)
	require.Equal(t, keyIDs["WRITTEN_AGAIN"], keyIDs["WRITTEN_AFTER"], "new writes use the new key")
	require.NotEqual(t, keyIDs["WRITTEN_BEFORE"], keyIDs["WRITTEN_AFTER"])

	s.Secrets.OldKeys = nil
	h = start(t, s)
	_, err := h.runs.RunSecrets(context.Background(), pid)
	require.ErrorIs(t, err, secrets.ErrUnknownKey)
	require.ErrorContains(t, err, "secret WRITTEN_BEFORE of project "+pid+" (key "+keyIDs["WRITTEN_BEFORE"]+")")
	require.Equal(t, http.StatusNoContent, h.Delete(path(pid, "WRITTEN_BEFORE"), u.Token).Status)
	require.Equal(t, map[string]string{"WRITTEN_AGAIN": "sealed under the new key", "WRITTEN_AFTER": "sealed under the new key"}, h.values(t, pid))
}

func storedKeyIDs(t *testing.T, s *settings.Settings, pid string) map[string]string {
	t.Helper()
	db, err := jsonstore.Open(filepath.Join(s.Storage.DataDir, "records"), jsonstore.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	store, err := secrets.NewStore(&storage.Records{Backend: settings.BackendJSON, JSON: db})
	require.NoError(t, err)
	all, err := store.All(context.Background(), pid)
	require.NoError(t, err)
	out := map[string]string{}
	for _, sec := range all {
		out[sec.Name] = sec.KeyID
	}
	return out
}
