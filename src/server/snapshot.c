/* server/snapshot.c: snapshots. Once `snapshot_entries` entries were
 * applied since the last one and `snapshot_interval_ms` passed, a forked
 * child encodes its copy-on-write view and writes the file (see
 * snapshot_fork for why this shape; the snapshot thread does it when fork
 * fails); the writer installs it between two batches, and the loop tells
 * the core (raft_compact, keeping SNAP_KEEP entries for slow followers;
 * raft_set_snapshot with its index, term and configuration: the bytes stay
 * in the file, streamed to followers by snapstream.c). A snapshot file's payload is
 * SNAP_MAGIC, the encoded configuration, then the encoded state; a payload
 * without the magic is refused (srv__snap_split). A leader's snapshot
 * replaces the state here too (srv__restore_snapshot). */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"
#include "metrics/metrics.h"

/* Prefix of a snapshot payload: magic, u32 length, encoded configuration. */
static int snap_header(struct cn_buf *b, const struct raft_conf *c)
{
    size_t len = 0;
    raft_conf_encode(c, NULL, 0, &len);
    int rc = cn_buf_append(b, SNAP_MAGIC, 4);
    if (!rc)
        rc = cn_enc_u32(b, (uint32_t)len);
    if (!rc)
        rc = cn_buf_reserve(b, len);
    if (!rc)
        rc = raft_conf_encode(c, b->p + b->len, len, &len);
    if (!rc)
        b->len += len;
    return rc;
}

int srv__snap_split(const void *p, size_t len, struct raft_conf *conf, const void **state,
                    size_t *slen, char *err, size_t errcap)
{
    memset(conf, 0, sizeof(*conf));
    const uint8_t *b = p;
    if (len < 8 || memcmp(b, SNAP_MAGIC, 4) != 0) {
        /* Snapshots of pre-release versions held the state alone: not
         * supported (docs/format-storage.md). */
        snprintf(err, errcap, "not a cairn snapshot: no %s header", SNAP_MAGIC);
        return CN_ECORRUPT;
    }
    uint32_t cl = cn_get_u32(b + 4);
    if (cl > len - 8 || raft_conf_decode(b + 8, cl, conf) != 0) {
        snprintf(err, errcap, "bad configuration in the %s header", SNAP_MAGIC);
        return CN_ECORRUPT;
    }
    *state = b + 8 + cl;
    *slen = len - 8 - cl;
    return 0;
}

/* Room for one encoding: the encoded state is smaller than the state's
 * memory; a previous snapshot's size doubled covers growth since. */
static size_t snap_estimate(const struct srv *s)
{
    size_t a = state_mem_bytes(s->state), b = s->last_snap_len * 2;
    return (a > b ? a : b) + ((size_t)16 << 20);
}

/* The encode buffer is an anonymous mapping of its own, not heap memory: a
 * snapshot's tens of MB handed back to malloc stay resident in the process
 * (an arena's free chunks are not returned to the kernel, and glibc's
 * dynamic mmap threshold sends large blocks to the heap after the first
 * one is freed). munmap returns them at once, whatever thread frees them.
 * Pages are only touched by the encoder (in the fork child's copy when
 * forked): the parent faults in the header's page and no more. The buffer
 * is fixed (cn_buf.fixed): an encoding that outgrows it fails cleanly
 * instead of reallocating memory malloc does not own. */
static int encbuf_map(struct cn_buf *b, size_t cap)
{
    cn_buf_init(b);
    void *p =
        mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return CN_ENOMEM;
    b->p = p;
    b->cap = cap;
    b->fixed = true;
    return 0;
}

void srv__encbuf_unmap(struct cn_buf *b)
{
    if (b->p && b->fixed)
        munmap(b->p, b->cap);
    cn_buf_init(b);
}

void srv__reap_child(struct srv *s, bool block)
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

