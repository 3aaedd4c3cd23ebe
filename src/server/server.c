/* server/server.c: the shell around the Raft core (raft/raft.h): propose ->
 * persist (writer thread, group commit) -> commit (quorum, decided by the
 * core) -> apply on the loop -> answer -> wake watchers.
 *
 * The loop thread owns the struct raft, the state machine, the proposals in
 * flight and the watch registry. A uv_timer ticks the core; an idle handle
 * ("kick") runs raft_ready handling once per loop iteration after anything
 * fed the core, so every proposal that arrived in one poll round shares one
 * update, one log write and one fdatasync (group commit).
 *
 * Update handling follows raft.h's order (thesis §10.2.1):
 *  - entries, the hard state (only when term or vote changed: it costs three
 *    syncs) and an incoming snapshot become a write job for the writer thread,
 *    which takes every job queued since its last round, writes the hard state
 *    first (so no durable entry is ever newer than the durable term), appends,
 *    fdatasyncs once, and hands the jobs back through a uv_async; the loop
 *    then calls raft_persisted(last index, last term) for each;
 *  - a leader's messages go at once (u.msgs_before_persist: the core counts
 *    the leader itself only once raft_persisted says so); anyone else's wait
 *    for the job of their update (or the last job outstanding) to be durable;
 *  - committed entries are applied in order and complete local proposals,
 *    matched by index AND term: another term at that index means the entry
 *    was replaced, and the proposer hears "leadership lost".
 *
 * Followers forward writes to the leader (XPORT_FORWARD_REQ): the leader
 * proposes and answers (index, term) at once; the follower completes its
 * caller when it applies that (index, term) itself (the state machine is
 * deterministic, so its result is the leader's). Reads ask the leader for a
 * read index the same way. With no leader known, both wait up to hold_ms
 * (Consul's rpc_hold_timeout, 7 s) and then fail with CN_EAGAIN.
 *
 * Servers find each other through -retry-join addresses: a short probe
 * connection reads the peer's transport hello (its raft id), then the
 * transport connects for real and both sides exchange (id, node name, node
 * UUID, advertised RPC address, whether their log was empty) and gossip what
 * they know. With bootstrap_expect = N, once N servers with empty logs know
 * each other, each writes the same first entry (the configuration of those
 * servers sorted by id, index 1, term 1), Consul's approach; a server with a
 * log never bootstraps again.
 *
 * Snapshots (see snapshot_fork for why this shape): once `snapshot_entries`
 * entries were applied since the last one and `snapshot_interval_ms` passed,
 * a forked child encodes its copy-on-write view and writes the file; the
 * writer installs it between two batches and reads it back, and the loop
 * tells the core (raft_compact, keeping SNAP_KEEP entries for slow
 * followers; raft_set_snapshot with the bytes). A snapshot file's payload is
 * SNAP_MAGIC, the encoded configuration, then the encoded state; a payload
 * without the magic (older files) is the state alone. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "raft/raft.h"
#include "server/server_int.h"
#include "storage/storage.h"
#include "transport/transport.h"

/* Entry types on disk (opaque to storage). 1 was the only type before Raft:
 * an application command; an empty one is a leader's no-op. */
#define STOR_NORMAL 1
#define STOR_CONF 2
#define SNAP_RETAIN 2  /* snapshot files kept on disk */
#define SNAP_KEEP 1024 /* log entries kept behind a snapshot for slow followers */
#define SNAP_MAGIC "CNS1"
#define MAX_DIR 32        /* servers this one knows about */
#define PENDING_MS 30000  /* a proposal with an index that never gets applied */
#define FWD_MS 7000       /* a forwarded request without an answer */

/* Sub-kinds inside XPORT_FORWARD_REQ / XPORT_FORWARD_RESP payloads. */
enum { FW_INFO = 1, FW_PROPOSE = 2, FW_READ = 3, FW_OP = 4 };

enum prop_phase { P_HELD, P_FWD, P_PENDING };

struct prop {
    struct prop *next, *prev;
    enum prop_phase phase;
    uint64_t index, term;
    uint64_t req_id;   /* P_FWD: the forwarded request */
    uint64_t deadline; /* uv_now() ms */
    srv_done_cb cb;
    void *arg;
    size_t len;
    uint8_t data[];
};

enum read_phase { R_HELD, R_RAFT, R_FWD, R_APPLY, R_REMOTE };

struct rreq {
    struct rreq *next, *prev;
    enum read_phase phase;
    enum srv_read_mode mode;
    uint64_t ctx;      /* R_RAFT/R_REMOTE: raft_read_index context; R_FWD: request id */
    uint64_t index;    /* R_APPLY */
    uint64_t from, req_id; /* R_REMOTE: the follower that asked */
    uint64_t deadline;
    srv_read_cb cb;
    void *arg;
};

struct list { void *head, *tail; };

struct omsg { /* an encoded Raft message waiting for a durable write */
    struct omsg *next;
    uint64_t to;
    bool snap; /* a SNAPSHOT: a failed send is reported to the core */
    size_t len;
    uint8_t data[];
};

struct wjob { /* one update's durable part; loop -> writer -> loop */
    struct wjob *next;
    bool has_hs;
    struct stor_hard_state hs;
    bool has_snap;
    uint64_t snap_index, snap_term;
    void *snap_data; /* owned */
    size_t snap_len;
    struct stor_entry *ents; /* data points into blob */
    size_t n;
    void *blob;
    bool ack; /* raft_persisted(ack_index, ack_term) when durable */
    uint64_t ack_index, ack_term;
    struct omsg *msgs, *msgs_tail; /* loop only */
    int rc;
};

struct snap_job {
    uint64_t index, term;
    struct cn_buf data;
};

struct snap_msg {
    int32_t rc;
    uint64_t len;
    char err[240];
};

enum snap_phase { SNAP_IDLE, SNAP_WRITING, SNAP_INSTALLING };

struct pinfo { /* a server we heard of */
    uint64_t id;
    char node[64];
    char uuid[40];
    char addr[64];
    bool has_log;
    bool dialed;     /* xport_set_peer done */
    bool was_member; /* seen in a configuration: never added automatically again */
};

/* An operation (remove, transfer) run on the leader for a local caller
 * (cb) or for a follower that forwarded it (from, req_id). */
enum op_kind { OP_REMOVE = 1, OP_TRANSFER = 2 };
struct op {
    struct op *next, *prev;
    enum op_kind kind;
    uint64_t id;
    char addr[64];
    bool fwd;        /* sent to the leader, waiting for its answer */
    bool proposed;   /* a conf change at `index`: done once applied */
    uint64_t index;
    uint64_t req_id; /* fwd: our request; remote: theirs */
    uint64_t from;   /* remote: the follower to answer */
    uint64_t deadline;
    srv_op_cb cb;
    void *arg;
};

struct probe { /* a -retry-join (or srv_join) address asked for its raft id */
    struct probe *next;
    struct srv *s;
    char addr[64];
    uint64_t id; /* learnt */
    bool busy;
    bool once;   /* srv_join: a few attempts, then report and go */
    int tries;   /* srv_join: attempts left */
    srv_op_cb cb;
    void *arg;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    uint8_t hello[XPORT_HELLO_MAX];
    size_t hello_len;
    uint8_t in[XPORT_HELLO_MAX];
    size_t in_len;
    uint64_t next_ms;
};

struct srv {
    uv_loop_t *loop;
    struct stor *st;
    struct state *state;
    struct srv_watches *watches;
    struct raft *raft;
    uint64_t id;
    bool closing;
    bool opening; /* inside srv_open: no snapshot yet */
    char node[64], uuid[40], self_addr[64];
    uint64_t tick_ms, hold_ms;
    unsigned election_ticks;
    int expect;
    bool had_log;       /* the log was not empty at open */
    bool bootstrapped;  /* a configuration exists (log, snapshot or written by us) */
    uint64_t applied, applied_term;
    struct raft_conf applied_conf; /* the configuration as of `applied` (for snapshots) */
    struct stor_hard_state hs_disk; /* what the writer was last asked to write */
    enum raft_state role;
    uint64_t leader;
    struct raft_conf conf; /* last configuration given to the transport */
    uint64_t next_ctx;
    uint64_t next_req;

    /* proposals and reads (loop thread) */
    struct list props; /* every phase; P_PENDING in index order among themselves */
    struct list reads;

    /* transport and discovery */
    struct xport *x;
    bool x_stopping;
    struct pinfo dir[MAX_DIR];
    size_t ndir;
    struct probe *probes;
    char cluster[XPORT_CLUSTER_MAX + 1];
    struct list ops;
    uv_timer_t tick;
    uv_idle_t idle;
    bool idle_on;

    /* snapshots (loop thread) */
    uint64_t snap_every;
    uint64_t snap_interval_ms;
    bool snap_in_process;
    uint64_t last_snap_index;
    uint64_t last_snap_start;
    size_t last_snap_len;
    enum snap_phase snap_phase;
    uint64_t snap_index, snap_term;
    uint64_t snap_t0;
    uint64_t snap_fork_us;
    pid_t child;
    int child_fd;
    pid_t reap_pid;
    uv_poll_t child_poll;
    bool poll_active;
    uv_timer_t snap_timer;
    bool timer_init;
    int handles;

    /* write jobs: loop-owned list of everything submitted and not yet
     * handed back (jobs_tail: where later held messages wait) */
    struct wjob *jobs_tail;
    size_t jobs_out;
    size_t hs_jobs_out; /* of which carry a hard state (term/vote) */

    /* shared with the writer and snapshot threads, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_cond_t snap_cond;
    struct wjob *wq_head, *wq_tail;     /* -> writer */
    struct wjob *done_head, *done_tail; /* writer -> loop */
    struct snap_job *snap_job;
    bool install_pending;
    uint64_t install_index, install_term;
    bool snap_done;
    int snap_rc;
    char snap_err[256];
    void *snap_bytes; /* writer -> loop: the installed file's payload */
    size_t snap_bytes_len;
    int write_err;
    bool stop;
    pthread_t writer, snapper;
    bool writer_started, snapper_started;
    uv_async_t async;
    bool async_init;
};

static void process_ready(struct srv *s);
static void free_srv(struct srv *s);
static void kick(struct srv *s);
static void dispatch_held(struct srv *s);
struct op;
static void op_finish(struct srv *s, struct op *o, int rc, const char *msg);
static int op_new(struct srv *s, int kind, uint64_t id, const char *addr, srv_op_cb cb,
                  void *arg, uint64_t from, uint64_t req_id);

/* ---- small lists ---------------------------------------------------------- */

#define LIST_PUSH(l, e)                                                                            \
    do {                                                                                           \
        (e)->next = NULL;                                                                          \
        (e)->prev = (l)->tail;                                                                     \
        if ((l)->tail)                                                                             \
            ((__typeof__(e))(l)->tail)->next = (e);                                                \
        else                                                                                       \
            (l)->head = (e);                                                                       \
        (l)->tail = (e);                                                                           \
    } while (0)
