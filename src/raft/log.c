/* raft/log.c: the in-memory Raft log — entries after the snapshot point, the
 * unstable/persisted/commit/applied marks, conflict search, term lookup and
 * compaction — plus the reference-counted payload blobs the log shares with
 * outgoing messages and handed-out updates. */
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/mem.h"
#include "raft/raft_int.h"

/* ---- blobs ------------------------------------------------------------------- */

struct blob {
    size_t refs;
    size_t len; /* keeps data 16-byte aligned on LP64 */
};

static struct blob *blob_of(const void *base)
{
    return (struct blob *)((char *)base - sizeof(struct blob));
}

int raft__buf_dup(struct raft_buf *out, const void *p, size_t len)
{
    if (len == 0) {
        out->base = NULL;
        out->len = 0;
        return 0;
    }
    struct blob *b = cn_malloc(sizeof(*b) + len);
    if (!b)
        return CN_ENOMEM;
    b->refs = 1;
    b->len = len;
    memcpy(b + 1, p, len);
    out->base = b + 1;
    out->len = len;
    return 0;
}

void raft__buf_ref(const struct raft_buf *b)
{
    if (b->base)
        blob_of(b->base)->refs++;
}

void raft__buf_unref(struct raft_buf *b)
{
    if (b->base) {
        struct blob *bl = blob_of(b->base);
        CN_ASSERT(bl->refs > 0 && bl->len == b->len);
        if (--bl->refs == 0)
            cn_free(bl);
    }
    b->base = NULL;
    b->len = 0;
}

void raft__entry_share(struct raft_entry *dst, const struct raft_entry *src)
{
    *dst = *src;
    raft__buf_ref(&dst->data);
}

void raft__entries_release(struct raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        raft__buf_unref(&e[i].data);
}

/* ---- the log ------------------------------------------------------------------ */

void raft__log_init(struct raft_log *l)
{
    memset(l, 0, sizeof(*l));
    l->unstable = 1;
}

void raft__log_free(struct raft_log *l)
{
    raft__entries_release(l->e, l->n);
    cn_free(l->e);
    memset(l, 0, sizeof(*l));
}

uint64_t raft__log_first(const struct raft_log *l)
{
    return l->snap_index + 1;
}

uint64_t raft__log_last(const struct raft_log *l)
{
    return l->snap_index + l->n;
}

uint64_t raft__log_last_term(const struct raft_log *l)
{
    return l->n ? l->e[l->n - 1].term : l->snap_term;
}

int raft__log_term(const struct raft_log *l, uint64_t i, uint64_t *t)
{
    *t = 0;
    if (i == l->snap_index) {
        *t = l->snap_term;
        return 0;
    }
    if (i < l->snap_index)
        return CN_ERANGE;
    if (i > raft__log_last(l))
        return CN_ENOTFOUND;
    *t = l->e[i - l->snap_index - 1].term;
    return 0;
}

uint64_t raft__log_term0(const struct raft_log *l, uint64_t i)
{
    uint64_t t;
    raft__log_term(l, i, &t);
    return t;
}

bool raft__log_match(const struct raft_log *l, uint64_t i, uint64_t t)
{
    uint64_t have;
    return raft__log_term(l, i, &have) == 0 && have == t;
}

const struct raft_entry *raft__log_get(const struct raft_log *l, uint64_t i)
{
    if (i <= l->snap_index || i > raft__log_last(l))
        return NULL;
    return &l->e[i - l->snap_index - 1];
}

static int log_reserve(struct raft_log *l, size_t extra)
{
    if (l->n + extra <= l->cap)
        return 0;
    size_t cap = l->cap ? l->cap : 16;
    while (cap < l->n + extra)
        cap *= 2;
    struct raft_entry *e = cn_realloc(l->e, cap * sizeof(*e));
    if (!e)
        return CN_ENOMEM;
    l->e = e;
    l->cap = cap;
    return 0;
}

int raft__log_append(struct raft_log *l, const struct raft_entry *src, size_t n, bool share)
{
    if (n == 0)
        return 0;
    uint64_t last = raft__log_last(l);
    for (size_t i = 0; i < n; i++)
        if (src[i].index != last + 1 + i)
            return CN_EINVAL;
    if (log_reserve(l, n) != 0)
        return CN_ENOMEM;
    size_t done = 0;
    for (; done < n; done++) {
        struct raft_entry *d = &l->e[l->n + done];
        if (share) {
            raft__entry_share(d, &src[done]);
        } else {
            *d = src[done];
            if (raft__buf_dup(&d->data, src[done].data.base, src[done].data.len) != 0)
                goto oom;
        }
    }
    l->n += n;
    return 0;
oom:
    raft__entries_release(&l->e[l->n], done);
    return CN_ENOMEM;
}

void raft__log_truncate(struct raft_log *l, uint64_t after)
{
    /* Dropping a committed entry would let a different one take its index:
     * the state machine and the disk would then disagree with the quorum. */
    CN_INVARIANT(after >= l->commit);
    CN_ASSERT(after >= l->snap_index);
    if (after >= raft__log_last(l))
        return;
    size_t keep = (size_t)(after - l->snap_index);
    raft__entries_release(&l->e[keep], l->n - keep);
    l->n = keep;
    /* Pitfall #13: whatever was handed out or acknowledged past the cut is
     * no longer ours; a late ack for it must not count for the new entries. */
    if (l->unstable > after + 1)
        l->unstable = after + 1;
    if (l->persisted > after)
        l->persisted = after;
}

