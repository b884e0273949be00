package runs

import (
	"unicode/utf16"
	"unicode/utf8"
)

// An event line can be far longer than what the timeline shows of it: a
// command_execution item carries up to about 1 MiB of the command's output
// before JSON escaping, and its exit code and status come after it. A
// lineReducer reads such a line as it streams past and keeps a bounded,
// valid JSON document instead of the line: the line with its whitespace
// left out and every string value longer than maxEventString cut to its
// last maxEventString bytes. It keeps the end of a long string, not its
// start, because the timeline already shows only the end of a command's
// output (where a failure shows) and the end of an agent's message is
// its conclusion; one rule for every string keeps the reducer ignorant of
// field names. Object keys, numbers and the structure are kept whole and
// count towards maxEventReduced, beyond which the line cannot be bounded.

const (
	// maxEventString is the longest string value a reduced line holds, in
	// decoded bytes: a longer one keeps its last maxEventString bytes,
	// from a rune's start. It exceeds maxEventOutput, so that the last
	// maxEventOutput bytes of a cut output are still all there.
	maxEventString = 32 << 10
	// maxEventReduced bounds a reduced line.
	maxEventReduced = 256 << 10
	// maxEventDepth bounds the nesting of a line, as encoding/json does.
	maxEventDepth = 10000
)

// reduceState says where a lineReducer is in its line.
type reduceState uint8

const (
	rsTop        reduceState = iota // before the top-level object
	rsValue                         // a value is expected
	rsValueOrEnd                    // after '[': a value or ']'
	rsKeyOrEnd                      // after '{': a key or '}'
	rsKey                           // after ',' in an object: a key
	rsColon                         // after a key
	rsNext                          // after a value in a container: ',' or its end
	rsDone                          // after the top-level object: whitespace only
	rsString                        // inside a string
	rsEscape                        // after a backslash in a string
	rsHex                           // inside \uXXXX
	rsNumber                        // inside a number; see num
	rsLiteral                       // inside true, false or null; see lit
)

// Number states (lineReducer.num), after: a '-', a leading 0, an integer
// digit, a '.', a fraction digit, an 'e', an exponent's sign, an exponent
// digit.
const (
	numMinus = iota
	numZero
	numInt
	numDot
	numFrac
	numE
	numESign
	numExp
)

// reduceResult is what a lineReducer made of the bytes so far.
type reduceResult uint8

const (
	reduceOK       reduceResult = iota // valid so far, and bounded
	reduceInvalid                      // not a JSON object: no event
	reduceTooLarge                     // valid so far, but beyond maxEventReduced
)

// lineReducer reduces one line fed in pieces (see above); reset readies
// it for the next line and keeps its buffers while they are small.
type lineReducer struct {
	maxString int // maxEventString but in tests
	maxSize   int // maxEventReduced but in tests

	out    []byte // the reduced line so far
	stack  []byte // the open containers: '{' or '['
	state  reduceState
	result reduceResult
	cut    bool // a string was cut

	// The string being read.
	key      bool // an object key: kept whole
	strStart int  // where its contents start in out
	tailing  bool // longer than maxEventString: decoded into ring
	hex      rune // the \uXXXX read so far
	hexN     int  // its digits read
	high     rune // a decoded high surrogate that waits for its low half (tailing)
	ring     []byte
	ringN    int64 // bytes ever written to ring for this string

	num int    // the number's state
	lit string // the rest of the literal
}

// newLineReducer returns a reducer of lines with the given bounds.
func newLineReducer(maxString, maxSize int) *lineReducer {
	return &lineReducer{maxString: maxString, maxSize: maxSize}
}

// reset readies r for the next line.
func (r *lineReducer) reset() {
	if cap(r.out) > 64<<10 {
		r.out = nil // an idle follower keeps little
	}
	r.ring = nil
	if cap(r.stack) > 1<<10 {
		r.stack = nil
	}
	r.out, r.stack = r.out[:0], r.stack[:0]
	r.state, r.result, r.cut = rsTop, reduceOK, false
}

