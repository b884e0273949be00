// Package jsonstore is Slipway's embedded records store: named collections
// of JSON documents kept in a data dir, with secondary indexes in memory,
// serialised write transactions, lock-free snapshot reads and crash-safe
// durability. It is the default records backend when no PostgreSQL is
// configured, and the domain stores built on it pass the same contract
// suites as their PostgreSQL twins.
//
// # Data model
//
// A Store holds collections; a Collection[T] is a typed view of one of them,
// registered with NewCollection after Open. Each document is T encoded with
// encoding/json and keyed by a string id. A collection keeps, in memory and
// per version of the store, three kinds of ordered structures: id → document,
// (created_at, id) → document for listing, and one per secondary index,
// (key, created_at, id) → document, so that lookups cost O(log n), a page of
// a list O(log n + limit) and a count O(log n). The structures are immutable
// trees with path copying: a transaction works on its own version, and a
// reader holds a whole consistent version with one pointer and no lock.
//
// An index may reference a parent collection (Index.References), as a
// foreign key with ON DELETE CASCADE does: a write naming a parent that does
// not exist is refused with derrors.MissingParent, and deleting a parent
// deletes its children in the same transaction. CollectionSpec.OnDelete is
// the AFTER DELETE trigger, run for each deleted document, cascades too.
//
// All writes go through Store.Update, one writer at a time; Store.View runs
// readers concurrently on the latest durable version. Values passed in are
// encoded at the call and values returned are decoded from the stored JSON,
// so a caller never shares memory with the store.
//
// # On-disk format
//
// A data dir holds:
//
//	LOCK                        flock(2)ed by the open Store, holding its pid
//	snap-<seq>.json             snapshot: every document after transaction seq
//	wal-<start>.log             log: transactions start, start+1, ... in order
//	*.tmp                       a snapshot being written; removed by Open
//
// Sequence numbers in names are zero-padded to 20 digits. Each committed
// transaction is one log frame:
//
//	uint32 payload length | uint32 CRC32C (Castagnoli) of payload | payload
//
// (both little endian), whose payload is one JSON object holding all the
// transaction's writes, a delete being marked "d":
//
//	{"seq":42,"ops":[{"c":"users","id":"u1","v":{"id":"u1",...}},{"c":"projects","id":"p9","d":true}]}
//
// A snapshot is JSON lines: a header, one line per document sorted by
// collection then id, and a trailer whose CRC32C covers every byte before it:
//
//	{"format":"slipway-jsonstore-snapshot","version":1,"seq":42}
//	{"c":"users","id":"u1","v":{"id":"u1",...}}
//	{"end":true,"docs":1,"crc32c":1234567890}
//
// Collections that no registered Collection claims are loaded, kept and
// written into every snapshot unchanged.
//
// # Durability guarantees
//
//   - Update returns nil only after its record is written to the log and
//     fsynced: an acknowledged transaction survives a process crash, kill -9
//     and, on storage that honours fsync, power loss. Concurrent committers
//     share one write and one fsync (group commit).
//   - A transaction is atomic: all its writes are one checksummed record,
//     applied on recovery entirely or not at all, however many documents it
//     touches (a cascade of deletes included).
//   - When fn returns an error, or ctx ends before the commit, nothing is
//     applied.
//   - When the log write itself fails (disk full, an I/O error, a short
//     write, a failed fsync) nothing of the transactions in that write is
//     applied, nor of those that read their writes (queued behind them, or
//     running when it failed): each gets a retryable outage of the "disk"
//     service (derrors.Unavailable), which the HTTP edge answers 503. The
//     failed bytes are cut off the log (truncated back to the last durable
//     record and fsynced) before anyone is answered, so a restart replays
//     neither them nor a torn frame; if the disk refuses even the truncate,
//     nothing is appended until a later write's (or Close's) retry of it
//     works. The store is not poisoned: the next write tries the disk
//     again, and succeeds once it has room. Reads go on throughout.
//   - A compaction that fails (no room for the snapshot) removes its temp
//     file and keeps every log; the next one is tried once the current log
//     passes the threshold again.
//   - View sees only durable data: never a transaction that a crash could
//     still take back.
//   - On Open, the log after the newest snapshot is replayed. A crash in the
//     middle of an append leaves a torn frame at the end of the log; Open cuts
//     the log at the first frame that is incomplete or fails its checksum and
//     logs how many bytes it dropped (always an unacknowledged transaction).
//     Damage that a crash cannot cause (a snapshot failing its checksum, a
//     gap in the sequence of transactions) makes Open fail rather than start
//     with data silently missing.
//   - When the log passes Options.CompactBytes, appends move to a new log and
//     a snapshot of that moment is written to a temp file, fsynced, renamed
//     and the dir fsynced; then the files it covers are removed. Writers wait
//     only for the log switch. A crash at any step leaves either the old
//     snapshot with all logs, or the new snapshot, whose covered records
//     replay skips by sequence number.
//   - One process at a time: a second Open of the same dir, from this process
//     or another, fails with ErrLocked naming the holder's pid. The kernel
//     releases the lock when the holder dies, however it dies.
//
// # Limits
//
// Every document lives in memory (as its JSON plus its index entries), which
// suits a single node's records: users, projects, repositories, runs. Times
// are ordered at nanosecond precision within the int64 range of
// time.Time.UnixNano (years 1678 to 2262), as page cursors are.
package jsonstore
