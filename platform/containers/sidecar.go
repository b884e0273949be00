package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// SidecarSpec describes a container Slipway runs for itself beside a run's
// agent container, such as the egress proxy. It is as confined as the
// agent's (a non-root user, no capabilities, no-new-privileges, a read-only
// root filesystem, memory, CPU and pid limits) and has no mounts at all.
type SidecarSpec struct {
	// Image is a local image reference; it is never pulled.
	Image string
	Cmd   []string
	// Networks are the networks to attach, at least one: the first when the
	// container is created, the others before it starts.
	Networks []string
	// RunID, InstanceID (both required) and Role label the container.
	RunID      string
	InstanceID string
	Role       string
	// MemoryBytes, NanoCPUs and PidsLimit are its limits (required).
	MemoryBytes int64
	NanoCPUs    int64
	PidsLimit   int64
}

// StartSidecar creates, attaches and starts a sidecar and returns its id.
// If any step fails the container is removed again.
func (r *Runtime) StartSidecar(ctx context.Context, spec SidecarSpec) (id string, err error) {
	defer derrors.Wrap(&err, "containers.StartSidecar(run %s, %s)", spec.RunID, spec.Role)
	if spec.Image == "" || spec.RunID == "" || spec.InstanceID == "" || len(spec.Networks) == 0 {
		return "", fmt.Errorf("%w: image, run id, instance id and a network are required", ErrInvalidSpec)
	}
	if spec.MemoryBytes < minMemoryBytes || spec.NanoCPUs <= 0 || spec.PidsLimit <= 0 {
		return "", fmt.Errorf("%w: sidecar limits out of range", ErrInvalidSpec)
	}
	for _, n := range spec.Networks {
		if nm := container.NetworkMode(n); nm.IsHost() || nm.IsContainer() || nm.IsNone() || !networkName.MatchString(n) {
			return "", fmt.Errorf("%w: network %q is not allowed", ErrInvalidSpec, n)
		}
	}
	pids := spec.PidsLimit
	cfg := &container.Config{
		Image:  spec.Image,
		Cmd:    append([]string(nil), spec.Cmd...),
		User:   r.cfg.User,
		Labels: labels(spec.RunID, spec.InstanceID, spec.Role),
	}
	host := &container.HostConfig{
		NetworkMode:    container.NetworkMode(spec.Networks[0]),
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		Resources: container.Resources{
			Memory:     spec.MemoryBytes,
			MemorySwap: spec.MemoryBytes,
			NanoCPUs:   spec.NanoCPUs,
			PidsLimit:  &pids,
		},
		IpcMode:      container.IPCModePrivate,
		CgroupnsMode: container.CgroupnsModePrivate,
		LogConfig:    container.LogConfig{Type: "local"},
	}
	var created container.CreateResponse
	err = r.call(ctx, 0, func(ctx context.Context) error {
		var err error
		created, err = r.client.ContainerCreate(ctx, cfg, host, &network.NetworkingConfig{
			EndpointsConfig: map[string]*network.EndpointSettings{spec.Networks[0]: {}},
		}, nil, "")
		return err
	})
	if errors.Is(err, derrors.ErrNotFound) {
		return "", fmt.Errorf("%w: %q (%v)", ErrImageNotFound, spec.Image, err)
	}
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	defer func() {
		if err != nil {
			if rmErr := r.removeCreated(ctx, created.ID); rmErr != nil {
				err = fmt.Errorf("%w (and removing it: %v)", err, rmErr)
			}
		}
	}()
	// API versions before 1.44 take a single network at creation.
	for _, n := range spec.Networks[1:] {
		err = r.call(ctx, 0, func(ctx context.Context) error {
			return r.client.NetworkConnect(ctx, n, created.ID, &network.EndpointSettings{})
		})
		if err != nil {
			return "", fmt.Errorf("connect %s to %s: %w", created.ID, n, err)
		}
	}
	err = r.call(ctx, 0, func(ctx context.Context) error {
		return r.client.ContainerStart(ctx, created.ID, container.StartOptions{})
	})
	if err != nil {
		return "", fmt.Errorf("start %s: %w", created.ID, err)
	}
	return created.ID, nil
}

// Address returns the IPv4 address of a container on a network.
func (r *Runtime) Address(ctx context.Context, id, networkName string) (_ netip.Addr, err error) {
	defer derrors.Wrap(&err, "containers.Address(%s, %s)", id, networkName)
	var info container.InspectResponse
	err = r.call(ctx, 0, func(ctx context.Context) error {
		var err error
		info, err = r.client.ContainerInspect(ctx, id)
		return err
	})
	if err != nil {
		return netip.Addr{}, err
	}
	if info.NetworkSettings == nil || info.NetworkSettings.Networks[networkName] == nil {
		return netip.Addr{}, fmt.Errorf("not attached to %s", networkName)
	}
	return netip.ParseAddr(info.NetworkSettings.Networks[networkName].IPAddress)
}

// HasImage reports whether the image ref is present on the Docker host.
func (r *Runtime) HasImage(ctx context.Context, ref string) (_ bool, err error) {
	defer derrors.Wrap(&err, "containers.HasImage(%s)", ref)
	err = r.call(ctx, 0, func(ctx context.Context) error {
		_, err := r.client.ImageInspect(ctx, ref)
		return err
	})
	switch {
	case errors.Is(err, derrors.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// ImportImage makes an image named ref from one uncompressed tar layer
// (`docker import`): no registry is involved.
func (r *Runtime) ImportImage(ctx context.Context, ref string, layer io.Reader) (err error) {
	defer derrors.Wrap(&err, "containers.ImportImage(%s)", ref)
	return r.call(ctx, 0, func(ctx context.Context) error {
		out, err := r.client.ImageImport(ctx, image.ImportSource{Source: layer, SourceName: "-"}, ref, image.ImportOptions{})
		if err != nil {
			return err
		}
		defer out.Close()
		return ReadImportProgress(out)
	})
}

// RemoveImages removes the tags of repo other than keep. An image still used
// by a container is left (Docker refuses), and so is every failure: this
// only keeps old images from piling up.
func (r *Runtime) RemoveImages(ctx context.Context, repo, keep string) (removed int) {
	var list []image.Summary
	err := r.call(ctx, 0, func(ctx context.Context) error {
		var err error
		list, err = r.client.ImageList(ctx, image.ListOptions{})
		return err
	})
	if err != nil {
		return 0
	}
	for _, img := range list {
		for _, tag := range img.RepoTags {
			if !strings.HasPrefix(tag, repo+":") || tag == keep {
				continue
			}
			err := r.call(ctx, 0, func(ctx context.Context) error {
				_, err := r.client.ImageRemove(ctx, tag, image.RemoveOptions{})
				return err
			})
			if err == nil {
				removed++
			}
		}
	}
	return removed
}

// ReadImportProgress reads an image import's JSON progress messages to the
// end and returns the error one of them reports: Docker answers an import
// that failed half-way with 200 and the error inside the stream.
func ReadImportProgress(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading progress: %w", err)
		}
		if msg.ErrorDetail != nil && msg.ErrorDetail.Message != "" {
			return errors.New(msg.ErrorDetail.Message)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}
