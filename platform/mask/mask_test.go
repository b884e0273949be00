package mask

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// reference applies the package's rule to a whole input, position by
// position, the slow and obvious way.
func reference(secrets []Secret, in string) string {
	var byName []Secret
	for _, s := range secrets {
		for _, f := range Forms(s.Value) {
			byName = append(byName, Secret{Name: s.Name, Value: f})
		}
	}
	// The first name in order wins a shared value, as in the Writer.
	for i := range byName {
		for j := i + 1; j < len(byName); j++ {
			if byName[j].Name < byName[i].Name {
				byName[i], byName[j] = byName[j], byName[i]
			}
		}
	}
	longest := func(at int) (Secret, bool) {
		var best Secret
		for _, s := range byName {
			if s.Value != "" && strings.HasPrefix(in[at:], s.Value) && len(s.Value) > len(best.Value) {
				best = s
			}
		}
		return best, best.Value != ""
	}
	var out strings.Builder
	cover := 0
	for i := 0; i < len(in); i++ {
		s, ok := longest(i)
		switch {
		case i < cover:
			if ok && i+len(s.Value) > cover {
				out.WriteString(Label(s.Name))
				cover = i + len(s.Value)
			}
		case ok:
			out.WriteString(Label(s.Name))
			cover = i + len(s.Value)
		default:
			out.WriteByte(in[i])
		}
	}
	return out.String()
}

func maxLen(secrets []Secret) int {
	n := 0
	for _, s := range secrets {
		for _, f := range Forms(s.Value) {
			n = max(n, len(f))
		}
	}
	return n
}

// feed writes in through a Writer in the given pieces, checking after each
// write that it holds back less than the longest value and that what it
// wrote on is never taken back.
func feed(t *testing.T, secrets []Secret, pieces []string) string {
	t.Helper()
	var got bytes.Buffer
	w := NewWriter(&got, secrets)
	for _, p := range pieces {
		n, err := w.Write([]byte(p))
		require.NoError(t, err)
		require.Equal(t, len(p), n)
		require.LessOrEqual(t, w.Held(), max(maxLen(secrets)-1, 0), "holds back only a possible beginning of a value")
	}
	require.NoError(t, w.Close())
	require.Zero(t, w.Held())
	return got.String()
}

var examples = []struct {
	name    string
	secrets []Secret
	in      string
	want    string
}{
	{"none", nil, "plain output\n", "plain output\n"},
	{"one", []Secret{{"KEY", "s3cr3t"}}, "key=s3cr3t\n", "key=[secret:KEY]\n"},
	{"every occurrence", []Secret{{"KEY", "s3cr3t"}}, "s3cr3ts3cr3t and s3cr3t", "[secret:KEY][secret:KEY] and [secret:KEY]"},
	{"a near miss is kept", []Secret{{"KEY", "s3cr3t"}}, "s3cr3 s3cr3T s3cr3", "s3cr3 s3cr3T s3cr3"},
	{"two", []Secret{{"A", "alpha"}, {"B", "beta"}}, "alpha beta gamma", "[secret:A] [secret:B] gamma"},
	{"overlapping", []Secret{{"A", "abcd"}, {"B", "cdef"}}, "xabcdefx", "x[secret:A][secret:B]x"},
	{"overlapping, named the other way", []Secret{{"B", "abcd"}, {"A", "cdef"}}, "abcdef", "[secret:B][secret:A]"},
	{"a chain of overlaps", []Secret{{"A", "abab"}}, "abababab!", "[secret:A][secret:A][secret:A]!"},
	{"a run of one byte", []Secret{{"A", "aaaa"}}, "aaaaaa", "[secret:A][secret:A][secret:A]"},
	{"nested: the longer is named", []Secret{{"TOKEN", "tok"}, {"TOKEN_FULL", "tok-123"}}, "tok-123 tok-12 tok", "[secret:TOKEN_FULL] [secret:TOKEN]-12 [secret:TOKEN]"},
	{"inside a longer one, later", []Secret{{"LONG", "xsecretx"}, {"INNER", "secret"}}, "xsecretx secret", "[secret:LONG] [secret:INNER]"},
	{"a shared value takes the first name", []Secret{{"ZED", "same-value"}, {"ALPHA", "same-value"}}, "=same-value=", "=[secret:ALPHA]="},
	{"an empty value is ignored", []Secret{{"EMPTY", ""}, {"KEY", "k3y"}}, "k3y", "[secret:KEY]"},
	{"at both ends", []Secret{{"KEY", "k3y"}}, "k3yk3", "[secret:KEY]k3"},
	{"a prefix left at the end", []Secret{{"KEY", "abcdef"}}, "xxabcde", "xxabcde"},
	{"multi-byte", []Secret{{"KEY", "clé-ü"}}, "a clé-ü b", "a [secret:KEY] b"},
	{"newlines inside", []Secret{{"PEM", "-----BEGIN\nMIIB\n-----END"}}, "key:\n-----BEGIN\nMIIB\n-----END\n", "key:\n[secret:PEM]\n"},
	{"inside a JSON string", []Secret{{"PEM", "-----BEGIN\nMIIB\n-----END"}}, `{"text":"-----BEGIN\nMIIB\n-----END"}`, `{"text":"[secret:PEM]"}`},
	{"JSON escapes", []Secret{{"KEY", `p"a\ss` + "\t"}}, `{"a":"p\"a\\ss\t","b":"p"a\ss` + "\t" + `"}`, `{"a":"[secret:KEY]","b":"[secret:KEY]"}`},
	{"JSON escapes of HTML", []Secret{{"KEY", "a<b&c"}}, `"a\u003cb\u0026c" "a<b&c"`, `"[secret:KEY]" "[secret:KEY]"`},
	{"JSON escapes of control bytes", []Secret{{"KEY", "k\x01y"}}, `"k\u0001y"`, `"[secret:KEY]"`},
}

