package objects_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/storage/objects"
)

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"runs/1/log", true},
		{"a", true},
		{"A-Z_a.z-0.9", true},
		{"...", true},
		{".hidden/x", true},
		{strings.Repeat("s", objects.MaxSegmentLen), true},
		{"", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{".", false},
		{"a/..", false},
		{"a/./b", false},
		{"a b", false},
		{"a~b", false},
		{"a!b", false},
		{"é", false},
		{strings.Repeat("s", objects.MaxSegmentLen+1), false},
		{strings.Repeat("a/", objects.MaxKeyLen/2), false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			err := objects.ValidateKey(tt.key)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, objects.ErrInvalidKey)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		kind    string
		dir     string
		cfg     objects.S3Config
		want    any
		wantErr string
	}{
		{"local", "local", t.TempDir(), objects.S3Config{}, &objects.Local{}, ""},
		{"local without folder", "local", "", objects.S3Config{}, nil, "empty folder"},
		{"s3", "s3", "", objects.S3Config{Bucket: "b"}, &objects.S3{}, ""},
		{"s3 without bucket", "s3", "", objects.S3Config{}, nil, "bucket is required"},
		{"s3 half credentials", "s3", "", objects.S3Config{Bucket: "b", AccessKeyID: "id"}, nil, "secret"},
		{"s3 bad endpoint", "s3", "", objects.S3Config{Bucket: "b", Endpoint: "localhost:9000"}, nil, "http://"},
		{"s3 negative timeout", "s3", "", objects.S3Config{Bucket: "b", ConnectTimeout: -1}, nil, "negative"},
		{"unknown", "gcs", "", objects.S3Config{}, nil, `unknown store kind "gcs"`},
		{"empty kind", "", "", objects.S3Config{}, nil, "unknown store kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := objects.New(tt.kind, tt.dir, tt.cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Nil(t, s)
				return
			}
			require.NoError(t, err)
			require.IsType(t, tt.want, s)
			require.NoError(t, s.Close())
		})
	}
}
