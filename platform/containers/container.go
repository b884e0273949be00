package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/slipwayhq/slipway/platform/derrors"
)

// Exit is how a container ended.
type Exit struct {
	// Code is the exit status; 128+n when a signal n ended the main process.
	Code int
	// OOMKilled reports that the kernel killed a process of the container for
	// exceeding its memory limit: say "out of memory", not "failed".
	OOMKilled bool
}

// Start creates and starts one container for spec and returns its id. The spec
// is checked before Docker is contacted (ErrInvalidSpec); a missing image is
// ErrImageNotFound. If the container was created but could not be started it
// is removed again.
func (r *Runtime) Start(ctx context.Context, spec Spec) (id string, err error) {
	defer derrors.Wrap(&err, "containers.Start(run %s)", spec.RunID)
	id, err = r.create(ctx, spec)
	if err != nil {
		return "", err
	}
	if err := r.start(ctx, id); err != nil {
		return "", err
	}
	return id, nil
}

// StartAttached is Start with the container's output attached before it
// starts: out carries every byte the container writes to stdout and stderr,
// merged in the order Docker receives them, from its first byte to its
// last, and ends (io.EOF) once the container has exited and Docker has
// passed all of it on. Reading it is not reading Docker's log files, so
// the log driver's rotation cannot lose or repeat a byte. Docker holds the
// container's writes while out is not read (a slow reader slows the
// agent), and, once the container has exited, waits about 2 s for the
// reader before it drops what is still unread. Close releases the stream
// early.
func (r *Runtime) StartAttached(ctx context.Context, spec Spec) (id string, out io.ReadCloser, err error) {
	defer derrors.Wrap(&err, "containers.StartAttached(run %s)", spec.RunID)
	id, err = r.create(ctx, spec)
	if err != nil {
		return "", nil, err
	}
	att, err := r.attach(ctx, id)
	if err != nil {
		r.removeCreated(ctx, id)
		return "", nil, fmt.Errorf("attach %s: %w", id, err)
	}
	if err := r.start(ctx, id); err != nil {
		att.Close()
		return "", nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		// Containers are created without a TTY, so the stream is multiplexed
		// with 8-byte frame headers; both streams go to the one pipe, frame
		// by frame, in the order they arrive.
		_, err := stdcopy.StdCopy(pw, pw, att.Reader)
		if err != nil {
			err = fmt.Errorf("containers: output of %s: %w", id, r.classifyStream(context.Background(), err))
		}
		att.Close()
		pw.CloseWithError(err)
	}()
	return id, &outputStream{PipeReader: pr, conn: att.Conn}, nil
}

// create creates the container of spec and returns its id.
func (r *Runtime) create(ctx context.Context, spec Spec) (string, error) {
	cfg, host, err := r.build(spec)
	if err != nil {
		return "", err
	}
	volumes, err := r.imageVolumes(ctx, spec.Image)
	if err != nil {
		return "", err
	}
	r.coverVolumes(host, volumes, cfg.User)
	var created container.CreateResponse
	err = r.call(ctx, 0, func(ctx context.Context) error {
		var err error
		created, err = r.client.ContainerCreate(ctx, cfg, host, nil, nil, "")
		return err
	})
	if errors.Is(err, derrors.ErrNotFound) {
		// The only thing create can miss is the image.
		return "", fmt.Errorf("%w: %q (%v)", ErrImageNotFound, spec.Image, err)
	}
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	return created.ID, nil
}

// imageVolumes returns the paths the image declares as volumes, for
// coverVolumes.
func (r *Runtime) imageVolumes(ctx context.Context, image string) ([]string, error) {
	var volumes []string
	err := r.call(ctx, 0, func(ctx context.Context) error {
		info, err := r.client.ImageInspect(ctx, image)
		if err != nil {
			return err
		}
		if info.Config != nil {
			for v := range info.Config.Volumes {
				volumes = append(volumes, v)
			}
		}
		return nil
	})
	if errors.Is(err, derrors.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q (%v)", ErrImageNotFound, image, err)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect image: %w", err)
	}
	return volumes, nil
}

// start starts a created container, and removes it when it could not.
func (r *Runtime) start(ctx context.Context, id string) error {
	err := r.call(ctx, 0, func(ctx context.Context) error {
		return r.client.ContainerStart(ctx, id, container.StartOptions{})
	})
	if err == nil {
		return nil
	}
	if rmErr := r.removeCreated(ctx, id); rmErr != nil {
		return fmt.Errorf("start %s: %w (and removing it: %v)", id, err, rmErr)
	}
	return fmt.Errorf("start %s: %w", id, err)
}

// removeCreated removes a container that never ran, even when the caller's
// context is what failed it.
func (r *Runtime) removeCreated(ctx context.Context, id string) error {
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.CallTimeout)
	defer cancel()
	return r.Remove(cleanup, id)
}

