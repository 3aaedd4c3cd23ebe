/* server/server.c: propose -> persist (writer thread, group commit) ->
 * commit -> apply -> answer -> wake watchers.
 *
 * The loop thread owns the state machine, the list of proposals in flight and
 * the watch registry. A dedicated writer thread owns the storage handle once
 * the loop runs: it takes everything queued since its last fsync, appends it
 * with one write and makes it durable with one fdatasync (group commit), then
 * posts the synced index back to the loop through a uv_async. The loop never
 * blocks on the disk.
 *
 * Single voter today: an entry is committed once durable here. The Raft issue
 * replaces the commit rule (quorum of match indexes) without changing this
 * path. Snapshots: every `snapshot_entries` applied entries the loop encodes
 * the state (in memory) and hands the bytes to the writer, which saves them
 * and compacts the log behind them. */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"
#include "storage/storage.h"

#define ENTRY_COMMAND 1

struct prop { /* one proposal in flight, shared read-only with the writer */
    struct prop *next;
    uint64_t index;
    uint64_t term;
    srv_done_cb cb;
    void *arg;
    size_t len;
    uint8_t data[];
};

struct snap_job {
    uint64_t index, term;
    struct cn_buf data;
};

struct srv {
    uv_loop_t *loop;
    struct stor *st;
    struct state *state;
    struct srv_watches *watches;
    uint64_t term;
    uint64_t last_index;  /* last index assigned */
    uint64_t applied;     /* last index applied to the state */
    uint64_t snap_every;
    uint64_t last_snap_index;
    bool closing;

    /* proposals in flight, in index order (loop thread only) */
    struct prop *head, *tail;

    /* shared with the writer thread, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct prop *wq_head, *wq_tail; /* queued for writing (subset of head..tail) */
    struct snap_job *snap_pending;  /* snapshot to save */
    bool snap_busy;                 /* loop: a snapshot job is outstanding */
    uint64_t snap_busy_index;       /* loop: index of that job */
    bool snap_done;                 /* writer -> loop */
    int snap_rc;
    uint64_t synced;   /* highest durable index */
    int write_err;     /* sticky write failure */
    bool stop;
    pthread_t writer;
    bool writer_started;
    uv_async_t async;
    bool async_init;
};

static void log_cb(void *arg, const char *msg)
{
    (void)arg;
    cn_warn("storage", "%s", msg);
}

static void on_change(void *arg, enum state_table t, const char *key, uint64_t index)
{
    struct srv *s = arg;
    srv__watches_change(s->watches, t, key, index);
}

/* ---- writer thread ----------------------------------------------------- */

static void *writer_main(void *arg)
{
    struct srv *s = arg;
    struct stor_entry *ents = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->wq_head && !s->snap_pending && !s->stop)
            pthread_cond_wait(&s->cond, &s->mu);
        if (!s->wq_head && !s->snap_pending && s->stop)
            break;
        struct prop *batch = s->wq_head;
        struct prop *last = s->wq_tail;
        s->wq_head = s->wq_tail = NULL;
        struct snap_job *job = s->snap_pending;
        s->snap_pending = NULL;
        int failed = s->write_err;
        pthread_mutex_unlock(&s->mu);

        int rc = failed;
        uint64_t upto = 0;
        if (batch && !rc) {
            size_t n = 0;
            for (struct prop *p = batch;; p = p->next) {
                if (n == cap) {
                    size_t ncap = cap ? cap * 2 : 256;
                    struct stor_entry *ne = cn_realloc(ents, ncap * sizeof(*ents));
                    if (!ne) {
                        rc = CN_ENOMEM;
                        break;
                    }
                    ents = ne;
                    cap = ncap;
                }
                ents[n].index = p->index;
                ents[n].term = p->term;
                ents[n].type = ENTRY_COMMAND;
                ents[n].data = p->data;
                ents[n].len = p->len;
                n++;
                if (p == last)
                    break;
            }
            if (!rc)
                rc = stor_append(s->st, ents, n);
            if (!rc)
                rc = stor_sync(s->st);
            upto = last->index;
        }
        int snap_rc = 0;
        if (job) {
            snap_rc = stor_snapshot_save(s->st, job->index, job->term, job->data.p,
                                         job->data.len, 2);
            cn_buf_free(&job->data);
            cn_free(job);
        }

        pthread_mutex_lock(&s->mu);
        if (rc && !s->write_err)
            s->write_err = rc;
        else if (upto)
            s->synced = upto;
        if (job) {
            s->snap_done = true;
            s->snap_rc = snap_rc;
        }
        pthread_mutex_unlock(&s->mu);
        uv_async_send(&s->async);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    cn_free(ents);
    return NULL;
}

/* ---- loop side ----------------------------------------------------------- */

