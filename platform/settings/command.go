package settings

import (
	"encoding/json"
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/shell"
)

// promptVar is the one variable a run command may name: the worker puts the
// run's prompt in place of an argument that is exactly $SLIPWAY_PROMPT, and
// the container has it in its environment.
const promptVar = "SLIPWAY_PROMPT"

// parseCommand reads SLIPWAY_RUN_COMMAND: a JSON array of strings
// (["codex","exec","--json"]) when it starts with '[', else shell words with
// quotes and escapes honoured (sh -c 'echo hi; echo there'), split by
// mvdan.cc/sh. Nothing is run and nothing comes from the server's
// environment: $SLIPWAY_PROMPT stays as it is written, any other variable
// (or ~, which reads $HOME) is refused, and so are command substitutions
// and operators such as ; | && >, which only a shell in the container could
// mean.
func parseCommand(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") {
		var argv []string
		if err := json.Unmarshal([]byte(v), &argv); err != nil {
			return nil, fmt.Errorf("is not a JSON array of strings: %s", oneLine(err.Error()))
		}
		return argv, nil
	}
	var refused []string
	argv, err := shell.Fields(v, func(name string) string {
		switch name {
		case promptVar:
			return "$" + promptVar
		case "IFS", "PWD": // asked by the expander itself; "" keeps its defaults
			return ""
		}
		refused = append(refused, name)
		return ""
	})
	if err != nil {
		return nil, fmt.Errorf("is not shell words: %s", oneLine(err.Error()))
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("expands $%s, but the server's environment is never expanded into the command: only $%s may appear outside single quotes", refused[0], promptVar)
	}
	return argv, nil
}

// checkCommand returns why an argv cannot start a container, or "".
func checkCommand(argv []string) string {
	if len(argv) == 0 || argv[0] == "" {
		return "must name a program"
	}
	for i, a := range argv {
		if strings.ContainsRune(a, 0) {
			return fmt.Sprintf("argument %d contains NUL", i)
		}
	}
	return ""
}

// oneLine keeps a parser's message on the one line a settings error has.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
