package containers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// LabelRole says what a managed container or network is for when it is not
// a run's agent container (which has none): the egress proxy beside it, or
// a network of the egress path.
const LabelRole = "dev.slipway.role"

// Bridge driver options (moby's libnetwork bridge driver).
const (
	// optInhibitIPv4 keeps the bridge itself without an IPv4 address: the
	// host then has no address on the network, so its containers reach
	// only each other.
	optInhibitIPv4 = "com.docker.network.bridge.inhibit_ipv4"
	// optEnableICC=false stops containers on the bridge talking to each other.
	optEnableICC = "com.docker.network.bridge.enable_icc"
)

// NetworkSpec describes a bridge network Slipway creates.
type NetworkSpec struct {
	// Name must be unique on the daemon.
	Name string
	// Internal networks have no route out of their subnet (docker network
	// create --internal). On its own that still lets containers reach the
	// host at the bridge's address; NoHostAddress closes that.
	Internal bool
	// NoHostAddress gives the bridge no IPv4 address on the host: with
	// Internal, a container on the network can reach only its peers.
	NoHostAddress bool
	// Isolated forbids traffic between the network's containers (ICC off).
	Isolated bool
	// InstanceID (required), RunID and Role label the network.
	InstanceID string
	RunID      string
	Role       string
}

// Network is a managed network as Networks sees it.
type Network struct {
	ID         string
	Name       string
	RunID      string
	InstanceID string
	Role       string
	CreatedAt  time.Time
}

// CreateNetwork creates a managed bridge network and returns its id. IPv6 is
// off, so the network's only addresses are the IPv4 ones Docker assigns
// from its address pools.
func (r *Runtime) CreateNetwork(ctx context.Context, spec NetworkSpec) (id string, err error) {
	defer derrors.Wrap(&err, "containers.CreateNetwork(%s)", spec.Name)
	if !networkName.MatchString(spec.Name) || spec.InstanceID == "" {
		return "", fmt.Errorf("%w: network name %q or instance id missing", ErrInvalidSpec, spec.Name)
	}
	off := false
	opts := network.CreateOptions{
		Driver:     "bridge",
		Internal:   spec.Internal,
		EnableIPv6: &off,
		Options:    map[string]string{},
		Labels:     labels(spec.RunID, spec.InstanceID, spec.Role),
	}
	if spec.NoHostAddress {
		opts.Options[optInhibitIPv4] = "true"
	}
	if spec.Isolated {
		opts.Options[optEnableICC] = "false"
	}
	var created network.CreateResponse
	err = r.call(ctx, 0, func(ctx context.Context) error {
		var err error
		created, err = r.client.NetworkCreate(ctx, spec.Name, opts)
		return err
	})
	if err != nil {
		return "", err
	}
	return created.ID, nil
}

// RemoveNetwork deletes a network; one that is already gone is not an
// error. Docker refuses while a container is attached to it.
func (r *Runtime) RemoveNetwork(ctx context.Context, id string) (err error) {
	defer derrors.Wrap(&err, "containers.RemoveNetwork(%s)", id)
	err = r.call(ctx, 0, func(ctx context.Context) error { return r.client.NetworkRemove(ctx, id) })
	if errors.Is(err, derrors.ErrNotFound) {
		return nil
	}
	return err
}

// InspectNetwork returns the network named or numbered id, managed or not
// (an operator may name an existing network for Slipway to use); a missing
// one matches derrors.ErrNotFound.
func (r *Runtime) InspectNetwork(ctx context.Context, id string) (_ Network, err error) {
	defer derrors.Wrap(&err, "containers.InspectNetwork(%s)", id)
	var n network.Inspect
	err = r.call(ctx, 0, func(ctx context.Context) error {
		var err error
		n, err = r.client.NetworkInspect(ctx, id, network.InspectOptions{})
		return err
	})
	if err != nil {
		return Network{}, err
	}
	return toNetwork(n.ID, n.Name, n.Labels, n.Created), nil
}

// Networks returns the managed networks matching filter, oldest first.
// Networks without the managed label are never returned.
func (r *Runtime) Networks(ctx context.Context, filter Filter) (_ []Network, err error) {
	defer derrors.Wrap(&err, "containers.Networks(instance %q, run %q)", filter.InstanceID, filter.RunID)
	args := filter.args()
	var list []network.Summary
	err = r.call(ctx, 0, func(ctx context.Context) error {
		var err error
		list, err = r.client.NetworkList(ctx, network.ListOptions{Filters: args})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Network, 0, len(list))
	for _, n := range list {
		if n.Labels[LabelManaged] != "true" {
			continue
		}
		out = append(out, toNetwork(n.ID, n.Name, n.Labels, n.Created))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func toNetwork(id, name string, l map[string]string, created time.Time) Network {
	return Network{ID: id, Name: name, RunID: l[LabelRunID], InstanceID: l[LabelInstanceID],
		Role: l[LabelRole], CreatedAt: created.UTC()}
}

// labels are the labels of a managed object; empty values are left out.
func labels(runID, instanceID, role string) map[string]string {
	l := map[string]string{LabelManaged: "true", LabelInstanceID: instanceID}
	if runID != "" {
		l[LabelRunID] = runID
	}
	if role != "" {
		l[LabelRole] = role
	}
	return l
}

// IsInUse reports whether err is Docker refusing to remove something still
// used (a network with containers attached, an image a container runs).
func IsInUse(err error) bool {
	return cerrdefs.IsConflict(err) || cerrdefs.IsPermissionDenied(err) || cerrdefs.IsFailedPrecondition(err)
}