static void maybe_snapshot(struct srv *s)
{
    if (s->snap_busy || s->closing || s->applied - s->last_snap_index < s->snap_every)
        return;
    struct snap_job *job = cn_calloc(1, sizeof(*job));
    if (!job)
        return;
    job->index = s->applied;
    job->term = s->term;
    if (state_snapshot_encode(s->state, &job->data)) {
        cn_buf_free(&job->data);
        cn_free(job);
        return;
    }
    s->snap_busy = true;
    s->snap_busy_index = job->index;
    pthread_mutex_lock(&s->mu);
    s->snap_pending = job;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void apply_one(struct srv *s, struct prop *p)
{
    struct state_result res;
    state_result_init(&res);
    int rc = state_apply(s->state, p->index, p->data, p->len, &res);
    if (rc == CN_ENOMEM) {
        /* A replica cannot skip a committed entry: stopping is the only safe
         * answer. The entry is durable and will be applied after restart. */
        cn_error("server", "out of memory applying index %llu; exiting",
                 (unsigned long long)p->index);
        abort();
    }
    s->applied = p->index;
    if (p->cb)
        p->cb(p->arg, rc, &res);
    state_result_free(&res);
}

static void on_async(uv_async_t *h)
{
    struct srv *s = h->data;
    pthread_mutex_lock(&s->mu);
    uint64_t synced = s->synced;
    int err = s->write_err;
    bool snap_done = s->snap_done;
    int snap_rc = s->snap_rc;
    s->snap_done = false;
    pthread_mutex_unlock(&s->mu);

    if (snap_done) {
        s->snap_busy = false;
        if (snap_rc)
            cn_error("server", "snapshot failed: %s", cn_strerror(snap_rc));
        else
            s->last_snap_index = s->snap_busy_index;
    }
    while (s->head && s->head->index <= synced) {
        struct prop *p = s->head;
        s->head = p->next;
        if (!s->head)
            s->tail = NULL;
        apply_one(s, p);
        cn_free(p);
    }
    srv__watches_flush(s->watches);
    if (err && s->head) {
        /* The disk refused a write: nothing after it can be acknowledged. */
        cn_error("server", "log write failed: %s; failing %s proposals", cn_strerror(err),
                 "pending");
        while (s->head) {
            struct prop *p = s->head;
            s->head = p->next;
            if (p->cb)
                p->cb(p->arg, CN_EIO, NULL);
            cn_free(p);
        }
        s->tail = NULL;
    }
    maybe_snapshot(s);
}

static int recover_entry(void *arg, const struct stor_entry *e)
{
    struct srv *s = arg;
    if (e->index <= s->applied)
        return 0;
    if (e->type == ENTRY_COMMAND) {
        int rc = state_apply(s->state, e->index, e->data, e->len, NULL);
        if (rc == CN_ENOMEM || rc == CN_ECORRUPT)
            return rc == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
    }
    s->applied = e->index;
    if (e->term > s->term)
        s->term = e->term;
    return 0;
}

int srv_open(uv_loop_t *loop, const struct srv_options *opt, struct srv **out, char *err,
             size_t errcap)
{
    *out = NULL;
    struct srv *s = cn_calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return CN_ENOMEM;
    }
    s->loop = loop;
    s->snap_every = opt->snapshot_entries ? opt->snapshot_entries : 16384;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->state = state_new();
    s->watches = srv__watches_new();
    if (!s->state || !s->watches) {
        snprintf(err, errcap, "out of memory");
        srv_close(s);
        return CN_ENOMEM;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/raft", opt->data_dir);
    mkdir(opt->data_dir, 0700);
    struct stor_options so = {.segment_bytes = 0, .log = log_cb, .log_arg = s};
    char serr[512] = "";
    int rc = stor_open(dir, &so, &s->st, serr, sizeof(serr));
    if (rc) {
        snprintf(err, errcap, "%s: %s", dir, serr[0] ? serr : cn_strerror(rc));
        srv_close(s);
        return rc;
    }
    struct stor_info info;
    stor_get_info(s->st, &info);
    s->term = info.hs.term ? info.hs.term : 1;
    if (info.snap_index) {
        uint64_t si, st;
        void *data;
        size_t len;
        rc = stor_snapshot_load(s->st, &si, &st, &data, &len);
        if (rc) {
            snprintf(err, errcap, "%s: loading snapshot: %s", dir, cn_strerror(rc));
            srv_close(s);
            return rc;
        }
        char rerr[256] = "";
        rc = state_snapshot_restore(s->state, data, len, rerr, sizeof(rerr));
        cn_free(data);
        if (rc) {
            snprintf(err, errcap, "%s: snapshot at index %llu: %s", dir, (unsigned long long)si,
                     rerr[0] ? rerr : cn_strerror(rc));
            srv_close(s);
            return rc;
        }
        s->applied = si;
        s->last_snap_index = si;
        if (st > s->term)
            s->term = st;
    }
    if (info.last_index > s->applied && info.last_index >= info.first_index) {
        uint64_t lo = s->applied + 1 > info.first_index ? s->applied + 1 : info.first_index;
        if (lo > s->applied + 1) {
            snprintf(err, errcap, "%s: log starts at %llu but state is at %llu: entries missing",
                     dir, (unsigned long long)info.first_index, (unsigned long long)s->applied);
            srv_close(s);
            return CN_ECORRUPT;
        }
        rc = stor_read(s->st, lo, info.last_index, recover_entry, s);
        if (rc) {
            snprintf(err, errcap, "%s: replaying log: %s", dir, cn_strerror(rc));
            srv_close(s);
            return rc;
        }
    }
    s->last_index = s->applied > info.last_index ? s->applied : info.last_index;
    s->synced = s->last_index;
    if (!info.hs.term) {
        struct stor_hard_state hs = {.term = s->term, .vote = opt->node_id ? opt->node_id : 1,
                                     .commit = s->applied};
        rc = stor_set_hard_state(s->st, &hs);
        if (rc) {
            snprintf(err, errcap, "%s: writing hard state: %s", dir, cn_strerror(rc));
            srv_close(s);
            return rc;
        }
    }
    cn_info("server", "recovered state at index %llu (snapshot %llu, log %llu..%llu)",
            (unsigned long long)s->applied, (unsigned long long)info.snap_index,
            (unsigned long long)info.first_index, (unsigned long long)info.last_index);
    /* Watches only matter for live changes: install the callback after replay. */
    state_set_change_cb(s->state, on_change, s);
    if (uv_async_init(loop, &s->async, on_async)) {
        snprintf(err, errcap, "uv_async_init failed");
        srv_close(s);
        return CN_EIO;
    }
    s->async.data = s;
    s->async_init = true;
    if (pthread_create(&s->writer, NULL, writer_main, s)) {
        snprintf(err, errcap, "cannot start the log writer thread");
        srv_close(s);
        return CN_EIO;
    }
    s->writer_started = true;
    *out = s;
    return 0;
}

static void free_srv(uv_handle_t *h)
{
    struct srv *s = h->data;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    cn_free(s);
}

void srv_close(struct srv *s)
{
    if (!s)
        return;
    s->closing = true;
    if (s->writer_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->writer, NULL);
        s->writer_started = false;
        /* Everything the writer made durable can still be applied and answered. */
        if (s->async_init)
            on_async(&s->async);
    }
    while (s->head) {
        struct prop *p = s->head;
        s->head = p->next;
        if (p->cb)
            p->cb(p->arg, CN_ESHUTDOWN, NULL);
        cn_free(p);
    }
    s->tail = NULL;
    if (s->snap_pending) {
        cn_buf_free(&s->snap_pending->data);
        cn_free(s->snap_pending);
        s->snap_pending = NULL;
    }
    if (s->st)
        stor_close(s->st);
    s->st = NULL;
    state_free(s->state);
    s->state = NULL;
    srv__watches_free(s->watches);
    s->watches = NULL;
    if (s->async_init) {
        uv_close((uv_handle_t *)&s->async, free_srv);
    } else {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cond);
        cn_free(s);
    }
}