#define LIST_DEL(l, e)                                                                             \
    do {                                                                                           \
        if ((e)->prev)                                                                             \
            (e)->prev->next = (e)->next;                                                           \
        else                                                                                       \
            (l)->head = (e)->next;                                                                 \
        if ((e)->next)                                                                             \
            (e)->next->prev = (e)->prev;                                                           \
        else                                                                                       \
            (l)->tail = (e)->prev;                                                                 \
        (e)->next = (e)->prev = NULL;                                                              \
    } while (0)

static void log_cb(void *arg, const char *msg)
{
    (void)arg;
    cn_warn("storage", "%s", msg);
}

static void raft_log(void *arg, int level, const char *msg)
{
    (void)arg;
    cn_log_write((enum cn_log_level)level, "raft", "%s", msg);
}

static void on_change(void *arg, enum state_table t, const char *key, uint64_t index)
{
    struct srv *s = arg;
    srv__watches_change(s->watches, t, key, index);
}

/* ---- writer thread ----------------------------------------------------- */

static int write_job(struct srv *s, struct wjob *j, bool *need_sync)
{
    int rc = 0;
    if (j->has_snap) {
        /* An installed snapshot replaces everything before it; entries after
         * it from an old leader must not survive next to it (Log Matching),
         * so the log is reset behind it. */
        if (*need_sync && (rc = stor_sync(s->st)))
            return rc;
        *need_sync = false;
        char err[256];
        struct stor_info info;
        stor_get_info(s->st, &info);
        if (info.last_index > j->snap_index && info.first_index <= info.last_index)
            if ((rc = stor_truncate_suffix(s->st, j->snap_index)))
                return rc;
        if (j->snap_index > info.snap_index) {
            rc = stor_snapshot_write(s->st, j->snap_index, j->snap_term, j->snap_data,
                                     j->snap_len, err, sizeof(err));
            if (rc)
                cn_error("server", "writing a received snapshot: %s", err);
            if (!rc)
                rc = stor_snapshot_install(s->st, j->snap_index, j->snap_term, SNAP_RETAIN);
            if (rc)
                return rc;
        }
    }
    if (j->n) {
        if ((rc = stor_append(s->st, j->ents, j->n)))
            return rc;
        *need_sync = true;
    }
    return 0;
}

static void *writer_main(void *arg)
{
    struct srv *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->wq_head && !s->install_pending && !s->stop)
            pthread_cond_wait(&s->cond, &s->mu);
        if (!s->wq_head && !s->install_pending && s->stop)
            break;
        struct wjob *batch = s->wq_head;
        s->wq_head = s->wq_tail = NULL;
        bool install = s->install_pending;
        uint64_t inst_index = s->install_index, inst_term = s->install_term;
        s->install_pending = false;
        int rc = s->write_err;
        pthread_mutex_unlock(&s->mu);

        /* The newest hard state of the batch first: a durable entry must
         * never carry a term above the durable term (raft_new refuses that),
         * and a vote must be durable before the messages that reveal it. */
        const struct stor_hard_state *hs = NULL;
        for (struct wjob *j = batch; j; j = j->next)
            if (j->has_hs)
                hs = &j->hs;
        if (!rc && hs)
            rc = stor_set_hard_state(s->st, hs);
        bool need_sync = false;
        for (struct wjob *j = batch; j && !rc; j = j->next)
            rc = write_job(s, j, &need_sync);
        if (!rc && need_sync)
            rc = stor_sync(s->st);
        for (struct wjob *j = batch; j; j = j->next)
            j->rc = rc;

        /* The snapshot file is already durable: installing it is a few
         * unlinks and directory fsyncs, cheap enough between two batches. */
        int inst_rc = 0;
        void *bytes = NULL;
        size_t blen = 0;
        if (install) {
            inst_rc = stor_snapshot_install(s->st, inst_index, inst_term, SNAP_RETAIN);
            uint64_t li, lt;
            if (!inst_rc && stor_snapshot_load(s->st, &li, &lt, &bytes, &blen) != 0)
                bytes = NULL;
        }

        pthread_mutex_lock(&s->mu);
        if (rc && !s->write_err)
            s->write_err = rc;
        if (batch) {
            struct wjob *last = batch;
            while (last->next)
                last = last->next;
            if (s->done_tail)
                s->done_tail->next = batch;
            else
                s->done_head = batch;
            s->done_tail = last;
        }
        if (install) {
            s->snap_done = true;
            s->snap_rc = inst_rc;
            snprintf(s->snap_err, sizeof(s->snap_err), "installing: %s", cn_strerror(inst_rc));
            cn_free(s->snap_bytes);
            s->snap_bytes = bytes;
            s->snap_bytes_len = blen;
        }
        pthread_mutex_unlock(&s->mu);
        uv_async_send(&s->async);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void *snapper_main(void *arg)
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

static void free_job(struct wjob *j)
{
    while (j->msgs) {
        struct omsg *m = j->msgs;
        j->msgs = m->next;
        cn_free(m);
    }
    cn_free(j->snap_data);
    cn_free(j->ents);
    cn_free(j->blob);
    cn_free(j);
}

