/* server/server_int.h: private to server/. What the parts of the server
 * module share: the struct srv (with, per field group, the file that writes
 * it), the request/job types passed between them, and the srv__ functions
 * each part offers the others. Nothing here is seen outside src/server/.
 *
 * Threads: everything runs on the loop thread except writer.c's
 * srv__writer_main and snapshot.c's srv__snapper_main (and the snapshot
 * child process); they touch only storage and the fields under `mu`. */
#ifndef CN_SERVER_INT_H
#define CN_SERVER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "base/buf.h"
#include "raft/raft.h"
#include "server/fwd_codec.h"
#include "server/reqs.h"
#include "server/seq.h"
#include "server/server.h"
#include "storage/storage.h"
#include "tls/tls.h"
#include "transport/transport.h"

/* Entry types on disk (opaque to storage). 1 was the only type before Raft:
 * an application command; an empty one is a leader's no-op. */
#define STOR_NORMAL 1
#define STOR_CONF 2
#define SNAP_RETAIN 2  /* snapshot files kept on disk */
#define SNAP_KEEP 1024 /* log entries kept behind a snapshot for slow followers */
#define SNAP_KEEP_BYTES ((size_t)4 << 20) /* ...and at most this much payload */
#define SNAP_MAGIC "CNS1"
#define MAX_DIR 32 /* servers this one knows about */
/* A client agent's connection to a server: silence limit on both sides
 * (keepalives every quarter of it). */
#define SRV_CLIENT_IDLE_MS 8000

/* A write (srv_propose) until its callback ran: its rules (attempts,
 * terms, deadlines) are server/reqs.c's, shared with the simulator. Its
 * entry carries an envelope (this server's id, rq.env_id), so it completes
 * when an entry with that envelope is applied here, whoever proposed it and
 * at whatever index. */
struct prop {
    struct prop *next, *prev;
    struct srv_req rq; /* phase, attempt term/id/index, deadline (uv_now() ms) */
    srv_done_cb cb;
    void *arg;
    uint64_t t0_ns; /* srv_propose (metrics: raft.commitTime) */
    size_t len;
    uint8_t data[]; /* the entry: envelope then command */
};

enum read_phase { R_HELD, R_RAFT, R_FWD, R_APPLY, R_REMOTE };

struct rreq {
    struct rreq *next, *prev;
    enum read_phase phase;
    enum srv_read_mode mode;
    uint64_t ctx;          /* R_RAFT/R_REMOTE: raft_read_index context; R_FWD: request id */
    uint64_t index;        /* R_APPLY */
    uint64_t from, req_id; /* R_REMOTE: the follower that asked */
    uint64_t deadline;
    uint64_t resend_at; /* R_FWD: when to ask again if no answer came */
    srv_read_cb cb;
    void *arg;
};

struct list {
    void *head, *tail;
};

struct omsg {                /* an encoded Raft message, maybe waiting for a durable write */
    struct srv_seq_msg link; /* held on a job (server/seq.h) */
    uint64_t to;
    bool snap; /* a SNAPSHOT: streamed first (snapstream.c); a failed send is reported */
    uint64_t snap_index, snap_term;
    size_t len;
    uint8_t data[];
};

struct wjob { /* one update's durable part; loop -> writer -> loop */
    struct wjob *next;
    struct srv_seq_job sq; /* loop only: ack and held messages (server/seq.h) */
    bool has_hs;           /* the writer's copy of sq.has_hs/sq.hs */
    struct stor_hard_state hs;
    bool has_snap; /* adopt the received file of (snap_index, snap_term) */
    uint64_t snap_index, snap_term;
    struct stor_entry *ents; /* data points into blob */
    size_t n;
    void *blob;
    uint64_t seq; /* 1, 2, ... in submission order (writer.c) */
    int rc;
    /* metrics, handed back with the job: submitted (loop), durable (writer);
     * the first job of a batch carries the batch's figures */
    uint64_t submit_ns, done_ns;
    bool batch_head;
    uint32_t batch_n;
    uint64_t write_ns, sync_ns;
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
    uint16_t serf_port;  /* its LAN gossip port (INFO), 0 = unknown */
    bool dialed;         /* xport_set_peer done */
    bool was_member;     /* seen in a configuration: never added automatically again */
    uint64_t last_rx_ms; /* uv_now of its last Raft message (raft.leader.lastContact) */
};

