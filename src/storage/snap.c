/* storage/snap.c: snapshot files.
 *   snapshots/snap-<index %020>-<term %020>.snap
 * written as snapshots/tmp-<index>-<term>.snap, fsynced, renamed, and the
 * directory fsynced, so a snapshot file is either whole or absent. Header
 * layout in docs/format-storage.md.
 *
 * Writing a file (stor_snapshot_write) and adopting it (stor_snapshot_install:
 * bookkeeping, pruning, log compaction) are separate steps so that the slow
 * one, tens of MB written and fsynced, can run on another thread or in a
 * forked child while the owner keeps appending and syncing the log. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "storage/storage_int.h"

struct snap_ref {
    uint64_t index, term;
};

static void snap_name(char *out, size_t cap, uint64_t index, uint64_t term)
{
    snprintf(out, cap, "snap-%020" PRIu64 "-%020" PRIu64 ".snap", index, term);
}

static int parse_u64_digits(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* "snap-" 20 digits "-" 20 digits ".snap" */
static int parse_snap_name(const char *name, struct snap_ref *r)
{
    if (strlen(name) != 51 || strncmp(name, "snap-", 5) != 0 || name[25] != '-' ||
        strcmp(name + 46, ".snap") != 0)
        return -1;
    if (parse_u64_digits(name + 5, 20, &r->index) || parse_u64_digits(name + 26, 20, &r->term))
        return -1;
    return 0;
}

static int ref_cmp_desc(const void *a, const void *b)
{
    const struct snap_ref *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? 1 : -1;
    if (x->term != y->term)
        return x->term < y->term ? 1 : -1;
    return 0;
}

/* List snapshots (newest first) into a new array; removes tmp-* leftovers
 * when `clean` is set. */
static int snap_list(struct stor *st, int clean, struct snap_ref **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = stor__opendir(st->snapdfd);
    if (!d)
        return CN_EIO;
    struct snap_ref *v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0, removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct snap_ref r;
        if (clean && strncmp(de->d_name, "tmp-", 4) == 0) {
            /* A save that died before its rename: never acknowledged. */
            if (unlinkat(st->snapdfd, de->d_name, 0) == 0) {
                removed = 1;
                stor__logf(st, "snapshots/%s: removed unfinished snapshot", de->d_name);
            }
            continue;
        }
        if (parse_snap_name(de->d_name, &r) != 0)
            continue;
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct snap_ref *nv = cn_realloc(v, nc * sizeof *v);
            if (!nv) {
                rc = CN_ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[len++] = r;
    }
    closedir(d);
    if (removed && st->io->fsync(st->snapdfd) != 0 && rc == 0)
        rc = CN_EIO;
    if (rc) {
        cn_free(v);
        return rc;
    }
    if (len)
        qsort(v, len, sizeof *v, ref_cmp_desc);
    *out = v;
    *n = len;
    return 0;
}

/* Validate a snapshot file. With `data` non-NULL the payload is returned in
 * a new allocation. `why` gets a reason on CN_ECORRUPT. */
