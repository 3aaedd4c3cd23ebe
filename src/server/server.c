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
 * path.
 *
 * Snapshots (see snapshot_start below for why this shape): once at least
 * `snapshot_entries` entries were applied since the last one and at least
 * `snapshot_interval_ms` passed since the last start, the loop fork()s. The
 * child encodes its copy-on-write view of the state, writes and fsyncs the
 * file (stor_snapshot_write) and reports through a pipe; the loop then queues
 * an install (stor_snapshot_install: adopt, prune, compact the log) for the
 * writer thread, which runs it between two batches. Neither the loop nor the
 * writer waits for the encoding or the file. If fork fails, the loop encodes
 * in place (a stall proportional to the state) and a snapshot thread writes
 * the file; the install is the same. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"
#include "storage/storage.h"

#define ENTRY_COMMAND 1
#define SNAP_RETAIN 2 /* snapshot files kept on disk */

struct prop { /* one proposal in flight, shared read-only with the writer */
    struct prop *next;
    uint64_t index;
    uint64_t term;
    srv_done_cb cb;
    void *arg;
    size_t len;
    uint8_t data[];
};

/* An encoded state for the snapshot thread (the in-process fallback). */
struct snap_job {
    uint64_t index, term;
    struct cn_buf data;
};

/* What a snapshot child reports through its pipe: one write of less than
 * PIPE_BUF bytes, so it arrives whole or not at all. */
struct snap_msg {
    int32_t rc;
    uint64_t len; /* bytes of encoded state */
    char err[240];
};

enum snap_phase {
    SNAP_IDLE,
    SNAP_WRITING,    /* a child or the snapshot thread is writing the file */
    SNAP_INSTALLING, /* the writer thread has an install queued */
};

struct srv {
    uv_loop_t *loop;
    struct stor *st;
    struct state *state;
    struct srv_watches *watches;
    uint64_t term;
    uint64_t last_index;  /* last index assigned */
    uint64_t applied;     /* last index applied to the state */
    bool closing;

    /* snapshots (loop thread) */
    uint64_t snap_every;
    uint64_t snap_interval_ms;
    bool snap_in_process;
    uint64_t last_snap_index;
    uint64_t last_snap_start;   /* uv_now() when the last snapshot started (or at open) */
    size_t last_snap_len;       /* size of the last encoded state, to presize buffers */
    enum snap_phase snap_phase;
    uint64_t snap_index, snap_term; /* the snapshot in progress */
    uint64_t snap_t0;               /* uv_hrtime() at its start */
    uint64_t snap_fork_us;          /* how long fork() held the loop (0: in process) */
    pid_t child;                    /* a snapshot child, or 0 */
    int child_fd;                   /* read end of its pipe, or -1 */
    pid_t reap_pid;                 /* a child that reported but was not reaped yet */
    uv_poll_t child_poll;
    bool poll_active;
    uv_timer_t snap_timer;
    bool timer_init;
    int handles; /* uv handles not yet closed: s is freed when the last one is */

    /* proposals in flight, in index order (loop thread only) */
    struct prop *head, *tail;

    /* shared with the writer and snapshot threads, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cond;            /* wakes the writer */
    pthread_cond_t snap_cond;       /* wakes the snapshot thread */
    struct prop *wq_head, *wq_tail; /* queued for writing (subset of head..tail) */
    struct snap_job *snap_job;      /* loop -> snapshot thread */
    bool install_pending;           /* -> writer: install (install_index, install_term) */
    uint64_t install_index, install_term;
    bool snap_done;                 /* writer or snapshot thread -> loop: finished */
    int snap_rc;
    char snap_err[256];
    uint64_t synced;   /* highest durable index */
    int write_err;     /* sticky write failure */
    bool stop;
    pthread_t writer, snapper;
    bool writer_started, snapper_started;
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
        while (!s->wq_head && !s->install_pending && !s->stop)
            pthread_cond_wait(&s->cond, &s->mu);
        if (!s->wq_head && !s->install_pending && s->stop)
            break;
        struct prop *batch = s->wq_head;
        struct prop *last = s->wq_tail;
        s->wq_head = s->wq_tail = NULL;
        bool install = s->install_pending;
        uint64_t inst_index = s->install_index, inst_term = s->install_term;
        s->install_pending = false;
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
        /* The snapshot file is already durable: installing it is a few
         * unlinks and directory fsyncs, cheap enough between two batches. */
        int inst_rc = install ? stor_snapshot_install(s->st, inst_index, inst_term, SNAP_RETAIN)
                              : 0;

