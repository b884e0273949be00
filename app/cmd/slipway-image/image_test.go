package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/containers/containertest"
	"github.com/slipwayhq/slipway/platform/testenv"
)

// TestImageServesSignUp builds the image with the local engine, runs
// `serve` in it on the JSON store (read-only root, every capability
// dropped, the data dir on a tmpfs owned by the image's user, the ports
// published on 127.0.0.1 only) and signs up through it over HTTP.
func TestImageServesSignUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and an image, and runs a container")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.WithHost(containertest.Host()), client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	defer cli.Close()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = cli.Ping(pctx)
	pcancel()
	if err != nil {
		testenv.Unavailable(t, "docker engine at %s: %v", containertest.Host(), err)
	}

	tag := "slipway-test-image:" + randomHex(t)
	var log bytes.Buffer
	began := time.Now()
	img, err := Build(ctx, Options{Tag: tag, DockerHost: containertest.Host(), ModuleDir: "../../..", Log: &log})
	require.NoError(t, err, "%s", log.String())
	t.Logf("built %s: %.1f MB (binary %.1f MB) in %s", tag, float64(img.Size)/1e6, float64(img.BinarySize)/1e6, time.Since(began).Round(100*time.Millisecond))
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	info, err := cli.ImageInspect(ctx, tag)
	require.NoError(t, err)
	require.Equal(t, "65532:65532", info.Config.User, "never root")
	require.Len(t, info.RootFS.Layers, 1, "one layer, on nothing")
	require.Less(t, img.Size, img.BinarySize+2<<20, "the binary, the CA bundle and two small files")

	api, metricsPort := nat.Port("8080/tcp"), nat.Port("9090/tcp")
	created, err := cli.ContainerCreate(ctx, &container.Config{
		Image: tag,
		Env: []string{
			"SLIPWAY_ENV=production", "SLIPWAY_STORAGE_BACKEND=json", "SLIPWAY_OBJECT_STORE=local",
			"SLIPWAY_AUTH_TOKEN_SECRET=" + randomHex(t) + randomHex(t), "SLIPWAY_SECRETS_KEY=" + secretsKey(t),
			"SLIPWAY_RUN_EXECUTE=false",
			"SLIPWAY_METRICS_ADDR=0.0.0.0:9090",
		},
		ExposedPorts: nat.PortSet{api: {}, metricsPort: {}},
	}, &container.HostConfig{
		PortBindings: nat.PortMap{
			api:         {{HostIP: "127.0.0.1"}},
			metricsPort: {{HostIP: "127.0.0.1"}},
		},
		Tmpfs:          map[string]string{"/data": fmt.Sprintf("uid=%d,gid=%d,mode=0700,size=64m", UID, GID)},
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
	}, nil, nil, "")
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	require.NoError(t, cli.ContainerStart(ctx, created.ID, container.StartOptions{}))
	defer func() {
		if t.Failed() {
			t.Logf("container log:\n%s", containerLog(cli, created.ID))
		}
	}()

	inspect, err := cli.ContainerInspect(ctx, created.ID)
	require.NoError(t, err)
	hostPort := func(p nat.Port) string {
		b := inspect.NetworkSettings.Ports[p]
		require.NotEmpty(t, b, "%s is published", p)
		require.Equal(t, "127.0.0.1", b[0].HostIP, "published on loopback only")
		return "http://127.0.0.1:" + b[0].HostPort
	}
	base, metricsURL := hostPort(api), hostPort(metricsPort)

	hc := &http.Client{Timeout: 5 * time.Second}
	exited := false
	require.Eventually(t, func() bool {
		if st, err := cli.ContainerInspect(ctx, created.ID); err == nil && !st.State.Running {
			exited = true // a start refused (a setting): no use waiting
			return true
		}
		res, err := hc.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, time.Minute, 50*time.Millisecond, "serving")
	require.False(t, exited, "the server exited")

	body := `{"email":"image@example.com","password":"correct horse battery"}`
	res, err := hc.Post(base+"/v1/auth/signup", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode, "%s", raw)
	var session struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal(raw, &session))
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/auth/me", nil)
	req.Header.Set("Authorization", "Bearer "+session.AccessToken)
	res, err = hc.Do(req)
	require.NoError(t, err)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", raw)
	require.Contains(t, string(raw), `"email":"image@example.com"`)

	res, err = hc.Get(metricsURL + "/metrics")
	require.NoError(t, err)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(raw), `slipway_http_requests_total{method="POST",route="/v1/auth/signup",status="201"} 1`)

	top, err := cli.ContainerTop(ctx, created.ID, nil)
	require.NoError(t, err)
	uid := -1
	for i, title := range top.Titles {
		if title == "UID" {
			uid = i
		}
	}
	require.GreaterOrEqual(t, uid, 0, "%v", top.Titles)
	for _, p := range top.Processes {
		require.Equal(t, "65532", p[uid], "the server runs as 65532: %v", p)
	}
}

// secretsKey is a fresh SLIPWAY_SECRETS_KEY: 32 random bytes in base64.
func secretsKey(t *testing.T) string {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func containerLog(cli *client.Client, id string) string {
	rc, err := cli.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}