func TestForms(t *testing.T) {
	require.Nil(t, Forms(""))
	require.Equal(t, []string{"plain"}, Forms("plain"), "a value JSON leaves alone has one form")
	require.Equal(t, []string{"a\"b<", `a\"b<`, `a\"b\u003c`}, Forms("a\"b<"))
}

func TestExamples(t *testing.T) {
	for _, c := range examples {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, reference(c.secrets, c.in), "the reference agrees with the example")
			require.Equal(t, c.want, feed(t, c.secrets, []string{c.in}))
		})
	}
}

// TestEverySplitPoint writes every example in two pieces split at every
// position, in three pieces split at every pair of positions, and a byte
// at a time: the output never depends on where a write ends.
func TestEverySplitPoint(t *testing.T) {
	for _, c := range examples {
		t.Run(c.name, func(t *testing.T) {
			for i := 0; i <= len(c.in); i++ {
				require.Equal(t, c.want, feed(t, c.secrets, []string{c.in[:i], c.in[i:]}), "split at %d", i)
				for j := i; j <= len(c.in); j++ {
					require.Equal(t, c.want, feed(t, c.secrets, []string{c.in[:i], c.in[i:j], c.in[j:]}), "split at %d and %d", i, j)
				}
			}
			var bytewise []string
			for i := range len(c.in) {
				bytewise = append(bytewise, c.in[i:i+1])
			}
			require.Equal(t, c.want, feed(t, c.secrets, bytewise))
		})
	}
}

// TestRandomAgainstReference compares the Writer with the reference on
// random secrets and output over a small alphabet, where values overlap
// and nest all the time, written in random pieces.
func TestRandomAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc"[r.IntN(3)]
		}
		return string(b)
	}
	for round := range 3000 {
		var secrets []Secret
		for i := range 1 + r.IntN(4) {
			secrets = append(secrets, Secret{Name: fmt.Sprint("S", i), Value: word(1 + r.IntN(5))})
		}
		in := word(r.IntN(40))
		var pieces []string
		for rest := in; rest != ""; {
			n := min(len(rest), r.IntN(6))
			pieces = append(pieces, rest[:n])
			rest = rest[n:]
		}
		require.Equal(t, reference(secrets, in), feed(t, secrets, pieces), "round %d: secrets %v, input %q, pieces %q", round, secrets, in, pieces)
	}
}

// TestEveryByteOfEveryOccurrenceIsHidden checks the property the rule
// exists for, independently of the rule, on random cases: with the labels
// taken out, the output is the input without the bytes of any occurrence
// of any value (overlapping ones included), and nothing else is missing.
func TestEveryByteOfEveryOccurrenceIsHidden(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		a, b := strings.Repeat("x", 1+r.IntN(3))+"y", "y"+strings.Repeat("x", 1+r.IntN(3))
		secrets := []Secret{{"A", a}, {"B", b}}
		var sb strings.Builder
		for range 10 {
			sb.WriteString([]string{a, b, "x", "y", "-"}[r.IntN(5)])
		}
		in := sb.String()
		hidden := make([]bool, len(in))
		for _, s := range secrets {
			for i := 0; i+len(s.Value) <= len(in); i++ {
				if in[i:i+len(s.Value)] == s.Value {
					for j := i; j < i+len(s.Value); j++ {
						hidden[j] = true
					}
				}
			}
		}
		var want strings.Builder
		for i := range in {
			if !hidden[i] {
				want.WriteByte(in[i])
			}
		}
		out := feed(t, secrets, []string{in})
		rest := strings.NewReplacer(Label("A"), "", Label("B"), "").Replace(out)
		require.Equal(t, want.String(), rest, "input %q gave %q", in, out)
	}
}

// TestLinearTime feeds a worst case for a naive matcher: a 64 KiB value
// of one byte and megabytes of that byte. Each position starts an
// occurrence, so a matcher comparing the value at each position would do
// 2^16 comparisons per byte; the automaton does a constant amount.
func TestLinearTime(t *testing.T) {
	value := strings.Repeat("a", 64<<10)
	var got countingWriter
	w := NewWriter(&got, []Secret{{"BIG", value}})
	chunk := []byte(strings.Repeat("a", 32<<10))
	for range 64 { // 2 MiB
		_, err := w.Write(chunk)
		require.NoError(t, err)
		require.Less(t, w.Held(), len(value))
	}
	require.NoError(t, w.Close())
	require.Equal(t, int64((2<<20)-len(value)+1)*int64(len(Label("BIG"))), got.n, "one label per occurrence, the first and each that reaches one byte further")
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func TestWriteAfterClose(t *testing.T) {
	var got bytes.Buffer
	w := NewWriter(&got, []Secret{{"KEY", "abc"}})
	_, err := w.Write([]byte("xab"))
	require.NoError(t, err)
	require.Equal(t, "x", got.String(), "ab could begin the value")
	require.NoError(t, w.Close())
	require.Equal(t, "xab", got.String(), "Close writes what was held back")
	require.NoError(t, w.Close(), "a second Close does nothing")
	_, err = w.Write([]byte("c"))
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, "xab", got.String())
}

// TestMaskerServesManyWritersAtOnce builds the automaton once and masks
// through it from several goroutines (run with -race), as a run's log and
// its egress lines do.
func TestMaskerServesManyWritersAtOnce(t *testing.T) {
	m := New([]Secret{{"KEY", "s3cr3t"}})
	done := make(chan string, 8)
	for range 8 {
		go func() { done <- m.String("host s3cr3t.example.com") }()
	}
	for range 8 {
		require.Equal(t, "host [secret:KEY].example.com", <-done)
	}
}
