package jsonstore

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"unicode/utf8"
)

const (
	frameHeaderSize = 8       // uint32 payload length + uint32 CRC32C, little endian
	maxRecordSize   = 1 << 30 // a larger length field can only be a torn or corrupt frame
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// walRecord is the JSON payload of one log frame: one committed transaction.
type walRecord struct {
	Seq uint64  `json:"seq"`
	Ops []walOp `json:"ops"`
}

// walOp is one write; it is also the shape of a snapshot's document line.
type walOp struct {
	C  string          `json:"c"`
	ID string          `json:"id"`
	V  json.RawMessage `json:"v,omitempty"`
	D  bool            `json:"d,omitempty"`
}

// appendRecord appends the frame of transaction seq to buf.
func appendRecord(buf []byte, seq uint64, ops []op) ([]byte, error) {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeaderSize)...)
	buf = append(buf, `{"seq":`...)
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, `,"ops":[`...)
	for i, o := range ops {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendOp(buf, o)
	}
	buf = append(buf, "]}"...)
	payload := buf[start+frameHeaderSize:]
	if len(payload) > maxRecordSize {
		return buf[:start], fmt.Errorf("transaction of %d bytes exceeds the %d byte record limit", len(payload), maxRecordSize)
	}
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf, nil
}

// appendOp appends o as a walOp JSON object.
func appendOp(buf []byte, o op) []byte {
	buf = append(buf, `{"c":`...)
	buf = appendJSONString(buf, o.coll)
	buf = append(buf, `,"id":`...)
	buf = appendJSONString(buf, o.id)
	if o.raw == nil {
		return append(buf, `,"d":true}`...)
	}
	buf = append(buf, `,"v":`...)
	buf = append(buf, o.raw...)
	return append(buf, '}')
}

// appendJSONString appends s, which must be valid UTF-8, as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}

// validName reports whether s can be a collection name or document id: it
// must survive the JSON round trip unchanged.
func validName(s string) bool { return s != "" && utf8.ValidString(s) }

// walScan is what reading one log file found.
type walScan struct {
	records int   // valid records read
	end     int64 // offset just past the last valid record
	size    int64 // file size
	reason  string
}

// readWAL reads the frames of a log file in order, calling apply for each
// valid one, and stops at the first frame that is incomplete, fails its
// checksum or does not parse: that frame and everything after it is the torn
// tail a crash mid-append leaves behind. An error from apply stops the scan
// and is returned.
func readWAL(path string, apply func(walRecord) error) (walScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return walScan{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return walScan{}, err
	}
	sc := walScan{size: fi.Size()}
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [frameHeaderSize]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return sc, nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				sc.reason = "incomplete frame header"
				return sc, nil
			}
			return sc, err
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if n == 0 || n > maxRecordSize || int64(n) > sc.size-sc.end-frameHeaderSize {
			sc.reason = fmt.Sprintf("frame length %d does not fit the file", n)
			return sc, nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				sc.reason = "incomplete frame payload"
				return sc, nil
			}
			return sc, err
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			sc.reason = "checksum mismatch"
			return sc, nil
		}
		var rec walRecord
		if err := json.Unmarshal(payload, &rec); err != nil {
			sc.reason = "payload is not a log record: " + err.Error()
			return sc, nil
		}
		if err := apply(rec); err != nil {
			return sc, err
		}
		sc.records++
		sc.end += frameHeaderSize + int64(n)
	}
}

// writeAndSync appends buf to the log and makes it durable.
func writeAndSync(f *os.File, buf []byte) error {
	if len(buf) > 0 {
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	return f.Sync()
}
