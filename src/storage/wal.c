/* storage/wal.c: the segmented write-ahead log.
 *
 * Segment: header (magic "CNWAL001", u32 version, u64 first index, u32 crc32c
 * of those 20 bytes), then records back to back:
 *   u32 payload_len, u32 crc32c(index, term, type, payload), u64 index,
 *   u64 term, u8 type, payload
 * all little-endian. Files are wal/<first index %020>.wal.
 *
 * Appends build the whole batch in one buffer and pwrite it once per segment
 * touched; durability is stor_sync (fdatasync), so a writer thread appends
 * many batches and syncs once (group commit). Recovery rules: see
 * storage.h and docs/format-storage.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "storage/storage_int.h"

/* ---- small helpers ---------------------------------------------------- */

static uint32_t rec_crc(const uint8_t *hdr, const void *payload, size_t len)
{
    /* Covers index, term, type (header bytes 8..24) and the payload. */
    return stor__crc(stor__crc(0, hdr + 8, STOR_REC_HDR - 8), payload, len);
}

static void rec_encode_hdr(uint8_t *h, const struct stor_entry *e)
{
    cn_put_u32(h, (uint32_t)e->len);
    cn_put_u64(h + 8, e->index);
    cn_put_u64(h + 16, e->term);
    h[24] = e->type;
    cn_put_u32(h + 4, rec_crc(h, e->data, e->len));
}

static void seg_hdr_encode(uint8_t *h, uint64_t first)
{
    memcpy(h, STOR_SEG_MAGIC, 8);
    cn_put_u32(h + 8, STOR_VERSION);
    cn_put_u64(h + 12, first);
    cn_put_u32(h + 20, stor__crc(0, h, 20));
}

/* Index into segs[] of the segment holding `index` (which must be in
 * first_index..last_index). */
static size_t seg_find(const struct stor *st, uint64_t index)
{
    size_t lo = 0, hi = st->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->segs[mid].first <= index)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t rec_off(const struct stor *st, uint64_t index)
{
    return st->offs[index - st->first_index];
}

/* End offset of entry `index` inside segment k. */
static uint64_t rec_end(const struct stor *st, size_t k, uint64_t index)
{
    return index < st->segs[k].last ? rec_off(st, index + 1) : st->segs[k].size;
}

static int offs_reserve(struct stor *st, size_t n)
{
    if (st->offcap >= n)
        return 0;
    size_t cap = st->offcap ? st->offcap : 1024;
    while (cap < n)
        cap *= 2;
    uint32_t *p = cn_realloc(st->offs, cap * sizeof *p);
    if (!p)
        return CN_ENOMEM;
    st->offs = p;
    st->offcap = cap;
    return 0;
}

static int segs_reserve(struct stor *st, size_t n)
{
    if (st->segcap >= n)
        return 0;
    size_t cap = st->segcap ? st->segcap : 16;
    while (cap < n)
        cap *= 2;
    struct stor_seg *p = cn_realloc(st->segs, cap * sizeof *p);
    if (!p)
        return CN_ENOMEM;
    st->segs = p;
    st->segcap = cap;
    return 0;
}

static void rfd_drop(struct stor *st)
{
    if (st->rfd >= 0)
        close(st->rfd);
    st->rfd = -1;
}

void stor__wal_close(struct stor *st)
{
    rfd_drop(st);
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
    cn_free(st->segs);
    cn_free(st->offs);
    st->segs = NULL;
    st->offs = NULL;
    st->nsegs = st->segcap = st->noffs = st->offcap = 0;
}

/* The fd to read segment k through: the live one for the last segment, a
 * cached read-only one for older segments (followers catching up read
 * those sequentially, so one cached fd covers the common case). */
static int seg_rfd(struct stor *st, size_t k)
{
    if (k == st->nsegs - 1 && st->fd >= 0)
        return st->fd;
    if (st->rfd >= 0 && st->rfd_first == st->segs[k].first)
        return st->rfd;
    rfd_drop(st);
    char name[STOR_NAME_MAX];
    stor__seg_name(name, sizeof name, st->segs[k].first);
    st->rfd = openat(st->waldfd, name, O_RDONLY | O_CLOEXEC);
    if (st->rfd < 0) {
        stor__logf(st, "wal/%s: open: %s", name, strerror(errno));
        return -1;
    }
    st->rfd_first = st->segs[k].first;
    return st->rfd;
}

