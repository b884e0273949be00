package jsonstore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"strings"
)

const snapshotFormat = "slipway-jsonstore-snapshot"

// snapshotHeader is the first line of a snapshot.
type snapshotHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Seq     uint64 `json:"seq"`
}

// snapshotTrailer is the last line of a snapshot. CRC32C covers every byte
// before this line, so a truncated or damaged snapshot is never mistaken for
// a complete one.
type snapshotTrailer struct {
	End    bool   `json:"end"`
	Docs   int    `json:"docs"`
	CRC32C uint32 `json:"crc32c"`
}

// writeSnapshot writes st, the state after transaction seq, to w as JSON
// lines: header, one line per document (collections and ids sorted), trailer.
func writeSnapshot(w io.Writer, st *state, seq uint64) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	sum := crc32.New(castagnoli)
	out := io.MultiWriter(bw, sum)

	hdr, err := json.Marshal(snapshotHeader{Format: snapshotFormat, Version: 1, Seq: seq})
	if err != nil {
		return err
	}
	if _, err := out.Write(append(hdr, '\n')); err != nil {
		return err
	}
	names := make([]string, 0, len(st.colls))
	for name := range st.colls {
		names = append(names, name)
	}
	slices.Sort(names)
	docs := 0
	var line []byte
	var werr error
	for _, name := range names {
		st.colls[name].docs.Each(func(id string, d *doc) bool {
			line = appendOp(line[:0], op{coll: name, id: id, raw: d.raw})
			line = append(line, '\n')
			if _, werr = out.Write(line); werr != nil {
				return false
			}
			docs++
			return true
		})
		if werr != nil {
			return werr
		}
	}
	tr, err := json.Marshal(snapshotTrailer{End: true, Docs: docs, CRC32C: sum.Sum32()})
	if err != nil {
		return err
	}
	if _, err := bw.Write(append(tr, '\n')); err != nil {
		return err
	}
	return bw.Flush()
}

// readSnapshot loads a snapshot file into a new state and returns it with
// the sequence number of the last transaction it contains.
func readSnapshot(path string) (*state, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	sum := crc32.New(castagnoli)

	line, err := readLine(r, sum)
	if err != nil {
		return nil, 0, fmt.Errorf("read header: %w", err)
	}
	var hdr snapshotHeader
	if err := json.Unmarshal(line, &hdr); err != nil || hdr.Format != snapshotFormat {
		return nil, 0, errors.New("not a snapshot: bad header line")
	}
	if hdr.Version != 1 {
		return nil, 0, fmt.Errorf("unsupported snapshot version %d", hdr.Version)
	}

	type entry struct {
		id string
		d  *doc
	}
	byColl := map[string][]entry{}
	for lineNo := 2; ; lineNo++ {
		crcBefore := sum.Sum32()
		line, err := readLine(r, sum)
		if err != nil {
			return nil, 0, fmt.Errorf("line %d: %w (snapshot is truncated)", lineNo, err)
		}
		if bytes.HasPrefix(line, []byte(`{"end":`)) {
			var tr snapshotTrailer
			if err := json.Unmarshal(line, &tr); err != nil {
				return nil, 0, fmt.Errorf("line %d: bad trailer: %w", lineNo, err)
			}
			docs := 0
			for _, es := range byColl {
				docs += len(es)
			}
			if tr.CRC32C != crcBefore || tr.Docs != docs {
				return nil, 0, fmt.Errorf("checksum or document count mismatch (trailer says %d documents, crc %08x; found %d, crc %08x)", tr.Docs, tr.CRC32C, docs, crcBefore)
			}
			break
		}
		var o walOp
		if err := json.Unmarshal(line, &o); err != nil {
			return nil, 0, fmt.Errorf("line %d: %w", lineNo, err)
		}
		if o.C == "" || o.ID == "" || len(o.V) == 0 {
			return nil, 0, fmt.Errorf("line %d: document line needs c, id and v", lineNo)
		}
		byColl[o.C] = append(byColl[o.C], entry{o.ID, &doc{id: o.ID, raw: o.V}})
	}

	st := &state{colls: make(map[string]*collState, len(byColl))}
	for name, es := range byColl {
		slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.id, b.id) })
		keys := make([]string, len(es))
		docs := make([]*doc, len(es))
		for i, e := range es {
			if i > 0 && e.id == es[i-1].id {
				return nil, 0, fmt.Errorf("document %s/%s appears twice", name, e.id)
			}
			keys[i], docs[i] = e.id, e.d
		}
		st.colls[name] = &collState{docs: buildSorted(keys, docs)}
	}
	return st, hdr.Seq, nil
}

// readLine returns the next line without its newline, feeding the whole line
// to sum. A last line without a newline is an error: a snapshot always ends
// with one.
func readLine(r *bufio.Reader, sum hash.Hash32) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	sum.Write(line)
	return line[:len(line)-1], nil
}