        pthread_mutex_lock(&s->mu);
        if (rc && !s->write_err)
            s->write_err = rc;
        else if (upto)
            s->synced = upto;
        if (install) {
            s->snap_done = true;
            s->snap_rc = inst_rc;
            snprintf(s->snap_err, sizeof(s->snap_err), "installing: %s", cn_strerror(inst_rc));
        }
        pthread_mutex_unlock(&s->mu);
        uv_async_send(&s->async);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    cn_free(ents);
    return NULL;
}

/* The in-process fallback: writes a state the loop encoded. */
static void *snapper_main(void *arg)
{
    struct srv *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->snap_job && !s->stop)
            pthread_cond_wait(&s->snap_cond, &s->mu);
        if (s->stop)
            break; /* a job left behind is freed by srv_close */
        struct snap_job *job = s->snap_job;
        s->snap_job = NULL;
        pthread_mutex_unlock(&s->mu);

        char err[sizeof(s->snap_err)];
        int rc = stor_snapshot_write(s->st, job->index, job->term, job->data.p, job->data.len,
                                     err, sizeof(err));
        pthread_mutex_lock(&s->mu);
        if (rc) {
            s->snap_done = true;
            s->snap_rc = rc;
            snprintf(s->snap_err, sizeof(s->snap_err), "%s", err);
            uv_async_send(&s->async);
        } else {
            s->install_pending = true;
            s->install_index = job->index;
            s->install_term = job->term;
            pthread_cond_signal(&s->cond);
        }
        cn_buf_free(&job->data);
        cn_free(job);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- snapshots (loop side) ----------------------------------------------- */

/* Bytes to reserve for an encoded state: the last size plus room to grow, or
 * the state's own accounting (an overestimate) the first time. */
static size_t snap_estimate(const struct srv *s)
{
    if (s->last_snap_len)
        return s->last_snap_len + s->last_snap_len / 4 + 4096;
    return state_mem_bytes(s->state) + 4096;
}

static void reap_child(struct srv *s, bool block)
{
    if (!s->reap_pid)
        return;
    pid_t r;
    do
        r = waitpid(s->reap_pid, NULL, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r != 0)
        s->reap_pid = 0;
}

static void on_handle_closed(uv_handle_t *h);

static void child_poll_close(struct srv *s)
{
    if (!s->poll_active)
        return;
    uv_close((uv_handle_t *)&s->child_poll, on_handle_closed); /* stops it now */
    s->poll_active = false;
    close(s->child_fd);
    s->child_fd = -1;
}

