/* storage/storage.h: the durable Raft log and snapshots on disk.
 *
 * Knows nothing of what an entry means: entries are (index, term, type,
 * payload bytes). Layout under `dir`:
 *   dir/wal/SSSSSSSSSSSSSSSSSSSS.wal   segments named by their first index
 *   dir/snapshots/snap-IIIIIIIIIIIIIIIIIIII-TTTTTTTTTTTTTTTTTTTT.snap
 *   dir/meta                            term and vote (hard state), for Raft
 * Every record and snapshot carries a CRC32C. Formats and recovery rules:
 * docs/format-storage.md. dir/LOCK is flock()ed while open (a second opener
 * gets CN_EAGAIN).
 *
 * Thread model: a struct stor is used by one thread at a time (the server's
 * writer thread once the loop runs; the loop thread during open/recovery),
 * with one exception: stor_snapshot_write may run concurrently on another
 * thread or in a forked child (see there).
 *
 * Recovery rules (stor_open): zeros after the last record of the LAST
 * segment are its clean end (space stor_prepare wrote ahead) and are kept.
 * A torn tail of the last segment (a partial record, a record whose checksum
 * fails with nothing valid after it, or, past the known commit, a record
 * with an all-zero sector in it: a write into zeros cut short) was never
 * acknowledged: it is truncated and reported through the log callback. Damage anywhere else (a bad
 * record followed by more data, a bad segment header, a gap in indexes, a corrupt snapshot that is
 * the only one) refuses to open: CN_ECORRUPT with a message naming the file and byte offset. */
#ifndef CN_STORAGE_H
#define CN_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct stor;

struct stor_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type; /* opaque to storage */
    const void *data;
    size_t len;
};

struct stor_hard_state {
    uint64_t term;
    uint64_t vote; /* 0 = none */
    uint64_t commit;
};

typedef void (*stor_log_cb)(void *arg, const char *msg);

/* The I/O seam: every call through which the store changes what is on disk
 * (and the opens that precede such changes) goes through one of these, with
 * POSIX semantics (-1 and errno on failure). The default, stor_io_posix, is
 * the real calls; unit tests pass their own table to inject EIO, short
 * writes and torn writes (tests/unit/storage). Reads, unlinks and directory
 * walks call the system directly. A table must stay valid while the store
 * is open and be safe to call from any thread stor_snapshot_write runs on.
 *
 * What the store does with failures (docs/format-storage.md, "I/O errors"):
 * a short pwrite is continued until the whole buffer is written (0 bytes
 * written counts as an error); a failed write, fdatasync/fsync, rename or
 * truncate on the log or the hard state POISONS the store: that call and
 * every later stor_append, stor_sync, stor_truncate_suffix,
 * stor_set_hard_state and stor_snapshot_install return CN_EIO, and no
 * fsync is ever retried (after a failed fsync the kernel may have dropped
 * the dirty pages and a retry would report success: PostgreSQL's
 * "fsyncgate"). Only a restart, which re-reads and repairs what is on disk,
 * recovers. */
struct stor_io {
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*renameat)(int olddfd, const char *oldpath, int newdfd, const char *newpath);
    int (*ftruncate)(int fd, off_t len);
    int (*openat)(int dfd, const char *path, int flags, mode_t mode);
};
extern const struct stor_io stor_io_posix;

struct stor_options {
    size_t segment_bytes; /* roll to a new segment past this; 0 = 64 MiB */
    stor_log_cb log;      /* recovery notices (may be NULL) */
    void *log_arg;
    const struct stor_io *io; /* NULL: stor_io_posix (borrowed, must outlive the store) */
};

/* Open (creating dirs as needed) and recover. On error *out is NULL and err
 * holds a message like "wal/00000000000000000001.wal: offset 8192: checksum
 * mismatch in record followed by valid data". */
int stor_open(const char *dir, const struct stor_options *opt, struct stor **out, char *err,
              size_t errcap);
void stor_close(struct stor *st);

/* What recovery found. first_index..last_index are the entries on disk (first
 * > last when empty); snapshot fields are 0 when there is none. */
