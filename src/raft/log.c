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
    cn_free(l->runs);
    memset(l, 0, sizeof(*l));
}

uint64_t raft__log_first(const struct raft_log *l)
{
    return l->snap_index + 1;
}

uint64_t raft__log_last(const struct raft_log *l)
{
    return l->base + l->n;
}

/* The run holding evicted index i (snap_index < i <= base). */
static size_t run_of(const struct raft_log *l, uint64_t i)
{
    CN_ASSERT(l->n_runs > 0 && i > l->snap_index && i <= l->base);
    size_t lo = 0, hi = l->n_runs; /* runs[lo].first <= i < runs[hi].first */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->runs[mid].first <= i)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t base_term(const struct raft_log *l)
{
    return l->base == l->snap_index ? l->snap_term : l->runs[l->n_runs - 1].term;
}

uint64_t raft__log_last_term(const struct raft_log *l)
{
    return l->n ? l->e[l->n - 1].term : base_term(l);
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
    if (i <= l->base)
        *t = l->runs[run_of(l, i)].term;
    else
        *t = l->e[i - l->base - 1].term;
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
    if (i <= l->base || i > raft__log_last(l))
        return NULL;
    return &l->e[i - l->base - 1];
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
    size_t done = 0, bytes = 0;
    for (; done < n; done++) {
        bytes += src[done].data.len;
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
    l->bytes += bytes;
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
    CN_ASSERT(after >= l->base);
    if (after >= raft__log_last(l))
        return;
    size_t keep = (size_t)(after - l->base);
    for (size_t k = keep; k < l->n; k++)
        l->bytes -= l->e[k].data.len;
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
    while (index > l->base) {
        if (l->e[index - l->base - 1].term <= term)
            return index;
        index--;
    }
    /* Evicted: a whole run at a time. */
    while (index > l->snap_index) {
        const struct raft_run *run = &l->runs[run_of(l, index)];
        if (run->term <= term)
            return index;
        index = run->first - 1;
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
    for (size_t k = 0; k < m; k++)
        l->bytes += tmp[k].data.len;
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

/* Drop the runs at or below i (snap_index <= i <= base). */
static void runs_drop_le(struct raft_log *l, uint64_t i)
{
    if (i >= l->base) {
        l->n_runs = 0;
        return;
    }
    size_t k = run_of(l, i + 1);
    memmove(l->runs, l->runs + k, (l->n_runs - k) * sizeof(*l->runs));
    l->n_runs -= k;
    if (l->runs[0].first < i + 1)
        l->runs[0].first = i + 1;
}

void raft__log_compact(struct raft_log *l, uint64_t i)
{
    if (i <= l->snap_index || i > raft__log_last(l))
        return;
    /* Only applied (hence committed) entries are ever compacted away. */
    CN_INVARIANT(i <= l->commit);
    CN_ASSERT(i <= l->applied);
    uint64_t t = raft__log_term0(l, i);
    if (i <= l->base) {
        /* Inside the evicted part: only terms to forget. */
        runs_drop_le(l, i);
        l->snap_index = i;
        l->snap_term = t;
        if (l->base == i)
            CN_ASSERT(l->n_runs == 0);
        return;
    }
    l->n_runs = 0;
    size_t drop = (size_t)(i - l->base);
    for (size_t k = 0; k < drop; k++)
        l->bytes -= l->e[k].data.len;
    raft__entries_release(l->e, drop);
    memmove(l->e, l->e + drop, (l->n - drop) * sizeof(*l->e));
    l->n -= drop;
    l->snap_index = i;
    l->snap_term = t;
    l->base = i;
    if (l->unstable < i + 1)
        l->unstable = i + 1;
}

uint64_t raft__log_evict_point(const struct raft_log *l, size_t keep_n, size_t keep_bytes)
{
    if (keep_n == 0 && keep_bytes == 0)
        return l->base;
    uint64_t hi = l->persisted < l->applied ? l->persisted : l->applied;
    if (hi <= l->base)
        return l->base;
    /* Walk back from hi keeping the tail. */
    uint64_t i = hi;
    size_t n = 0, b = 0;
    while (i > l->base) {
        size_t sz = l->e[i - l->base - 1].data.len;
        if ((keep_n && n + 1 > keep_n) || (keep_bytes && b + sz > keep_bytes))
            break;
        n++;
        b += sz;
        i--;
    }
    return i;
}

int raft__log_evict(struct raft_log *l, uint64_t i)
{
    if (i <= l->base)
        return 0;
    uint64_t hi = l->persisted < l->applied ? l->persisted : l->applied;
    /* Only durable, applied (so committed, never truncated) entries leave
     * memory: the shell can always read them back until it compacts them. */
    CN_INVARIANT(i <= hi && i <= l->commit);
    size_t drop = (size_t)(i - l->base);
    /* Room for the new runs first: OOM must change nothing. */
    size_t need = l->n_runs;
    uint64_t prev = l->n_runs ? l->runs[l->n_runs - 1].term : 0;
    for (size_t k = 0; k < drop; k++)
        if (need == 0 || l->e[k].term != prev) {
            need++;
            prev = l->e[k].term;
        }
    if (need > l->cap_runs) {
        size_t cap = l->cap_runs ? l->cap_runs : 4;
        while (cap < need)
            cap *= 2;
        struct raft_run *nr = cn_realloc(l->runs, cap * sizeof(*nr));
        if (!nr)
            return CN_ENOMEM;
        l->runs = nr;
        l->cap_runs = cap;
    }
    for (size_t k = 0; k < drop; k++) {
        const struct raft_entry *e = &l->e[k];
        if (l->n_runs == 0 || l->runs[l->n_runs - 1].term != e->term)
            l->runs[l->n_runs++] = (struct raft_run){.first = e->index, .term = e->term};
        l->bytes -= e->data.len;
    }
    raft__entries_release(l->e, drop);
    memmove(l->e, l->e + drop, (l->n - drop) * sizeof(*l->e));
    l->n -= drop;
    l->base = i;
    /* A window that shrank a lot gives its array back. */
    if (l->cap > 64 && l->n < l->cap / 4) {
        size_t cap = l->n * 2 > 16 ? l->n * 2 : 16;
        struct raft_entry *ne = cn_realloc(l->e, cap * sizeof(*ne));
        if (ne) {
            l->e = ne;
            l->cap = cap;
        }
    }
    return 0;
}

void raft__log_restore(struct raft_log *l, uint64_t idx, uint64_t term)
{
    raft__entries_release(l->e, l->n);
    l->n = 0;
    l->bytes = 0;
    l->n_runs = 0;
    l->base = idx;
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
    CN_ASSERT(lo > l->base);
    for (uint64_t i = lo; i <= last; i++) {
        size_t sz = l->e[i - l->base - 1].data.len;
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
