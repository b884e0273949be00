package runs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/access"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/mask"
)

// readSecrets decrypts the project's secrets right before the container
// starts: what they add to its environment, the values its log hides, and
// a warning for each secret left out.
func (x *execution) readSecrets(ctx context.Context) error {
	secrets, err := x.w.secrets.RunSecrets(ctx, x.run.ProjectID)
	switch {
	case ctx.Err() != nil && err != nil:
		return ctx.Err()
	case err != nil:
		x.log.Error("reading the project's secrets failed", zap.Error(err))
		return fail("could not read the project's secrets")
	}
	x.setSecrets(secrets)
	x.env, x.warnings = x.w.secretEnv(secrets)
	return nil
}

// setSecrets keeps the run's secrets and builds, once, the masker of their
// values that the log and the egress lines share.
func (x *execution) setSecrets(secrets []access.Secret) {
	x.secrets = secrets
	list := make([]mask.Secret, 0, len(secrets))
	for _, s := range secrets {
		list = append(list, mask.Secret{Name: s.Name, Value: s.Value})
	}
	x.masker = mask.New(list)
}

// secretEnv is what a run's secrets add to its container's environment,
// and why any was left out. A secret never sets a reserved variable
// (SLIPWAY_*, PATH, HOME, the proxy variables …): the secrets module
// refuses such names, and this checks again whatever the store holds. Nor
// does it replace a variable the server passes on from its own environment
// (runs.env_allowlist): that value is the operator's.
func (w *Worker) secretEnv(secrets []access.Secret) (env map[string]string, warnings []string) {
	env = map[string]string{}
	for _, s := range secrets {
		switch {
		case containers.ReservedEnv(s.Name):
			warnings = append(warnings, fmt.Sprintf("secret %s was not set: the name is reserved", s.Name))
		case slices.Contains(w.cfg.EnvAllowlist, s.Name) && present(s.Name):
			warnings = append(warnings, fmt.Sprintf("secret %s was not set: the server sets %s", s.Name, s.Name))
		default:
			env[s.Name] = s.Value
		}
	}
	return env, warnings
}

func present(name string) bool {
	_, ok := os.LookupEnv(name)
	return ok
}

// maskSecrets wraps the writer of the run's log so that every value of
// the project's secrets reads [secret:NAME] in it, even one the agent
// writes in pieces. Close writes what it held back.
func (x *execution) maskSecrets(w io.Writer) *mask.Writer { return x.masker.Writer(w) }

// patchWarnings names each secret whose value the patch holds (as it is,
// or escaped in a JSON string): the patch
// is the agent's work and is kept as it is, but whoever applies it should
// know.
func patchWarnings(patch []byte, secrets []access.Secret) []string {
	var out []string
	for _, s := range secrets {
		if slices.ContainsFunc(mask.Forms(s.Value), func(f string) bool { return bytes.Contains(patch, []byte(f)) }) {
			out = append(out, "the patch contains the value of secret "+s.Name)
		}
	}
	return out
}