static void submit_job(struct srv *s, struct wjob *j)
{
    s->jobs_tail = j;
    s->jobs_out++;
    if (j->has_hs)
        s->hs_jobs_out++;
    pthread_mutex_lock(&s->mu);
    if (s->wq_tail)
        s->wq_tail->next = j;
    else
        s->wq_head = j;
    s->wq_tail = j;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* ---- snapshot payloads ---------------------------------------------------- */

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

/* Split a payload into configuration (conf->n = 0 for an old file) and state. */
static int snap_split(const void *p, size_t len, struct raft_conf *conf, const void **state,
                      size_t *slen)
{
    memset(conf, 0, sizeof(*conf));
    const uint8_t *b = p;
    if (len < 8 || memcmp(b, SNAP_MAGIC, 4) != 0) {
        *state = p;
        *slen = len;
        return 0;
    }
    uint32_t cl = cn_get_u32(b + 4);
    if (cl > len - 8 || raft_conf_decode(b + 8, cl, conf) != 0)
        return CN_ECORRUPT;
    *state = b + 8 + cl;
    *slen = len - 8 - cl;
    return 0;
}

/* ---- snapshots (loop side) ----------------------------------------------- */

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
    uv_close((uv_handle_t *)&s->child_poll, on_handle_closed);
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

/* A snapshot covers applied entries: its configuration is the one as of
 * the applied index, not the core's newest (possibly uncommitted) one. */
static void snap_conf(struct srv *s, struct raft_conf *c)
{
    *c = s->applied_conf;
}

/* Why fork: encoding 100k KV pairs (~33 MB) takes 30-80 ms (docs/benchmarks.md),
 * a stall if done on the loop, and the state is a mutable tree owned by the
 * loop. fork() gives the child a consistent copy-on-write view for the price
 * of copying page tables; this is how Redis's BGSAVE works. Consul gets the
 * same from go-memdb's immutable radix trees. */
static int snapshot_fork(struct srv *s)
{
    reap_child(s, true);
    struct cn_buf buf = CN_BUF_INIT;
    struct raft_conf c;
    snap_conf(s, &c);
    if (cn_buf_reserve(&buf, snap_estimate(s)) || snap_header(&buf, &c)) {
        cn_buf_free(&buf);
        return CN_ENOMEM;
    }
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

static int snapshot_in_process(struct srv *s)
{
    struct snap_job *job = cn_calloc(1, sizeof(*job));
    if (!job)
        return CN_ENOMEM;
    job->index = s->snap_index;
    job->term = s->snap_term;
    struct raft_conf c;
    snap_conf(s, &c);
    int rc = cn_buf_reserve(&job->data, snap_estimate(s));
    if (!rc)
        rc = snap_header(&job->data, &c);
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
    pthread_mutex_lock(&s->mu);
    s->snap_job = job;
    pthread_cond_signal(&s->snap_cond);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Consul's cadence (raft_snapshot_threshold and raft_snapshot_interval). */
static void maybe_snapshot(struct srv *s)
{
    reap_child(s, false);
    if (s->snap_phase != SNAP_IDLE || s->closing || s->poll_active || !s->raft || s->opening)
        return;
    if (s->applied - s->last_snap_index < s->snap_every)
        return;
    uint64_t now = uv_now(s->loop);
    if (s->snap_interval_ms && now - s->last_snap_start < s->snap_interval_ms)
        return;
    s->snap_phase = SNAP_WRITING;
    s->snap_index = s->applied;
    s->snap_term = s->applied_term;
    s->last_snap_start = now;
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

/* ---- transport helpers ------------------------------------------------------ */

static struct pinfo *dir_find(struct srv *s, uint64_t id)
{
    for (size_t i = 0; i < s->ndir; i++)
        if (s->dir[i].id == id)
            return &s->dir[i];
    return NULL;
}

static struct pinfo *dir_add(struct srv *s, uint64_t id)
{
    struct pinfo *p = dir_find(s, id);
    if (p || id == s->id || s->ndir == MAX_DIR)
        return p;
    p = &s->dir[s->ndir++];
    memset(p, 0, sizeof(*p));
    p->id = id;
    return p;
}

static void dial(struct srv *s, uint64_t id, const char *addr)
{
    if (!s->x || s->x_stopping || id == s->id || !addr || !*addr)
        return;
    struct pinfo *p = dir_add(s, id);
    if (p && p->dialed && !strcmp(p->addr, addr))
        return;
    if (p) {
        snprintf(p->addr, sizeof(p->addr), "%s", addr);
        p->dialed = true;
    }
    xport_set_peer(s->x, id, addr);
}

static void send_raw(struct srv *s, uint64_t to, uint8_t type, const void *p, size_t len)
{
    if (s->x && !s->x_stopping)
        xport_send(s->x, to, type, p, len);
}

static void send_encoded(struct srv *s, const struct omsg *m)
{
    if (!s->x || s->x_stopping)
        return;
    int rc = xport_send(s->x, m->to, XPORT_RAFT_MSG, m->data, m->len);
    if (rc && s->raft && m->snap)
        raft_report_snapshot(s->raft, m->to, false); /* probe again, not after a timeout */
    if (rc == CN_EAGAIN && s->raft && !xport_peer_up(s->x, m->to))
        raft_report_unreachable(s->raft, m->to);
}

static struct omsg *encode_msg(const struct raft_msg *m)
{
    size_t n = raft_msg_encoded_size(m);
    struct omsg *o = cn_malloc(sizeof(*o) + n);
    if (!o)
        return NULL;
    o->next = NULL;
    o->to = m->to;
    o->snap = m->type == RAFT_MSG_SNAPSHOT;
    if (raft_msg_encode(m, o->data, n, &o->len) != 0) {
        cn_free(o);
        return NULL;
    }
    return o;
}

/* ---- proposals and reads -------------------------------------------------- */

static void prop_finish(struct srv *s, struct prop *p, int rc, const struct state_result *res)
{
    LIST_DEL(&s->props, p);
    if (p->cb)
        p->cb(p->arg, rc, res);
    cn_free(p);
}

static void send_raw(struct srv *s, uint64_t to, uint8_t type, const void *p, size_t len);

static void read_finish(struct srv *s, struct rreq *r, int rc)
{
    LIST_DEL(&s->reads, r);
    if (r->phase == R_REMOTE && rc) {
        /* Tell the follower, which asks again (or the next leader). */
        struct cn_buf b = CN_BUF_INIT;
        if (!cn_enc_u8(&b, FW_READ) && !cn_enc_u64(&b, r->req_id) &&
            !cn_enc_u32(&b, (uint32_t)rc) && !cn_enc_u64(&b, 0))
            send_raw(s, r->from, XPORT_FORWARD_RESP, b.p, b.len);
        cn_buf_free(&b);
    }
    if (r->phase != R_REMOTE && r->cb)
        r->cb(r->arg, rc);
    cn_free(r);
}

/* Apply one committed entry and complete the local proposal at its index. */
static void apply_entry(struct srv *s, const struct raft_entry *e)
{
    struct state_result res;
    state_result_init(&res);
    int rc = 0;
    bool ran = false;
    if (e->type == RAFT_ENTRY_NORMAL && e->data.len) {
        rc = state_apply(s->state, e->index, e->data.base, e->data.len, &res);
        ran = true;
        if (rc == CN_ENOMEM) {
            /* A replica cannot skip a committed entry: stopping is the only
             * safe answer; the entry is durable and is applied after restart. */
            cn_error("server", "out of memory applying index %llu; exiting",
                     (unsigned long long)e->index);
            abort();
        }
    }
    s->applied = e->index;
    s->applied_term = e->term;
    if (e->type == RAFT_ENTRY_CONF) {
        struct raft_conf c;
        if (raft_conf_decode(e->data.base, e->data.len, &c) == 0)
            s->applied_conf = c;
    }
    for (struct prop *p = s->props.head, *nx; p; p = nx) {
        nx = p->next;
        if (p->phase != P_PENDING || p->index > e->index)
            continue;
        if (p->index == e->index && p->term == e->term && ran)
            prop_finish(s, p, rc, &res);
        else /* replaced by another leader's entry (or a snapshot) */
            prop_finish(s, p, CN_ECONFLICT, NULL);
    }
    state_result_free(&res);
}

static void reads_applied(struct srv *s)
{
    for (struct rreq *r = s->reads.head, *nx; r; r = nx) {
        nx = r->next;
        if (r->phase == R_APPLY && r->index <= s->applied)
            read_finish(s, r, 0);
    }
}

static void fw_send_propose(struct srv *s, struct prop *p)
{
    struct cn_buf b = CN_BUF_INIT;
    p->req_id = ++s->next_req;
    if (cn_enc_u8(&b, FW_PROPOSE) || cn_enc_u64(&b, p->req_id) ||
        cn_enc_bytes(&b, p->data, p->len)) {
        cn_buf_free(&b);
        return;
    }
    if (xport_send(s->x, s->leader, XPORT_FORWARD_REQ, b.p, b.len) == 0) {
        p->phase = P_FWD;
        p->deadline = uv_now(s->loop) + FWD_MS;
    }
    cn_buf_free(&b);
}

/* Try to move a held proposal forward: propose here, or forward. */
static void prop_dispatch(struct srv *s, struct prop *p)
{
    if (s->role == RAFT_LEADER) {
        uint64_t idx, term;
        int rc = raft_propose(s->raft, p->data, p->len, &idx, &term);
        if (rc == 0) {
            p->phase = P_PENDING;
            p->index = idx;
            p->term = term;
            p->deadline = uv_now(s->loop) + PENDING_MS;
            kick(s);
        }
        return;
    }
    if (s->leader != RAFT_NONE && s->x)
        fw_send_propose(s, p);
}

static void fw_send_read(struct srv *s, struct rreq *r)
{
    struct cn_buf b = CN_BUF_INIT;
    r->ctx = ++s->next_req;
    if (!cn_enc_u8(&b, FW_READ) && !cn_enc_u64(&b, r->ctx) &&
        !cn_enc_u8(&b, (uint8_t)r->mode) &&
        xport_send(s->x, s->leader, XPORT_FORWARD_REQ, b.p, b.len) == 0)
        r->phase = R_FWD;
    cn_buf_free(&b);
}

static bool read_now(struct srv *s, enum srv_read_mode mode)
{
    if (mode == SRV_READ_STALE)
        return true;
    if (s->role != RAFT_LEADER || mode == SRV_READ_CONSISTENT)
        return false;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    /* The lease says nobody else leads; the commit index is only complete
     * once an entry of this term (the no-op) committed: it is applied when
     * the last applied entry has the current term. */
    if (st.lease_valid)
        return s->applied_term == st.term && s->applied >= st.commit;
    /* A sole voter whose term's no-op is applied knows it is the leader. */
    size_t voters = 0;
    for (size_t i = 0; i < st.conf.n; i++)
        voters += st.conf.servers[i].role == RAFT_VOTER;
    return voters == 1 && st.last_term == st.term && s->applied >= st.last_index;
}

static void read_dispatch(struct srv *s, struct rreq *r)
{
    if (s->role == RAFT_LEADER) {
        r->ctx = ++s->next_ctx;
        if (raft_read_index(s->raft, r->ctx) == 0) {
            r->phase = R_RAFT;
            kick(s);
        }
        return;
    }
    if (s->leader != RAFT_NONE && s->x)
        fw_send_read(s, r);
}

static void dispatch_held(struct srv *s)
{
    for (struct prop *p = s->props.head, *nx; p; p = nx) {
        nx = p->next;
        if (p->phase == P_HELD)
            prop_dispatch(s, p);
    }
    for (struct rreq *r = s->reads.head, *nx; r; r = nx) {
        nx = r->next;
        if (r->phase == R_HELD)
            read_dispatch(s, r);
    }
}

static void expire(struct srv *s)
{
    uint64_t now = uv_now(s->loop);
    for (struct prop *p = s->props.head, *nx; p; p = nx) {
        nx = p->next;
        if (p->deadline > now)
            continue;
        /* Held: no leader within the hold time (Consul: "No cluster
         * leader"). Forwarded or pending: the outcome is unknown; Consul
         * says "leadership lost while committing log". */
        prop_finish(s, p, p->phase == P_HELD ? CN_EAGAIN : CN_ECONFLICT, NULL);
    }
    for (struct rreq *r = s->reads.head, *nx; r; r = nx) {
        nx = r->next;
        if (r->deadline <= now)
            read_finish(s, r, CN_EAGAIN);
    }
}

/* ---- the Raft update cycle ---------------------------------------------- */

static void sync_conf(struct srv *s, const struct raft_conf *c)
{
    if (!memcmp(c, &s->conf, sizeof(*c)))
        return;
    /* A server that left the configuration is not dialed any more. */
    for (size_t i = 0; i < s->conf.n; i++) {
        uint64_t id = s->conf.servers[i].id;
        if (id == s->id || raft_conf_find(c, id))
            continue;
        struct pinfo *p = dir_find(s, id);
        if (p)
            p->dialed = false;
        if (s->x && !s->x_stopping)
            xport_remove_peer(s->x, id);
    }
    s->conf = *c;
    for (size_t i = 0; i < c->n; i++) {
        if (c->servers[i].id == s->id)
            continue;
        dial(s, c->servers[i].id, c->servers[i].addr);
        struct pinfo *p = dir_find(s, c->servers[i].id);
        if (p)
            p->was_member = true;
    }
}

static void role_changed(struct srv *s, const struct raft_status *st)
{
    bool was_leader = s->role == RAFT_LEADER;
    if (st->state != s->role || st->leader != s->leader)
        cn_info("server", "raft: %s in term %llu, leader %llu",
                st->state == RAFT_LEADER      ? "leader"
                : st->state == RAFT_FOLLOWER  ? "follower"
                                              : "candidate",
                (unsigned long long)st->term, (unsigned long long)st->leader);
    bool new_leader = st->leader != s->leader;
    s->role = st->state;
    s->leader = st->leader;
    if (new_leader) {
        /* Consul answers "leadership lost" at once for what was in flight;
         * we give an entry two election timeouts to show up applied with
         * its term (then the answer is exact), else say the same. */
        uint64_t soon = uv_now(s->loop) + 2 * s->election_ticks * s->tick_ms;
        for (struct prop *p = s->props.head; p; p = p->next)
            if (p->phase == P_PENDING && p->deadline > soon)
                p->deadline = soon;
        /* A read index asked of the old leader: ask the new one. */
        for (struct rreq *r = s->reads.head; r; r = r->next)
            if (r->phase == R_FWD)
                r->phase = R_HELD;
    }
    if (was_leader && st->state != RAFT_LEADER) {
        /* Reads waiting for a quorum round of a term we lost: ask again. */
        for (struct rreq *r = s->reads.head, *nx; r; r = nx) {
            nx = r->next;
            if (r->phase == R_REMOTE)
                read_finish(s, r, CN_EAGAIN);
            else if (r->phase == R_RAFT)
                r->phase = R_HELD;
        }
    }
    if (st->leader != RAFT_NONE)
        dispatch_held(s);
}

static int restore_snapshot(struct srv *s, const struct raft_snapshot_meta *m, const void *data,
                            size_t len)
{
    struct raft_conf c;
    const void *sp;
    size_t sl;
    char err[256] = "";
    int rc = snap_split(data, len, &c, &sp, &sl);
    if (!rc)
        rc = state_snapshot_restore(s->state, sp, sl, err, sizeof(err));
    if (rc) {
        cn_error("server", "restoring snapshot at index %llu: %s", (unsigned long long)m->index,
                 err[0] ? err : cn_strerror(rc));
        return rc;
    }
    cn_info("server", "installed snapshot at index %llu from the leader (%zu bytes)",
            (unsigned long long)m->index, len);
    s->applied = m->index;
    s->applied_term = m->term;
    s->applied_conf = m->conf;
    s->last_snap_index = m->index;
    /* Everything may have changed: wake every blocking query. */
    srv__watches_fire_all(s->watches, m->index);
    for (struct prop *p = s->props.head, *nx; p; p = nx) {
        nx = p->next;
        if (p->phase == P_PENDING && p->index <= m->index)
            prop_finish(s, p, CN_ECONFLICT, NULL);
    }
    return 0;
}

static struct wjob *make_job(const struct raft_update *u, bool hs, const struct stor_hard_state *h)
{
    struct wjob *j = cn_calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    if (hs) {
        j->has_hs = true;
        j->hs = *h;
    }
    if (u->snapshot) {
        j->has_snap = true;
        j->snap_index = u->snapshot->index;
        j->snap_term = u->snapshot->term;
        j->snap_len = u->snapshot_data.len;
        j->snap_data = cn_malloc(j->snap_len ? j->snap_len : 1);
        if (!j->snap_data)
            goto oom;
        memcpy(j->snap_data, u->snapshot_data.base, j->snap_len);
        j->ack = true;
        j->ack_index = j->snap_index;
        j->ack_term = j->snap_term;
    }
    if (u->n_entries) {
        size_t total = 0;
        for (size_t i = 0; i < u->n_entries; i++)
            total += u->entries[i].data.len;
        j->ents = cn_malloc(u->n_entries * sizeof(*j->ents));
        j->blob = cn_malloc(total ? total : 1);
        if (!j->ents || !j->blob)
            goto oom;
        uint8_t *b = j->blob;
        for (size_t i = 0; i < u->n_entries; i++) {
            const struct raft_entry *e = &u->entries[i];
            j->ents[i].index = e->index;
            j->ents[i].term = e->term;
            j->ents[i].type = e->type == RAFT_ENTRY_CONF ? STOR_CONF : STOR_NORMAL;
            j->ents[i].data = b;
            j->ents[i].len = e->data.len;
            if (e->data.len)
                memcpy(b, e->data.base, e->data.len);
            b += e->data.len;
        }
        j->n = u->n_entries;
        j->ack = true;
        j->ack_index = u->entries[u->n_entries - 1].index;
        j->ack_term = u->entries[u->n_entries - 1].term;
    }
    return j;
oom:
    free_job(j);
    return NULL;
}

static void handle_update(struct srv *s, const struct raft_update *u)
{
    /* a. the durable part, as a job for the writer */
    bool hs = u->hs_changed && (u->hs.term != s->hs_disk.term || u->hs.vote != s->hs_disk.vote);
    struct stor_hard_state h = {.term = u->hs.term, .vote = u->hs.vote, .commit = u->hs.commit};
    struct wjob *job = NULL;
    if (!s->closing && (hs || u->snapshot || u->n_entries)) {
        job = make_job(u, hs, &h);
        if (!job) {
            /* Cannot persist: the node must not go on as if it had. */
            cn_error("server", "out of memory queuing a log write; exiting");
            abort();
        }
        if (hs)
            s->hs_disk = h;
    }
    /* b. apply (snapshot first) */
    if (u->snapshot && restore_snapshot(s, u->snapshot, u->snapshot_data.base,
                                        u->snapshot_data.len) != 0) {
        cn_error("server", "cannot install the leader's snapshot; exiting");
        abort();
    }
    for (size_t i = 0; i < u->n_committed; i++)
        apply_entry(s, &u->committed[i]);
    for (size_t i = 0; i < u->n_reads; i++) {
        for (struct rreq *r = s->reads.head; r; r = r->next) {
            if ((r->phase != R_RAFT && r->phase != R_REMOTE) || r->ctx != u->reads[i].ctx)
                continue;
            if (r->phase == R_REMOTE) {
                struct cn_buf b = CN_BUF_INIT;
                if (!cn_enc_u8(&b, FW_READ) && !cn_enc_u64(&b, r->req_id) &&
                    !cn_enc_u32(&b, 0) && !cn_enc_u64(&b, u->reads[i].index))
                    send_raw(s, r->from, XPORT_FORWARD_RESP, b.p, b.len);
                cn_buf_free(&b);
                read_finish(s, r, 0);
            } else {
                r->phase = R_APPLY;
                r->index = u->reads[i].index;
            }
            break;
        }
    }
    reads_applied(s);
    /* Pitfall #14/#15: the hard state is written before this update's
     * entries, so the commit it records must not name entries that are not
     * durable yet (after a crash, stale entries at those indexes would be
     * taken as committed). What is applied is durable here and committed. */
    if (job && job->has_hs) {
        job->hs.commit = u->hs.commit < s->applied ? u->hs.commit : s->applied;
        s->hs_disk.commit = job->hs.commit;
    }
    /* c. messages: a leader's at once; others after their write. A leader's
     * too while the term and vote it was elected with are not durable yet
     * (its election's job is still queued): revealing the term before the
     * vote is durable could let a restart vote again in it (pitfall #1). */
    struct wjob *hold = job ? job : s->jobs_tail;
    bool hs_pending = s->hs_jobs_out > 0 || (job && job->has_hs);
    bool now = (u->msgs_before_persist && !hs_pending) || !hold;
    for (size_t i = 0; i < u->n_msgs && !s->closing; i++) {
        const struct raft_msg *m = &u->msgs[i];
        struct omsg *o = encode_msg(m);
        if (!o)
            continue; /* lost, as on a network */
        if (now) {
            send_encoded(s, o);
            cn_free(o);
        } else {
            if (hold->msgs_tail)
                hold->msgs_tail->next = o;
            else
                hold->msgs = o;
            hold->msgs_tail = o;
        }
    }
    if (job)
        submit_job(s, job);
}

static void process_ready(struct srv *s)
{
    if (!s->raft)
        return;
    struct raft_update u;
    bool any = false;
    while (raft_ready(s->raft, &u)) {
        handle_update(s, &u);
        raft_done(s->raft, &u);
        any = true;
    }
    if (!any)
        return;
    srv__watches_flush(s->watches);
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (!s->closing) {
        sync_conf(s, &st.conf);
        if (st.state != s->role || st.leader != s->leader)
            role_changed(s, &st);
    }
    maybe_snapshot(s);
}

static void on_idle(uv_idle_t *h)
{
    struct srv *s = h->data;
    uv_idle_stop(h);
    s->idle_on = false;
    process_ready(s);
}

static void kick(struct srv *s)
{
    if (s->idle_on || s->closing)
        return;
    s->idle_on = true;
    uv_idle_start(&s->idle, on_idle);
}

static void on_async(uv_async_t *h)
{
    struct srv *s = h->data;
    pthread_mutex_lock(&s->mu);
    struct wjob *done = s->done_head;
    s->done_head = s->done_tail = NULL;
    int err = s->write_err;
    bool snap_done = s->snap_done;
    int snap_rc = s->snap_rc;
    char snap_err[sizeof(s->snap_err)];
    memcpy(snap_err, s->snap_err, sizeof(snap_err));
    void *bytes = s->snap_bytes;
    size_t blen = s->snap_bytes_len;
    s->snap_bytes = NULL;
    s->snap_done = false;
    pthread_mutex_unlock(&s->mu);

    while (done) {
        struct wjob *j = done;
        done = j->next;
        s->jobs_out--;
        if (j->has_hs)
            s->hs_jobs_out--;
        if (s->jobs_tail == j)
            s->jobs_tail = NULL;
        if (!j->rc) {
            if (j->ack && s->raft)
                raft_persisted(s->raft, j->ack_index, j->ack_term);
            for (struct omsg *m = j->msgs; m && !s->closing; m = m->next)
                send_encoded(s, m);
        }
        free_job(j);
    }
    if (snap_done) {
        s->snap_phase = SNAP_IDLE;
        if (snap_rc) {
            cn_error("server", "snapshot at index %llu failed: %s",
                     (unsigned long long)s->snap_index, snap_err);
        } else {
            s->last_snap_index = s->snap_index;
            cn_info("server", "snapshot at index %llu saved: %zu bytes in %llu ms (fork %llu us)",
                    (unsigned long long)s->snap_index, s->last_snap_len,
                    (unsigned long long)((uv_hrtime() - s->snap_t0) / 1000000),
                    (unsigned long long)s->snap_fork_us);
            if (s->raft) {
                struct raft_snapshot_meta m = {.index = s->snap_index, .term = s->snap_term};
                struct raft_conf c;
                const void *sp;
                size_t sl;
                if (bytes && snap_split(bytes, blen, &c, &sp, &sl) == 0) {
                    m.conf = c;
                    raft_set_snapshot(s->raft, &m, bytes, blen);
                }
                raft_compact(s->raft, s->snap_index, SNAP_KEEP);
            }
        }
    }
    cn_free(bytes);
    if (err) {
        /* The disk refused a write: nothing after it can be acknowledged. */
        for (struct prop *p = s->props.head, *nx; p; p = nx) {
            nx = p->next;
            prop_finish(s, p, CN_EIO, NULL);
        }
    }
    process_ready(s);
    if (!err)
        maybe_snapshot(s);
}

/* ---- forwarding protocol (FORWARD_REQ / FORWARD_RESP) ---------------------- */

/* Whether this server has Raft state (a log, a snapshot, or a term): such
 * a server neither joins a bootstrap nor is added automatically. */
static bool has_log(struct srv *s)
{
    if (s->had_log || s->bootstrapped)
        return true;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    return st.last_index > 0 || st.snap_index > 0;
}

static void send_info(struct srv *s, uint64_t to, bool want_reply)
{
    struct cn_buf b = CN_BUF_INIT;
    int rc = cn_enc_u8(&b, FW_INFO);
    rc = rc ? rc : cn_enc_u8(&b, want_reply);
    rc = rc ? rc : cn_enc_u64(&b, s->id);
    rc = rc ? rc : cn_enc_str(&b, s->node);
    rc = rc ? rc : cn_enc_str(&b, s->uuid);
    rc = rc ? rc : cn_enc_str(&b, s->self_addr);
    rc = rc ? rc : cn_enc_u8(&b, has_log(s));
    /* gossip: everything we know, so that servers given different join
     * lists still all learn each other */
    rc = rc ? rc : cn_enc_u32(&b, (uint32_t)s->ndir);
    for (size_t i = 0; i < s->ndir && !rc; i++) {
        const struct pinfo *p = &s->dir[i];
        rc = cn_enc_u64(&b, p->id);
        rc = rc ? rc : cn_enc_str(&b, p->node);
        rc = rc ? rc : cn_enc_str(&b, p->uuid);
        rc = rc ? rc : cn_enc_str(&b, p->addr);
        rc = rc ? rc : cn_enc_u8(&b, p->has_log);
    }
    if (!rc)
        send_raw(s, to, XPORT_FORWARD_REQ, b.p, b.len);
    cn_buf_free(&b);
}

static void dec_str(struct cn_dec *d, char *out, size_t cap)
{
    size_t n = 0;
    const uint8_t *p = cn_dec_bytes(d, &n);
    if (!p) {
        out[0] = '\0';
        return;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static int id_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct raft_server *)a)->id, y = ((const struct raft_server *)b)->id;
    return x < y ? -1 : x > y;
}

/* bootstrap_expect: once `expect` servers with empty logs (us included) know
 * each other and nobody has a log, write the configuration of all of them
 * (sorted by id, identical everywhere) as entry 1 of term 1. */
static void maybe_bootstrap(struct srv *s)
{
    if (s->bootstrapped || s->had_log || s->expect < 2 || !s->raft || s->closing)
        return;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (st.term != 0 || st.last_index != 0)
        return; /* a leader reached us first */
    struct raft_conf c;
    memset(&c, 0, sizeof(c));
    c.servers[c.n].id = s->id;
    snprintf(c.servers[c.n].addr, sizeof(c.servers[0].addr), "%s", s->self_addr);
    c.n++;
    for (size_t i = 0; i < s->ndir; i++) {
        if (s->dir[i].has_log)
            return;
        if (!s->dir[i].addr[0] || c.n == RAFT_MAX_SERVERS)
            continue;
        c.servers[c.n].id = s->dir[i].id;
        snprintf(c.servers[c.n].addr, sizeof(c.servers[0].addr), "%s", s->dir[i].addr);
        c.n++;
    }
    if ((int)c.n < s->expect)
        return;
    qsort(c.servers, c.n, sizeof(c.servers[0]), id_cmp);
    uint8_t buf[RAFT_MAX_SERVERS * 96 + 64];
    size_t len;
    if (raft_conf_encode(&c, buf, sizeof(buf), &len) != 0)
        return;
    struct raft_entry e = {.term = 1, .index = 1, .type = RAFT_ENTRY_CONF,
                           .data = {.base = buf, .len = len}};
    struct raft_restore rs = {.term = 1, .entries = &e, .n_entries = 1};
    struct raft_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.id = s->id;
    cfg.election_ticks = s->election_ticks;
    cfg.heartbeat_ticks = (unsigned)(s->election_ticks / 10 ? s->election_ticks / 10 : 1);
    cfg.rng_seed = s->id ^ uv_hrtime();
    cfg.pre_vote = cfg.check_quorum = cfg.lease_reads = true;
    cfg.max_msg_bytes = 1 << 20;
    cfg.max_inflight_msgs = 256;
    cfg.log = raft_log;
    struct raft *nr = raft_new(&cfg, &rs);
    if (!nr)
        return;
    /* Durable through the writer like any entry; the first vote of term 1
     * queues behind it. */
    struct wjob *j = cn_calloc(1, sizeof(*j));
    struct stor_entry *se = cn_malloc(sizeof(*se));
    void *blob = cn_malloc(len);
    if (!j || !se || !blob) {
        cn_free(j);
        cn_free(se);
        cn_free(blob);
        raft_free(nr);
        return;
    }
    memcpy(blob, buf, len);
    *se = (struct stor_entry){.index = 1, .term = 1, .type = STOR_CONF, .data = blob, .len = len};
    j->ents = se;
    j->n = 1;
    j->blob = blob;
    j->has_hs = true;
    j->hs = (struct stor_hard_state){.term = 1};
    s->hs_disk = j->hs;
    submit_job(s, j);
    raft_free(s->raft);
    s->raft = nr;
    s->bootstrapped = true;
    cn_info("server", "bootstrapping a cluster of %zu servers (expected %d)", c.n, s->expect);
    sync_conf(s, &c);
}

static void on_fw_req(struct srv *s, uint64_t from, const uint8_t *p, size_t len)
{
    struct cn_dec d;
    cn_dec_init(&d, p, len);
    uint8_t kind = cn_dec_u8(&d);
    if (kind == FW_INFO) {
        bool want = cn_dec_u8(&d);
        uint64_t id = cn_dec_u64(&d);
        char node[64], uuid[40], addr[64];
        dec_str(&d, node, sizeof(node));
        dec_str(&d, uuid, sizeof(uuid));
        dec_str(&d, addr, sizeof(addr));
        bool has_log = cn_dec_u8(&d);
        if (d.err || id != from)
            return;
        bool known = dir_find(s, id) != NULL;
        size_t before = s->ndir;
        struct pinfo *pi = dir_add(s, id);
        if (pi) {
            snprintf(pi->node, sizeof(pi->node), "%s", node);
            snprintf(pi->uuid, sizeof(pi->uuid), "%s", uuid);
            pi->has_log = has_log;
            dial(s, id, addr);
        }
        uint32_t n = cn_dec_u32(&d);
        for (uint32_t i = 0; i < n && !d.err; i++) {
            uint64_t gid = cn_dec_u64(&d);
            dec_str(&d, node, sizeof(node));
            dec_str(&d, uuid, sizeof(uuid));
            dec_str(&d, addr, sizeof(addr));
            bool hl = cn_dec_u8(&d);
            if (d.err || gid == s->id || gid == 0)
                continue;
            struct pinfo *g = dir_find(s, gid);
            if (!g && (g = dir_add(s, gid)) != NULL) {
                snprintf(g->node, sizeof(g->node), "%s", node);
                snprintf(g->uuid, sizeof(g->uuid), "%s", uuid);
                g->has_log = hl;
                dial(s, gid, addr);
            }
        }
        if (want)
            send_info(s, from, false);
        if (!known || s->ndir > before) {
            /* Tell everyone else about what we just learnt (gossip), so
             * that a server joined through any member reaches the leader. */
            for (size_t i = 0; i < s->ndir; i++)
                if (s->dir[i].id != from && xport_peer_up(s->x, s->dir[i].id))
                    send_info(s, s->dir[i].id, false);
        }
        maybe_bootstrap(s);
        return;
    }
    if (kind == FW_PROPOSE) {
        uint64_t req = cn_dec_u64(&d);
        size_t n = 0;
        const uint8_t *data = cn_dec_bytes(&d, &n);
        if (d.err || !data)
            return;
        uint64_t idx = 0, term = 0;
        int rc = s->role == RAFT_LEADER ? raft_propose(s->raft, data, n, &idx, &term) : CN_EAGAIN;
        if (!rc)
            kick(s);
        struct cn_buf b = CN_BUF_INIT;
        if (!cn_enc_u8(&b, FW_PROPOSE) && !cn_enc_u64(&b, req) && !cn_enc_u32(&b, (uint32_t)rc) &&
            !cn_enc_u64(&b, idx) && !cn_enc_u64(&b, term))
            send_raw(s, from, XPORT_FORWARD_RESP, b.p, b.len);
        cn_buf_free(&b);
        return;
    }
    if (kind == FW_OP) {
        uint64_t req = cn_dec_u64(&d);
        uint8_t ok = cn_dec_u8(&d);
        uint64_t id = cn_dec_u64(&d);
        char addr[64];
        dec_str(&d, addr, sizeof(addr));
        if (d.err || (ok != OP_REMOVE && ok != OP_TRANSFER))
            return;
        if (op_new(s, ok, id, addr, NULL, NULL, from, req) != 0) {
            struct cn_buf b = CN_BUF_INIT;
            if (!cn_enc_u8(&b, FW_OP) && !cn_enc_u64(&b, req) &&
                !cn_enc_u32(&b, (uint32_t)CN_ENOMEM) && !cn_enc_u64(&b, 0) &&
                !cn_enc_str(&b, "out of memory"))
                send_raw(s, from, XPORT_FORWARD_RESP, b.p, b.len);
            cn_buf_free(&b);
        }
        return;
    }
    if (kind == FW_READ) {
        uint64_t req = cn_dec_u64(&d);
        uint8_t mode = cn_dec_u8(&d);
        if (d.err)
            return;
        struct rreq *r = cn_calloc(1, sizeof(*r));
        int rc = r ? 0 : CN_ENOMEM;
        if (r) {
            r->phase = R_REMOTE;
            r->mode = mode == SRV_READ_CONSISTENT ? SRV_READ_CONSISTENT : SRV_READ_DEFAULT;
            r->from = from;
            r->req_id = req;
            r->ctx = ++s->next_ctx;
            r->deadline = uv_now(s->loop) + FWD_MS;
            rc = s->role == RAFT_LEADER ? raft_read_index(s->raft, r->ctx) : CN_EAGAIN;
            if (rc)
                cn_free(r);
            else {
                LIST_PUSH(&s->reads, r);
                kick(s);
            }
        }
        if (rc) {
            struct cn_buf b = CN_BUF_INIT;
            if (!cn_enc_u8(&b, FW_READ) && !cn_enc_u64(&b, req) && !cn_enc_u32(&b, (uint32_t)rc) &&
                !cn_enc_u64(&b, 0))
                send_raw(s, from, XPORT_FORWARD_RESP, b.p, b.len);
            cn_buf_free(&b);
        }
    }
}

static void on_fw_resp(struct srv *s, const uint8_t *p, size_t len)
{
    struct cn_dec d;
    cn_dec_init(&d, p, len);
    uint8_t kind = cn_dec_u8(&d);
    uint64_t req = cn_dec_u64(&d);
    int rc = (int)(int32_t)cn_dec_u32(&d);
    uint64_t idx = cn_dec_u64(&d);
    if (d.err)
        return;
    if (kind == FW_PROPOSE) {
        uint64_t term = cn_dec_u64(&d);
        if (d.err)
            return;
        for (struct prop *pr = s->props.head; pr; pr = pr->next) {
            if (pr->phase != P_FWD || pr->req_id != req)
                continue;
            if (rc) {
                pr->phase = P_HELD; /* the leader moved on: retry until the hold ends */
                return;
            }
            if (idx <= s->applied) {
                /* Applied here before the answer came (possible only when
                 * the transport switched connections): the result is gone. */
                prop_finish(s, pr, CN_ECONFLICT, NULL);
                return;
            }
            pr->phase = P_PENDING;
            pr->index = idx;
            pr->term = term;
            pr->deadline = uv_now(s->loop) + PENDING_MS;
            return;
        }
    } else if (kind == FW_OP) {
        char msg[256];
        dec_str(&d, msg, sizeof(msg));
        if (d.err)
            return;
        for (struct op *o = s->ops.head; o; o = o->next) {
            if (!o->fwd || o->from || o->req_id != req)
                continue;
            if (rc == CN_EAGAIN) {
                o->fwd = false; /* the leader moved on: retried on the next tick */
                return;
            }
            op_finish(s, o, rc, msg[0] ? msg : NULL);
            return;
        }
    } else if (kind == FW_READ) {
        for (struct rreq *r = s->reads.head; r; r = r->next) {
            if (r->phase != R_FWD || r->ctx != req)
                continue;
            if (rc) {
                r->phase = R_HELD;
            } else {
                r->phase = R_APPLY;
                r->index = idx;
                if (idx <= s->applied)
                    read_finish(s, r, 0);
            }
            return;
        }
    }
}

static void on_frame(void *arg, uint64_t from, uint8_t type, const void *payload, size_t len)
{
    struct srv *s = arg;
    if (s->closing)
        return;
    if (type == XPORT_RAFT_MSG) {
        struct raft_msg m;
        void *owned = NULL;
        if (raft_msg_decode(payload, len, &m, &owned) != 0)
            return;
        if (m.from == from && s->raft)
            raft_step(s->raft, &m);
        cn_free(owned);
        kick(s);
    } else if (type == XPORT_FORWARD_REQ) {
        on_fw_req(s, from, payload, len);
    } else if (type == XPORT_FORWARD_RESP) {
        on_fw_resp(s, payload, len);
    }
}

static void on_peer_state(void *arg, uint64_t id, bool up)
{
    struct srv *s = arg;
    if (s->closing)
        return;
    if (up) {
        send_info(s, id, true);
    } else if (s->raft) {
        raft_report_unreachable(s->raft, id);
    }
}

/* ---- discovery probes (-retry-join, srv_join) ------------------------------------ */

static void probe_report(struct probe *p, int rc, const char *msg)
{
    if (p->cb) {
        srv_op_cb cb = p->cb;
        p->cb = NULL;
        cb(p->arg, rc, msg);
    }
}

static void probe_closed(uv_handle_t *h)
{
    struct probe *p = h->data;
    struct srv *s = p->s;
    p->busy = false;
    if (p->once && !p->id && !s->closing && p->tries > 0) {
        /* A server that is still starting refuses for a moment. */
        p->tries--;
        p->next_ms = uv_now(s->loop) + 300;
    } else if (p->once || s->closing) {
        char msg[160];
        snprintf(msg, sizeof(msg), "dial tcp %s: no cairn server answered", p->addr);
        probe_report(p, p->id ? 0 : CN_EIO, p->id ? NULL : msg);
        if (!s->closing) {
            for (struct probe **pp = &s->probes; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                    *pp = p->next;
                    break;
                }
            cn_free(p);
        }
    }
    if (--s->handles == 0 && s->closing)
        free_srv(s);
}

static void probe_end(struct probe *p)
{
    if (!uv_is_closing((uv_handle_t *)&p->tcp))
        uv_close((uv_handle_t *)&p->tcp, probe_closed);
}

static void probe_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)sz;
    struct probe *p = h->data;
    b->base = (char *)p->in + p->in_len;
    b->len = sizeof(p->in) - p->in_len;
}

static void probe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct probe *p = st->data;
    if (n < 0 || p->s->closing) {
        probe_end(p);
        return;
    }
    p->in_len += (size_t)n;
    struct xport_hello h;
    size_t used;
    int rc = xport_hello_decode(p->in, p->in_len, &h, &used, NULL, 0);
    if (rc == CN_EAGAIN && p->in_len < sizeof(p->in))
        return;
    if (rc == 0 && h.node_id) {
        p->id = h.node_id;
        if (h.node_id != p->s->id)
            dial(p->s, h.node_id, p->addr);
    }
    probe_end(p);
}