/* An operation (remove, transfer) run on the leader for a local caller
 * (cb) or for a follower that forwarded it (from, req_id). */
enum op_kind { OP_REMOVE = 1, OP_TRANSFER = 2 };
struct op {
    struct op *next, *prev;
    enum op_kind kind;
    uint64_t id;
    char addr[64];
    bool fwd;      /* sent to the leader, waiting for its answer */
    bool proposed; /* a conf change at `index`: done once applied */
    uint64_t index;
    uint64_t req_id; /* fwd: our request; remote: theirs */
    uint64_t from;   /* remote: the follower to answer */
    uint64_t deadline;
    srv_op_cb cb;
    void *arg;
};

/* A session renewal or a question waiting for the leader's answer (renew.c). */
struct renew {
    struct renew *next, *prev;
    enum srv_fwd_kind kind;        /* SRV_FWD_RENEW or SRV_FWD_ASK */
    char key[SRV_FWD_SESSION_MAX]; /* RENEW: the session; ASK: the question */
    uint64_t req_id;               /* of the last send (0: not sent to the current leader) */
    uint64_t sent_at;              /* uv_now() of the last send */
    uint64_t deadline;             /* uv_now() ms: then CN_EAGAIN */
    srv_renew_cb cb;               /* RENEW */
    srv_ask_cb ask_cb;             /* ASK */
    void *arg;
};

struct probe { /* a -retry-join (or srv_join) address asked for its raft id */
    struct probe *next;
    struct srv *s;
    char addr[64];
    uint64_t id; /* learnt */
    bool busy;
    bool once; /* srv_join: a few attempts, then report and go */
    int tries; /* srv_join: attempts left */
    srv_op_cb cb;
    void *arg;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    uint8_t hello[XPORT_HELLO_MAX];
    size_t hello_len;
    uint8_t in[XPORT_HELLO_MAX];
    size_t in_len;
    struct tls_conn *tls; /* the server's RPC port over TLS (verify_outgoing) */
    uint64_t next_ms;
    char err[200];    /* why the last attempt found no server ("" if it did) */
    char logged[200]; /* -retry-join: the failure last logged */
    unsigned fails;   /* -retry-join: failed attempts in a row */
    bool self;        /* the address answered with this server's own id */
};

/* The server. Each group names the file(s) that write its fields; any part
 * on the loop thread may read them. Fields under `mu` are the only ones the
 * writer and snapshot threads touch. */
struct srv {
    /* set once by srv_open (server.c), read everywhere */
    uv_loop_t *loop;
    struct stor *st;
    struct state *state;
    struct srv_watches *watches;
    uint64_t id;
    char node[64], uuid[40], self_addr[64];
    uint16_t serf_port; /* ours, announced in INFO (0: no gossip) */
    char cluster[XPORT_CLUSTER_MAX + 1];
    uint64_t tick_at; /* loop time (ms) up to which the core got its ticks (ready.c) */
    uint64_t tick_ms, hold_ms, hold_first_ms;
    unsigned election_ticks, heartbeat_ticks;
    int expect;
    bool had_log; /* the log was not empty at open */