struct state *srv_state(struct srv *s)
{
    return s->state;
}

int srv_propose(struct srv *s, const void *cmd, size_t len, srv_done_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    if (s->write_err)
        return CN_EIO;
    struct prop *p = cn_malloc(sizeof(*p) + len);
    if (!p)
        return CN_ENOMEM;
    p->next = NULL;
    p->index = ++s->last_index;
    p->term = s->term;
    p->cb = cb;
    p->arg = arg;
    p->len = len;
    memcpy(p->data, cmd, len);
    if (s->tail)
        s->tail->next = p;
    else
        s->head = p;
    s->tail = p;
    /* The writer walks wq_head..wq_tail through ->next; entries are immutable
     * until the loop frees them after they are synced and applied. */
    pthread_mutex_lock(&s->mu);
    if (!s->wq_head)
        s->wq_head = p;
    s->wq_tail = p;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

bool srv_is_leader(const struct srv *s)
{
    (void)s;
    return true;
}

bool srv_known_leader(const struct srv *s)
{
    (void)s;
    return true;
}

uint64_t srv_last_contact_ms(const struct srv *s)
{
    (void)s;
    return 0;
}

uint64_t srv_commit_index(const struct srv *s)
{
    return s->applied;
}

int srv_watch_arm(struct srv *s, struct srv_watch *w, enum state_table t, const char *key,
                  bool prefix, srv_watch_cb cb, void *data)
{
    w->cb = cb;
    w->data = data;
    return srv__watches_arm(s->watches, w, t, key, prefix);
}

void srv_watch_disarm(struct srv *s, struct srv_watch *w)
{
    if (s->watches)
        srv__watches_disarm(s->watches, w);
}

size_t srv_watch_count(const struct srv *s)
{
    return srv__watches_count(s->watches);
}