static void probe_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

static void probe_connected(uv_connect_t *c, int status)
{
    struct probe *p = c->data;
    if (status < 0 || p->s->closing) {
        probe_end(p);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)p->hello, (unsigned)p->hello_len);
    uv_write(&p->wr, (uv_stream_t *)&p->tcp, &b, 1, probe_written);
    uv_read_start((uv_stream_t *)&p->tcp, probe_alloc, probe_read);
}

static int parse_addr(const char *addr, struct sockaddr_storage *sa)
{
    char host[64];
    snprintf(host, sizeof(host), "%s", addr);
    char *colon = strrchr(host, ':');
    if (!colon)
        return CN_EINVAL;
    *colon = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port <= 0 || port > 65535)
        return CN_EINVAL;
    const char *h = host;
    if (h[0] == '[') {
        h++;
        char *e = strchr(host, ']');
        if (e)
            *e = '\0';
    }
    if (uv_ip4_addr(h, (int)port, (struct sockaddr_in *)sa) &&
        uv_ip6_addr(h, (int)port, (struct sockaddr_in6 *)sa))
        return CN_EINVAL;
    return 0;
}

/* 0 when started (probe_closed runs later), else an error and nothing runs. */
static int probe_start(struct srv *s, struct probe *p)
{
    struct sockaddr_storage sa;
    if (parse_addr(p->addr, &sa))
        return CN_EINVAL;
    struct xport_hello hello = {.version = XPORT_VERSION, .node_id = s->id};
    snprintf(hello.cluster, sizeof(hello.cluster), "%s", s->cluster);
    if (xport_hello_encode(&hello, p->hello, sizeof(p->hello), &p->hello_len))
        return CN_EINVAL;
    p->in_len = 0;
    if (uv_tcp_init(s->loop, &p->tcp))
        return CN_EIO;
    p->tcp.data = p;
    p->conn.data = p;
    p->busy = true;
    s->handles++;
    if (uv_tcp_connect(&p->conn, &p->tcp, (struct sockaddr *)&sa, probe_connected))
        probe_end(p);
    return 0;
}

