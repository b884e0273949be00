package cognito

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewConfig(t *testing.T) {
	valid := func() Config {
		return Config{Region: testRegion, UserPoolID: testPool, ClientIDs: []string{clientA}}
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr []string // each must appear in the error
		check   func(t *testing.T, cfg Config)
	}{
		{name: "defaults", mutate: func(*Config) {}, check: func(t *testing.T, cfg Config) {
			require.Equal(t, testIssuer, cfg.Issuer)
			require.Equal(t, testIssuer+"/.well-known/jwks.json", cfg.JWKSURL)
			require.Equal(t, DefaultRefreshInterval, cfg.RefreshInterval)
			require.Equal(t, DefaultUnknownKIDInterval, cfg.UnknownKIDInterval)
			require.Equal(t, DefaultFetchTimeout, cfg.FetchTimeout)
			require.Equal(t, DefaultMaxKeyAge, cfg.MaxKeyAge)
			require.Zero(t, cfg.Leeway)
		}},
		{name: "china partition", mutate: func(c *Config) { c.Region, c.UserPoolID = "cn-north-1", "cn-north-1_AbC123" },
			check: func(t *testing.T, cfg Config) {
				require.Equal(t, "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_AbC123", cfg.Issuer)
			}},
		{name: "explicit issuer without pool", mutate: func(c *Config) {
			c.Region, c.UserPoolID, c.Issuer = "", "", "http://127.0.0.1:9229/local_pool"
		}, check: func(t *testing.T, cfg Config) {
			require.Equal(t, "http://127.0.0.1:9229/local_pool/.well-known/jwks.json", cfg.JWKSURL)
		}},
		{name: "long refresh interval raises default max key age", mutate: func(c *Config) { c.RefreshInterval = 2 * time.Hour },
			check: func(t *testing.T, cfg Config) { require.Equal(t, 2*time.Hour, cfg.MaxKeyAge) }},
		{name: "short refresh interval caps the default unknown kid interval", mutate: func(c *Config) { c.RefreshInterval = time.Second },
			check: func(t *testing.T, cfg Config) { require.Equal(t, time.Second, cfg.UnknownKIDInterval) }},
		{name: "explicit values kept", mutate: func(c *Config) {
			c.Leeway, c.RefreshInterval, c.FetchTimeout, c.MaxKeyAge = time.Minute, time.Second, 3*time.Second, time.Minute
			c.UnknownKIDInterval = 500 * time.Millisecond
		}, check: func(t *testing.T, cfg Config) {
			require.Equal(t, time.Minute, cfg.Leeway)
			require.Equal(t, time.Second, cfg.RefreshInterval)
			require.Equal(t, 500*time.Millisecond, cfg.UnknownKIDInterval)
			require.Equal(t, 3*time.Second, cfg.FetchTimeout)
			require.Equal(t, time.Minute, cfg.MaxKeyAge)
		}},

		{name: "no region", mutate: func(c *Config) { c.Region = "" }, wantErr: []string{"Region is required"}},
		{name: "no pool", mutate: func(c *Config) { c.UserPoolID = "" }, wantErr: []string{"UserPoolID is required"}},
		{name: "bad region", mutate: func(c *Config) { c.Region = "Europe" }, wantErr: []string{`Region "Europe"`}},
		{name: "bad pool", mutate: func(c *Config) { c.UserPoolID = "TestPool1" }, wantErr: []string{`UserPoolID "TestPool1"`}},
		{name: "pool of another region", mutate: func(c *Config) { c.UserPoolID = "us-east-1_AbC" }, wantErr: []string{`UserPoolID "us-east-1_AbC" belongs to region "us-east-1"`}},
		{name: "no client ids", mutate: func(c *Config) { c.ClientIDs = nil }, wantErr: []string{"ClientIDs"}},
		{name: "blank client id", mutate: func(c *Config) { c.ClientIDs = []string{clientA, " "} }, wantErr: []string{"ClientIDs[1] is empty"}},
		{name: "relative issuer", mutate: func(c *Config) { c.Issuer = "/pool" }, wantErr: []string{`Issuer "/pool"`}},
		{name: "jwks over http", mutate: func(c *Config) { c.JWKSURL = "http://keys.example.com/jwks.json" }, wantErr: []string{"JWKSURL", "https"}},
		{name: "jwks over ftp", mutate: func(c *Config) { c.JWKSURL = "ftp://127.0.0.1/jwks.json" }, wantErr: []string{"JWKSURL", "https"}},
		{name: "jwks relative", mutate: func(c *Config) { c.JWKSURL = "/jwks.json" }, wantErr: []string{"JWKSURL", "absolute"}},
		{name: "negative leeway", mutate: func(c *Config) { c.Leeway = -time.Second }, wantErr: []string{"Leeway"}},
		{name: "negative refresh interval", mutate: func(c *Config) { c.RefreshInterval = -time.Second }, wantErr: []string{"RefreshInterval"}},
		{name: "negative unknown kid interval", mutate: func(c *Config) { c.UnknownKIDInterval = -time.Second }, wantErr: []string{"UnknownKIDInterval"}},
		{name: "unknown kid interval above refresh interval", mutate: func(c *Config) { c.RefreshInterval, c.UnknownKIDInterval = time.Second, time.Minute },
			wantErr: []string{"UnknownKIDInterval 1m0s is longer than RefreshInterval 1s"}},
		{name: "negative fetch timeout", mutate: func(c *Config) { c.FetchTimeout = -time.Second }, wantErr: []string{"FetchTimeout"}},
		{name: "negative max key age", mutate: func(c *Config) { c.MaxKeyAge = -time.Second }, wantErr: []string{"MaxKeyAge"}},
		{name: "max key age below refresh interval", mutate: func(c *Config) { c.RefreshInterval, c.MaxKeyAge = time.Hour, time.Minute },
			wantErr: []string{"MaxKeyAge 1m0s is shorter than RefreshInterval 1h0m0s"}},
		{name: "several problems at once", mutate: func(c *Config) { c.ClientIDs = nil; c.Leeway = -1 }, wantErr: []string{"ClientIDs", "Leeway"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.mutate(&cfg)
			v, err := New(cfg, nil)
			if len(tc.wantErr) > 0 {
				require.Error(t, err)
				require.Nil(t, v)
				for _, want := range tc.wantErr {
					require.ErrorContains(t, err, want)
				}
				return
			}
			require.NoError(t, err)
			tc.check(t, v.cfg)
		})
	}
}

func TestNewDoesNoIO(t *testing.T) {
	srv := newJWKSServer(t, nil)
	v, err := New(baseConfig(srv), nil)
	require.NoError(t, err)
	require.Zero(t, srv.hits.Load())
	require.Error(t, v.Ready())
	v.Stop()
}