// attach opens the container's stdout and stderr stream. Docker registers
// the stream before it answers, so nothing the container writes after this
// returns is missed. The handshake is bounded by the call timeout, which
// the client's hijacking ignores once connected.
func (r *Runtime) attach(ctx context.Context, id string) (types.HijackedResponse, error) {
	type result struct {
		att types.HijackedResponse
		err error
	}
	done := make(chan result, 1)
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	go func() {
		att, err := r.client.ContainerAttach(cctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
		done <- result{att, err}
	}()
	select {
	case res := <-done:
		return res.att, r.classify(ctx, res.err)
	case <-cctx.Done():
		go func() { // the late answer's connection must not leak
			if res := <-done; res.err == nil {
				res.att.Close()
			}
		}()
		return types.HijackedResponse{}, r.classify(ctx, cctx.Err())
	}
}

// Wait blocks until the container is not running and reports its exit. It
// returns early, with ctx's error, when ctx ends.
func (r *Runtime) Wait(ctx context.Context, id string) (exit Exit, err error) {
	defer derrors.Wrap(&err, "containers.Wait(%s)", id)
	resC, errC := r.client.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case res := <-resC:
		if res.Error != nil && res.Error.Message != "" {
			return Exit{}, errors.New(res.Error.Message)
		}
	case err := <-errC:
		return Exit{}, r.classifyStream(ctx, err)
	}
	// The wait answer has the code but not the cause; OOMKilled is only in
	// the container's state.
	exit, err = r.exitState(ctx, id)
	// Docker records an OOM kill from containerd's OOM event, which can
	// arrive after the exit: a SIGKILL exit is asked about again, briefly,
	// so "out of memory" is not reported as a plain kill.
	for tries := 0; err == nil && exit.Code == 137 && !exit.OOMKilled && tries < oomRechecks; tries++ {
		select {
		case <-time.After(oomRecheckDelay):
		case <-ctx.Done():
			return exit, nil
		}
		exit, err = r.exitState(ctx, id)
	}
	return exit, err
}

// How long Wait keeps asking whether a SIGKILL exit was an OOM kill.
const (
	oomRechecks     = 5
	oomRecheckDelay = 100 * time.Millisecond
)

// exitState reads the exit code and the OOM flag from the container's state.
func (r *Runtime) exitState(ctx context.Context, id string) (Exit, error) {
	var info container.InspectResponse
	err := r.call(ctx, 0, func(ctx context.Context) error {
		var err error
		info, err = r.client.ContainerInspect(ctx, id)
		return err
	})
	if err != nil {
		return Exit{}, fmt.Errorf("inspect: %w", err)
	}
	if info.State == nil {
		return Exit{}, errors.New("inspect: no state")
	}
	return Exit{Code: info.State.ExitCode, OOMKilled: info.State.OOMKilled}, nil
}

// Logs follows the container's stdout and stderr as Docker's log driver
// recorded them, from the start of the container. The stream ends when the
// container exits (or ctx ends); Close releases it early. It reads the
// driver's files: output written faster than it is read, past the files'
// rotation, is lost. A run's log is read with StartAttached instead; this
// suits the small output of a sidecar that is already running.
func (r *Runtime) Logs(ctx context.Context, id string) (_ io.ReadCloser, err error) {
	defer derrors.Wrap(&err, "containers.Logs(%s)", id)
	body, err := r.client.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     true,
	})
	if err != nil {
		return nil, r.classify(ctx, err)
	}
	pr, pw := io.Pipe()
	go func() {
		// Containers are created without a TTY, so the stream is multiplexed
		// with 8-byte frame headers; both streams go to the one pipe.
		_, err := stdcopy.StdCopy(pw, pw, body)
		if err != nil {
			err = fmt.Errorf("containers.Logs(%s): %w", id, r.classifyStream(ctx, err))
		}
		_ = body.Close()
		pw.CloseWithError(err)
	}()
	return &outputStream{PipeReader: pr, conn: body}, nil
}

// outputStream closes the attached connection as well as the pipe, so that
// the copying goroutine ends when the reader stops early.
type outputStream struct {
	*io.PipeReader
	conn io.Closer
}

func (o *outputStream) Close() error {
	err := o.conn.Close()
	_ = o.PipeReader.Close()
	return err
}

// Stop sends the container's stop signal (SIGTERM) and kills it once grace
// has passed. Stopping a container that is not running is not an error; a
// missing one is derrors.ErrNotFound.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) (err error) {
	defer derrors.Wrap(&err, "containers.Stop(%s)", id)
	if grace < 0 {
		grace = 0
	}
	// The API counts whole seconds; never round a grace period down to a kill.
	secs := int(math.Ceil(grace.Seconds()))
	return r.call(ctx, time.Duration(secs)*time.Second, func(ctx context.Context) error {
		return r.client.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs})
	})
}

// Kill sends SIGKILL to the container's main process at once. A container
// that is not running is not an error; a missing one is derrors.ErrNotFound.
func (r *Runtime) Kill(ctx context.Context, id string) (err error) {
	defer derrors.Wrap(&err, "containers.Kill(%s)", id)
	err = r.call(ctx, 0, func(ctx context.Context) error {
		return r.client.ContainerKill(ctx, id, "KILL")
	})
	if cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "is not running") {
		return nil
	}
	return err
}

// Running reports whether the daemon says the container runs (or is
// paused or restarting: anything but stopped). A missing container is not
// running.
func (r *Runtime) Running(ctx context.Context, id string) (running bool, err error) {
	defer derrors.Wrap(&err, "containers.Running(%s)", id)
	var info container.InspectResponse
	err = r.call(ctx, 0, func(ctx context.Context) error {
		var err error
		info, err = r.client.ContainerInspect(ctx, id)
		return err
	})
	switch {
	case errors.Is(err, derrors.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case info.State == nil:
		return false, errors.New("inspect: no state")
	}
	return info.State.Running || info.State.Paused || info.State.Restarting, nil
}

// Remove deletes the container and its anonymous volumes, killing it first
// if it runs. A container that is already gone is not an error.
func (r *Runtime) Remove(ctx context.Context, id string) (err error) {
	defer derrors.Wrap(&err, "containers.Remove(%s)", id)
	err = r.call(ctx, 0, func(ctx context.Context) error {
		return r.client.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	switch {
	case errors.Is(err, derrors.ErrNotFound):
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress"):
		// Another reaper (another instance, or a concurrent Reap) got there first.
		return nil
	}
	return err
}