// started reports whether the line has more than whitespace so far.
func (r *lineReducer) started() bool { return r.state != rsTop }

// finish ends the line and returns its reduced form, valid while r is not
// used again; ok is false if the line is no whole JSON object or too large.
func (r *lineReducer) finish() (doc []byte, ok bool) {
	if r.result != reduceOK || r.state != rsDone { // a number cannot end it: it is in an object
		return nil, false
	}
	return r.out, true
}

// write reads the next bytes of the line and returns the result so far.
// After a result other than reduceOK, the rest of the line is ignored.
func (r *lineReducer) write(p []byte) reduceResult {
	for i := 0; i < len(p) && r.result == reduceOK; {
		if len(r.out) > r.maxSize {
			r.result = reduceTooLarge
			break
		}
		c := p[i]
		switch r.state {
		case rsString:
			i += r.str(p[i:])
			continue
		case rsEscape:
			r.escape(c)
		case rsHex:
			r.hexDigit(c)
		case rsNumber:
			if !r.number(c) {
				continue // the number ended before c: read c again
			}
		case rsLiteral:
			if c != r.lit[0] {
				r.result = reduceInvalid
				break
			}
			r.out = append(r.out, c)
			if r.lit = r.lit[1:]; r.lit == "" {
				r.endValue()
			}
		default:
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				break
			}
			r.structural(c)
		}
		i++
	}
	if len(r.out) > r.maxSize && r.result == reduceOK {
		r.result = reduceTooLarge
	}
	return r.result
}

// structural reads c outside strings, numbers and literals.
func (r *lineReducer) structural(c byte) {
	switch r.state {
	case rsTop:
		if c != '{' {
			r.result = reduceInvalid
			return
		}
		r.open(c)
	case rsValue, rsValueOrEnd:
		if r.state == rsValueOrEnd && c == ']' {
			r.close(c)
			return
		}
		r.value(c)
	case rsKeyOrEnd, rsKey:
		switch {
		case c == '}' && r.state == rsKeyOrEnd:
			r.close(c)
		case c == '"':
			r.out = append(r.out, c)
			r.state, r.key, r.tailing, r.strStart = rsString, true, false, len(r.out)
		default:
			r.result = reduceInvalid
		}
	case rsColon:
		if c != ':' {
			r.result = reduceInvalid
			return
		}
		r.out = append(r.out, c)
		r.state = rsValue
	case rsNext:
		top := r.stack[len(r.stack)-1]
		switch {
		case c == ',':
			r.out = append(r.out, c)
			r.state = rsValue
			if top == '{' {
				r.state = rsKey
			}
		case c == '}' && top == '{', c == ']' && top == '[':
			r.close(c)
		default:
			r.result = reduceInvalid
		}
	default: // rsDone
		r.result = reduceInvalid
	}
}

// value starts the value that c starts.
func (r *lineReducer) value(c byte) {
	switch {
	case c == '{' || c == '[':
		r.open(c)
	case c == '"':
		r.out = append(r.out, c)
		r.state, r.key, r.tailing, r.strStart = rsString, false, false, len(r.out)
	case c == '-':
		r.out = append(r.out, c)
		r.state, r.num = rsNumber, numMinus
	case c == '0':
		r.out = append(r.out, c)
		r.state, r.num = rsNumber, numZero
	case c >= '1' && c <= '9':
		r.out = append(r.out, c)
		r.state, r.num = rsNumber, numInt
	case c == 't' || c == 'f' || c == 'n':
		r.out = append(r.out, c)
		r.state, r.lit = rsLiteral, "ull"
		switch c {
		case 't':
			r.lit = "rue"
		case 'f':
			r.lit = "alse"
		}
	default:
		r.result = reduceInvalid
	}
}

func (r *lineReducer) open(c byte) {
	if len(r.stack) == maxEventDepth {
		r.result = reduceInvalid // as encoding/json
		return
	}
	r.stack = append(r.stack, c)
	r.out = append(r.out, c)
	r.state = rsValueOrEnd
	if c == '{' {
		r.state = rsKeyOrEnd
	}
}