static struct probe *probe_new(struct srv *s, const char *addr)
{
    struct probe *p = cn_calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->s = s;
    snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->next = s->probes;
    s->probes = p;
    return p;
}

static void run_probes(struct srv *s)
{
    uint64_t now = uv_now(s->loop);
    for (struct probe *p = s->probes; p; p = p->next) {
        if (p->id || p->busy || p->next_ms > now || (p->once && p->cb == NULL))
            continue;
        p->next_ms = now + 1000;
        probe_start(s, p);
    }
}

/* ---- operations ---------------------------------------------------------------------- */

static void op_finish(struct srv *s, struct op *o, int rc, const char *msg)
{
    LIST_DEL(&s->ops, o);
    if (o->from) {
        struct cn_buf b = CN_BUF_INIT;
        if (!cn_enc_u8(&b, FW_OP) && !cn_enc_u64(&b, o->req_id) &&
            !cn_enc_u32(&b, (uint32_t)rc) && !cn_enc_u64(&b, 0) && !cn_enc_str(&b, msg))
            send_raw(s, o->from, XPORT_FORWARD_RESP, b.p, b.len);
        cn_buf_free(&b);
    } else if (o->cb) {
        o->cb(o->arg, rc, msg);
    }
    cn_free(o);
}

/* Run (or retry) an operation; on a follower, forward it to the leader. */
static void op_dispatch(struct srv *s, struct op *o)
{
    if (o->fwd || o->proposed)
        return;
    if (s->role != RAFT_LEADER) {
        if (o->from) {
            op_finish(s, o, CN_EAGAIN, "leadership moved; retry");
            return;
        }
        if (s->leader == RAFT_NONE || !s->x)
            return; /* held until a leader is known */
        struct cn_buf b = CN_BUF_INIT;
        o->req_id = ++s->next_req;
        if (!cn_enc_u8(&b, FW_OP) && !cn_enc_u64(&b, o->req_id) && !cn_enc_u8(&b, o->kind) &&
            !cn_enc_u64(&b, o->id) && !cn_enc_str(&b, o->addr) &&
            xport_send(s->x, s->leader, XPORT_FORWARD_REQ, b.p, b.len) == 0)
            o->fwd = true;
        cn_buf_free(&b);
        return;
    }
    if (o->kind == OP_TRANSFER) {
        int rc = raft_transfer_leader(s->raft, o->id);
        kick(s);
        op_finish(s, o, rc, rc == CN_EINVAL ? "no such voter" : rc ? "cannot transfer now" : NULL);
        return;
    }
    struct raft_status st;
    raft_get_status(s->raft, &st);
    uint64_t target = 0;
    for (size_t i = 0; i < st.conf.n; i++)
        if ((o->id && st.conf.servers[i].id == o->id) ||
            (!o->id && o->addr[0] && !strcmp(st.conf.servers[i].addr, o->addr)))
            target = st.conf.servers[i].id;
    if (!target) {
        char msg[160];
        if (o->id)
            snprintf(msg, sizeof(msg), "id %016llx was not found in the Raft configuration",
                     (unsigned long long)o->id);
        else
            snprintf(msg, sizeof(msg), "address \"%s\" was not found in the Raft configuration",
                     o->addr);
        op_finish(s, o, CN_ENOTFOUND, msg);
        return;
    }
    uint64_t idx;
    int rc = raft_propose_conf(s->raft, RAFT_CC_REMOVE, target, NULL, &idx);
    if (rc == CN_EAGAIN)
        return; /* another change in flight: retried on the next tick */
    if (rc) {
        op_finish(s, o, rc, "cannot change the configuration");
        return;
    }
    o->proposed = true;
    o->index = idx;
    kick(s);
}

