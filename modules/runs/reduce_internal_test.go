package runs

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// reduced feeds line to a reducer with the given bounds in the pieces
// cuts makes of it (offsets, in order) and finishes it.
func reduced(maxString, maxSize int, line []byte, cuts ...int) (doc []byte, res reduceResult, cut bool) {
	r := newLineReducer(maxString, maxSize)
	prev := 0
	for _, c := range append(cuts, len(line)) {
		if r.write(line[prev:c]) != reduceOK {
			break
		}
		prev = c
	}
	doc, ok := r.finish()
	if ok {
		return bytes.Clone(doc), reduceOK, r.cut
	}
	if r.result == reduceOK {
		return nil, reduceInvalid, false // it ended too early
	}
	return nil, r.result, false
}

// checkReduced checks what a reducer with the given bounds made of in:
// nothing for what is not a JSON object; for one, either too large (only
// when the input is), or a valid JSON document of at most maxSize bytes
// equal to in but that each string value longer than maxString keeps its
// last maxString bytes at most, from a rune's start.
func checkReduced(t testing.TB, maxString, maxSize int, in, out []byte, res reduceResult, cut bool) {
	t.Helper()
	trimmed := bytes.TrimLeft(in, " \t\r\n")
	if !json.Valid(in) || len(trimmed) == 0 || trimmed[0] != '{' {
		require.Equal(t, reduceInvalid, res, "%.200q is no JSON object", in)
		return
	}
	if res == reduceTooLarge {
		require.Greater(t, len(in), maxSize, "only a line larger than the bound can be too large: %q", in)
		return
	}
	require.Equal(t, reduceOK, res, "%.200q", in)
	require.True(t, json.Valid(out), "%.200q from %.200q", out, in)
	require.LessOrEqual(t, len(out), maxSize)
	require.Equal(t, sameReduced(t, maxString, utf8.Valid(in), in, out), cut, "the reducer says whether it cut a string")
}

// sameReduced compares an input with its reduced form, token by token
// (keys in order, duplicates too), and reports whether a string was cut.
func sameReduced(t testing.TB, maxString int, exact bool, in, out []byte) (cut bool) {
	t.Helper()
	din, dout := json.NewDecoder(bytes.NewReader(in)), json.NewDecoder(bytes.NewReader(out))
	din.UseNumber()
	dout.UseNumber()
	type open struct{ obj, key bool } // key: a key comes next
	var stack []open
	for {
		w, errw := din.Token()
		g, errg := dout.Token()
		if errw == io.EOF {
			require.Equal(t, io.EOF, errg)
			return cut
		}
		require.NoError(t, errw)
		require.NoError(t, errg)
		key := len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].key
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].key = !key
		}
		switch w := w.(type) {
		case json.Delim:
			require.Equal(t, w, g)
			switch w {
			case '{', '[':
				stack = append(stack, open{obj: w == '{', key: true})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			gs, ok := g.(string)
			require.True(t, ok)
			if key || w == gs {
				require.Equal(t, w, gs, "keys are kept whole")
				if exact && !key {
					require.LessOrEqual(t, len(w), maxString, "a long string is cut")
				}
				continue
			}
			cut = true
			require.True(t, strings.HasSuffix(w, gs), "%.60q keeps the end of %.60q", gs, w)
			if exact {
				require.Greater(t, len(w), maxString, "only a long string is cut")
				require.LessOrEqual(t, len(gs), maxString)
				require.Greater(t, len(gs), maxString-utf8.UTFMax, "a cut keeps maxString bytes but a rune's")
				require.True(t, utf8.ValidString(gs))
			}
		default:
			require.Equal(t, w, g)
		}
	}
}