func (r *lineReducer) close(c byte) {
	r.stack = r.stack[:len(r.stack)-1]
	r.out = append(r.out, c)
	r.endValue()
}

// endValue moves past a value that ended.
func (r *lineReducer) endValue() {
	switch {
	case len(r.stack) == 0:
		r.state = rsDone
	default:
		r.state = rsNext
	}
}

// number reads c in a number; false when the number ended before c.
func (r *lineReducer) number(c byte) bool {
	digit := c >= '0' && c <= '9'
	next := -1
	switch r.num {
	case numMinus:
		switch {
		case c == '0':
			next = numZero
		case digit:
			next = numInt
		}
	case numZero, numInt:
		switch {
		case digit && r.num == numInt:
			next = numInt
		case c == '.':
			next = numDot
		case c == 'e' || c == 'E':
			next = numE
		}
	case numDot, numFrac:
		switch {
		case digit:
			next = numFrac
		case (c == 'e' || c == 'E') && r.num == numFrac:
			next = numE
		}
	case numE:
		switch {
		case c == '+' || c == '-':
			next = numESign
		case digit:
			next = numExp
		}
	case numESign, numExp:
		if digit {
			next = numExp
		}
	}
	if next >= 0 {
		r.out = append(r.out, c)
		r.num = next
		return true
	}
	if r.num == numZero || r.num == numInt || r.num == numFrac || r.num == numExp {
		r.endValue()
		return false
	}
	r.result = reduceInvalid
	return true
}

// str reads string contents from p up to its closing quote, included, and
// returns how many bytes it read.
func (r *lineReducer) str(p []byte) int {
	i := 0
	for i < len(p) {
		if !r.key && !r.tailing && len(r.out)-r.strStart > r.maxString {
			r.startTail()
		}
		// A run of plain bytes.
		j := i
		for j < len(p) && p[j] != '"' && p[j] != '\\' && p[j] >= 0x20 {
			j++
		}
		if j > i {
			run := p[i:j]
			if r.tailing {
				r.pending()
				r.toRing(run)
			} else {
				// Bound what one piece adds, so that a long string is cut,
				// and a too long key found, at once.
				room := r.maxSize + 1 - len(r.out)
				if !r.key {
					room = min(room, r.maxString+1-(len(r.out)-r.strStart))
				}
				run = run[:min(len(run), max(room, 1))]
				r.out = append(r.out, run...)
				if len(r.out) > r.maxSize {
					r.result = reduceTooLarge
					return i + len(run)
				}
			}
			i += len(run)
			continue
		}
		c := p[i]
		i++
		switch {
		case c == '\\':
			if !r.tailing {
				r.out = append(r.out, c)
			}
			r.state = rsEscape
			return i
		case c == '"':
			r.endString() // the loop's start turned a long string to its tail
			return i
		default: // a control character
			r.result = reduceInvalid
			return i
		}
	}
	return i
}

// escape reads c after a backslash.
func (r *lineReducer) escape(c byte) {
	var d byte
	switch c {
	case '"', '\\', '/':
		d = c
	case 'b':
		d = '\b'
	case 'f':
		d = '\f'
	case 'n':
		d = '\n'
	case 'r':
		d = '\r'
	case 't':
		d = '\t'
	case 'u':
		if !r.tailing {
			r.out = append(r.out, c)
		}
		r.state, r.hex, r.hexN = rsHex, 0, 0
		return
	default:
		r.result = reduceInvalid
		return
	}
	if r.tailing {
		r.pending()
		r.toRing([]byte{d})
	} else {
		r.out = append(r.out, c)
	}
	r.state = rsString
}

// hexDigit reads c in a \uXXXX escape.
func (r *lineReducer) hexDigit(c byte) {
	var v byte
	switch {
	case c >= '0' && c <= '9':
		v = c - '0'
	case c >= 'a' && c <= 'f':
		v = c - 'a' + 10
	case c >= 'A' && c <= 'F':
		v = c - 'A' + 10
	default:
		r.result = reduceInvalid
		return
	}
	r.hex = r.hex<<4 | rune(v)
	r.hexN++
	if !r.tailing {
		r.out = append(r.out, c)
	}
	if r.hexN < 4 {
		return
	}
	r.state = rsString
	if r.tailing {
		r.decoded(r.hex)
	}
}