static int op_new(struct srv *s, int kind, uint64_t id, const char *addr, srv_op_cb cb,
                  void *arg, uint64_t from, uint64_t req_id)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    struct op *o = cn_calloc(1, sizeof(*o));
    if (!o)
        return CN_ENOMEM;
    o->kind = (enum op_kind)kind;
    o->id = id;
    snprintf(o->addr, sizeof(o->addr), "%s", addr ? addr : "");
    o->cb = cb;
    o->arg = arg;
    o->from = from;
    o->req_id = req_id;
    o->deadline = uv_now(s->loop) + s->hold_ms + FWD_MS;
    LIST_PUSH(&s->ops, o);
    op_dispatch(s, o);
    return 0;
}

static void ops_tick(struct srv *s)
{
    uint64_t now = uv_now(s->loop);
    for (struct op *o = s->ops.head, *nx; o; o = nx) {
        nx = o->next;
        if (o->proposed && s->applied >= o->index)
            op_finish(s, o, 0, NULL);
        else if (o->deadline <= now)
            op_finish(s, o, CN_EAGAIN, o->fwd || o->proposed ? "timed out" : "No cluster leader");
        else
            op_dispatch(s, o);
    }
}

/* Consul's leader adds the servers it learns of (serf members) to the Raft
 * configuration, as non-voters until they caught up (autopilot). Here a
 * server is added when it reached us (or a peer that gossiped it) with an
 * empty log and was never a member: a removed server that still runs keeps
 * its log and is not taken back. One change at a time. */
static void autojoin(struct srv *s)
{
    if (s->role != RAFT_LEADER)
        return;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (st.commit < st.last_index)
        return; /* let the previous change (or the term's no-op) commit first */
    uint64_t idx;
    struct raft_progress pr[RAFT_MAX_SERVERS];
    size_t npr = raft_get_progress(s->raft, pr, RAFT_MAX_SERVERS);
    for (size_t i = 0; i < st.conf.n; i++) {
        if (st.conf.servers[i].role != RAFT_LEARNER)
            continue;
        for (size_t k = 0; k < npr; k++)
            if (pr[k].id == st.conf.servers[i].id && pr[k].match >= st.commit) {
                if (raft_propose_conf(s->raft, RAFT_CC_PROMOTE, pr[k].id, NULL, &idx) == 0) {
                    cn_info("server", "promoting server %016llx to voter",
                            (unsigned long long)pr[k].id);
                    kick(s);
                }
                return;
            }
    }
    if (st.conf.n >= RAFT_MAX_SERVERS)
        return;
    for (size_t i = 0; i < s->ndir; i++) {
        struct pinfo *p = &s->dir[i];
        if (p->was_member || p->has_log || !p->addr[0] || !xport_peer_up(s->x, p->id) ||
            raft_conf_find(&st.conf, p->id))
            continue;
        if (raft_propose_conf(s->raft, RAFT_CC_ADD_LEARNER, p->id, p->addr, &idx) == 0) {
            cn_info("server", "adding server %016llx (%s, %s) as a non-voter",
                    (unsigned long long)p->id, p->node, p->addr);
            kick(s);
        }
        return;
    }
}

/* ---- tick ------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    struct srv *s = t->data;
    if (s->closing || !s->raft)
        return;
    raft_tick(s->raft);
    process_ready(s);
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (st.state != s->role || st.leader != s->leader)
        role_changed(s, &st);
    if (s->leader != RAFT_NONE)
        dispatch_held(s);
    expire(s);
    ops_tick(s);
    if (s->probes)
        run_probes(s);
    maybe_bootstrap(s);
    if (s->x)
        autojoin(s);
}

/* ---- open / close ------------------------------------------------------------------ */