struct stor_info {
    uint64_t first_index, last_index, last_term;
    uint64_t snap_index, snap_term;
    struct stor_hard_state hs;
    /* Known committed: the higher of hs.commit and the commit file
     * (stor_note_commit), at most max(last_index, snap_index). Every entry
     * up to it on disk is committed and may be applied at open. */
    uint64_t commit;
};
void stor_get_info(const struct stor *st, struct stor_info *info);

/* Latest valid snapshot: *data is newly allocated (caller cn_free()s).
 * CN_ENOTFOUND when there is none. */
int stor_snapshot_load(struct stor *st, uint64_t *index, uint64_t *term, void **data, size_t *len);

/* Visit entries lo..hi (inclusive) in order; the entry's data pointer is valid
 * only during the callback. cb returns nonzero to stop (that value is
 * returned). 0 for lo > hi; CN_ENOTFOUND unless first_index <= lo and
 * hi <= last_index; CN_ECORRUPT if a record fails its checksum on re-read. */
typedef int (*stor_entry_cb)(void *arg, const struct stor_entry *e);
/* Payload bytes of entries lo..hi (from the record index, no I/O); 0 unless
 * first_index <= lo <= hi <= last_index. Sizes a buffer before stor_read. */
size_t stor_bytes(const struct stor *st, uint64_t lo, uint64_t hi);
int stor_read(struct stor *st, uint64_t lo, uint64_t hi, stor_entry_cb cb, void *arg);

/* Append entries (indexes must continue last_index+1 contiguously, or start at
 * a lower index >= first_index to overwrite a suffix, which is truncated
 * first, durably). An empty log may start anywhere up to
 * max(last_index, snap_index) + 1. Data is copied. Written but not durable
 * until stor_sync. Returns 0, CN_EINVAL, CN_ETOOBIG (a payload > 64 MiB),
 * CN_ENOMEM (nothing changed) or CN_EIO (the store is then poisoned: every
 * later mutating call returns CN_EIO; restart to recover). */
int stor_append(struct stor *st, const struct stor_entry *entries, size_t n);
/* fdatasync the current segment (and directory after segment creation). */
int stor_sync(struct stor *st);
/* Zero-fill ahead of the live segment's append position and fdatasync, so
 * that later appends overwrite zeros: their fdatasync then writes data
 * blocks only, with no file-size change for the file system to commit to its
 * journal (PostgreSQL and RocksDB recycle zero-filled files for this; etcd
 * preallocates). Does nothing unless fewer than 256 KiB of zeros are ready;
 * then writes up to 1 MiB (never past segment_bytes) and syncs. The owner
 * calls it when idle (the server's writer thread, with no job queued).
 * Recovery takes an all-zero tail as the clean end of the log (format:
 * docs/format-storage.md). 0, or CN_EIO (the store is poisoned). */
int stor_prepare(struct stor *st);
/* Drop entries > index (Raft conflict); durable on return. 0 when there is
 * nothing to drop. */
int stor_truncate_suffix(struct stor *st, uint64_t index);

/* Record that the log is committed up to `commit` (clamped to last_index),
 * in DIR/commit, so that a restart can apply that far without a leader
 * (docs/format-storage.md, "Commit file"). The CALLER guarantees that the
 * log on disk up to `commit` IS the committed log: the entries are synced
 * (stor_sync returned) and no pending truncation can replace them. One
 * pwrite, no sync: a lost record only means applying less at the next open.
 * Values at or below the last one noted are not written. 0, or CN_EIO
 * (logged; the store is NOT poisoned: the log is intact). */
int stor_note_commit(struct stor *st, uint64_t commit);

/* Durable on return (meta.tmp, fsync, rename, fsync dir: three syncs, so
 * persist commit advances lazily). No I/O when hs equals the current state. */
int stor_set_hard_state(struct stor *st, const struct stor_hard_state *hs);

/* Write a snapshot durably (tmp file, fsync, rename, fsync dir), then delete
 * older snapshots (keeping `retain`, min 1, newest) and WAL segments wholly at
 * or below `index` (log compaction). data is borrowed. A snapshot at or past
 * last_index empties the log (first = index + 1, last = index). CN_EINVAL if
 * older than the current snapshot; CN_EIO. Same as stor_snapshot_write then
 * stor_snapshot_install, on the owner's thread. */