// decoded writes the rune of a \uXXXX escape to the ring, pairing
// surrogates as encoding/json does: a high one followed by a low one is
// one rune, any other surrogate is U+FFFD.
func (r *lineReducer) decoded(u rune) {
	if r.high != 0 {
		high := r.high
		r.high = 0
		if dec := utf16.DecodeRune(high, u); dec != utf8.RuneError {
			r.toRingRune(dec)
			return
		}
		r.toRingRune(utf8.RuneError)
	}
	switch {
	case u >= 0xd800 && u < 0xdc00:
		r.high = u
	case utf16.IsSurrogate(u):
		r.toRingRune(utf8.RuneError)
	default:
		r.toRingRune(u)
	}
}

func (r *lineReducer) toRingRune(u rune) {
	var b [utf8.UTFMax]byte
	r.toRing(b[:utf8.EncodeRune(b[:], u)])
}

// pending writes a high surrogate that no low one followed.
func (r *lineReducer) pending() {
	if r.high != 0 {
		r.high = 0
		r.toRingRune(utf8.RuneError)
	}
}

// startTail turns the string being read, which got longer than
// maxString, to its tail: its contents so far are decoded into the
// ring and leave out. It happens between escapes.
func (r *lineReducer) startTail() {
	raw := r.out[r.strStart:]
	r.out = r.out[:r.strStart]
	r.tailing, r.high, r.ringN = true, 0, 0
	if r.ring == nil {
		r.ring = make([]byte, r.maxString)
	}
	// raw stays intact past len(r.out): tailing writes to the ring only.
	for i := 0; i < len(raw); {
		switch r.state {
		case rsString:
			i += r.str(raw[i:])
			continue
		case rsEscape:
			r.escape(raw[i])
		case rsHex:
			r.hexDigit(raw[i])
		}
		i++
	}
}

// toRing adds decoded bytes to the tail of the string.
func (r *lineReducer) toRing(b []byte) {
	r.ringN += int64(len(b))
	if len(b) >= len(r.ring) {
		b = b[len(b)-len(r.ring):]
	}
	at := int((r.ringN - int64(len(b))) % int64(len(r.ring)))
	n := copy(r.ring[at:], b)
	copy(r.ring, b[n:])
}

// endString ends the string at its closing quote.
func (r *lineReducer) endString() {
	if r.tailing {
		r.pending()
		if r.ringN <= int64(len(r.ring)) {
			r.out = appendJSONString(r.out, r.ring[:r.ringN], r.maxSize)
		} else {
			// The ring holds the last len(ring) bytes from at on; they
			// start on a rune unless the cut fell inside one.
			at := int(r.ringN % int64(len(r.ring)))
			for k := 0; k < utf8.UTFMax-1 && !utf8.RuneStart(r.ring[at]); k++ {
				at = (at + 1) % len(r.ring)
			}
			end := int(r.ringN % int64(len(r.ring)))
			if at >= end {
				r.out = appendJSONString(r.out, r.ring[at:], r.maxSize)
				at = 0
			}
			r.out = appendJSONString(r.out, r.ring[at:end], r.maxSize)
			r.cut = true
		}
		r.tailing = false
	}
	r.out = append(r.out, '"')
	if r.key {
		r.state = rsColon
		return
	}
	r.endValue()
}

// appendJSONString appends the contents of a JSON string holding s, whose
// bytes are copied but for those JSON must escape, each in its shortest
// form: no longer than the input had it, so a reduced line is never
// longer than the line. It stops once dst is longer than limit.
func appendJSONString(dst, s []byte, limit int) []byte {
	const hexDigits = "0123456789abcdef"
	for _, c := range s {
		if len(dst) > limit {
			break
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