static int load_id(const char *data_dir, uint64_t *id, char *err, size_t errcap)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/raft-id", data_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        unsigned long long v = 0;
        int n = fscanf(f, "%llx", &v);
        fclose(f);
        if (n != 1 || v == 0) {
            snprintf(err, errcap, "%s: not a raft server id", path);
            return CN_ECORRUPT;
        }
        *id = v;
        return 0;
    }
    /* Random and never reused: a server that lost its data dir comes back as
     * a new member, never as an old one with a forgotten vote. */
    uint64_t v = 0;
    while (v == 0)
        if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
            snprintf(err, errcap, "getrandom: %s", strerror(errno));
            return CN_EIO;
        }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%016llx\n", (unsigned long long)v) < 0 || fflush(f) ||
        fsync(fileno(f))) {
        snprintf(err, errcap, "%s: %s", tmp, strerror(errno));
        if (f)
            fclose(f);
        return CN_EIO;
    }
    fclose(f);
    if (rename(tmp, path)) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return CN_EIO;
    }
    *id = v;
    return 0;
}

struct rec {
    struct raft_entry *e;
    size_t n, cap;
    struct cn_buf blob;
};

static int rec_entry(void *arg, const struct stor_entry *e)
{
    struct rec *r = arg;
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 256;
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
    /* offsets for now: the blob may move while growing */
    x->data.base = (void *)(uintptr_t)r->blob.len;
    x->data.len = e->len;
    return e->len ? cn_buf_append(&r->blob, e->data, e->len) : 0;
}

static int fail_open(struct srv *s, int rc)
{
    srv_close(s);
    return rc;
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
    /* 10 ms ticks give the election timer 50 distinct values in [500 ms, 1 s):
     * with coarser ticks two survivors often time out on the same tick and
     * split the vote (a 1.7 s failover seen at 50 ms ticks). */
    s->tick_ms = opt->tick_ms ? opt->tick_ms : 10;
    s->hold_ms = opt->hold_ms ? opt->hold_ms : 7000;
    uint64_t election_ms = opt->election_ms ? opt->election_ms : 500;
    uint64_t hb_ms = opt->heartbeat_ms ? opt->heartbeat_ms : election_ms / 10;
    s->election_ticks = (unsigned)(election_ms / s->tick_ms);
    if (s->election_ticks < 3)
        s->election_ticks = 3;
    unsigned hb_ticks = (unsigned)(hb_ms / s->tick_ms);
    if (hb_ticks < 1)
        hb_ticks = 1;
    if (hb_ticks >= s->election_ticks)
        hb_ticks = s->election_ticks - 1;
    s->expect = opt->bootstrap_expect;
    snprintf(s->node, sizeof(s->node), "%s", opt->node_name ? opt->node_name : "");
    snprintf(s->uuid, sizeof(s->uuid), "%s", opt->node_uuid ? opt->node_uuid : "");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_cond_init(&s->snap_cond, NULL);
    s->state = state_new();
    s->watches = srv__watches_new();
    if (!s->state || !s->watches) {
        snprintf(err, errcap, "out of memory");
        return fail_open(s, CN_ENOMEM);
    }
    mkdir(opt->data_dir, 0700);
    int rc = 0;
    if (opt->node_id)
        s->id = opt->node_id;
    else if ((rc = load_id(opt->data_dir, &s->id, err, errcap)))
        return fail_open(s, rc);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/raft", opt->data_dir);
    struct stor_options so = {.segment_bytes = 0, .log = log_cb, .log_arg = s};
    char serr[512] = "";
    rc = stor_open(dir, &so, &s->st, serr, sizeof(serr));
    if (rc) {
        snprintf(err, errcap, "%s: %s", dir, serr[0] ? serr : cn_strerror(rc));
        return fail_open(s, rc);
    }
    struct stor_info info;
    stor_get_info(s->st, &info);
    bool empty = info.snap_index == 0 && info.last_index < info.first_index;
    s->had_log = !empty;
    /* Bootstrap alone: -bootstrap, -bootstrap-expect=1, or no server port
     * and nothing to join (-dev, tests: the zero options). */
    bool alone = opt->bootstrap || opt->bootstrap_expect == 1 ||
                 ((!opt->bind_addr || !*opt->bind_addr) && opt->bootstrap_expect < 2 &&
                  opt->njoin == 0);
    if (opt->bind_addr && *opt->bind_addr) {
        const char *adv = opt->advertise_addr && *opt->advertise_addr ? opt->advertise_addr
                                                                      : opt->bind_addr;
        /* The port is known once the transport listens (below). */
        snprintf(s->self_addr, sizeof(s->self_addr), "%s", adv);
    }

    /* Start the transport first: the address we advertise needs its port. */
    if (opt->bind_addr && *opt->bind_addr) {
        const char *cid = opt->cluster_id && *opt->cluster_id ? opt->cluster_id : "dc1";
        snprintf(s->cluster, sizeof(s->cluster), "%s", cid);
        struct xport_options xo = {.host = opt->bind_addr, .port = opt->server_port,
                                   .cluster_id = cid, .node_id = s->id,
                                   .on_frame = on_frame, .on_peer_state = on_peer_state,
                                   .arg = s,
                                   /* A snapshot travels as one message, in 1 MiB
                                    * chunks: 1 GiB covers millions of KV pairs. The
                                    * receiver grows its buffer only as bytes arrive. */
                                   .max_msg = (size_t)1 << 30};
        char xerr[256] = "";
        rc = xport_start(loop, &xo, &s->x, xerr, sizeof(xerr));
        if (rc) {
            snprintf(err, errcap, "server RPC: %s", xerr[0] ? xerr : cn_strerror(rc));
            return fail_open(s, rc);
        }
        char host[64];
        snprintf(host, sizeof(host), "%s", s->self_addr);
        if (strchr(host, ':'))
            snprintf(s->self_addr, sizeof(s->self_addr), "[%s]:%d", host, xport_port(s->x));
        else
            snprintf(s->self_addr, sizeof(s->self_addr), "%s:%d", host, xport_port(s->x));
    }

    /* A single server bootstraps itself: entry 1 is its configuration. */
    struct raft_conf self_conf;
    memset(&self_conf, 0, sizeof(self_conf));
    self_conf.n = 1;
    self_conf.servers[0].id = s->id;
    snprintf(self_conf.servers[0].addr, sizeof(self_conf.servers[0].addr), "%s", s->self_addr);
    if (empty && alone) {
        uint8_t buf[256];
        size_t len;
        raft_conf_encode(&self_conf, buf, sizeof(buf), &len);
        struct stor_entry e = {.index = 1, .term = 1, .type = STOR_CONF, .data = buf, .len = len};
        struct stor_hard_state hs = {.term = 1};
        if ((rc = stor_set_hard_state(s->st, &hs)) || (rc = stor_append(s->st, &e, 1)) ||
            (rc = stor_sync(s->st))) {
            snprintf(err, errcap, "%s: bootstrapping: %s", dir, cn_strerror(rc));
            return fail_open(s, rc);
        }
        stor_get_info(s->st, &info);
        s->bootstrapped = true;
    }

    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    if (info.snap_index) {
        uint64_t si, stt;
        void *data;
        size_t len;
        rc = stor_snapshot_load(s->st, &si, &stt, &data, &len);
        if (rc) {
            snprintf(err, errcap, "%s: loading snapshot: %s", dir, cn_strerror(rc));
            return fail_open(s, rc);
        }
        struct raft_conf c;
        const void *sp;
        size_t sl;
        char rerr[256] = "";
        rc = snap_split(data, len, &c, &sp, &sl);
        if (!rc)
            rc = state_snapshot_restore(s->state, sp, sl, rerr, sizeof(rerr));
        if (rc) {
            cn_free(data);
            snprintf(err, errcap, "%s: snapshot at index %llu: %s", dir, (unsigned long long)si,
                     rerr[0] ? rerr : cn_strerror(rc));
            return fail_open(s, rc);
        }
        s->applied = si;
        s->applied_term = stt;
        s->last_snap_index = si;
        rs.snap.index = si;
        rs.snap.term = stt;
        rs.snap.conf = c;
        s->bootstrapped = true;
        /* kept for raft_set_snapshot below */
        s->snap_bytes = data;
        s->snap_bytes_len = len;
    }
    struct rec rec = {0};
    rec.blob = (struct cn_buf)CN_BUF_INIT;
    if (info.last_index > s->applied && info.last_index >= info.first_index) {
        uint64_t lo = s->applied + 1;
        if (lo < info.first_index) {
            snprintf(err, errcap, "%s: log starts at %llu but state is at %llu: entries missing",
                     dir, (unsigned long long)info.first_index, (unsigned long long)s->applied);
            return fail_open(s, CN_ECORRUPT);
        }
        rc = stor_read(s->st, lo, info.last_index, rec_entry, &rec);
        if (rc) {
            cn_free(rec.e);
            cn_buf_free(&rec.blob);
            snprintf(err, errcap, "%s: reading log: %s", dir, cn_strerror(rc));
            return fail_open(s, rc);
        }
        for (size_t i = 0; i < rec.n; i++) {
            rec.e[i].data.base = rec.blob.p + (uintptr_t)rec.e[i].data.base;
            if (rec.e[i].type == RAFT_ENTRY_CONF)
                s->bootstrapped = true;
        }
    }
    uint64_t last_term = rec.n ? rec.e[rec.n - 1].term : info.snap_term;
    rs.term = info.hs.term;
    rs.vote = info.hs.vote;
    if (last_term > rs.term) { /* never written by this version; be lenient */
        rs.term = last_term;
        rs.vote = 0;
    }
    rs.commit = info.hs.commit;
    rs.entries = rec.e;
    rs.n_entries = rec.n;
    /* Logs written before Raft carry no configuration: a single server. */
    if (!s->bootstrapped && alone && !empty)
        rs.conf = self_conf;
    if (!s->bootstrapped && alone && !empty)
        s->bootstrapped = true;
    s->hs_disk = (struct stor_hard_state){.term = rs.term, .vote = rs.vote, .commit = rs.commit};
    s->applied_conf = rs.snap.index && rs.snap.conf.n ? rs.snap.conf : rs.conf;

    struct raft_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.id = s->id;
    cfg.election_ticks = s->election_ticks;
    cfg.heartbeat_ticks = hb_ticks;
    cfg.rng_seed = s->id ^ uv_hrtime();
    cfg.pre_vote = true;
    cfg.check_quorum = true;
    cfg.lease_reads = true;
    cfg.max_msg_bytes = 1 << 20;
    cfg.max_inflight_msgs = 256;
    cfg.log = raft_log;
    s->raft = raft_new(&cfg, &rs);
    cn_free(rec.e);
    cn_buf_free(&rec.blob);
    if (!s->raft) {
        snprintf(err, errcap, "%s: the recovered log is inconsistent", dir);
        return fail_open(s, CN_ECORRUPT);
    }
    if (s->snap_bytes) {
        raft_set_snapshot(s->raft, &rs.snap, s->snap_bytes, s->snap_bytes_len);
        cn_free(s->snap_bytes);
        s->snap_bytes = NULL;
    }
    /* A sole voter need not wait an election timeout to learn it is alone:
     * time is ticks, so run them now. */
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (st.conf.n == 1 && st.conf.servers[0].id == s->id &&
        st.conf.servers[0].role == RAFT_VOTER) {
        for (unsigned i = 0; i < 4 * s->election_ticks && st.state != RAFT_LEADER; i++) {
            raft_tick(s->raft);
            raft_get_status(s->raft, &st);
        }
    }
    s->role = RAFT_FOLLOWER;

    for (size_t i = 0; i < opt->njoin; i++) {
        if (!opt->join[i] || !strcmp(opt->join[i], s->self_addr))
            continue; /* ourselves: a join list shared by every server */
        if (!s->x)
            break;
        if (!probe_new(s, opt->join[i])) {
            snprintf(err, errcap, "out of memory");
            return fail_open(s, CN_ENOMEM);
        }
    }

    state_set_change_cb(s->state, on_change, s);
    if (uv_async_init(loop, &s->async, on_async)) {
        snprintf(err, errcap, "uv_async_init failed");
        return fail_open(s, CN_EIO);
    }
    s->async.data = s;
    s->async_init = true;
    s->handles++;
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    s->handles++;
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    s->handles++;
    uv_timer_start(&s->tick, on_tick, s->tick_ms, s->tick_ms);
    uv_unref((uv_handle_t *)&s->tick);
    s->timer_init = true;
    s->last_snap_start = uv_now(loop);
    uv_timer_init(loop, &s->snap_timer);
    s->snap_timer.data = s;
    s->handles++;
    if (s->snap_interval_ms) {
        uv_timer_start(&s->snap_timer, on_snap_timer, s->snap_interval_ms, s->snap_interval_ms);
        uv_unref((uv_handle_t *)&s->snap_timer);
    }
    if (pthread_create(&s->writer, NULL, writer_main, s)) {
        snprintf(err, errcap, "cannot start the log writer thread");
        return fail_open(s, CN_EIO);
    }
    s->writer_started = true;
    if (pthread_create(&s->snapper, NULL, snapper_main, s)) {
        snprintf(err, errcap, "cannot start the snapshot thread");
        return fail_open(s, CN_EIO);
    }
    s->snapper_started = true;
    /* Apply what the restored commit covers, persist the election. */
    s->opening = true;
    process_ready(s);
    if (st.state == RAFT_LEADER && st.conf.n == 1) {
        /* A sole voter commits its whole log with its first write (the
         * election and the no-op): wait for it, so that the state is
         * complete when srv_open returns, as it was before Raft (the agent
         * rebuilds its registrations from it at once). A few fsyncs. */
        for (int i = 0; i < 10000 && s->jobs_out && !s->write_err; i++) {
            pthread_mutex_lock(&s->mu);
            bool done = s->done_head != NULL;
            pthread_mutex_unlock(&s->mu);
            if (done)
                on_async(&s->async);
            else
                usleep(1000);
        }
    }
    s->opening = false;
    raft_get_status(s->raft, &st);
    if (st.state != s->role || st.leader != s->leader)
        role_changed(s, &st);
    cn_info("server", "raft id %016llx; recovered state at index %llu (snapshot %llu, log "
            "%llu..%llu)%s",
            (unsigned long long)s->id, (unsigned long long)s->applied,
            (unsigned long long)info.snap_index, (unsigned long long)info.first_index,
            (unsigned long long)info.last_index,
            s->bootstrapped ? "" : "; waiting for servers to bootstrap or a leader");
    if (s->probes)
        run_probes(s);
    *out = s;
    return 0;
}