    /* lifecycle: server.c */
    bool failed; /* the log's storage failed: silent to peers (writer.c) */
    void (*on_fatal)(void *arg, int rc, const char *msg);
    void *fatal_arg;
    bool closing;
    bool opening; /* inside srv_open: no snapshot yet */
    int handles;  /* open libuv handles (+ the transport): freed at 0; also
                   * counted by snapshot.c (child poll) and discovery.c (probes) */
    bool timer_init;
    uv_timer_t tick; /* ready.c's srv__on_tick */
    uv_idle_t idle;  /* ready.c's kick */
    bool idle_on;    /* ready.c */

    /* the core: created by recover.c, replaced by discovery.c's bootstrap,
     * freed by server.c; driven by every part on the loop thread */
    struct raft *raft;
    bool bootstrapped; /* a configuration exists (log, snapshot or written by us):
                        * recover.c, discovery.c */

    /* applied state: ready.c (entries), snapshot.c (a leader's snapshot),
     * recover.c (at open) */
    uint64_t applied, applied_term;
    struct raft_conf applied_conf; /* the configuration as of `applied` (for snapshots) */

    /* what the core last told us: ready.c (role_changed, sync_conf) */
    enum raft_state role;
    uint64_t leader;
    struct raft_conf conf; /* last configuration given to the transport */

    /* proposals and reads: requests.c; forward.c adds a leader's reads for
     * followers (R_REMOTE); others complete them through srv__prop_finish
     * and srv__read_finish */
    struct list props; /* every phase; P_PENDING in index order among themselves */
    struct list reads;
    uint64_t next_ctx;      /* read-index contexts: requests.c, forward.c */
    uint64_t epoch;         /* random, this process's (0: not drawn yet): requests.c */
    uint64_t next_req;      /* ids after epoch: envelopes, forwarded requests (srv__next_id) */
    uint64_t props_unknown; /* writes failed with an unknown outcome */

    /* forward.c: the leader's forwarded proposals, for its current term
     * only (server/reqs.h) */
    struct srv_req_table seen;

    /* operations: ops.c */
    struct list ops;

    /* session renewals and questions for the leader: renew.c (the handlers set by
     * srv_set_renew_handler, srv_set_ask_handler) */
    struct list renews;
    srv_renew_fn renew_fn;
    void *renew_arg;
    srv_ask_fn ask_fn;
    void *ask_arg;

    /* transport: server.c starts and stops it; discovery.c owns the
     * directory (ready.c's sync_conf marks entries dialed/was_member) */
    struct xport *x;
    bool x_stopping;
    unsigned x_drop_reads; /* tests: the next N forwarded reads are lost on the wire */
    /* server.c: server RPC TLS (srv_options; the context replaced by
     * srv_set_tls); discovery.c's probes dial with it */
    struct ssl_ctx_st *tls;
    bool tls_outgoing;
    char tls_name[256];
    struct pinfo dir[MAX_DIR];
    size_t ndir;
    struct probe *probes; /* discovery.c; server.c frees them */

    /* snapshots: snapshot.c (options set by server.c; last_snap_index also
     * by recover.c) */
    uint64_t snap_every;
    size_t log_window_entries, log_window_bytes; /* the core's log window (recover.c) */
    uint64_t snap_interval_ms;
    bool snap_in_process;
    uint64_t last_snap_index, last_snap_term;
    struct srv_snapwait *snapwait; /* snapsave.c: callers waiting for a snapshot */
    bool snap_asap;                /* take one at once (a save asked, a restore applied) */
    uint64_t restore_index; /* the last restore applied (ready.c): compaction drops its chunks */
    uint64_t last_snap_start;
    size_t last_snap_len;
    enum snap_phase snap_phase;
    uint64_t snap_index, snap_term;
    uint64_t snap_t0;
    uint64_t snap_fork_us;
    uint64_t lc_sample_ms; /* ready.c: when raft.leader.lastContact was last sampled */
    pid_t child;
    int child_fd;
    pid_t reap_pid;
    uv_poll_t child_poll;
    bool poll_active;
    uv_timer_t snap_timer;
    struct raft_conf snap_taken_conf; /* configuration of the snapshot being taken */

