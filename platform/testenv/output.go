package testenv

import (
	"bytes"
	"sync"
)

// Output collects what a child process or a server writes while a test
// reads it; it is safe for concurrent use. With Max > 0 it keeps only the
// first Max bytes (a chatty child cannot fill the test's memory) and still
// reports every write as whole.
type Output struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	keep := p
	if o.Max > 0 {
		keep = p[:min(len(p), max(o.Max-o.buf.Len(), 0))]
	}
	o.buf.Write(keep)
	return len(p), nil
}

// String is what was kept so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