static void free_srv(struct srv *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->snap_cond);
    while (s->probes) {
        struct probe *p = s->probes;
        s->probes = p->next;
        cn_free(p);
    }
    cn_free(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct srv *s = h->data;
    if (--s->handles == 0 && s->closing)
        free_srv(s);
}

static void on_xport_stopped(void *arg)
{
    struct srv *s = arg;
    if (--s->handles == 0 && s->closing)
        free_srv(s);
}

void srv_close(struct srv *s)
{
    if (!s)
        return;
    s->closing = true;
    if (s->child) {
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
    /* Remember how far we applied, so a restart serves it at once. */
    if (s->st && !s->write_err && s->hs_disk.term) {
        struct stor_hard_state hs = s->hs_disk;
        hs.commit = s->applied;
        stor_set_hard_state(s->st, &hs);
    }
    while (s->props.head)
        prop_finish(s, s->props.head, CN_ESHUTDOWN, NULL);
    while (s->reads.head)
        read_finish(s, s->reads.head, CN_ESHUTDOWN);
    /* Jobs never written (the writer stopped first). */
    while (s->wq_head) {
        struct wjob *j = s->wq_head;
        s->wq_head = j->next;
        free_job(j);
    }
    while (s->done_head) {
        struct wjob *j = s->done_head;
        s->done_head = j->next;
        free_job(j);
    }
    if (s->snap_job) {
        cn_buf_free(&s->snap_job->data);
        cn_free(s->snap_job);
        s->snap_job = NULL;
    }
    cn_free(s->snap_bytes);
    s->snap_bytes = NULL;
    raft_free(s->raft);
    s->raft = NULL;
    if (s->st)
        stor_close(s->st);
    s->st = NULL;
    state_free(s->state);
    s->state = NULL;
    srv__watches_free(s->watches);
    s->watches = NULL;
    while (s->ops.head)
        op_finish(s, s->ops.head, CN_ESHUTDOWN, "shutting down");
    for (struct probe *p = s->probes; p; p = p->next) {
        if (p->busy)
            probe_end(p);
        else
            probe_report(p, CN_ESHUTDOWN, "shutting down");
    }
    if (s->x) {
        s->x_stopping = true;
        s->handles++;
        xport_stop(s->x, on_xport_stopped, s);
        s->x = NULL;
    }
    if (s->timer_init) {
        uv_close((uv_handle_t *)&s->snap_timer, on_handle_closed);
        uv_close((uv_handle_t *)&s->tick, on_handle_closed);
        uv_close((uv_handle_t *)&s->idle, on_handle_closed);
    }
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
    memset(p, 0, sizeof(*p));
    p->phase = P_HELD;
    p->cb = cb;
    p->arg = arg;
    p->len = len;
    p->deadline = uv_now(s->loop) + s->hold_ms;
    memcpy(p->data, cmd, len);
    LIST_PUSH(&s->props, p);
    prop_dispatch(s, p);
    return 0;
}

int srv_read_barrier(struct srv *s, enum srv_read_mode mode, srv_read_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    if (read_now(s, mode)) {
        cb(arg, 0);
        return 0;
    }
    struct rreq *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return CN_ENOMEM;
    r->phase = R_HELD;
    r->mode = mode;
    r->cb = cb;
    r->arg = arg;
    r->deadline = uv_now(s->loop) + s->hold_ms;
    LIST_PUSH(&s->reads, r);
    read_dispatch(s, r);
    return 0;
}

/* ---- cluster view --------------------------------------------------------------- */

size_t srv_peers(const struct srv *s, struct srv_peer *out, size_t cap)
{
    if (!s->raft)
        return 0;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    struct raft_progress pr[RAFT_MAX_SERVERS];
    size_t npr = st.state == RAFT_LEADER ? raft_get_progress(s->raft, pr, RAFT_MAX_SERVERS) : 0;
    for (size_t i = 0; i < st.conf.n && i < cap; i++) {
        const struct raft_server *c = &st.conf.servers[i];
        struct srv_peer *p = &out[i];
        memset(p, 0, sizeof(*p));
        p->id = c->id;
        snprintf(p->addr, sizeof(p->addr), "%s", c->addr);
        p->voter = c->role == RAFT_VOTER;
        p->leader = c->id == st.leader;
        if (c->id == s->id) {
            snprintf(p->node, sizeof(p->node), "%s", s->node);
            snprintf(p->node_id, sizeof(p->node_id), "%s", s->uuid);
            p->match = st.state == RAFT_LEADER ? st.last_index : 0;
        } else {
            for (size_t k = 0; k < s->ndir; k++)
                if (s->dir[k].id == c->id) {
                    snprintf(p->node, sizeof(p->node), "%s", s->dir[k].node);
                    snprintf(p->node_id, sizeof(p->node_id), "%s", s->dir[k].uuid);
                }
            for (size_t k = 0; k < npr; k++)
                if (pr[k].id == c->id)
                    p->match = pr[k].match;
        }
    }
    return st.conf.n;
}

const char *srv_leader_addr(const struct srv *s)
{
    if (!s->raft || s->leader == RAFT_NONE)
        return "";
    if (s->leader == s->id)
        return s->self_addr[0] ? s->self_addr : "127.0.0.1:8300";
    for (size_t i = 0; i < s->conf.n; i++)
        if (s->conf.servers[i].id == s->leader)
            return s->conf.servers[i].addr;
    for (size_t i = 0; i < s->ndir; i++)
        if (s->dir[i].id == s->leader)
            return s->dir[i].addr;
    return "";
}

bool srv_is_leader(const struct srv *s)
{
    return s->raft && s->role == RAFT_LEADER;
}

bool srv_known_leader(const struct srv *s)
{
    return s->raft && s->leader != RAFT_NONE;
}

uint64_t srv_last_contact_ms(const struct srv *s)
{
    if (!s->raft || s->role == RAFT_LEADER)
        return 0;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    return st.ticks_since_leader * s->tick_ms;
}

uint64_t srv_commit_index(const struct srv *s)
{
    return s->applied;
}

uint64_t srv_snapshot_index(const struct srv *s)
{
    return s->last_snap_index;
}

/* ---- operations (server.h) ------------------------------------------------------------ */

int srv_join(struct srv *s, const char *addr, srv_op_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    struct sockaddr_storage sa;
    if (!s->x) {
        cb(arg, CN_EINVAL, "this server has no server RPC port");
        return 0;
    }
    if (!addr || parse_addr(addr, &sa)) {
        cb(arg, CN_EINVAL, "expected host:port");
        return 0;
    }
    struct probe *p = probe_new(s, addr);
    if (!p)
        return CN_ENOMEM;
    p->once = true;
    p->tries = 10; /* about 3 s */
    p->cb = cb;
    p->arg = arg;
    if (probe_start(s, p) != 0) {
        s->probes = p->next;
        cn_free(p);
        cb(arg, CN_EIO, "cannot connect");
    }
    return 0;
}

int srv_remove_peer(struct srv *s, uint64_t id, const char *addr, srv_op_cb cb, void *arg)
{
    if (!id && (!addr || !*addr)) {
        cb(arg, CN_EINVAL, "an address or id is required");
        return 0;
    }
    return op_new(s, OP_REMOVE, id, addr, cb, arg, 0, 0);
}

int srv_transfer_leader(struct srv *s, uint64_t id, srv_op_cb cb, void *arg)
{
    return op_new(s, OP_TRANSFER, id, NULL, cb, arg, 0, 0);
}

int srv_leave(struct srv *s, srv_op_cb cb, void *arg)
{
    /* The core lets a leader remove itself: it steps down once the change
     * committed (thesis §4.2.2), so no transfer is needed first. */
    return op_new(s, OP_REMOVE, s->id, NULL, cb, arg, 0, 0);
}

/* ---- watches ------------------------------------------------------------------------ */

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