    /* snapshot streams (snapstream.c): out to followers, in from a leader */
    struct sso *sout;
    struct ssi *sin;
    size_t snap_chunk;    /* bytes per XPORT_SNAP_CHUNK */
    unsigned snap_window; /* chunks in flight per stream */

    /* write jobs, loop side: the jobs submitted and not handed back, their
     * held messages and the hard state last asked for (server/seq.h).
     * writer.c (submit, hand back), ready.c (plan, hold), recover.c (init). */
    struct srv_seq seq;
    /* writer.c, loop only: jobs submitted so far (the last one's seq), the
     * applied index last posted as commit_hint */
    uint64_t job_seq;
    uint64_t commit_posted;

    /* shared with the writer thread (writer.c) and the snapshot thread
     * (snapshot.c), under mu; created and destroyed by server.c */
    pthread_mutex_t mu;
    pthread_cond_t cond;                /* -> writer: a job or an install */
    pthread_cond_t snap_cond;           /* -> snapshot thread: snap_job */
    pthread_cond_t done_cond;           /* writer -> srv_open: done_head or write_err set */
    struct wjob *wq_head, *wq_tail;     /* -> writer */
    struct wjob *done_head, *done_tail; /* writer -> loop */
    struct snap_job *snap_job;          /* loop -> snapshot thread */
    bool install_pending;               /* loop/snapshot thread -> writer */
    uint64_t install_index, install_term;
    bool snap_done; /* writer/snapshot thread -> loop: snap_rc, snap_err */
    int snap_rc;
    char snap_err[256];
    int write_err;
    bool stop;
    /* The commit file (stor_note_commit, writer.c): the loop posts its
     * applied index and the seq of the last job submitted by then; the
     * writer notes it once every job up to that seq is durable (the log on
     * disk is then the core's log as of the post, whose prefix up to the
     * applied index is committed). wdone_seq: the last job written. */
    uint64_t commit_hint, commit_hint_seq, commit_hint_taken, wdone_seq;
    bool commit_warned; /* writer thread only */
    /* read-back of log entries the core evicted (readback.c): asked by the
     * loop, read by the writer thread, handed back through `async` */
    bool rb_want, rb_done;
    uint64_t rb_lo, rb_hi;
    int rb_rc; /* 0, or CN_ERANGE: the log starts at rb_first */
    uint64_t rb_first;
    struct raft_entry *rb_ents; /* payloads in rb_blob */
    size_t rb_n;
    uint8_t *rb_blob;
    uint64_t rb_total; /* loop only: entries read back since start */
    pthread_t writer, snapper;
    bool writer_started, snapper_started;
    uv_async_t async; /* writer.c's srv__on_async */
    bool async_init;

    /* client agents (client.c): set on a client (no Raft); on a server the
     * handler of their API requests (srv_set_client_api) */
    struct srv_cl *cl;
    srv_client_api_fn cl_api;
    srv_client_gone_fn cl_gone;
    void *cl_api_arg;
};

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

/* ---- functions shared between the parts --------------------------------
 * All run on the loop thread, except the two thread mains. */

/* server.c: open/close and the public accessors */
void srv__free(struct srv *s);              /* the last handle closed */
void srv__on_handle_closed(uv_handle_t *h); /* h->data is the srv: handles-- */

/* recover.c: what storage holds at open */
/* Read data_dir/raft-id, or create it with a random id. */
int srv__load_id(const char *data_dir, uint64_t *id, char *err, size_t errcap);
/* Keep the server RPC TLS settings of opt (a reference to the context):
 * srv_open for a server, srv__client_open for a client agent. */
void srv__keep_tls(struct srv *s, const struct srv_options *opt);
/* Bootstrap a lone server's empty storage, restore the snapshot and the log
 * after it into s->state and a new s->raft. 0 or an error described in err
 * (s is then closed by the caller). */
