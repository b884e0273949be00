package secrets

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/ids"
)

// IDPrefix starts every secret id: "sec_01j…". Ids are the stores' own: the
// API names a secret by its project and name.
const IDPrefix ids.Prefix = "sec"

// Secret is a stored secret. Its value is only ever here as Ciphertext,
// sealed under the key KeyID names.
type Secret struct {
	ID         string    `json:"id"`
	ProjectID  string    `json:"project_id"`
	Name       string    `json:"name"`
	KeyID      string    `json:"key_id"`
	Ciphertext []byte    `json:"ciphertext"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Limits. A project's values together are bounded too: they all go into
// one container's environment, which the kernel caps (about 2 MiB with the
// arguments), and into the masker of its log.
const (
	MaxNameLen      = 64
	MinValueBytes   = 4
	MaxValueBytes   = 64 << 10
	MaxPerProject   = 100
	MaxProjectBytes = 256 << 10
)

var namePattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)

// checkName returns why name cannot name a secret, or "".
func checkName(name string) string {
	switch {
	case !namePattern.MatchString(name):
		return "must be 1 to 64 upper-case letters, digits and underscores, not starting with a digit (an environment variable name)"
	case containers.ReservedEnv(name):
		return fmt.Sprintf("%s is reserved: a secret may not set the server's SLIPWAY_ variables, PATH, HOME, the shell's or the dynamic loader's variables, nor the proxy variables", name)
	}
	return ""
}

// checkValue returns why value cannot be a secret's value, or "". A value
// of a few bytes is refused: masking it would hide every occurrence of,
// say, "1" in the run's log, and it is no secret anyway.
func checkValue(value string) string {
	switch {
	case value == "":
		return "is required"
	case len(value) < MinValueBytes:
		return fmt.Sprintf("must be at least %d bytes", MinValueBytes)
	case len(value) > MaxValueBytes:
		return fmt.Sprintf("must be at most %d bytes", MaxValueBytes)
	case !utf8.ValidString(value):
		return "must be valid UTF-8"
	case strings.ContainsRune(value, 0):
		return "must not contain NUL characters"
	}
	return ""
}
