/* storage/storage.c: opening and closing a store, the hard state file, and
 * the small I/O helpers the WAL and snapshot code share.
 * On-disk formats and recovery rules: docs/format-storage.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/crc.h"
#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "storage/storage_int.h"

void stor__logf(struct stor *st, const char *fmt, ...)
{
    if (!st->log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    st->log(st->log_arg, msg);
}

void stor__errf(char *err, size_t errcap, const char *fmt, ...)
{
    if (!err || !errcap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

int stor__pread_all(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *q = p;
    while (n) {
        ssize_t r = pread(fd, q, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return CN_EIO;
        if (r == 0)
            return CN_ECORRUPT; /* the file is shorter than we know it to be */
        q += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static ssize_t posix_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite(fd, buf, n, off);
}

static int posix_openat(int dfd, const char *path, int flags, mode_t mode)
{
    return openat(dfd, path, flags, mode);
}

const struct stor_io stor_io_posix = {
    .pwrite = posix_pwrite,
    .fdatasync = fdatasync,
    .fsync = fsync,
    .renameat = renameat,
    .ftruncate = ftruncate,
    .openat = posix_openat,
};

int stor__pwrite_all(const struct stor *st, int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *q = p;
    while (n) {
        /* A short write is not an error (a signal, a full quota that frees
         * up): continue from where it stopped. */
        ssize_t r = st->io->pwrite(fd, q, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            errno = EIO; /* no progress: would loop forever */
        if (r <= 0)
            return CN_EIO;
        CN_ASSERT((size_t)r <= n);
        q += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* ISA-L takes an int length: feed it in slices so snapshots past 2 GiB work. */
uint32_t stor__crc(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n) {
        size_t k = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        crc = cn_crc32c(crc, q, k);
        q += k;
        n -= k;
    }
    return crc;
}

void stor__seg_name(char *out, size_t cap, uint64_t first)
{
    snprintf(out, cap, "%020" PRIu64 ".wal", first);
}

DIR *stor__opendir(int dfd)
{
    int fd = dup(dfd);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return NULL;
    }
    /* The dup shares dfd's offset, which an earlier walk may have moved. */
    rewinddir(d);
    return d;
}

/* mkdir that tolerates an existing directory; *created tells whether the
 * parent needs an fsync for the new entry to be durable. */
static int mkdir_at(int dfd, const char *name, int *created)
{
    if (mkdirat(dfd, name, 0755) == 0) {
        *created = 1;
        return 0;
    }
    return errno == EEXIST ? 0 : -errno;
}

static void meta_encode(uint8_t *p, const struct stor_hard_state *hs)
{
    memcpy(p, STOR_META_MAGIC, 8);
    cn_put_u32(p + 8, STOR_VERSION);
    cn_put_u64(p + 12, hs->term);
    cn_put_u64(p + 20, hs->vote);
    cn_put_u64(p + 28, hs->commit);
    cn_put_u32(p + 36, stor__crc(0, p, 36));
}

int stor__meta_load(struct stor *st, char *err, size_t errcap)
{
    /* A leftover meta.tmp is a hard-state write that never reached its
     * rename: it was not acknowledged, so it is dropped. */
    if (unlinkat(st->dirfd, "meta.tmp", 0) == 0)
        st->io->fsync(st->dirfd);
    int fd = openat(st->dirfd, "meta", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        stor__errf(err, errcap, "meta: open: %s", strerror(errno));
        return CN_EIO;
    }
    uint8_t buf[STOR_META_LEN + 1];
    ssize_t n;
    do
        n = pread(fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (n < 0) {
        stor__errf(err, errcap, "meta: read: %s", strerror(e));
        return CN_EIO;
    }
    const char *why = NULL;
    if ((size_t)n != STOR_META_LEN)
        why = "wrong size";
    else if (memcmp(buf, STOR_META_MAGIC, 8) != 0)
        why = "bad magic";
    else if (cn_get_u32(buf + 36) != stor__crc(0, buf, 36))
        why = "checksum mismatch";
    else if (cn_get_u32(buf + 8) != STOR_VERSION)
        why = "unsupported version";
    if (why) {
        /* meta is replaced by rename, so it is never torn: any damage is
         * corruption, and guessing a term or vote could break election
         * safety (Raft thesis §3.8: term and vote must survive restarts). */
        stor__errf(err, errcap, "meta: offset 0: %s", why);
        return CN_ECORRUPT;
    }
    st->hs.term = cn_get_u64(buf + 12);
    st->hs.vote = cn_get_u64(buf + 20);
    st->hs.commit = cn_get_u64(buf + 28);
    return 0;
}

int stor_set_hard_state(struct stor *st, const struct stor_hard_state *hs)
{
    if (!st || !hs)
        return CN_EINVAL;
    if (st->failed)
        return CN_EIO;
    if (hs->term == st->hs.term && hs->vote == st->hs.vote && hs->commit == st->hs.commit)
        return 0; /* already durable: spare three syncs */
    /* Raft thesis §3.8: the durable term never goes backwards and a durable
     * vote holds for its whole term; overwriting either could elect two
     * leaders in one term. (commit may go down: it is a hint, clamped on
     * restart to the log that survived, pitfall #15.) */
    CN_INVARIANT(hs->term >= st->hs.term);
    CN_INVARIANT(hs->term > st->hs.term || st->hs.vote == 0 || hs->vote == st->hs.vote);
    uint8_t buf[STOR_META_LEN];
    meta_encode(buf, hs);
    int fd = st->io->openat(st->dirfd, "meta.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        stor__logf(st, "meta.tmp: open: %s", strerror(errno));
        return CN_EIO;
    }
    int rc = stor__pwrite_all(st, fd, buf, sizeof buf, 0);
    if (rc == 0 && st->io->fsync(fd) != 0)
        rc = CN_EIO;
    close(fd);
    if (rc == 0 && st->io->renameat(st->dirfd, "meta.tmp", st->dirfd, "meta") != 0)
        rc = CN_EIO;
    if (rc == 0 && st->io->fsync(st->dirfd) != 0)
        rc = CN_EIO;
    if (rc) {
        /* Whether the old or the new record is on disk is now unknown. */
        stor__logf(st, "meta: write failed: %s", strerror(errno));
        st->failed = 1;
        return rc;
    }
    st->hs = *hs;
    return 0;
}

void stor_get_info(const struct stor *st, struct stor_info *info)
{
    memset(info, 0, sizeof *info);
    info->first_index = st->first_index;
    info->last_index = st->last_index;
    info->last_term = st->last_term;
    info->snap_index = st->snap_index;
    info->snap_term = st->snap_term;
    info->hs = st->hs;
    /* Committed for certain as far as the log reaches (stor_note_commit). */
    uint64_t c = st->commit_noted > st->hs.commit ? st->commit_noted : st->hs.commit;
    uint64_t top = st->last_index > st->snap_index ? st->last_index : st->snap_index;
    info->commit = c < top ? c : top;
}

static void stor_free(struct stor *st)
{
    stor__wal_close(st);
    if (st->cfd >= 0)
        close(st->cfd);
    if (st->snapdfd >= 0)
        close(st->snapdfd);
    if (st->waldfd >= 0)
        close(st->waldfd);
    if (st->lockfd >= 0)
        close(st->lockfd); /* releases the flock */
    if (st->dirfd >= 0)
        close(st->dirfd);
    cn_buf_free(&st->wbuf);
    cn_buf_free(&st->rbuf);
    cn_free(st->snapdir);
    cn_free(st);
}

void stor_close(struct stor *st)
{
    if (st)
        stor_free(st);
}

int stor_open(const char *dir, const struct stor_options *opt, struct stor **out, char *err,
              size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!out)
        return CN_EINVAL;
    *out = NULL;
    if (!dir || !*dir) {
        stor__errf(err, errcap, "empty storage directory");
        return CN_EINVAL;
    }
    struct stor *st = cn_calloc(1, sizeof *st);
    if (!st) {
        stor__errf(err, errcap, "out of memory");
        return CN_ENOMEM;
    }
    st->dirfd = st->waldfd = st->snapdfd = st->lockfd = st->fd = st->rfd = st->cfd = -1;
    cn_buf_init(&st->wbuf);
    cn_buf_init(&st->rbuf);
    st->io = opt && opt->io ? opt->io : &stor_io_posix;
    st->first_index = 1;
    st->seg_bytes = STOR_SEG_DEFAULT;
    if (opt) {
        if (opt->segment_bytes)
            st->seg_bytes = opt->segment_bytes;
        st->log = opt->log;
        st->log_arg = opt->log_arg;
    }
    if (st->seg_bytes < STOR_SEG_MIN)
        st->seg_bytes = STOR_SEG_MIN;
    if (st->seg_bytes > STOR_SEG_MAX)
        st->seg_bytes = STOR_SEG_MAX;

    int rc = CN_EIO;
    int created = 0;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        stor__errf(err, errcap, "%s: mkdir: %s", dir, strerror(errno));
        goto fail;
    }
    st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dirfd < 0) {
        stor__errf(err, errcap, "%s: open: %s", dir, strerror(errno));
        goto fail;
    }
    /* Two processes appending to one log would interleave records: the
     * second one is refused while the first holds the lock. */
    st->lockfd = openat(st->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (st->lockfd < 0 || flock(st->lockfd, LOCK_EX | LOCK_NB) != 0) {
        rc = (st->lockfd >= 0 && errno == EWOULDBLOCK) ? CN_EAGAIN : CN_EIO;
        stor__errf(err, errcap, "%s/LOCK: %s", dir,
                   rc == CN_EAGAIN ? "held by another process" : strerror(errno));
        goto fail;
    }
    int e1 = mkdir_at(st->dirfd, "wal", &created);
    int e2 = mkdir_at(st->dirfd, "snapshots", &created);
    if (e1 || e2) {
        stor__errf(err, errcap, "%s: mkdir %s: %s", dir, e1 ? "wal" : "snapshots",
                   strerror(e1 ? -e1 : -e2));
        goto fail;
    }
    if (created && st->io->fsync(st->dirfd) != 0) {
        stor__errf(err, errcap, "%s: fsync: %s", dir, strerror(errno));
        goto fail;
    }
    /* Absolute, so a later chdir cannot send stor_snapshot_write elsewhere. */
    char *real = realpath(dir, NULL);
    if (!real) {
        stor__errf(err, errcap, "%s: realpath: %s", dir, strerror(errno));
        goto fail;
    }
    size_t rl = strlen(real);
    st->snapdir = cn_malloc(rl + sizeof "/snapshots");
    if (!st->snapdir) {
        free(real);
        stor__errf(err, errcap, "out of memory");
        rc = CN_ENOMEM;
        goto fail;
    }
    memcpy(st->snapdir, real, rl);
    memcpy(st->snapdir + rl, "/snapshots", sizeof "/snapshots");
    free(real);
    st->waldfd = openat(st->dirfd, "wal", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    st->snapdfd = openat(st->dirfd, "snapshots", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->waldfd < 0 || st->snapdfd < 0) {
        stor__errf(err, errcap, "%s: open subdirectory: %s", dir, strerror(errno));
        goto fail;
    }
    /* Hard state, then the snapshot (the WAL recovery needs its index to
     * finish an interrupted compaction and to check for a gap). */
    if ((rc = stor__meta_load(st, err, errcap)) != 0)
        goto fail;
    if ((rc = stor__snap_recover(st, err, errcap)) != 0)
        goto fail;
    /* The commit file before the log: a record at or below the commit is
     * known synced, so recovery never takes damage in it for a torn write. */
    stor__commit_load(st);
    if ((rc = stor__wal_recover(st, err, errcap)) != 0)
        goto fail;
    *out = st;
    return 0;
fail:
    stor_free(st);
    return rc;
}