static int snap_read(struct stor *st, const char *name, uint64_t index, uint64_t term, void **data,
                     size_t *len, uint64_t *bad_off, char *why, size_t whycap)
{
    *bad_off = 0;
    int fd = openat(st->snapdfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whycap, "open: %s", strerror(errno));
        return CN_EIO;
    }
    int rc = CN_ECORRUPT;
    uint8_t *buf = NULL;
    struct stat sb;
    uint8_t h[STOR_SNAP_HDR];
    if (fstat(fd, &sb) != 0) {
        snprintf(why, whycap, "stat: %s", strerror(errno));
        rc = CN_EIO;
        goto out;
    }
    uint64_t fsz = (uint64_t)sb.st_size;
    if (fsz < STOR_SNAP_HDR) {
        snprintf(why, whycap, "short header (%" PRIu64 " bytes)", fsz);
        goto out;
    }
    if ((rc = stor__pread_all(fd, h, sizeof h, 0)) != 0) {
        snprintf(why, whycap, "read header");
        goto out;
    }
    rc = CN_ECORRUPT;
    if (memcmp(h, STOR_SNAP_MAGIC, 8) != 0) {
        snprintf(why, whycap, "bad magic");
        goto out;
    }
    if (cn_get_u32(h + 40) != stor__crc(0, h, 40)) {
        snprintf(why, whycap, "header checksum mismatch");
        goto out;
    }
    if (cn_get_u32(h + 8) != STOR_VERSION) {
        snprintf(why, whycap, "unsupported version %" PRIu32, cn_get_u32(h + 8));
        goto out;
    }
    if (cn_get_u64(h + 12) != index || cn_get_u64(h + 20) != term) {
        snprintf(why, whycap,
                 "header says index %" PRIu64 " term %" PRIu64 ", not what the file name says",
                 cn_get_u64(h + 12), cn_get_u64(h + 20));
        goto out;
    }
    uint64_t plen = cn_get_u64(h + 28);
    if (plen != fsz - STOR_SNAP_HDR) {
        snprintf(why, whycap, "payload length %" PRIu64 " but %" PRIu64 " bytes follow", plen,
                 fsz - STOR_SNAP_HDR);
        *bad_off = 28;
        goto out;
    }
    if (plen > SIZE_MAX / 2) {
        snprintf(why, whycap, "payload too large");
        goto out;
    }
    /* Checksum the payload: all of it in memory when the caller wants it,
     * chunk by chunk otherwise (a snapshot may be larger than we like to
     * hold twice). */
    size_t bcap = data ? (size_t)plen : (plen < STOR_READ_CHUNK ? (size_t)plen : STOR_READ_CHUNK);
    buf = cn_malloc(bcap ? bcap : 1);
    if (!buf) {
        snprintf(why, whycap, "out of memory");
        rc = CN_ENOMEM;
        goto out;
    }
    uint32_t crc = 0;
    for (uint64_t off = 0; off < plen;) {
        size_t k = (plen - off) < bcap ? (size_t)(plen - off) : bcap;
        uint8_t *p = data ? buf + off : buf;
        if ((rc = stor__pread_all(fd, p, k, STOR_SNAP_HDR + off)) != 0) {
            snprintf(why, whycap, "read payload");
            goto out;
        }
        crc = stor__crc(crc, p, k);
        off += k;
    }
    rc = CN_ECORRUPT;
    if (crc != cn_get_u32(h + 36)) {
        snprintf(why, whycap, "payload checksum mismatch");
        *bad_off = STOR_SNAP_HDR;
        goto out;
    }
    rc = 0;
    if (data) {
        *data = buf;
        *len = (size_t)plen;
        buf = NULL;
    }
out:
    cn_free(buf);
    close(fd);
    return rc;
}

int stor__snap_recover(struct stor *st, char *err, size_t errcap)
{
    struct snap_ref *v;
    size_t n;
    int rc = snap_list(st, 1, &v, &n);
    if (rc) {
        stor__errf(err, errcap, "snapshots: list: %s", cn_strerror(rc));
        return rc;
    }
    if (n) {
        /* Only the newest counts. Falling back to an older one would be
         * wrong: the log before the newest may already be compacted away,
         * so the older snapshot plus the log would silently miss entries. */
        char name[STOR_NAME_MAX], why[160];
        uint64_t off;
        snap_name(name, sizeof name, v[0].index, v[0].term);
        rc = snap_read(st, name, v[0].index, v[0].term, NULL, NULL, &off, why, sizeof why);
        if (rc) {
            stor__errf(err, errcap, "snapshots/%s: offset %" PRIu64 ": %s", name, off, why);
        } else {
            st->snap_index = v[0].index;
            st->snap_term = v[0].term;
        }
    }
    cn_free(v);
    return rc;
}

int stor_snapshot_load(struct stor *st, uint64_t *index, uint64_t *term, void **data, size_t *len)
{
    if (!st || !index || !term || !data || !len)
        return CN_EINVAL;
    if (!st->snap_index)
        return CN_ENOTFOUND;
    char name[STOR_NAME_MAX], why[160];
    uint64_t off;
    snap_name(name, sizeof name, st->snap_index, st->snap_term);
    int rc = snap_read(st, name, st->snap_index, st->snap_term, data, len, &off, why, sizeof why);
    if (rc) {
        stor__logf(st, "snapshots/%s: offset %" PRIu64 ": %s", name, off, why);
        return rc;
    }
    *index = st->snap_index;
    *term = st->snap_term;
    return 0;
}

