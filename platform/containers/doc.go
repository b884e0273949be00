// Package containers runs each coding-agent run in one isolated container
// through the Docker Engine API.
//
// A Runtime creates containers that are labelled as managed by Slipway (with
// the run id and the instance id), run as a non-root numeric user with every
// capability dropped, no-new-privileges, a read-only root filesystem, a
// size-limited tmpfs on /tmp, memory, CPU and pid limits and, by default, no
// network. The only host path a container ever sees is its workspace, mounted
// read-write at /workspace; a spec that would expose the Docker socket or a
// system directory is refused before Docker is asked.
//
// Failures to reach the daemon wrap as derrors.Unavailable("docker", …); a
// missing container matches derrors.ErrNotFound. The runs module decides
// which containers to keep; Reap removes the rest and never touches a
// container without the managed label.
package containers
