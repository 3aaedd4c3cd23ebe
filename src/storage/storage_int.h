/* storage/storage_int.h: shared among the storage module's .c files only.
 *
 * Invariants of struct stor (checked by the unit tests, relied on everywhere):
 *  - segs[] are sorted by first index and contiguous: segs[i].first ==
 *    segs[i-1].last + 1; every segment holds at least one entry (an empty
 *    segment exists only for the instant between creating it and writing its
 *    first batch).
 *  - first_index..last_index are exactly the entries in segs[]; when nsegs ==
 *    0 the log is empty and first_index == last_index + 1.
 *  - offs[i] is the byte offset, inside its segment, of entry first_index + i
 *    (noffs == last_index - first_index + 1). A segment is at most
 *    STOR_SEG_MAX bytes, so 32 bits suffice: 4 bytes of memory per entry.
 *  - fd is the last segment opened read-write (or -1 when nsegs == 0);
 *    segs[nsegs-1].size is its length in bytes, the append position; the
 *    file may go on in zeros up to zend (written by stor_prepare, so that an
 *    append's fdatasync changes no file size). Older segments end at their
 *    last record: a roll truncates the zeros away first.
 *  - After an fsync/write failure `failed` is set and every mutating call
 *    returns CN_EIO: the kernel may have dropped dirty pages, so the file no
 *    longer matches what we believe (the "fsyncgate" lesson from PostgreSQL). */
#ifndef CN_STORAGE_INT_H
#define CN_STORAGE_INT_H

#include <dirent.h>
#include <stdint.h>

#include "base/buf.h"
#include "storage/storage.h"

#define STOR_SEG_MAGIC "CNWAL001"
#define STOR_SNAP_MAGIC "CNSNAP01"
#define STOR_META_MAGIC "CNMETA01"
#define STOR_COMMIT_MAGIC "CNCOMIT1"
#define STOR_VERSION 1u

/* magic 8, version u32, first_index u64, header crc u32 */
#define STOR_SEG_HDR 24u
/* payload_len u32, crc u32, index u64, term u64, type u8 */
#define STOR_REC_HDR 25u
/* magic 8, version u32, index u64, term u64, payload_len u64, payload crc u32,
 * header crc u32 */
#define STOR_SNAP_HDR 44u
/* magic 8, version u32, term u64, vote u64, commit u64, crc u32 */
#define STOR_META_LEN 40u
/* commit file: two slots of magic 8, commit u64, crc u32, a sector apart */
#define STOR_COMMIT_LEN 20u
#define STOR_COMMIT_SLOT 512u

#define STOR_MAX_PAYLOAD (64u << 20)
#define STOR_SEG_DEFAULT ((size_t)64 << 20)
#define STOR_SEG_MIN ((size_t)256)
#define STOR_SEG_MAX ((size_t)1 << 30)
/* Snapshot files are written back to disk in chunks of this size. */
#define STOR_SNAP_WB_CHUNK ((size_t)8 << 20)
/* Zero-filling ahead of the live segment's append position (stor_prepare):
 * when less than STOR_PREP_LOW bytes of zeros are ready past it, up to
 * STOR_PREP_CHUNK more are written and synced. */
#define STOR_PREP_CHUNK ((size_t)1 << 20)
#define STOR_PREP_LOW ((size_t)256 << 10)
/* Recovery: a write cut short leaves whole sectors of preallocated zeros
 * inside the record it tore; pieces shorter than STOR_TORN_MIN bytes (the
 * end of a sector a record header starts in) do not count. */
#define STOR_SECTOR 512u
#define STOR_TORN_MIN 64u
/* Reads of old entries and recovery scans go through buffers of this size. */
#define STOR_READ_CHUNK ((size_t)1 << 20)

/* Name buffers: "wal/" + 20 digits + ".wal", "snapshots/snap-<20>-<20>.snap". */
#define STOR_NAME_MAX 96

struct stor_seg {
    uint64_t first;
    uint64_t last; /* first - 1 while empty */
    uint64_t size; /* valid bytes, header included: the append offset */
};

struct stor {
    const struct stor_io *io; /* never NULL: the seam for writes and syncs */
    int dirfd, waldfd, snapdfd, lockfd;
    char *snapdir; /* absolute path of snapshots/ (stor_snapshot_write opens it afresh) */
    size_t seg_bytes;
    stor_log_cb log;
    void *log_arg;

    struct stor_seg *segs;
    size_t nsegs, segcap;
    int fd;        /* last segment, read-write; -1 when none */
    uint64_t zend; /* the live file's size: records up to segs[nsegs-1].size,
                      zeros (stor_prepare) from there to zend */
    int dir_dirty; /* wal/ needs an fsync before the next sync returns */
    int rfd;       /* cached read-only fd of an older segment, or -1 */
    uint64_t rfd_first;

    uint32_t *offs;
    size_t noffs, offcap;
    uint64_t first_index, last_index, last_term;

    uint64_t snap_index, snap_term;
    struct stor_hard_state hs;
    /* commit.c: the highest commit recorded in DIR/commit (0: none), the
     * slot the next record goes to, the file (-1 until the first write) */
    uint64_t commit_noted;
    int commit_slot;
    int cfd;

    struct cn_buf wbuf, rbuf;
    int failed;
};

/* storage.c */
void stor__logf(struct stor *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void stor__errf(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int stor__pread_all(int fd, void *p, size_t n, uint64_t off);
/* Write all n bytes through st->io, continuing short writes. 0 or CN_EIO
 * (errno set; a write that made no progress sets EIO). */
int stor__pwrite_all(const struct stor *st, int fd, const void *p, size_t n, uint64_t off);
uint32_t stor__crc(uint32_t crc, const void *p, size_t n);
void stor__seg_name(char *out, size_t cap, uint64_t first);
/* A new stream over the directory dfd (which stays open and is not moved), from
 * its first entry; the caller closedir()s it. NULL on failure. */
DIR *stor__opendir(int dfd);

/* wal.c */
int stor__wal_recover(struct stor *st, char *err, size_t errcap);
int stor__wal_compact(struct stor *st, uint64_t index);
void stor__wal_close(struct stor *st);

/* snap.c */
int stor__snap_recover(struct stor *st, char *err, size_t errcap);
int stor__meta_load(struct stor *st, char *err, size_t errcap);

/* commit.c: read DIR/commit into commit_noted (damage is ignored, logged) */
void stor__commit_load(struct stor *st);

#endif