static int snap_prune(struct stor *st, int retain)
{
    struct snap_ref *v;
    size_t n;
    int rc = snap_list(st, 0, &v, &n);
    if (rc)
        return rc;
    int removed = 0;
    for (size_t i = (size_t)retain; i < n; i++) {
        char name[STOR_NAME_MAX];
        snap_name(name, sizeof name, v[i].index, v[i].term);
        if (unlinkat(st->snapdfd, name, 0) == 0)
            removed = 1;
        else
            rc = CN_EIO;
    }
    cn_free(v);
    if (removed && st->io->fsync(st->snapdfd) != 0)
        rc = CN_EIO;
    return rc;
}

/* Open snapshots/ afresh by path: stor_snapshot_write must not share a file
 * description with the owner's fds (a forked child may have closed them all,
 * and readdir offsets are shared across dup()). */
static int snapdir_open(const struct stor *st, char *err, size_t errcap)
{
    int fd = open(st->snapdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        stor__errf(err, errcap, "%s: open: %s", st->snapdir, strerror(errno));
    return fd;
}

int stor_snapshot_write(const struct stor *st, uint64_t index, uint64_t term, const void *data,
                        size_t len, char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!st || index == 0 || (!data && len)) {
        stor__errf(err, errcap, "invalid arguments");
        return CN_EINVAL;
    }
    char tmp[STOR_NAME_MAX], name[STOR_NAME_MAX];
    snprintf(tmp, sizeof tmp, "tmp-%020" PRIu64 "-%020" PRIu64 ".snap", index, term);
    snap_name(name, sizeof name, index, term);
    uint8_t h[STOR_SNAP_HDR];
    memcpy(h, STOR_SNAP_MAGIC, 8);
    cn_put_u32(h + 8, STOR_VERSION);
    cn_put_u64(h + 12, index);
    cn_put_u64(h + 20, term);
    cn_put_u64(h + 28, (uint64_t)len);
    cn_put_u32(h + 36, stor__crc(0, data, len));
    cn_put_u32(h + 40, stor__crc(0, h, 40));

    int dfd = snapdir_open(st, err, errcap);
    if (dfd < 0)
        return CN_EIO;
    int rc = 0;
    int fd = st->io->openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        stor__errf(err, errcap, "snapshots/%s: open: %s", tmp, strerror(errno));
        close(dfd);
        return CN_EIO;
    }
    const char *what = "write";
    rc = stor__pwrite_all(st, fd, h, sizeof h, 0);
    /* Incremental writeback (Redis's rdb-save-incremental-fsync, RocksDB's
     * bytes_per_sync): start writing each chunk out as soon as it is in the
     * page cache and wait for the one before it, so at most two chunks are
     * dirty at a time. Without it, hundreds of MB reach the disk in one burst
     * at the final fsync, and the log's fdatasync (on ext4, a journal commit
     * that may have to flush this file's newly allocated blocks) queues
     * behind it: a write-latency spike for every snapshot. The final fsync
     * stays the only guarantee; sync_file_range is only a hint here. */
    const uint8_t *q = data;
    uint64_t prev_off = 0, prev_len = 0;
    for (size_t off = 0; rc == 0 && off < len;) {
        size_t n = len - off < STOR_SNAP_WB_CHUNK ? len - off : STOR_SNAP_WB_CHUNK;
        rc = stor__pwrite_all(st, fd, q + off, n, STOR_SNAP_HDR + off);
        if (rc)
            break;
        sync_file_range(fd, (off64_t)(STOR_SNAP_HDR + off), (off64_t)n, SYNC_FILE_RANGE_WRITE);
        if (prev_len)
            sync_file_range(fd, (off64_t)prev_off, (off64_t)prev_len,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER);
        prev_off = STOR_SNAP_HDR + off;
        prev_len = n;
        off += n;
    }
    if (rc == 0 && st->io->fsync(fd) != 0) {
        what = "fsync";
        rc = CN_EIO;
    }
    int e = errno;
    close(fd);
    if (rc == 0 && st->io->renameat(dfd, tmp, dfd, name) != 0) {
        what = "rename";
        e = errno;
        rc = CN_EIO;
    }
    if (rc) {
        /* Nothing the store relies on changed: the tmp file is garbage, and
         * stor_open removes any that is left. */
        stor__errf(err, errcap, "snapshots/%s: %s: %s", tmp, what, strerror(e));
        unlinkat(dfd, tmp, 0);
        close(dfd);
        return rc;
    }
    if (st->io->fsync(dfd) != 0) {
        /* The new name may or may not survive a crash. Either outcome is a
         * valid store (the file itself is durable and the log behind it is
         * untouched until install), so this fails the snapshot without
         * poisoning the store. */
        stor__errf(err, errcap, "snapshots/: fsync after renaming %s: %s", name, strerror(errno));
        close(dfd);
        return CN_EIO;
    }
    close(dfd);
    return 0;
}