/* The configuration of this server's core (every path that creates one). */
void srv__raft_config(const struct srv *s, struct raft_config *cfg);
int srv__recover(struct srv *s, const char *dir, bool empty, bool alone, struct stor_info *info,
                 char *err, size_t errcap);

/* renew.c: session renewals and questions. A leader's answer to a forwarded one, a
 * follower's handling of the leader's answer, the tick (resends, the hold
 * deadline), and failing them all at close. */
void srv__on_renew(struct srv *s, uint64_t from, const struct srv_fwd_req *m);
void srv__renew_answer(struct srv *s, const struct srv_fwd_resp *m);
void srv__renews_tick(struct srv *s);
void srv__renews_fail(struct srv *s, int rc);

/* ready.c: the update cycle of the core (ready -> persist -> apply -> answer) */
void srv__kick(struct srv *s);          /* process_ready once this loop iteration */
void srv__process_ready(struct srv *s); /* handle every pending raft_update now */
void srv__on_tick(uv_timer_t *t);       /* s->tick: raft_tick and the periodic work */
/* Give the core the ticks the monotonic clock owes it since the last ones
 * (ready.c); returns how many. Time, not timer callbacks, decides: after a
 * stall (SIGSTOP, a frozen VM) the lease and the election timer see it. */
unsigned srv__catch_up_ticks(struct srv *s);
/* On the leader: ask the core for r's read index (a quorum round for
 * SRV_READ_CONSISTENT, the lease allowed otherwise) after catching up the
 * ticks; sets r->ctx. Returns raft_read_index's result. (requests.c) */
int srv__read_index(struct srv *s, struct rreq *r);
/* ready.c: apply one committed entry (recover.c applies the committed
 * entries of the log this way while reading it at open). Returns whether
 * dead attempts wait to be made again. */
bool srv__apply_entry(struct srv *s, const struct raft_entry *e);
/* The core's role or leader changed: re-route what waits on it. */
void srv__role_changed(struct srv *s, const struct raft_status *st);
/* Give the transport the configuration c (dial new members, drop old ones). */
void srv__sync_conf(struct srv *s, const struct raft_conf *c);

/* writer.c: the log writer thread and the jobs it hands back */
void *srv__writer_main(void *arg); /* the writer thread */
/* The durable part of update u (copied), plus hard state h when hs. NULL on
 * out of memory. */
struct wjob *srv__make_job(const struct raft_update *u, bool hs, const struct stor_hard_state *h);
/* Queue j (ownership taken) in s->seq (its sq.has_hs/hs taken from
 * has_hs/hs) and for the writer. */
void srv__submit_job(struct srv *s, struct wjob *j);
void srv__free_job(struct wjob *j);
/* Post s->applied for the commit file once it moved (after an apply). */
void srv__post_commit(struct srv *s);
void srv__on_async(uv_async_t *h); /* s->async: jobs written, snapshots done */

/* readback.c: entries the core evicted from memory, read back from the log
 * for a follower behind the window (raft_update.fetch_lo/hi). */
#define SRV_RB_MAX_BYTES ((size_t)4 << 20) /* payload read back at once */
#define SRV_LOG_WINDOW_ENTRIES 1024        /* default raft log window */
#define SRV_LOG_WINDOW_BYTES ((size_t)4 << 20)
void srv__readback_ask(struct srv *s, uint64_t lo, uint64_t hi); /* loop */
bool srv__readback_serve(struct srv *s);   /* writer thread, mu not held; true: served */
void srv__readback_deliver(struct srv *s); /* loop: the answer to the core */
void srv__readback_free(struct srv *s);    /* srv_close, threads stopped */