static void queue_install(struct srv *s)
{
    s->snap_phase = SNAP_INSTALLING;
    pthread_mutex_lock(&s->mu);
    s->install_pending = true;
    s->install_index = s->snap_index;
    s->install_term = s->snap_term;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* In the child: only this thread exists, and it owns a copy-on-write image
 * of the parent as it was at fork(). It must not take locks another thread
 * may have held at that instant (the logger's stdio lock, s->mu): it only
 * encodes into memory reserved before the fork, writes the file through
 * stor_snapshot_write (no logging), reports and _exit()s. */
static void snap_child(struct srv *s, struct cn_buf *buf, int wfd, pid_t parent)
    __attribute__((noreturn));
static void snap_child(struct srv *s, struct cn_buf *buf, int wfd, pid_t parent)
{
    /* Die with the parent; and hold none of its descriptors, so an orphan
     * never keeps the listeners or the data dir's LOCK flock alive. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(2);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    if (wfd > 3)
        close_range(3, (unsigned)wfd - 1, 0);
    close_range((unsigned)wfd + 1, ~0u, 0);

    struct snap_msg m;
    memset(&m, 0, sizeof(m));
    m.rc = state_snapshot_encode(s->state, buf);
    if (m.rc)
        snprintf(m.err, sizeof(m.err), "encoding the state: %s", cn_strerror(m.rc));
    else
        m.rc = stor_snapshot_write(s->st, s->snap_index, s->snap_term, buf->p, buf->len, m.err,
                                   sizeof(m.err));
    m.len = buf->len;
    ssize_t w;
    do
        w = write(wfd, &m, sizeof(m));
    while (w < 0 && errno == EINTR);
    _exit(m.rc ? 1 : 0);
}

static void on_child(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct srv *s = h->data;
    struct snap_msg m;
    ssize_t n = read(s->child_fd, &m, sizeof(m));
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && status == 0)
        return; /* spurious wakeup */
    if (n != (ssize_t)sizeof(m)) {
        /* EOF without a report: the child died (killed, crashed); or the
         * poll failed, and then it must not go on behind our back. */
        kill(s->child, SIGKILL);
        memset(&m, 0, sizeof(m));
        m.rc = CN_EIO;
        snprintf(m.err, sizeof(m.err), "snapshot process exited without reporting");
    }
    child_poll_close(s);
    s->reap_pid = s->child;
    s->child = 0;
    reap_child(s, false);
    if (m.rc) {
        uint64_t ms = (uv_hrtime() - s->snap_t0) / 1000000;
        cn_error("server", "snapshot at index %llu failed after %llu ms: %s",
                 (unsigned long long)s->snap_index, (unsigned long long)ms, m.err);
        s->snap_phase = SNAP_IDLE;
        return;
    }
    s->last_snap_len = (size_t)m.len;
    queue_install(s);
}

/* Why fork: encoding 100k KV pairs (~33 MB) takes 30-80 ms of CPU and memory
 * bandwidth (docs/benchmarks.md), all of it a stall if done on the loop,
 * and the state is a mutable tree owned by the loop, so no other thread may
 * read it while the loop applies. fork() gives the child a consistent
 * copy-on-write view for the price of copying page tables (~4 ms for a
 * 100 MB process) plus a page copy for each page the loop writes before the
 * child is done; this is how Redis's BGSAVE works. Consul gets the same from
 * go-memdb's immutable radix trees (an O(1) snapshot); our state has no
 * such versioning. The child never returns into our code, takes no lock
 * (the buffer is reserved here, before the fork) and _exit()s. */
static int snapshot_fork(struct srv *s)
{
    reap_child(s, true); /* the last child reported already: it is gone or exiting */
    struct cn_buf buf = CN_BUF_INIT;
    if (cn_buf_reserve(&buf, snap_estimate(s)))
        return CN_ENOMEM;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        cn_buf_free(&buf);
        return CN_EIO;
    }
    pid_t parent = getpid();
    uint64_t t0 = uv_hrtime();
    pid_t pid = fork();
    if (pid == 0)
        snap_child(s, &buf, p[1], parent);
    int e = errno;
    s->snap_fork_us = (uv_hrtime() - t0) / 1000;
    /* Untouched pages: freeing is an munmap, and the child has its own. */
    cn_buf_free(&buf);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        cn_warn("server", "fork for a snapshot failed (%s): encoding on the loop instead",
                strerror(e));
        return CN_EIO;
    }
    s->child = pid;
    s->child_fd = p[0];
    if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0 || uv_poll_init(s->loop, &s->child_poll, p[0])) {
        kill(pid, SIGKILL);
        s->reap_pid = pid;
        s->child = 0;
        reap_child(s, true);
        close(p[0]);
        s->child_fd = -1;
        return CN_EIO;
    }
    s->handles++;
    s->poll_active = true;
    s->child_poll.data = s;
    if (uv_poll_start(&s->child_poll, UV_READABLE | UV_DISCONNECT, on_child)) {
        child_poll_close(s);
        kill(pid, SIGKILL);
        s->reap_pid = pid;
        s->child = 0;
        reap_child(s, true);
        return CN_EIO;
    }
    return 0;
}

/* Fallback: encode on the loop (it stalls for the encoding), write on the
 * snapshot thread. */
static int snapshot_in_process(struct srv *s)
{
    struct snap_job *job = cn_calloc(1, sizeof(*job));
    if (!job)
        return CN_ENOMEM;
    job->index = s->snap_index;
    job->term = s->snap_term;
    int rc = cn_buf_reserve(&job->data, snap_estimate(s));
    if (!rc)
        rc = state_snapshot_encode(s->state, &job->data);
    if (rc) {
        cn_error("server", "snapshot at index %llu: encoding the state: %s",
                 (unsigned long long)s->snap_index, cn_strerror(rc));
        cn_buf_free(&job->data);
        cn_free(job);
        return rc;
    }
    s->last_snap_len = job->data.len;
    cn_info("server", "snapshot at index %llu: state encoded on the loop in %llu ms",
            (unsigned long long)s->snap_index,
            (unsigned long long)((uv_hrtime() - s->snap_t0) / 1000000));
    pthread_mutex_lock(&s->mu);
    s->snap_job = job;
    pthread_cond_signal(&s->snap_cond);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Consul's cadence (agent config raft_snapshot_threshold and
 * raft_snapshot_interval): a snapshot needs both enough new entries and
 * enough time since the last one, so a busy server does not snapshot on
 * every burst of `threshold` writes. One snapshot at a time. */