int stor_snapshot_install(struct stor *st, uint64_t index, uint64_t term, int retain)
{
    if (!st || index == 0)
        return CN_EINVAL;
    if (index < st->snap_index || (index == st->snap_index && term < st->snap_term))
        return CN_EINVAL; /* older than what we have: a caller bug */
    if (st->failed)
        return CN_EIO;
    if (retain < 1)
        retain = 1;
    char name[STOR_NAME_MAX];
    snap_name(name, sizeof name, index, term);
    struct stat sb;
    if (fstatat(st->snapdfd, name, &sb, 0) != 0) {
        /* Installing a file that is not there would compact away the only
         * copy of the entries it was meant to cover. */
        stor__logf(st, "snapshots/%s: install: %s", name, strerror(errno));
        return errno == ENOENT ? CN_ENOTFOUND : CN_EIO;
    }
    st->snap_index = index;
    st->snap_term = term;
    /* Only now that the snapshot is durable and adopted may anything older
     * go. An old snapshot left behind is harmless (the newest wins and the
     * next install retries), so a failed prune is reported but does not
     * fail the install. */
    int rc = snap_prune(st, retain);
    if (rc)
        stor__logf(st, "snapshots: removing old snapshots: %s", cn_strerror(rc));
    return stor__wal_compact(st, index);
}

int stor_snapshot_save(struct stor *st, uint64_t index, uint64_t term, const void *data, size_t len,
                       int retain)
{
    if (!st || index == 0 || (!data && len))
        return CN_EINVAL;
    if (index < st->snap_index || (index == st->snap_index && term < st->snap_term))
        return CN_EINVAL;
    if (st->failed)
        return CN_EIO;
    char err[STOR_NAME_MAX + 160];
    int rc = stor_snapshot_write(st, index, term, data, len, err, sizeof err);
    if (rc) {
        stor__logf(st, "%s", err);
        return rc;
    }
    return stor_snapshot_install(st, index, term, retain);
}

/* ---- snapshots by reference: streamed out, received in chunks, mapped ---- */

static void recv_name(char *out, size_t cap, uint64_t index, uint64_t term)
{
    /* "tmp-": stor_open removes it, like an unfinished save */
    snprintf(out, cap, "tmp-%020" PRIu64 "-%020" PRIu64 ".recv", index, term);
}

int stor_snapshot_open(const struct stor *st, uint64_t index, uint64_t term, int mode,
                       uint64_t *size)
{
    bool recv = mode != STOR_SNAP_READ;
    if (!st || index == 0)
        return CN_EINVAL;
    char name[STOR_NAME_MAX];
    if (recv)
        recv_name(name, sizeof name, index, term);
    else
        snap_name(name, sizeof name, index, term);
    int flags =
        mode == STOR_RECV_CREATE ? O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC : O_RDONLY | O_CLOEXEC;
    int fd = openat(st->snapdfd, name, flags, 0644);
    if (fd < 0)
        return errno == ENOENT ? CN_ENOTFOUND : CN_EIO;
    struct stat sb;
    if (size) {
        if (fstat(fd, &sb) != 0) {
            close(fd);
            return CN_EIO;
        }
        *size = (uint64_t)sb.st_size;
    }
    return fd;
}