void srv__child_poll_close(struct srv *s)
{
    if (!s->poll_active)
        return;
    uv_close((uv_handle_t *)&s->child_poll, srv__on_handle_closed);
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

/* In the child: only this thread exists, with a copy-on-write image of the
 * parent at fork(). It takes no lock another thread may have held then (the
 * logger's, s->mu): it encodes into memory reserved before the fork, writes
 * the file (stor_snapshot_write does not log), reports and _exit()s. */
static void snap_child(struct srv *s, struct cn_buf *buf, int wfd, pid_t parent)
    __attribute__((noreturn));
static void snap_child(struct srv *s, struct cn_buf *buf, int wfd, pid_t parent)
{
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
        return;
    if (n != (ssize_t)sizeof(m)) {
        kill(s->child, SIGKILL);
        memset(&m, 0, sizeof(m));
        m.rc = CN_EIO;
        snprintf(m.err, sizeof(m.err), "snapshot process exited without reporting");
    }
    srv__child_poll_close(s);
    s->reap_pid = s->child;
    s->child = 0;
    srv__reap_child(s, false);
    if (m.rc) {
        uint64_t ms = (uv_hrtime() - s->snap_t0) / 1000000;
        cn_error("server", "snapshot at index %llu failed after %llu ms: %s",
                 (unsigned long long)s->snap_index, (unsigned long long)ms, m.err);
        s->snap_phase = SNAP_IDLE;
        srv__snapwait_finished(s, m.rc);
        return;
    }
    s->last_snap_len = (size_t)m.len;
    queue_install(s);
}

/* A snapshot covers applied entries: its configuration is the one as of
 * the applied index, not the core's newest (possibly uncommitted) one. */
static void snap_conf(struct srv *s, struct raft_conf *c)
{
    *c = s->applied_conf;
    s->snap_taken_conf = *c; /* named to the core with the snapshot */
}

/* Why fork: encoding 100k KV pairs (~33 MB) takes 30-80 ms (docs/benchmarks.md),
 * a stall if done on the loop, and the state is a mutable tree owned by the
 * loop. fork() gives the child a consistent copy-on-write view for the price
 * of copying page tables; this is how Redis's BGSAVE works. Consul gets the
 * same from go-memdb's immutable radix trees. */
static int snapshot_fork(struct srv *s)
{
    srv__reap_child(s, true);
    struct cn_buf buf;
    struct raft_conf c;
    snap_conf(s, &c);
    if (encbuf_map(&buf, snap_estimate(s)))
        return CN_ENOMEM;
    if (snap_header(&buf, &c)) {
        srv__encbuf_unmap(&buf);
        return CN_ENOMEM;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        srv__encbuf_unmap(&buf);
        return CN_EIO;
    }
    pid_t parent = getpid();
    uint64_t t0 = uv_hrtime();
    pid_t pid = fork();
    if (pid == 0)
        snap_child(s, &buf, p[1], parent);
    int e = errno;
    s->snap_fork_us = (uv_hrtime() - t0) / 1000;
    srv__encbuf_unmap(&buf); /* the child has its own copy */
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
        srv__reap_child(s, true);
        close(p[0]);
        s->child_fd = -1;
        return CN_EIO;
    }
    s->handles++;
    s->poll_active = true;
    s->child_poll.data = s;
    if (uv_poll_start(&s->child_poll, UV_READABLE | UV_DISCONNECT, on_child)) {
        srv__child_poll_close(s);
        kill(pid, SIGKILL);
        s->reap_pid = pid;
        s->child = 0;
        srv__reap_child(s, true);
        return CN_EIO;
    }
    return 0;
}

