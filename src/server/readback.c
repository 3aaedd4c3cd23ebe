/* server/readback.c: the shell's half of the bounded Raft log window. The
 * core keeps only a window of the log in memory (entries not yet durable or
 * applied, and a tail behind them); when a follower needs older entries it
 * asks for them in an update (raft_update.fetch_lo/hi). The WAL belongs to
 * the writer thread, so the request goes there (writer.c wakes for it), the
 * entries are read into one buffer there, and the loop hands them to the
 * core (raft_fetched) when the writer signals `async`. The loop never
 * touches the disk. Entries already compacted away with a snapshot are
 * reported as such (raft_fetch_failed with the log's first index): the core
 * then sends those followers the snapshot. */
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"
#include "metrics/metrics.h"

void srv__readback_ask(struct srv *s, uint64_t lo, uint64_t hi)
{
    pthread_mutex_lock(&s->mu);
    s->rb_want = true;
    s->rb_lo = lo;
    s->rb_hi = hi;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

struct rb_read {
    struct raft_entry *e;
    size_t n, cap, bytes;
    struct cn_buf blob;
};

static int rb_entry(void *arg, const struct stor_entry *e)
{
    struct rb_read *r = arg;
    /* At least one entry, then no more than the byte budget. */
    if (r->n > 0 && r->bytes + e->len > SRV_RB_MAX_BYTES)
        return 1;
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        struct raft_entry *ne = cn_realloc(r->e, nc * sizeof(*ne));
        if (!ne)
            return CN_ENOMEM;
        r->e = ne;
        r->cap = nc;
    }
    struct raft_entry *x = &r->e[r->n++];
    x->index = e->index;
    x->term = e->term;
    x->type = e->type == STOR_CONF ? RAFT_ENTRY_CONF : RAFT_ENTRY_NORMAL;
    x->data.base = (void *)(uintptr_t)r->blob.len; /* an offset while the blob grows */
    x->data.len = e->len;
    r->bytes += e->len;
    return e->len ? cn_buf_append(&r->blob, e->data, e->len) : 0;
}

bool srv__readback_serve(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    bool want = s->rb_want && !s->rb_done;
    uint64_t lo = s->rb_lo, hi = s->rb_hi;
    s->rb_want = false;
    pthread_mutex_unlock(&s->mu);
    if (!want)
        return false;

    struct stor_info info;
    stor_get_info(s->st, &info);
    struct rb_read r = {0};
    r.blob = (struct cn_buf)CN_BUF_INIT;
    int rc = 0;
    uint64_t first = info.first_index;
    if (lo < info.first_index || info.first_index > info.last_index) {
        /* Compacted with a snapshot (or an empty log after one). */
        rc = CN_ERANGE;
        if (info.first_index > info.last_index)
            first = info.snap_index + 1;
    } else {
        if (hi > info.last_index + 1)
            hi = info.last_index + 1;
        rc = hi > lo ? stor_read(s->st, lo, hi - 1, rb_entry, &r) : CN_ENOTFOUND;
        if (rc == 1)
            rc = 0; /* stopped at the byte budget */
        if (!rc && r.n == 0)
            rc = CN_ENOTFOUND;
    }
    uint8_t *blob = NULL;
    if (!rc) {
        blob = (uint8_t *)r.blob.p; /* ours now (recover.c reads the log the same way) */
        cn_buf_init(&r.blob);
        for (size_t i = 0; i < r.n; i++)
            r.e[i].data.base = r.e[i].data.len ? blob + (uintptr_t)r.e[i].data.base : NULL;
    } else {
        cn_free(r.e);
        r.e = NULL;
        r.n = 0;
    }
    cn_buf_free(&r.blob);

    pthread_mutex_lock(&s->mu);
    s->rb_done = true;
    s->rb_rc = rc;
    s->rb_first = first;
    s->rb_lo = lo;
    s->rb_ents = r.e;
    s->rb_n = r.n;
    s->rb_blob = blob;
    pthread_mutex_unlock(&s->mu);
    return true; /* writer.c signals `async` */
}

void srv__readback_deliver(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->rb_done) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    struct raft_entry *e = s->rb_ents;
    size_t n = s->rb_n;
    uint8_t *blob = s->rb_blob;
    int rc = s->rb_rc;
    uint64_t lo = s->rb_lo, first = s->rb_first;
    s->rb_done = false;
    s->rb_ents = NULL;
    s->rb_blob = NULL;
    s->rb_n = 0;
    pthread_mutex_unlock(&s->mu);

    if (s->raft && !s->closing) {
        if (!rc) {
            cn_debug("server", "read back entries %llu..%llu from the log for followers",
                     (unsigned long long)e[0].index, (unsigned long long)e[n - 1].index);
            mx_incr(MX_RAFT_LOG_READBACK, (double)n);
            s->rb_total += n;
            raft_fetched(s->raft, e, n);
        } else if (rc == CN_ERANGE) {
            cn_info("server",
                    "entries from %llu were compacted from the log: followers "
                    "behind them get the snapshot",
                    (unsigned long long)lo);
            raft_fetch_failed(s->raft, lo, first);
        } else {
            cn_warn("server", "reading back log entries from %llu: %s", (unsigned long long)lo,
                    cn_strerror(rc));
            raft_fetch_failed(s->raft, lo, 0);
        }
    }
    cn_free(e);
    cn_free(blob);
}

void srv__readback_free(struct srv *s)
{
    cn_free(s->rb_ents);
    cn_free(s->rb_blob);
    s->rb_ents = NULL;
    s->rb_blob = NULL;
    s->rb_n = 0;
    s->rb_done = s->rb_want = false;
}