int stor_snapshot_map(const struct stor *st, uint64_t index, uint64_t term, bool recv,
                      struct stor_snap_map *m, char *err, size_t errcap)
{
    memset(m, 0, sizeof *m);
    if (err && errcap)
        err[0] = '\0';
    char name[STOR_NAME_MAX];
    if (recv)
        recv_name(name, sizeof name, index, term);
    else
        snap_name(name, sizeof name, index, term);
    int fd = openat(st->snapdfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        stor__errf(err, errcap, "snapshots/%s: open: %s", name, strerror(errno));
        return errno == ENOENT ? CN_ENOTFOUND : CN_EIO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        stor__errf(err, errcap, "snapshots/%s: stat: %s", name, strerror(errno));
        close(fd);
        return CN_EIO;
    }
    uint64_t fsz = (uint64_t)sb.st_size;
    if (fsz < STOR_SNAP_HDR || fsz > SIZE_MAX / 2) {
        stor__errf(err, errcap, "snapshots/%s: bad size %" PRIu64, name, fsz);
        close(fd);
        return CN_ECORRUPT;
    }
    void *p = mmap(NULL, (size_t)fsz, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        stor__errf(err, errcap, "snapshots/%s: mmap: %s", name, strerror(errno));
        return CN_ENOMEM;
    }
    madvise(p, (size_t)fsz, MADV_SEQUENTIAL);
    const uint8_t *h = p;
    const char *why = NULL;
    if (memcmp(h, STOR_SNAP_MAGIC, 8) != 0)
        why = "bad magic";
    else if (cn_get_u32(h + 40) != stor__crc(0, h, 40))
        why = "header checksum mismatch";
    else if (cn_get_u32(h + 8) != STOR_VERSION)
        why = "unsupported version";
    else if (cn_get_u64(h + 12) != index || cn_get_u64(h + 20) != term)
        why = "header index/term differ from the name";
    else if (cn_get_u64(h + 28) != fsz - STOR_SNAP_HDR)
        why = "payload length differs from the file's";
    else if (stor__crc(0, h + STOR_SNAP_HDR, (size_t)(fsz - STOR_SNAP_HDR)) != cn_get_u32(h + 36))
        why = "payload checksum mismatch";
    if (why) {
        stor__errf(err, errcap, "snapshots/%s: %s", name, why);
        munmap(p, (size_t)fsz);
        return CN_ECORRUPT;
    }
    m->base = p;
    m->maplen = (size_t)fsz;
    m->data = h + STOR_SNAP_HDR;
    m->len = (size_t)(fsz - STOR_SNAP_HDR);
    return 0;
}

void stor_snapshot_unmap(struct stor_snap_map *m)
{
    if (m->base)
        munmap(m->base, m->maplen);
    memset(m, 0, sizeof *m);
}

int stor_snapshot_adopt_recv(struct stor *st, uint64_t index, uint64_t term)
{
    if (!st || index == 0)
        return CN_EINVAL;
    if (st->failed)
        return CN_EIO;
    char tmp[STOR_NAME_MAX], name[STOR_NAME_MAX];
    recv_name(tmp, sizeof tmp, index, term);
    snap_name(name, sizeof name, index, term);
    if (st->io->renameat(st->snapdfd, tmp, st->snapdfd, name) != 0) {
        int e = errno;
        /* already adopted (a retransmitted snapshot) */
        struct stat sb;
        if (e == ENOENT && fstatat(st->snapdfd, name, &sb, 0) == 0)
            return 0;
        stor__logf(st, "snapshots/%s: rename: %s", tmp, strerror(e));
        return e == ENOENT ? CN_ENOTFOUND : CN_EIO;
    }
    if (st->io->fsync(st->snapdfd) != 0) {
        st->failed = 1;
        return CN_EIO;
    }
    return 0;
}

void stor_snapshot_discard_recv(const struct stor *st, uint64_t index, uint64_t term)
{
    char tmp[STOR_NAME_MAX];
    recv_name(tmp, sizeof tmp, index, term);
    unlinkat(st->snapdfd, tmp, 0);
}

size_t stor_snapshot_header_len(void)
{
    return STOR_SNAP_HDR;
}