static int snapshot_in_process(struct srv *s)
{
    struct snap_job *job = cn_calloc(1, sizeof(*job));
    if (!job)
        return CN_ENOMEM;
    job->index = s->snap_index;
    job->term = s->snap_term;
    struct raft_conf c;
    snap_conf(s, &c);
    int rc = encbuf_map(&job->data, snap_estimate(s));
    if (!rc)
        rc = snap_header(&job->data, &c);
    if (!rc)
        rc = state_snapshot_encode(s->state, &job->data);
    if (rc) {
        cn_error("server", "snapshot at index %llu: encoding the state: %s",
                 (unsigned long long)s->snap_index, cn_strerror(rc));
        srv__encbuf_unmap(&job->data);
        cn_free(job);
        return rc;
    }
    s->last_snap_len = job->data.len;
    pthread_mutex_lock(&s->mu);
    s->snap_job = job;
    pthread_cond_signal(&s->snap_cond);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* A clean close (srv_close, the loop and the writer stopped) with many
 * entries applied since the last snapshot: snapshot now, in process, so the
 * next start restores the state from one file instead of replaying the log
 * through the state machine (100k KV pairs in 1,570 txn entries: ~0.4 s of
 * replay and 100 MB of memory touched, against a restore of the snapshot).
 * Below SNAP_AT_CLOSE_MIN entries the replay is cheap and the stop stays
 * quick. Failure only costs the next start its replay. */
#define SNAP_AT_CLOSE_MIN 1024
void srv__snapshot_at_close(struct srv *s)
{
    if (!s->st || s->write_err || !s->raft || s->applied <= s->last_snap_index ||
        s->applied - s->last_snap_index < SNAP_AT_CLOSE_MIN || !s->applied_term)
        return;
    uint64_t t0 = uv_hrtime();
    struct raft_conf c;
    snap_conf(s, &c);
    struct cn_buf b;
    int rc = encbuf_map(&b, snap_estimate(s));
    if (!rc)
        rc = snap_header(&b, &c);
    if (!rc)
        rc = state_snapshot_encode(s->state, &b);
    if (!rc)
        rc = stor_snapshot_save(s->st, s->applied, s->applied_term, b.p, b.len, SNAP_RETAIN);
    if (rc)
        cn_warn("server", "snapshot at close (index %llu): %s; the next start replays the log",
                (unsigned long long)s->applied, cn_strerror(rc));
    else
        cn_info("server", "snapshot at close: index %llu, %zu bytes in %llu ms",
                (unsigned long long)s->applied, b.len,
                (unsigned long long)((uv_hrtime() - t0) / 1000000));
    srv__encbuf_unmap(&b);
}

/* Consul's cadence (raft_snapshot_threshold and raft_snapshot_interval). */
void srv__maybe_snapshot(struct srv *s)
{
    srv__reap_child(s, false);
    if (s->snap_phase != SNAP_IDLE || s->closing || s->poll_active || !s->raft || s->opening)
        return;
    /* A restore's chunks staged but not committed: a snapshot now would
     * lose them for whoever installs it (state/restore.c). */
    if (state_restore_staging(s->state))
        return;
    uint64_t now = uv_now(s->loop);
    if (s->snap_asap) {
        if (s->applied <= s->last_snap_index) {
            s->snap_asap = false;
            srv__snapwait_started(s, s->last_snap_index, s->last_snap_term);
            srv__snapwait_finished(s, 0);
            return;
        }
    } else {
        if (s->applied - s->last_snap_index < s->snap_every)
            return;
        if (s->snap_interval_ms && now - s->last_snap_start < s->snap_interval_ms)
            return;
    }
    s->snap_asap = false;
    s->snap_phase = SNAP_WRITING;
    s->snap_index = s->applied;
    s->snap_term = s->applied_term;
    s->last_snap_start = now;
    s->snap_t0 = uv_hrtime();
    s->snap_fork_us = 0;
    srv__snapwait_started(s, s->snap_index, s->snap_term);
    if (!s->snap_in_process && snapshot_fork(s) == 0)
        return;
    if (snapshot_in_process(s) != 0) {
        s->snap_phase = SNAP_IDLE;
        srv__snapwait_finished(s, CN_EIO);
    }
}

void srv__on_snap_timer(uv_timer_t *t)
{
    srv__maybe_snapshot(t->data);
}

void *srv__snapper_main(void *arg)
{
    struct srv *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->snap_job && !s->stop)
            pthread_cond_wait(&s->snap_cond, &s->mu);
        if (s->stop)
            break;
        struct snap_job *job = s->snap_job;
        s->snap_job = NULL;
        pthread_mutex_unlock(&s->mu);
        char err[sizeof(s->snap_err)];
        int rc = stor_snapshot_write(s->st, job->index, job->term, job->data.p, job->data.len, err,
                                     sizeof(err));
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
        srv__encbuf_unmap(&job->data);
        cn_free(job);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* The snapshot thread or the writer finished a snapshot of ours. The core
 * gets its name, not its bytes: followers are sent the file (snapstream.c). */
void srv__snap_finished(struct srv *s, int snap_rc, const char *snap_err)
{
    s->snap_phase = SNAP_IDLE;
    if (snap_rc) {
        cn_error("server", "snapshot at index %llu failed: %s", (unsigned long long)s->snap_index,
                 snap_err);
    } else {
        s->last_snap_index = s->snap_index;
        s->last_snap_term = s->snap_term;
        mx_sample(MX_RAFT_SNAPSHOT_TAKE, (double)(uv_hrtime() - s->snap_t0) / 1e6);
        if (s->snap_fork_us) /* forked; 0 when encoded in process */
            mx_sample(MX_RAFT_SNAPSHOT_CREATE, (double)s->snap_fork_us / 1e3);
        mx_gauge(MX_RAFT_SNAPSHOT_SIZE, (double)s->last_snap_len);
        cn_info("server", "snapshot at index %llu saved: %zu bytes in %llu ms (fork %llu us)",
                (unsigned long long)s->snap_index, s->last_snap_len,
                (unsigned long long)((uv_hrtime() - s->snap_t0) / 1000000),
                (unsigned long long)s->snap_fork_us);
        if (s->raft) {
            struct raft_snapshot_meta m = {
                .index = s->snap_index, .term = s->snap_term, .conf = s->snap_taken_conf};
            raft_set_snapshot(s->raft, &m);
            /* Keep no entry of a restore (its chunks are the whole state). */
            uint64_t keep = SNAP_KEEP;
            if (s->restore_index && s->restore_index <= s->snap_index &&
                s->snap_index - s->restore_index < keep)
                keep = s->snap_index - s->restore_index;
            raft_compact(s->raft, s->snap_index, keep);
            /* The compacted entries went back to malloc, in chunks all over
             * the heap that glibc does not return on its own: give the free
             * pages back now (madvise; a few ms for a heap of 100 MB). */
            uint64_t t0 = uv_hrtime();
            malloc_trim(0);
            cn_debug("server", "malloc_trim after compaction: %llu us",
                     (unsigned long long)((uv_hrtime() - t0) / 1000));
        }
    }
    srv__snapwait_finished(s, snap_rc ? snap_rc : 0);
}

/* A leader's snapshot, received to a file (snapstream.c; the writer may be
 * renaming it into place right now), replaces the state: restored from a
 * read-only mapping of the file, unmapped at once. */
int srv__restore_snapshot(struct srv *s, const struct raft_snapshot_meta *m)
{
    struct raft_conf c;
    const void *sp;
    size_t sl;
    char err[256] = "";
    struct stor_snap_map map;
    uint64_t t0 = uv_hrtime();
    int rc = stor_snapshot_map(s->st, m->index, m->term, true, &map, err, sizeof(err));
    if (rc == CN_ENOTFOUND)
        rc = stor_snapshot_map(s->st, m->index, m->term, false, &map, err, sizeof(err));
    if (!rc)
        rc = srv__snap_split(map.data, map.len, &c, &sp, &sl, err, sizeof(err));
    if (!rc)
        rc = state_snapshot_restore(s->state, sp, sl, err, sizeof(err));
    size_t len = map.len;
    stor_snapshot_unmap(&map);
    if (rc) {
        cn_error("server", "restoring snapshot at index %llu: %s", (unsigned long long)m->index,
                 err[0] ? err : cn_strerror(rc));
        return rc;
    }
    cn_info("server", "installed snapshot at index %llu from the leader (%zu bytes)",
            (unsigned long long)m->index, len);
    mx_gauge(MX_RAFT_FSM_RESTORE, (double)(uv_hrtime() - t0) / 1e6);
    mx_gauge(MX_RAFT_SNAPSHOT_SIZE, (double)len);
    s->applied = m->index;
    s->applied_term = m->term;
    s->applied_conf = m->conf;
    s->last_snap_index = m->index;
    s->last_snap_term = m->term;
    /* Everything may have changed: wake every blocking query. */
    srv__watches_fire_all(s->watches, m->index);
    for (struct prop *p = s->props.head, *nx; p; p = nx) {
        nx = p->next;
        if (p->rq.phase == SRV_REQ_PENDING && p->rq.index <= m->index)
            srv__prop_finish(s, p, CN_ECONFLICT, NULL);
    }
    return 0;
}