/* snapshot.c: taking (fork child or thread), installing, restoring */
void *srv__snapper_main(void *arg); /* the snapshot thread (fork fallback) */
void srv__maybe_snapshot(struct srv *s);
/* srv_close: snapshot the applied state if the log since the last is long. */
void srv__snapshot_at_close(struct srv *s);
/* Release a snapshot encode buffer (an anonymous mapping, see snapshot.c). */
void srv__encbuf_unmap(struct cn_buf *b);
void srv__on_snap_timer(uv_timer_t *t);
void srv__reap_child(struct srv *s, bool block);
void srv__child_poll_close(struct srv *s);
/* Our snapshot finished (rc, err)
 * (borrowed, may be NULL): tell the core and compact. */
void srv__snap_finished(struct srv *s, int snap_rc, const char *snap_err);
/* snapsave.c: a snapshot at snap_index starts (state as of it) / ended. */
void srv__snapwait_started(struct srv *s, uint64_t index, uint64_t term);
void srv__snapwait_finished(struct srv *s, int rc);
void srv__snapwait_close(struct srv *s);
/* Split a snapshot payload (SNAP_MAGIC, u32 length, configuration, state)
 * into configuration and state (borrowed from p). 0, or CN_ECORRUPT with err
 * set (a payload without the magic included). */
int srv__snap_split(const void *p, size_t len, struct raft_conf *conf, const void **state,
                    size_t *slen, char *err, size_t errcap);
/* A leader's snapshot replaces the state. 0 or an error (logged). */
int srv__restore_snapshot(struct srv *s, const struct raft_snapshot_meta *m);

/* requests.c: proposals and the read barrier */
void srv__prop_finish(struct srv *s, struct prop *p, int rc, const struct state_result *res);
void srv__read_finish(struct srv *s, struct rreq *r, int rc);
void srv__reads_applied(struct srv *s); /* finish reads whose index is applied */
void srv__dispatch_held(struct srv *s); /* a leader is known: move held requests */
void srv__expire(struct srv *s);        /* fail requests past their deadline; resend forwards */
uint64_t srv__next_id(struct srv *s);   /* a new id, unique in this process and across restarts */
/* Whether a request of this server with that envelope id waits for its entry. */
bool srv__prop_waiting(const struct srv *s, uint64_t env_id);
/* Apply path (ready.c): the entry of this server's request env_id was
 * applied with rc, res. */
void srv__prop_applied(struct srv *s, uint64_t env_id, int rc, const struct state_result *res);
/* An entry of term `term` was applied: attempts of earlier terms not
 * completed are dead; returns whether any was (then dispatch them). */
bool srv__props_term_passed(struct srv *s, uint64_t term);
/* A leader's snapshot up to (index, term) replaced the state: attempts whose
 * entry it may contain fail with an unknown outcome; returns whether an
 * attempt died (then dispatch them). */
bool srv__props_snapshot(struct srv *s, uint64_t index, uint64_t term);
/* A FORWARD_RESP for a PROPOSE (forward.c decoded it). */
void srv__prop_answer(struct srv *s, const struct srv_fwd_resp *m);

/* forward.c: frames to and from peers (Raft messages, forwarded requests) */
void srv__send_raw(struct srv *s, uint64_t to, uint8_t type, const void *p, size_t len);
struct omsg *srv__encode_msg(const struct raft_msg *m); /* NULL on error */
void srv__send_encoded(struct srv *s, const struct omsg *m);
void srv__send_encoded_now(struct srv *s, const struct omsg *m); /* no streaming */

/* server.c: the transport's message limit (0: its default, 64 MiB) */
size_t srv__xport_max_msg(void);

/* snapstream.c: snapshots streamed from file to file in chunks */
void srv__sstream_start(struct srv *s, const struct omsg *m); /* a SNAPSHOT to send */
void srv__sstream_on_chunk(struct srv *s, uint64_t from, const void *p, size_t len);
void srv__sstream_on_ack(struct srv *s, uint64_t from, const void *p, size_t len);
/* May a SNAPSHOT message from `from` reach the core (its bytes are here)? */
bool srv__sstream_deliverable(struct srv *s, uint64_t from, const struct raft_msg *m);
void srv__sstream_tick(struct srv *s);
void srv__sstream_peer_down(struct srv *s, uint64_t id);
void srv__sstream_close_all(struct srv *s);
void srv__on_frame(void *arg, uint64_t from, uint8_t type, const void *payload, size_t len);
void srv__on_peer_state(void *arg, uint64_t id, bool up);
/* Encode (fwd_codec.h) and send a forwarding request or answer: 0, or the
 * encoding's or xport_send's error (nothing sent). */