uint64_t raft__log_find_conflict(const struct raft_log *l, const struct raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t t;
        int rc = raft__log_term(l, e[i].index, &t);
        if (rc == CN_ERANGE)
            continue; /* compacted: committed, so it matches by Log Matching */
        if (rc != 0 || t != e[i].term)
            return e[i].index;
    }
    return 0;
}

uint64_t raft__log_find_conflict_by_term(const struct raft_log *l, uint64_t index, uint64_t term)
{
    uint64_t last = raft__log_last(l);
    if (index > last)
        index = last;
    while (index > l->snap_index) {
        if (l->e[index - l->snap_index - 1].term <= term)
            return index;
        index--;
    }
    return index;
}

static int merge(struct raft_log *l, uint64_t prev_i, const struct raft_entry *e, size_t n,
                 bool *truncated)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].index != prev_i + 1 + i)
            return 0; /* malformed: treat as a mismatch */
    uint64_t ci = raft__log_find_conflict(l, e, n);
    if (ci == 0)
        return 1;
    /* Pitfall #8: truncate only from the first index whose term differs; a
     * message shorter than our log never deletes anything. */
    if (ci <= l->commit)
        return CN_ECORRUPT;
    size_t off = (size_t)(ci - prev_i - 1);
    if (ci > raft__log_last(l))
        return raft__log_append(l, e + off, n - off, false) == 0 ? 1 : CN_ENOMEM;
    /* Copy the new payloads and make room before truncating: a release
     * cannot be undone, and OOM must leave the log unchanged. */
    size_t m = n - off;
    if (log_reserve(l, m) != 0)
        return CN_ENOMEM;
    struct raft_entry *tmp = cn_malloc(m * sizeof(*tmp));
    if (!tmp)
        return CN_ENOMEM;
    for (size_t k = 0; k < m; k++) {
        tmp[k] = e[off + k];
        if (raft__buf_dup(&tmp[k].data, e[off + k].data.base, e[off + k].data.len) != 0) {
            raft__entries_release(tmp, k);
            cn_free(tmp);
            return CN_ENOMEM;
        }
    }
    raft__log_truncate(l, ci - 1);
    memcpy(&l->e[l->n], tmp, m * sizeof(*tmp));
    l->n += m;
    cn_free(tmp);
    *truncated = true;
    return 1;
}

int raft__log_maybe_append(struct raft_log *l, uint64_t prev_i, uint64_t prev_t,
                           const struct raft_entry *e, size_t n, uint64_t *lastnew, bool *truncated)
{
    *truncated = false;
    uint64_t have;
    int rc = raft__log_term(l, prev_i, &have);
    if (rc == CN_ERANGE) {
        /* prev is inside our snapshot: committed, so it matches (Log
         * Matching); skip the entries the snapshot already covers. */
        size_t skip = 0;
        while (skip < n && e[skip].index <= l->snap_index)
            skip++;
        if (skip < n && e[skip].index != l->snap_index + 1)
            return 0;
        rc = skip < n ? merge(l, l->snap_index, e + skip, n - skip, truncated) : 1;
    } else if (rc != 0 || have != prev_t) {
        return 0;
    } else {
        rc = merge(l, prev_i, e, n, truncated);
    }
    if (rc == 1)
        *lastnew = prev_i + n;
    return rc;
}

bool raft__log_up_to_date(const struct raft_log *l, uint64_t idx, uint64_t term)
{
    uint64_t lt = raft__log_last_term(l);
    return term > lt || (term == lt && idx >= raft__log_last(l));
}

void raft__log_commit_to(struct raft_log *l, uint64_t i)
{
    uint64_t last = raft__log_last(l);
    if (i > last)
        i = last;
    if (i > l->commit)
        l->commit = i;
    CN_ASSERT(l->commit <= last);
}

void raft__log_compact(struct raft_log *l, uint64_t i)
{
    if (i <= l->snap_index || i > raft__log_last(l))
        return;
    /* Only applied (hence committed) entries are ever compacted away. */
    CN_INVARIANT(i <= l->commit);
    CN_ASSERT(i <= l->applied);
    size_t drop = (size_t)(i - l->snap_index);
    uint64_t t = l->e[drop - 1].term;
    raft__entries_release(l->e, drop);
    memmove(l->e, l->e + drop, (l->n - drop) * sizeof(*l->e));
    l->n -= drop;
    l->snap_index = i;
    l->snap_term = t;
    if (l->unstable < i + 1)
        l->unstable = i + 1;
}

void raft__log_restore(struct raft_log *l, uint64_t idx, uint64_t term)
{
    raft__entries_release(l->e, l->n);
    l->n = 0;
    l->snap_index = idx;
    l->snap_term = term;
    l->unstable = idx + 1;
    if (l->commit < idx)
        l->commit = idx;
    /* The snapshot is durable only once the shell says so (raft_persisted
     * with the snapshot's index and term). */
    if (l->persisted > idx)
        l->persisted = idx;
}

size_t raft__log_span(const struct raft_log *l, uint64_t lo, size_t max_bytes, size_t *bytes)
{
    size_t n = 0, b = 0;
    uint64_t last = raft__log_last(l);
    for (uint64_t i = lo; i <= last; i++) {
        size_t sz = l->e[i - l->snap_index - 1].data.len;
        if (n > 0 && b + sz > max_bytes)
            break;
        b += sz;
        n++;
    }
    *bytes = b;
    return n;
}

bool raft__log_persisted(struct raft_log *l, uint64_t i, uint64_t t)
{
    /* Pitfall #13: the ack must name an entry we still hold with the same
     * term, and one that was handed out for writing. */
    if (i <= l->persisted || i >= l->unstable || !raft__log_match(l, i, t))
        return false;
    l->persisted = i;
    return true;
}
