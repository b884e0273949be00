package apptest

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/objects"
)

// S3 starts an S3 protocol server on loopback (gofakes3, in memory) with a
// bucket, and returns the option pointing the app's object store at it, and
// the config a test can open to look inside. The SDK's real HTTP, signing and
// error paths run; credentials come from the environment as in production.
func S3(t testing.TB) (Option, objects.S3Config) {
	t.Helper()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("slipway-test"))
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	cfg := objects.S3Config{Bucket: "slipway-test", Region: "us-east-1", Endpoint: srv.URL,
		AccessKeyID: "test", SecretAccessKey: "test"}
	return func(s *settings.Settings) {
		s.Objects.Backend = "s3"
		s.Objects.S3 = settings.S3{Bucket: cfg.Bucket, Region: cfg.Region, Endpoint: cfg.Endpoint}
	}, cfg
}