int srv__send_req(struct srv *s, uint64_t to, const struct srv_fwd_req *m);
int srv__send_resp(struct srv *s, uint64_t to, const struct srv_fwd_resp *m);

/* discovery.c: the peer directory, probes, INFO exchange, bootstrap_expect */
struct pinfo *srv__dir_find(struct srv *s, uint64_t id);
void srv__dial(struct srv *s, uint64_t id, const char *addr);
void srv__send_info(struct srv *s, uint64_t to, bool want_reply);
void srv__on_info(struct srv *s, uint64_t from, const struct srv_fwd_req *m); /* INFO received */
void srv__maybe_bootstrap(struct srv *s);
struct probe *srv__probe_new(struct srv *s, const char *addr);
void srv__run_probes(struct srv *s);
void srv__probe_end(struct probe *p);
void srv__probe_report(struct probe *p, int rc, const char *msg);

/* ops.c: membership operations (remove, transfer, leave) and autojoin */
/* For a local caller (cb) or a follower's request (from, req_id). */
int srv__op_new(struct srv *s, int kind, uint64_t id, const char *addr, srv_op_cb cb, void *arg,
                uint64_t from, uint64_t req_id);
void srv__op_finish(struct srv *s, struct op *o, int rc, const char *msg);
void srv__ops_tick(struct srv *s);
void srv__autojoin(struct srv *s); /* the leader adds/promotes learners */

/* client.c: client agents. On a client: open (transport, server manager,
 * timer), close (pending requests fail), frames and peer state, a learnt
 * server id, a proposal sent to a server. On a server: a client's request
 * frame, a client gone. */
int srv__client_open(struct srv *s, const struct srv_options *opt, char *err, size_t errcap);
void srv__client_close(struct srv *s);
void srv__client_frame(struct srv *s, uint64_t from, uint8_t type, const void *p, size_t len);
void srv__client_peer_state(struct srv *s, uint64_t id, bool up);
void srv__client_learned(struct srv *s, uint64_t id, const char *addr);
int srv__client_propose(struct srv *s, const void *cmd, size_t len, srv_done_cb cb, void *arg);
void srv__client_req_frame(struct srv *s, uint64_t from, const void *p, size_t len);
void srv__client_gone(struct srv *s, uint64_t id);
bool srv__client_connected(const struct srv *s);

/* ---- the watch registry (watch.c) ---------------------------------------- */

struct srv_watches;

struct srv_watches *srv__watches_new(void);
void srv__watches_free(struct srv_watches *ws);
int srv__watches_arm(struct srv_watches *ws, struct srv_watch *w, enum state_table t,
                     const char *key, bool prefix);
void srv__watches_disarm(struct srv_watches *ws, struct srv_watch *w);
/* A change at (t, key): move matching watches to the fired list. */
void srv__watches_change(struct srv_watches *ws, enum state_table t, const char *key,
                         uint64_t index);
/* Everything changed (a snapshot from the leader replaced the state): fire
 * every armed watch. */
void srv__watches_fire_all(struct srv_watches *ws, uint64_t index);
/* Run callbacks of everything fired so far (callbacks may re-arm). */
void srv__watches_flush(struct srv_watches *ws);
size_t srv__watches_count(const struct srv_watches *ws);
/* Armed and not fired yet (a fired watch waits in the fired list until its
 * callback runs). */
bool srv__watches_live(const struct srv_watches *ws, const struct srv_watch *w);

#endif