// reduceCases are lines that exercise the reducer, at small bounds.
var reduceCases = []string{
	`{}`,
	` {"type":"turn.started"} ` + "\r",
	`{"a":[1,-0,0.5,-12.5e+3,1E-2,3e7,true,false,null,{},[],[[]],""],"b":{"c":"d"}}`,
	`{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"make test","aggregated_output":"` +
		strings.Repeat(`line\n\u001b[32mok\u001b[0m \"quoted\" \\ é😀 `, 20) + `","exit_code":2,"status":"failed"}}`,
	`{"s":"` + strings.Repeat(`\ud83d\ude00`, 30) + `"}`,                              // surrogate pairs everywhere
	`{"s":"` + strings.Repeat("😀", 30) + `"}`,                                         // 4-byte runes everywhere
	`{"s":"` + strings.Repeat(`\ud83d`, 7) + `x\udc00\ud800\ud800\udc00"}`,            // lone and doubled surrogates
	`{"s":"` + strings.Repeat(`\"\\\/\b\f\n\r\t`, 10) + `","t":"\u0000\u00e9\uFFFF"}`, // every escape
	`{"` + strings.Repeat("k", 40) + `":"` + strings.Repeat("v", 40) + `"}`,           // a long key is kept
	`{"a":` + strings.Repeat(`[`, 50) + strings.Repeat(`]`, 50) + `}`,
	`{"a":` + strings.Repeat(`{"b":`, 30) + `"x"` + strings.Repeat(`}`, 30) + `}`,
	`{"n":` + strings.Repeat("9", 100) + `}`,
	`{"a":"` + strings.Repeat("x", 300) + `","b":"y"}`,
	// Not JSON objects, or not valid JSON.
	``, ` `, `[]`, `"x"`, `1`, `null`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1}}`, `{"a":1} x`,
	`{"a":1}{}`, `{"a":[1,]}`, `{"a":[1 2]}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`,
	`{"a":1e+}`, `{"a":+1}`, `{"a":tru}`, `{"a":nul}`, `{"a":truex}`, `{"a":"\x"}`, `{"a":"\u12"}`,
	`{"a":"\u12g4"}`, "{\"a\":\"\x01\"}", "{\"a\":\"tab\there\"}", `{"a":"unterminated}`, `{'a':1}`,
	`{"a":1]`, `{"a":[}`, `{"a" 1}`, `{1:2}`, `{"a":"` + strings.Repeat("x", 300) + `\q"}`,
}

// TestReduceEverySplit reduces each case at small bounds, whole and cut
// in two at every offset, and in bytes: the same, and as checkReduced
// says.
func TestReduceEverySplit(t *testing.T) {
	for _, bounds := range [][2]int{{8, 4096}, {16, 4096}, {64, 200}, {1 << 10, 1 << 20}} {
		for _, c := range reduceCases {
			in := []byte(c)
			out, res, cut := reduced(bounds[0], bounds[1], in)
			checkReduced(t, bounds[0], bounds[1], in, out, res, cut)
			for i := range in {
				o, r, k := reduced(bounds[0], bounds[1], in, i)
				require.Equal(t, res, r, "%q cut at %d", c, i)
				require.Equal(t, string(out), string(o), "%q cut at %d", c, i)
				require.Equal(t, cut, k)
			}
			bytewise := make([]int, len(in))
			for i := range bytewise {
				bytewise[i] = i
			}
			o, r, _ := reduced(bounds[0], bounds[1], in, bytewise...)
			require.Equal(t, res, r, "%q fed bytewise", c)
			require.Equal(t, string(out), string(o), "%q fed bytewise", c)
		}
	}
}

// TestReduceKeepsTheEnd: what exactly a cut keeps.
func TestReduceKeepsTheEnd(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{`{"s":"abcdefghij"}`, `{"s":"cdefghij"}`},
		{`{"s":"abcdefgh"}`, `{"s":"abcdefgh"}`}, // not longer: whole
		{` { "s" : "ab\ncdefgh" , "n" : [ 1 , 2 ] } `, `{"s":"b\ncdefgh","n":[1,2]}`},
		// A cut inside a rune moves to its end; a pair is one rune.
		{`{"s":"abcdefé😀"}`, `{"s":"efé😀"}`},
		{`{"s":"abcdefgé😀"}`, `{"s":"fgé😀"}`},
		{`{"s":"abcdefgé😀xyz"}`, `{"s":"😀xyz"}`}, // the last 8 bytes start inside é
		{`{"s":"abcdef\u00e9\ud83d\ude00"}`, `{"s":"efé😀"}`},
		{`{"s":"abcdefg\ud83d\ude00"}`, `{"s":"defg😀"}`},
		{`{"s":"abcdefg\ud83dx"}`, `{"s":"defg` + "\uFFFD" + `x"}`},
		// Decoded bytes count, and come back escaped.
		{`{"s":"\u0001\u0002\"\\\/\b\f\n\r\t"}`, `{"s":"\"\\/\b\f\n\r\t"}`},
		{`{"s":"\u0001\u0002\"\\\/\b\f\n"}`, `{"s":"\u0001\u0002\"\\/\b\f\n"}`}, // 8 decoded bytes: whole, rewritten
		{`{"k":"1234567890","s":"x"}`, `{"k":"34567890","s":"x"}`},
		{`{"s":"abcdefgh\n"}`, `{"s":"bcdefgh\n"}`}, // the closing escape makes it long
	}
	for _, c := range cases {
		out, res, _ := reduced(8, 4096, []byte(c.in))
		require.Equal(t, reduceOK, res, c.in)
		require.Equal(t, c.want, string(out), c.in)
	}
	// A reducer reset reads the next line as a new one.
	r := newLineReducer(8, 4096)
	r.write([]byte(`{"s":"abcdefghij"`))
	r.reset()
	r.write([]byte(`{"t":1}`))
	doc, ok := r.finish()
	require.True(t, ok)
	require.Equal(t, `{"t":1}`, string(doc))
	require.False(t, r.cut)

	// A key longer than maxString stays whole.
	out, _, cut := reduced(8, 4096, []byte(`{"abcdefghijk":1}`))
	require.Equal(t, `{"abcdefghijk":1}`, string(out))
	require.False(t, cut)
}