int stor_snapshot_save(struct stor *st, uint64_t index, uint64_t term, const void *data, size_t len,
                       int retain);

/* The two halves of stor_snapshot_save, for callers that must keep appending
 * while a large snapshot is written.
 *
 * stor_snapshot_write: only creates the file snapshots/snap-<index>-<term>.snap
 * durably (tmp file, fsync, rename, fsync of snapshots/). It opens snapshots/
 * by path and reads nothing of `st` that changes after stor_open, so it may run
 * on any thread, or in a forked child that closed every inherited fd,
 * concurrently with the owner's appends, syncs and reads. At most one write
 * per (index, term) at a time. It does not log (a child must not take the
 * logger's locks): on failure err says why. data is borrowed. The new file is
 * not the current snapshot until installed, except that a stor_open after a
 * crash adopts the newest valid file, and the log still holds every entry
 * after it because nothing was compacted yet. A failure leaves the store
 * usable (no poisoning): the caller simply does not install. */
int stor_snapshot_write(const struct stor *st, uint64_t index, uint64_t term, const void *data,
                        size_t len, char *err, size_t errcap);
/* On the owner's thread, after stor_snapshot_write(index, term) returned 0:
 * make it the current snapshot (stor_get_info, stor_snapshot_load), delete
 * older snapshot files (keeping `retain`, min 1, newest) and WAL segments
 * wholly at or below `index`. A few unlinks and directory fsyncs: cheap
 * enough between two log batches. CN_EINVAL if older than the current
 * snapshot; CN_ENOTFOUND if the file is not there; CN_EIO. */
int stor_snapshot_install(struct stor *st, uint64_t index, uint64_t term, int retain);

/* ---- snapshots by reference (streamed to and from peers) ----------------

 * The Raft core names snapshots by (index, term); the bytes stay in these
 * files. A leader streams a snapshot file, header included, to a follower,
 * which writes what it receives to snapshots/tmp-<index>-<term>.recv (a
 * "tmp-" file: stor_open removes it), fsyncs it, checks it with
 * stor_snapshot_map, and, once the core asks to install it, adopts it
 * (stor_snapshot_adopt_recv, then stor_snapshot_install).
 *
 * stor_snapshot_open: an fd on snapshots/snap-<index>-<term>.snap read-only
 * (STOR_SNAP_READ), on the .recv temp file read-only (STOR_RECV_READ) or
 * created/truncated read-write (STOR_RECV_CREATE); *size (may be NULL) its
 * size. Returns the fd (>= 0) or CN_ENOTFOUND / CN_EIO / CN_EINVAL. Any
 * thread (reads nothing that changes after stor_open). */
enum { STOR_SNAP_READ = 0, STOR_RECV_READ = 1, STOR_RECV_CREATE = 2 };
int stor_snapshot_open(const struct stor *st, uint64_t index, uint64_t term, int mode,
                       uint64_t *size);

/* A snapshot file mapped read-only and checked in full (header fields and
 * both checksums): data/len is the payload. Mapped file pages are
 * page cache, not heap: unmapped, they leave the process. Any thread. */
struct stor_snap_map {
    const void *data;
    size_t len;
    void *base;
    size_t maplen;
};
int stor_snapshot_map(const struct stor *st, uint64_t index, uint64_t term, bool recv,
                      struct stor_snap_map *m, char *err, size_t errcap);
void stor_snapshot_unmap(struct stor_snap_map *m);
/* Bytes of a snapshot file before its payload (the header). */
size_t stor_snapshot_header_len(void);

/* Owner's thread: rename the received temp file of (index, term) to its
 * snapshot name and fsync snapshots/ (0 also when it was adopted already);
 * then stor_snapshot_install makes it current. CN_ENOTFOUND, CN_EIO (a
 * failed directory fsync poisons the store). */
int stor_snapshot_adopt_recv(struct stor *st, uint64_t index, uint64_t term);
/* Remove an unfinished received file (a transfer abandoned). Any thread. */
void stor_snapshot_discard_recv(const struct stor *st, uint64_t index, uint64_t term);

#endif
