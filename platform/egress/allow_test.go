package egress_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/slipwayhq/slipway/platform/egress"
)

func TestAllowlistMatching(t *testing.T) {
	allow, err := egress.ParseAllowlist([]string{
		"api.openai.com:443",
		"*.example.com:443",
		"Mixed.Case.ORG.:8443",
		"203.0.113.7:443",
		"[2001:db8::1]:443",
	})
	require.NoError(t, err)
	require.Equal(t, []string{"api.openai.com:443", "*.example.com:443", "mixed.case.org:8443",
		"203.0.113.7:443", "[2001:db8::1]:443"}, allow.Strings())

	tests := []struct {
		target string
		want   bool
	}{
		{"api.openai.com:443", true},
		{"API.OpenAI.com:443", true},
		{"api.openai.com.:443", true},
		{"api.openai.com:80", false},           // the port is part of the entry
		{"api.openai.com:4430", false},         // exactly
		{"openai.com:443", false},              // a parent is not admitted
		{"evil.api.openai.com:443", false},     // nor a child of an exact name
		{"api.openai.com.evil.net:443", false}, // nor a longer name
		{"a.example.com:443", true},
		{"a.b.example.com:443", true},
		{"example.com:443", false},    // a wildcard is below the domain only
		{"badexample.com:443", false}, // on a label boundary
		{"a.example.com:80", false},
		{"a.example.com.evil.net:443", false},
		{"mixed.case.org:8443", true},
		{"203.0.113.7:443", true},
		{"203.0.113.7:80", false},
		{"[::ffff:203.0.113.7]:443", true}, // the same address, IPv4-mapped
		{"[2001:db8::1]:443", true},
		{"[2001:db8:0::1]:443", true},
		{"[2001:db8::2]:443", false},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			target, err := egress.ParseTarget(tc.target)
			require.NoError(t, err)
			require.Equal(t, tc.want, allow.Allows(target))
		})
	}

	// A name never matches an address rule and an address never matches a
	// name rule, whatever the name resolves to.
	byName, err := egress.ParseAllowlist([]string{"localhost:443"})
	require.NoError(t, err)
	target, err := egress.ParseTarget("127.0.0.1:443")
	require.NoError(t, err)
	require.False(t, byName.Allows(target))

	empty, err := egress.ParseAllowlist(nil)
	require.NoError(t, err)
	target, err = egress.ParseTarget("api.openai.com:443")
	require.NoError(t, err)
	require.False(t, empty.Allows(target), "an empty allowlist admits nothing")
}

func TestAllowlistRefusesBadEntries(t *testing.T) {
	for _, entry := range []string{
		"api.openai.com",        // no port
		"api.openai.com:",       // empty port
		"api.openai.com:0",      // port 0
		"api.openai.com:65536",  // too large
		"api.openai.com:0443",   // leading zero
		"api.openai.com:+443",   // sign
		"api.openai.com:https",  // a service name
		"api.openai.com:1-1024", // a range
		"*:443",                 // everything
		"*.com:443",             // a whole top-level domain
		"api.*.com:443",         // a wildcard inside
		"*example.com:443",      // a wildcard without its dot
		"**.example.com:443",    // twice
		"https://api.openai.com:443",
		"user@api.openai.com:443",
		"api.openai.com/v1:443",
		"-api.openai.com:443",
		"api..openai.com:443",
		"api.openai.com:443:443",
		"2001:db8::1:443",                    // IPv6 without brackets
		"[example.com]:443",                  // brackets around a name
		"[fe80::1%eth0]:443",                 // a zone
		"2130706433:443",                     // an address as a number
		"0x7f.1:443",                         // an address in hex
		"127.1:443",                          // an address, shortened
		"010.0.0.1:443",                      // an address with a leading zero
		"exa mple.com:443",                   // a space
		"ex\u00e4mple.com:443",               // not ASCII (write punycode)
		":443",                               // no host
		strings.Repeat("a", 64) + ".com:443", // a label over 63
	} {
		t.Run(entry, func(t *testing.T) {
			_, err := egress.ParseAllowlist([]string{"api.openai.com:443", entry})
			require.Error(t, err)
			require.Contains(t, err.Error(), "allowlist entry")
		})
	}
}