/* Remove segment file k; the caller fixes segs[] and fsyncs wal/. */
static int seg_unlink(struct stor *st, size_t k)
{
    char name[STOR_NAME_MAX];
    stor__seg_name(name, sizeof name, st->segs[k].first);
    if (st->rfd >= 0 && st->rfd_first == st->segs[k].first)
        rfd_drop(st);
    if (k == st->nsegs - 1 && st->fd >= 0) {
        close(st->fd);
        st->fd = -1;
    }
    if (unlinkat(st->waldfd, name, 0) != 0 && errno != ENOENT) {
        stor__logf(st, "wal/%s: unlink: %s", name, strerror(errno));
        return CN_EIO;
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

size_t stor_bytes(const struct stor *st, uint64_t lo, uint64_t hi)
{
    if (!st || lo > hi || st->nsegs == 0 || lo < st->first_index || hi > st->last_index)
        return 0;
    size_t total = 0;
    for (uint64_t i = lo; i <= hi;) {
        size_t k = seg_find(st, i);
        uint64_t stop = hi < st->segs[k].last ? hi : st->segs[k].last;
        uint64_t span = rec_end(st, k, stop) - rec_off(st, i);
        total += (size_t)(span - (stop - i + 1) * STOR_REC_HDR);
        i = stop + 1;
    }
    return total;
}

int stor_read(struct stor *st, uint64_t lo, uint64_t hi, stor_entry_cb cb, void *arg)
{
    if (!st || !cb)
        return CN_EINVAL;
    if (lo > hi)
        return 0;
    if (st->nsegs == 0 || lo < st->first_index || hi > st->last_index)
        return CN_ENOTFOUND;
    int rc = 0;
    uint64_t i = lo;
    while (i <= hi && rc == 0) {
        size_t k = seg_find(st, i);
        int fd = seg_rfd(st, k);
        if (fd < 0)
            return CN_EIO;
        /* One pread covers as many whole records as fit in a chunk (at
         * least one). */
        uint64_t stop = hi < st->segs[k].last ? hi : st->segs[k].last;
        uint64_t start = rec_off(st, i), j = i, end = rec_end(st, k, i);
        while (j < stop && rec_end(st, k, j + 1) - start <= STOR_READ_CHUNK)
            end = rec_end(st, k, ++j);
        size_t span = (size_t)(end - start);
        cn_buf_reset(&st->rbuf);
        if ((rc = cn_buf_reserve(&st->rbuf, span)) != 0)
            break;
        rc = stor__pread_all(fd, st->rbuf.p, span, start);
        if (rc) {
            char name[STOR_NAME_MAX];
            stor__seg_name(name, sizeof name, st->segs[k].first);
            stor__logf(st, "wal/%s: offset %" PRIu64 ": read failed", name, start);
            break;
        }
        const uint8_t *p = (const uint8_t *)st->rbuf.p;
        for (uint64_t x = i; x <= j; x++) {
            size_t o = (size_t)(rec_off(st, x) - start);
            size_t rl = (size_t)(rec_end(st, k, x) - rec_off(st, x));
            const uint8_t *h = p + o;
            struct stor_entry e = {
                .index = cn_get_u64(h + 8),
                .term = cn_get_u64(h + 16),
                .type = h[24],
                .data = h + STOR_REC_HDR,
                .len = rl - STOR_REC_HDR,
            };
            /* Re-check what recovery checked: the page cache or the disk may
             * have changed under us since. */
            if (cn_get_u32(h) != e.len || e.index != x ||
                cn_get_u32(h + 4) != rec_crc(h, e.data, e.len)) {
                char name[STOR_NAME_MAX];
                stor__seg_name(name, sizeof name, st->segs[k].first);
                stor__logf(st,
                           "wal/%s: offset %" PRIu64 ": record %" PRIu64
                           " fails its checksum on re-read",
                           name, rec_off(st, x), x);
                rc = CN_ECORRUPT;
                break;
            }
            if ((rc = cb(arg, &e)) != 0)
                break;
        }
        i = j + 1;
    }
    /* Don't pin a huge buffer after reading one big entry. */
    if (st->rbuf.cap > 4 * STOR_READ_CHUNK)
        cn_buf_free(&st->rbuf);
    return rc;
}

/* ---- appending ---------------------------------------------------------- */

/* Create segment file `first` and make it the live segment. segs[] must have
 * room for one more (reserved by the caller). */
static int seg_create(struct stor *st, uint64_t first)
{
    /* A new segment continues the log (or starts an empty one). */
    CN_INVARIANT(st->nsegs == 0 || first == st->segs[st->nsegs - 1].last + 1);
    CN_ASSERT(st->nsegs < st->segcap);
    char name[STOR_NAME_MAX];
    stor__seg_name(name, sizeof name, first);
    int fd = st->io->openat(st->waldfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        stor__logf(st, "wal/%s: create: %s", name, strerror(errno));
        return CN_EIO;
    }
    uint8_t h[STOR_SEG_HDR];
    seg_hdr_encode(h, first);
    if (stor__pwrite_all(st, fd, h, sizeof h, 0) != 0) {
        stor__logf(st, "wal/%s: write header: %s", name, strerror(errno));
        close(fd);
        unlinkat(st->waldfd, name, 0);
        return CN_EIO;
    }
    st->fd = fd;
    st->zend = sizeof h;
    st->segs[st->nsegs++] = (struct stor_seg){.first = first, .last = first - 1, .size = sizeof h};
    if (st->nsegs == 1)
        st->first_index = first;
    /* The new name must be durable before anything in it counts: the next
     * stor_sync fsyncs wal/ too. */
    st->dir_dirty = 1;
    return 0;
}

/* Write the encoded records [from, to) of the batch in wbuf to the live
 * segment and account for them; `pos` are their offsets inside wbuf. */
static int seg_write(struct stor *st, const struct stor_entry *es, size_t n, size_t bstart,
                     size_t blen)
{
    struct stor_seg *s = &st->segs[st->nsegs - 1];
    /* Records go right after the segment's last one, at its end: a gap or an
     * overlap here would be a hole in the durable log. */
    CN_INVARIANT(n > 0 && es[0].index == s->last + 1);
    CN_INVARIANT(st->nsegs == 1 || s->first == st->segs[st->nsegs - 2].last + 1);
    CN_ASSERT(st->noffs == (size_t)(s->last + 1 - st->first_index));
    if (stor__pwrite_all(st, st->fd, st->wbuf.p + bstart, blen, s->size) != 0) {
        char name[STOR_NAME_MAX];
        stor__seg_name(name, sizeof name, s->first);
        stor__logf(st, "wal/%s: offset %" PRIu64 ": write failed: %s", name, s->size,
                   strerror(errno));
        /* Try to leave no partial record behind; either way the store is
         * poisoned, since we cannot know what reached the disk. */
        if (st->io->ftruncate(st->fd, (off_t)s->size) != 0)
            stor__logf(st, "wal/%s: truncate after failed write: %s", name, strerror(errno));
        st->failed = 1;
        return CN_EIO;
    }
    uint64_t off = s->size;
    for (size_t i = 0; i < n; i++) {
        st->offs[st->noffs++] = (uint32_t)off;
        off += STOR_REC_HDR + es[i].len;
    }
    CN_ASSERT(off == s->size + blen && off <= STOR_SEG_MAX);
    s->size = off;
    if (st->zend < off)
        st->zend = off;
    s->last = es[n - 1].index;
    st->last_index = s->last;
    st->last_term = es[n - 1].term;
    return 0;
}

static int seg_needs_roll(const struct stor *st, uint64_t cur_size, int cur_has, size_t rs)
{
    return cur_has && cur_size + rs > st->seg_bytes;
}

int stor_append(struct stor *st, const struct stor_entry *es, size_t n)
{
    if (!st || (!es && n))
        return CN_EINVAL;
    if (n == 0)
        return 0;
    if (st->failed)
        return CN_EIO;
    /* Validate everything before touching anything. */
    uint64_t first = es[0].index;
    if (first == 0 || first > UINT64_MAX - n)
        return CN_EINVAL;
    if (st->nsegs && (first < st->first_index || first > st->last_index + 1))
        return CN_EINVAL;
    /* An empty log (fresh, or wholly covered by a snapshot) may restart
     * anywhere up to just past the snapshot, never leaving a gap. */
    if (!st->nsegs &&
        first > (st->last_index > st->snap_index ? st->last_index : st->snap_index) + 1)
        return CN_EINVAL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (es[i].index != first + i || (!es[i].data && es[i].len))
            return CN_EINVAL;
        if (es[i].len > STOR_MAX_PAYLOAD)
            return CN_ETOOBIG;
        total += STOR_REC_HDR + es[i].len;
    }
    /* Reserve all memory first so CN_ENOMEM changes nothing. A batch can
     * roll at most once per record and, past the first, once per two
     * segments' worth of bytes (a segment plus the record that did not fit
     * in it exceed seg_bytes). */
    size_t keep =
        st->nsegs && first <= st->last_index ? (size_t)(first - st->first_index) : st->noffs;
    size_t rolls = 2 + 2 * (total / (st->seg_bytes - STOR_SEG_HDR));
    if (rolls > n)
        rolls = n;
    cn_buf_reset(&st->wbuf);
    if (offs_reserve(st, keep + n) || segs_reserve(st, st->nsegs + rolls) ||
        cn_buf_reserve(&st->wbuf, total))
        return CN_ENOMEM;
    int rc;
    /* Raft conflict: the new entries replace everything from `first` on. */
    if (st->nsegs && first <= st->last_index && (rc = stor_truncate_suffix(st, first - 1)) != 0)
        return rc;

    uint8_t *p = (uint8_t *)st->wbuf.p;
    for (size_t i = 0; i < n; i++) {
        rec_encode_hdr(p, &es[i]);
        if (es[i].len)
            memcpy(p + STOR_REC_HDR, es[i].data, es[i].len);
        p += STOR_REC_HDR + es[i].len;
    }
    st->wbuf.len = total;

    /* Write spans, rolling segments where one would overflow. */
    size_t span_from = 0, bstart = 0, bpos = 0;
    uint64_t cur_size = st->fd >= 0 ? st->segs[st->nsegs - 1].size : 0;
    int cur_has = st->fd >= 0 && st->segs[st->nsegs - 1].last >= st->segs[st->nsegs - 1].first;
    for (size_t i = 0; i < n; i++) {
        size_t rs = STOR_REC_HDR + es[i].len;
        if (st->fd < 0 || seg_needs_roll(st, cur_size, cur_has, rs)) {
            if (st->fd >= 0) {
                if (i > span_from &&
                    (rc = seg_write(st, es + span_from, i - span_from, bstart, bpos - bstart)))
                    return rc;
                /* An older segment ends at its last record (recovery
                 * refuses zeros after it), and must be durable on its own:
                 * later syncs only cover the live one. */
                uint64_t osz = st->segs[st->nsegs - 1].size;
                if (st->zend > osz && st->io->ftruncate(st->fd, (off_t)osz) != 0) {
                    stor__logf(st, "wal: truncate zeros before roll: %s", strerror(errno));
                    st->failed = 1;
                    return CN_EIO;
                }
                st->zend = osz;
                if (st->io->fdatasync(st->fd) != 0) {
                    stor__logf(st, "wal: fdatasync before roll: %s", strerror(errno));
                    st->failed = 1;
                    return CN_EIO;
                }
                close(st->fd);
                st->fd = -1;
            }
            if ((rc = seg_create(st, es[i].index)) != 0) {
                st->failed = 1;
                return rc;
            }
            span_from = i;
            bstart = bpos;
            cur_size = STOR_SEG_HDR;
            cur_has = 0;
        }
        cur_size += rs;
        cur_has = 1;
        bpos += rs;
    }
    rc = seg_write(st, es + span_from, n - span_from, bstart, bpos - bstart);
    /* A big batch must not pin its buffer forever. */
    if (st->wbuf.cap > 16 * STOR_READ_CHUNK)
        cn_buf_free(&st->wbuf);
    return rc;
}

int stor_sync(struct stor *st)
{
    if (!st)
        return CN_EINVAL;
    if (st->failed)
        return CN_EIO;
    if (st->fd >= 0 && st->io->fdatasync(st->fd) != 0) {
        stor__logf(st, "wal: fdatasync: %s", strerror(errno));
        st->failed = 1;
        return CN_EIO;
    }
    if (st->dir_dirty) {
        if (st->io->fsync(st->waldfd) != 0) {
            stor__logf(st, "wal/: fsync: %s", strerror(errno));
            st->failed = 1;
            return CN_EIO;
        }
        st->dir_dirty = 0;
    }
    return 0;
}

/* Never written: the source of the zeros stor_prepare writes. */
static uint8_t prep_zeros[64 << 10];

int stor_prepare(struct stor *st)
{
    if (!st)
        return CN_EINVAL;
    if (st->failed)
        return CN_EIO;
    if (st->fd < 0 || st->nsegs == 0)
        return 0;
    uint64_t size = st->segs[st->nsegs - 1].size;
    CN_ASSERT(st->zend >= size);
    uint64_t want = size + STOR_PREP_CHUNK;
    if (want > st->seg_bytes)
        want = st->seg_bytes;
    if (st->zend >= want || st->zend - size >= STOR_PREP_LOW)
        return 0;
    for (uint64_t off = st->zend; off < want;) {
        size_t k = want - off < sizeof prep_zeros ? (size_t)(want - off) : sizeof prep_zeros;
        if (stor__pwrite_all(st, st->fd, prep_zeros, k, off) != 0) {
            stor__logf(st, "wal: zero-fill ahead at offset %" PRIu64 ": %s", off, strerror(errno));
            st->failed = 1;
            return CN_EIO;
        }
        off += k;
    }
    /* The zeros and the new size durable now, not in an append's sync. */
    if (st->io->fdatasync(st->fd) != 0) {
        stor__logf(st, "wal: fdatasync after zero-fill: %s", strerror(errno));
        st->failed = 1;
        return CN_EIO;
    }
    st->zend = want;
    return 0;
}

/* ---- truncation and compaction ----------------------------------------- */

static void log_set_empty(struct stor *st, uint64_t last)
{
    st->nsegs = 0;
    st->noffs = 0;
    st->zend = 0;
    st->last_index = last;
    st->first_index = last + 1;
    st->last_term = (last == st->snap_index) ? st->snap_term : 0;
}

int stor_truncate_suffix(struct stor *st, uint64_t index)
{
    if (!st)
        return CN_EINVAL;
    if (st->failed)
        return CN_EIO;
    if (index >= st->last_index)
        return 0;
    if (st->nsegs == 0) {
        log_set_empty(st, index);
        return 0;
    }
    int rc;
    uint64_t new_term = 0;
    if (index >= st->first_index) {
        /* The new last entry's term: read it back from its record header. */
        size_t k = seg_find(st, index);
        int fd = seg_rfd(st, k);
        uint8_t h[STOR_REC_HDR];
        if (fd < 0 || (rc = stor__pread_all(fd, h, sizeof h, rec_off(st, index))) != 0)
            return CN_EIO;
        if (cn_get_u64(h + 8) != index)
            return CN_ECORRUPT;
        new_term = cn_get_u64(h + 16);
    }
    /* Delete whole segments from the end backwards, so a crash part-way
     * leaves a contiguous prefix of the old log. */
    int removed = 0;
    while (st->nsegs && st->segs[st->nsegs - 1].first > index) {
        if ((rc = seg_unlink(st, st->nsegs - 1)) != 0)
            goto fail;
        st->nsegs--;
        removed = 1;
    }
    if (removed && st->io->fsync(st->waldfd) != 0) {
        rc = CN_EIO;
        goto fail;
    }
    if (st->nsegs == 0) {
        log_set_empty(st, index);
        return 0;
    }
    struct stor_seg *s = &st->segs[st->nsegs - 1];
    if (st->fd < 0) {
        /* The kept segment becomes the live one. */
        char name[STOR_NAME_MAX];
        stor__seg_name(name, sizeof name, s->first);
        if (st->rfd >= 0 && st->rfd_first == s->first)
            rfd_drop(st);
        st->fd = st->io->openat(st->waldfd, name, O_RDWR | O_CLOEXEC, 0);
        if (st->fd < 0) {
            rc = CN_EIO;
            goto fail;
        }
    }
    if (s->last > index) {
        uint64_t end = rec_off(st, index + 1);
        if (st->io->ftruncate(st->fd, (off_t)end) != 0 || st->io->fsync(st->fd) != 0) {
            rc = CN_EIO;
            goto fail;
        }
        s->size = end;
        s->last = index;
    }
    /* Reopened (an older segment ends at its last record) or truncated. */
    st->zend = s->size;
    st->last_index = index;
    st->last_term = new_term;
    st->noffs = (size_t)(index - st->first_index + 1);
    return 0;
fail:
    stor__logf(st, "wal: truncate after %" PRIu64 " failed: %s", index, strerror(errno));
    st->failed = 1;
    return rc;
}

int stor__wal_compact(struct stor *st, uint64_t index)
{
    size_t drop = 0;
    int rc = 0;
    /* Oldest first, so a crash part-way leaves a contiguous suffix. The
     * segment holding index+1 has last > index and is kept. */
    while (drop < st->nsegs && st->segs[drop].last <= index) {
        if ((rc = seg_unlink(st, drop)) != 0)
            break;
        drop++;
    }
    if (drop == 0)
        return rc;
    if (st->io->fsync(st->waldfd) != 0 && rc == 0)
        rc = CN_EIO;
    if (drop == st->nsegs) {
        /* The snapshot covers the whole log: it now ends at the snapshot. */
        log_set_empty(st, index); /* every segment was <= index */
        return rc;
    }
    uint64_t nfirst = st->segs[drop].first;
    size_t gone = (size_t)(nfirst - st->first_index);
    memmove(st->offs, st->offs + gone, (st->noffs - gone) * sizeof *st->offs);
    st->noffs -= gone;
    memmove(st->segs, st->segs + drop, (st->nsegs - drop) * sizeof *st->segs);
    st->nsegs -= drop;
    st->first_index = nfirst;
    return rc;
}

/* ---- recovery ----------------------------------------------------------- */

/* A window onto a file for sequential scanning. */
struct rd {
    int fd;
    uint64_t fsz;
    uint8_t *p;
    size_t cap;
    uint64_t off;
    size_t len;
};

/* Point *out at bytes [off, off+n) of the file; off + n <= fsz. */
static int rd_get(struct rd *r, uint64_t off, size_t n, const uint8_t **out)
{
    if (off >= r->off && off + n <= r->off + r->len) {
        *out = r->p + (off - r->off);
        return 0;
    }
    size_t want = n > STOR_READ_CHUNK ? n : STOR_READ_CHUNK;
    if (want > r->fsz - off)
        want = (size_t)(r->fsz - off);
    if (want > r->cap) {
        uint8_t *p = cn_realloc(r->p, want);
        if (!p)
            return CN_ENOMEM;
        r->p = p;
        r->cap = want;
    }
    r->len = 0;
    int rc = stor__pread_all(r->fd, r->p, want, off);
    if (rc)
        return rc;
    r->off = off;
    r->len = want;
    *out = r->p;
    return 0;
}

static int rd_all_zero(struct rd *r, uint64_t from, int *zero)
{
    *zero = 1;
    while (from < r->fsz) {
        size_t k = r->fsz - from < STOR_READ_CHUNK ? (size_t)(r->fsz - from) : STOR_READ_CHUNK;
        const uint8_t *p;
        int rc = rd_get(r, from, k, &p);
        if (rc)
            return rc;
        for (size_t i = 0; i < k; i++)
            if (p[i]) {
                *zero = 0;
                return 0;
            }
        from += k;
    }
    return 0;
}

/* Is there a valid record for `want` anywhere in (from, fsz)? A torn tail
 * cannot be followed by one; a bit flip in a length field can. */
static int rd_find_record(struct rd *r, uint64_t from, uint64_t want, uint64_t *at)
{
    for (uint64_t o = from; o + STOR_REC_HDR <= r->fsz; o++) {
        const uint8_t *h;
        int rc = rd_get(r, o, STOR_REC_HDR, &h);
        if (rc)
            return rc;
        if (cn_get_u64(h + 8) != want)
            continue;
        uint32_t len = cn_get_u32(h);
        if (len > STOR_MAX_PAYLOAD || len > r->fsz - o - STOR_REC_HDR)
            continue;
        if ((rc = rd_get(r, o, STOR_REC_HDR + len, &h)) != 0)
            return rc;
        if (cn_get_u32(h + 4) == rec_crc(h, h + STOR_REC_HDR, len)) {
            *at = o;
            return 1;
        }
    }
    return 0;
}

/* Did a write into preallocated zeros stop short in the bad record at
 * [from, to)? Such a write leaves whole sectors of zeros: the pages of a
 * write reach the disk in any order, and a file whose size no longer
 * changes gets no journal ordering to hide the ones that did not. Cut the
 * span at sector boundaries, extend the last piece to its sector's end (the
 * bytes after an unwritten record were not written either), and look for a
 * piece of at least STOR_TORN_MIN bytes that is all zero. */
static int rd_zero_sector(struct rd *r, uint64_t from, uint64_t to, int *found)
{
    *found = 0;
    for (uint64_t b = from; b < to && b < r->fsz;) {
        uint64_t e = (b / STOR_SECTOR + 1) * STOR_SECTOR;
        if (e > r->fsz)
            e = r->fsz;
        if (e - b >= STOR_TORN_MIN) {
            const uint8_t *p;
            int rc = rd_get(r, b, (size_t)(e - b), &p);
            if (rc)
                return rc;
            size_t i = 0;
            while (i < e - b && !p[i])
                i++;
            if (i == e - b) {
                *found = 1;
                return 0;
            }
        }
        b = e;
    }
    return 0;
}

struct seg_file {
    uint64_t first;
};

static int seg_file_cmp(const void *a, const void *b)
{
    const struct seg_file *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* "<20 digits>.wal" */
static int parse_seg_name(const char *name, uint64_t *first)
{
    if (strlen(name) != 24 || strcmp(name + 20, ".wal") != 0)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *first = v;
    return 0;
}

static int list_segments(struct stor *st, struct seg_file **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = stor__opendir(st->waldfd);
    if (!d)
        return CN_EIO;
    struct seg_file *v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t first;
        if (parse_seg_name(de->d_name, &first) != 0)
            continue; /* not ours */
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct seg_file *nv = cn_realloc(v, nc * sizeof *v);
            if (!nv) {
                rc = CN_ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[len++].first = first;
    }
    closedir(d);
    if (rc) {
        cn_free(v);
        return rc;
    }
    if (len)
        qsort(v, len, sizeof *v, seg_file_cmp);
    *out = v;
    *n = len;
    return 0;
}

/* Outcome of scanning one segment file. */
enum { SEG_OK, SEG_REMOVE };

/* Scan segment `first`; on success appends it to segs[] (unless it turns out
 * to be an empty last segment, which is removed: SEG_REMOVE) and its record
 * offsets to offs[]. */
static int seg_recover(struct stor *st, uint64_t first, int is_last, struct rd *r, char *err,
                       size_t errcap)
{
    char name[STOR_NAME_MAX];
    stor__seg_name(name, sizeof name, first);
    int rc;
    const char *why = NULL;
    char whybuf[160], detail[256];
    uint64_t off = 0;
    int fd = st->io->openat(st->waldfd, name, (is_last ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
    if (fd < 0) {
        stor__errf(err, errcap, "wal/%s: open: %s", name, strerror(errno));
        return CN_EIO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        stor__errf(err, errcap, "wal/%s: stat: %s", name, strerror(errno));
        rc = CN_EIO;
        goto out;
    }
    r->fd = fd;
    r->fsz = (uint64_t)sb.st_size;
    r->off = r->len = 0;
    if (r->fsz > UINT32_MAX) {
        why = "segment larger than 4 GiB";
        goto corrupt;
    }

    /* Header. A last segment whose header never fully reached the disk was
     * being created when we stopped: it holds nothing. */
    const uint8_t *h;
    int zero;
    if (r->fsz < STOR_SEG_HDR) {
        if (is_last) {
            stor__logf(st, "wal/%s: removed segment with a partial header (%" PRIu64 " bytes)",
                       name, r->fsz);
            rc = SEG_REMOVE;
            goto out;
        }
        why = "partial segment header";
        goto corrupt;
    }
    if ((rc = rd_get(r, 0, STOR_SEG_HDR, &h)) != 0)
        goto io;
    if (memcmp(h, STOR_SEG_MAGIC, 8) != 0 || cn_get_u32(h + 20) != stor__crc(0, h, 20)) {
        if ((rc = rd_all_zero(r, 0, &zero)) != 0)
            goto io;
        if (is_last && zero) {
            stor__logf(st, "wal/%s: removed zero-filled segment (%" PRIu64 " bytes)", name, r->fsz);
            rc = SEG_REMOVE;
            goto out;
        }
        why = memcmp(h, STOR_SEG_MAGIC, 8) != 0 ? "bad segment magic"
                                                : "segment header checksum mismatch";
        goto corrupt;
    }
    if (cn_get_u32(h + 8) != STOR_VERSION) {
        snprintf(whybuf, sizeof whybuf, "unsupported segment version %" PRIu32, cn_get_u32(h + 8));
        why = whybuf;
        goto corrupt;
    }
    if (cn_get_u64(h + 12) != first) {
        snprintf(whybuf, sizeof whybuf, "header first index %" PRIu64 " does not match file name",
                 cn_get_u64(h + 12));
        why = whybuf;
        goto corrupt;
    }
    if (first == 0) {
        why = "first index 0";
        goto corrupt;
    }

    /* Records. */
    off = STOR_SEG_HDR;
    uint64_t want = first, last_term = 0;
    uint32_t len = 0;
    for (;;) {
        uint64_t rem = r->fsz - off;
        if (rem == 0)
            break;
        len = 0;
        if (rem < STOR_REC_HDR) {
            why = "partial record header";
            break;
        }
        if ((rc = rd_get(r, off, STOR_REC_HDR, &h)) != 0)
            goto io;
        len = cn_get_u32(h);
        if (len > STOR_MAX_PAYLOAD) {
            snprintf(whybuf, sizeof whybuf, "record length %" PRIu32 " exceeds limit", len);
            why = whybuf;
            break;
        }
        if (len > rem - STOR_REC_HDR) {
            why = "record runs past end of file";
            break;
        }
        if ((rc = rd_get(r, off, STOR_REC_HDR + len, &h)) != 0)
            goto io;
        if (cn_get_u32(h + 4) != rec_crc(h, h + STOR_REC_HDR, len)) {
            why = "checksum mismatch";
            break;
        }
        if (cn_get_u64(h + 8) != want) {
            /* A record that checks out but is out of place is not a torn
             * write: it is damage (or files mixed from two logs). */
            snprintf(whybuf, sizeof whybuf, "record index %" PRIu64 ", expected %" PRIu64,
                     cn_get_u64(h + 8), want);
            why = whybuf;
            goto corrupt;
        }
        if ((rc = offs_reserve(st, st->noffs + 1)) != 0)
            goto nomem;
        st->offs[st->noffs++] = (uint32_t)off;
        last_term = cn_get_u64(h + 16);
        off += STOR_REC_HDR + len;
        want++;
    }

    uint64_t zend = r->fsz;
    if (why) {
        /* A bad record at `off`. Clean end, torn tail or damage? */
        if (!is_last)
            goto corrupt;
        if ((rc = rd_all_zero(r, off, &zero)) != 0)
            goto io;
        /* Claimed end of the bad record (EOF when it claims more). */
        uint64_t claimed = r->fsz;
        if (r->fsz - off >= STOR_REC_HDR && (uint64_t)len + STOR_REC_HDR < r->fsz - off)
            claimed = off + STOR_REC_HDR + len;
        int torn = 0;
        if (!zero && want > st->hs.commit && want > st->commit_noted &&
            (rc = rd_zero_sector(r, off, claimed, &torn)) != 0)
            goto io;
        if (zero) {
            /* Zeros after the last record: preallocated space
             * (stor_prepare), kept for the next appends. */
            why = NULL;
        } else if (torn) {
            /* Only a record past the known commit: a committed one was
             * synced, so zeros in it are damage. */
            int k = snprintf(detail, sizeof detail, "%s, with an unwritten (all-zero) sector", why);
            why = k > 0 ? detail : why;
        } else {
            if (claimed < r->fsz) {
                if ((rc = rd_all_zero(r, claimed, &zero)) != 0)
                    goto io;
                if (!zero) {
                    int k =
                        snprintf(detail, sizeof detail, "%s in record followed by more data", why);
                    why = k > 0 ? detail : why;
                    goto corrupt;
                }
            }
            uint64_t at = 0;
            if ((rc = rd_find_record(r, off + 1, want + 1, &at)) < 0)
                goto io;
            if (rc == 1) {
                int k = snprintf(detail, sizeof detail,
                                 "%s in record followed by valid data at offset %" PRIu64, why, at);
                why = k > 0 ? detail : why;
                goto corrupt;
            }
        }
    }
    if (why) {
        /* Never acknowledged: a sync would have covered the whole write. */
        if (st->io->ftruncate(fd, (off_t)off) != 0 || st->io->fsync(fd) != 0) {
            stor__errf(err, errcap, "wal/%s: truncate torn tail: %s", name, strerror(errno));
            rc = CN_EIO;
            goto out;
        }
        stor__logf(st, "wal/%s: offset %" PRIu64 ": torn tail (%s): truncated %" PRIu64 " bytes%s",
                   name, off, why, r->fsz - off,
                   off == STOR_SEG_HDR ? ", segment now empty and removed" : "");
        r->fsz = off;
        zend = off;
    }

    if (want == first) {
        /* No records: only a segment that was being created may be empty. */
        if (is_last) {
            if (!why)
                stor__logf(st, "wal/%s: removed empty segment", name);
            rc = SEG_REMOVE;
            goto out;
        }
        off = STOR_SEG_HDR;
        why = "segment has no records";
        goto corrupt;
    }
    if (st->nsegs && first != st->segs[st->nsegs - 1].last + 1) {
        off = 0;
        snprintf(whybuf, sizeof whybuf,
                 "first index %" PRIu64 " does not follow the previous segment's last %" PRIu64,
                 first, st->segs[st->nsegs - 1].last);
        why = whybuf;
        goto corrupt;
    }
    if ((rc = segs_reserve(st, st->nsegs + 1)) != 0)
        goto nomem;
    if (st->nsegs == 0)
        st->first_index = first;
    st->segs[st->nsegs++] = (struct stor_seg){.first = first, .last = want - 1, .size = off};
    st->last_index = want - 1;
    st->last_term = last_term;
    if (is_last) {
        st->fd = fd;
        st->zend = zend;
        fd = -1;
    }
    rc = SEG_OK;
    goto out;

corrupt:
    stor__errf(err, errcap, "wal/%s: offset %" PRIu64 ": %s", name, off, why);
    rc = CN_ECORRUPT;
    goto out;
nomem:
    stor__errf(err, errcap, "wal/%s: out of memory", name);
    rc = CN_ENOMEM;
    goto out;
io:
    stor__errf(err, errcap, "wal/%s: offset %" PRIu64 ": read: %s", name, off, cn_strerror(rc));
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int stor__wal_recover(struct stor *st, char *err, size_t errcap)
{
    struct seg_file *files;
    size_t n;
    int rc = list_segments(st, &files, &n);
    if (rc) {
        stor__errf(err, errcap, "wal: list: %s", cn_strerror(rc));
        return rc;
    }
    struct rd r = {.fd = -1};
    int removed = 0;
    for (size_t i = 0; i < n; i++) {
        rc = seg_recover(st, files[i].first, i == n - 1, &r, err, errcap);
        if (rc == SEG_REMOVE) {
            char name[STOR_NAME_MAX];
            stor__seg_name(name, sizeof name, files[i].first);
            if (unlinkat(st->waldfd, name, 0) != 0) {
                stor__errf(err, errcap, "wal/%s: unlink: %s", name, strerror(errno));
                rc = CN_EIO;
                break;
            }
            removed = 1;
            rc = 0;
        } else if (rc) {
            break;
        }
    }
    cn_free(r.p);
    cn_free(files);
    if (rc)
        return rc;
    if (removed && st->io->fsync(st->waldfd) != 0) {
        stor__errf(err, errcap, "wal: fsync: %s", strerror(errno));
        return CN_EIO;
    }
    if (st->nsegs == 0) {
        log_set_empty(st, st->snap_index);
        return 0;
    }
    /* The log must pick up where the snapshot (or the beginning) left off. */
    if (st->first_index > st->snap_index + 1) {
        char name[STOR_NAME_MAX];
        stor__seg_name(name, sizeof name, st->first_index);
        stor__errf(err, errcap,
                   "wal/%s: offset 0: log starts at %" PRIu64 " but the snapshot ends at %" PRIu64
                   ": entries are missing",
                   name, st->first_index, st->snap_index);
        return CN_ECORRUPT;
    }
    /* Finish a compaction a crash interrupted after the snapshot was saved. */
    if (st->snap_index && (rc = stor__wal_compact(st, st->snap_index)) != 0)
        stor__errf(err, errcap, "wal: compaction after snapshot %" PRIu64 ": %s", st->snap_index,
                   cn_strerror(rc));
    return rc;
}