static void maybe_snapshot(struct srv *s)
{
    reap_child(s, false);
    if (s->snap_phase != SNAP_IDLE || s->closing || s->poll_active)
        return;
    if (s->applied - s->last_snap_index < s->snap_every)
        return;
    uint64_t now = uv_now(s->loop);
    if (s->snap_interval_ms && now - s->last_snap_start < s->snap_interval_ms)
        return;
    s->snap_phase = SNAP_WRITING;
    s->snap_index = s->applied;
    s->snap_term = s->term;
    s->last_snap_start = now; /* a failure retries after the interval, not at once */
    s->snap_t0 = uv_hrtime();
    s->snap_fork_us = 0;
    if (!s->snap_in_process && snapshot_fork(s) == 0)
        return;
    if (snapshot_in_process(s) != 0)
        s->snap_phase = SNAP_IDLE;
}

static void on_snap_timer(uv_timer_t *t)
{
    maybe_snapshot(t->data);
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
    char snap_err[sizeof(s->snap_err)];
    memcpy(snap_err, s->snap_err, sizeof(snap_err));
    s->snap_done = false;
    pthread_mutex_unlock(&s->mu);

    if (snap_done) {
        s->snap_phase = SNAP_IDLE;
        if (snap_rc)
            cn_error("server", "snapshot at index %llu failed: %s",
                     (unsigned long long)s->snap_index, snap_err);
        else {
            s->last_snap_index = s->snap_index;
            cn_info("server", "snapshot at index %llu saved: %zu bytes in %llu ms (fork %llu us)",
                    (unsigned long long)s->snap_index, s->last_snap_len,
                    (unsigned long long)((uv_hrtime() - s->snap_t0) / 1000000),
                    (unsigned long long)s->snap_fork_us);
        }
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
    s->snap_interval_ms = opt->snapshot_interval_ms;
    s->snap_in_process = opt->snapshot_in_process;
    s->child_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_cond_init(&s->snap_cond, NULL);
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
    s->handles++;
    s->last_snap_start = uv_now(loop);
    if (s->snap_interval_ms) {
        /* Also snapshot a server that went quiet after enough writes. */
        uv_timer_init(loop, &s->snap_timer);
        s->snap_timer.data = s;
        s->timer_init = true;
        s->handles++;
        uv_timer_start(&s->snap_timer, on_snap_timer, s->snap_interval_ms, s->snap_interval_ms);
        uv_unref((uv_handle_t *)&s->snap_timer);
    }
    if (pthread_create(&s->writer, NULL, writer_main, s)) {
        snprintf(err, errcap, "cannot start the log writer thread");
        srv_close(s);
        return CN_EIO;
    }
    s->writer_started = true;
    if (pthread_create(&s->snapper, NULL, snapper_main, s)) {
        snprintf(err, errcap, "cannot start the snapshot thread");
        srv_close(s);
        return CN_EIO;
    }
    s->snapper_started = true;
    *out = s;
    return 0;
}

static void free_srv(struct srv *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->snap_cond);
    cn_free(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct srv *s = h->data;
    if (--s->handles == 0 && s->closing)
        free_srv(s);
}

void srv_close(struct srv *s)
{
    if (!s)
        return;
    s->closing = true;
    if (s->child) {
        /* The log already holds everything: an unfinished snapshot is only
         * a tmp file, which the next open removes. */
        kill(s->child, SIGKILL);
        s->reap_pid = s->child;
        s->child = 0;
        child_poll_close(s);
    }
    reap_child(s, true);
    if (s->writer_started || s->snapper_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->cond);
        pthread_cond_broadcast(&s->snap_cond);
        pthread_mutex_unlock(&s->mu);
    }
    if (s->snapper_started) {
        /* Finishes the file it is writing, if any (not installed). */
        pthread_join(s->snapper, NULL);
        s->snapper_started = false;
    }
    if (s->writer_started) {
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
    if (s->snap_job) {
        cn_buf_free(&s->snap_job->data);
        cn_free(s->snap_job);
        s->snap_job = NULL;
    }
    if (s->st)
        stor_close(s->st);
    s->st = NULL;
    state_free(s->state);
    s->state = NULL;
    srv__watches_free(s->watches);
    s->watches = NULL;
    if (s->timer_init)
        uv_close((uv_handle_t *)&s->snap_timer, on_handle_closed);
    if (s->async_init)
        uv_close((uv_handle_t *)&s->async, on_handle_closed);
    if (s->handles == 0)
        free_srv(s);
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

uint64_t srv_snapshot_index(const struct srv *s)
{
    return s->last_snap_index;
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
