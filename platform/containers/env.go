package containers

import "strings"

// reservedEnv are variables no project secret may set in a run's
// container: the ones that choose what runs and how (PATH, the dynamic
// loader's, the shell's start-up and parsing), who and where the process
// is (HOME, USER, the working and temporary directories), and the proxy
// variables, through which an egress allowlist is enforced.
var reservedEnv = map[string]bool{
	"PATH": true, "HOME": true, "SHELL": true, "USER": true, "LOGNAME": true, "HOSTNAME": true,
	"PWD": true, "OLDPWD": true, "TMPDIR": true, "IFS": true, "ENV": true, "BASH_ENV": true,
	"CDPATH": true, "PS4": true, "SHELLOPTS": true, "BASHOPTS": true, "GLOBIGNORE": true,
	"PROMPT_COMMAND": true, "GCONV_PATH": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "ALL_PROXY": true, "FTP_PROXY": true,
}

// reservedEnvPrefixes are families of reserved variables: the server's
// own (SLIPWAY_PROMPT among them), the dynamic loaders' (LD_PRELOAD,
// LD_LIBRARY_PATH …) and exported shell functions.
var reservedEnvPrefixes = []string{"SLIPWAY_", "LD_", "DYLD_", "BASH_FUNC_"}

// ReservedEnv reports whether name is a variable a project secret may
// never set in a run's container. Case does not count: programs read
// http_proxy as readily as HTTP_PROXY.
func ReservedEnv(name string) bool {
	upper := strings.ToUpper(name)
	if reservedEnv[upper] {
		return true
	}
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(upper, p) {
			return true
		}
	}
	return false
}