// TestReduceBounds: a 5 MiB string fits; what is too large, or too deep,
// is said so without holding it.
func TestReduceBounds(t *testing.T) {
	out := strings.Repeat("0123456789abcdef", 5<<16) + "END" // 5 MiB
	line := `{"type":"item.completed","item":{"id":"i","type":"command_execution","command":"cat",` +
		`"aggregated_output":"` + out + `","exit_code":3,"status":"failed"}}`
	r := newLineReducer(maxEventString, maxEventReduced)
	for p := []byte(line); len(p) > 0; p = p[min(len(p), 32<<10):] {
		require.Equal(t, reduceOK, r.write(p[:min(len(p), 32<<10)]))
		require.LessOrEqual(t, cap(r.out), 2*maxEventReduced, "it never holds much")
	}
	doc, ok := r.finish()
	require.True(t, ok)
	require.True(t, r.cut)
	require.Less(t, len(doc), maxEventString+200)
	var ev struct {
		Item struct {
			Output   string `json:"aggregated_output"`
			ExitCode int    `json:"exit_code"`
		} `json:"item"`
	}
	require.NoError(t, json.Unmarshal(doc, &ev))
	require.Equal(t, 3, ev.Item.ExitCode)
	require.Equal(t, out[len(out)-maxEventString:], ev.Item.Output)

	for name, line := range map[string]string{
		"many small strings":                `{"a":[` + strings.Repeat(`"x",`, 1<<17) + `"x"]}`,
		"a huge number":                     `{"a":` + strings.Repeat("1", 1<<19) + `}`,
		"a huge key":                        `{"` + strings.Repeat("k", 1<<19) + `":1}`,
		"a cut string that escapes to much": `{"` + strings.Repeat("k", 100<<10) + `":"` + strings.Repeat(`\u0001`, 40<<10) + `"}`,
	} {
		r := newLineReducer(maxEventString, maxEventReduced)
		require.Equal(t, reduceTooLarge, r.write([]byte(line)), name)
		require.LessOrEqual(t, len(r.out), maxEventReduced+16, "%s: not held", name)
		_, ok := r.finish()
		require.False(t, ok)
	}

	deep := func(n int) string { return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}` }
	var v any
	require.NoError(t, json.Unmarshal([]byte(deep(maxEventDepth)), &v))
	require.Error(t, json.Unmarshal([]byte(deep(maxEventDepth+1)), &v))
	_, res, _ := reduced(maxEventString, maxEventReduced, []byte(deep(maxEventDepth)))
	require.Equal(t, reduceOK, res, "as deep as encoding/json takes")
	_, res, _ = reduced(maxEventString, maxEventReduced, []byte(deep(maxEventDepth+1)))
	require.Equal(t, reduceInvalid, res, "deeper than encoding/json takes")
}

// FuzzReduce checks checkReduced on any line, at small bounds so that
// cuts happen, fed whole and in pieces. `go test -fuzz FuzzReduce
// -fuzztime 1m ./modules/runs` searches; a plain run checks the seeds.
func FuzzReduce(f *testing.F) {
	for _, c := range reduceCases {
		f.Add([]byte(c), uint8(3), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, piece, maxString uint8) {
		ms := 4 + int(maxString%60)
		out, res, cut := reduced(ms, 4096, in)
		checkReduced(t, ms, 4096, in, out, res, cut)
		var cuts []int
		for i := 1 + int(piece)%13; i < len(in); i += 1 + int(piece)%13 {
			cuts = append(cuts, i)
		}
		o, r, k := reduced(ms, 4096, in, cuts...)
		require.Equal(t, res, r)
		require.Equal(t, string(out), string(o))
		require.Equal(t, cut, k)
	})
}
