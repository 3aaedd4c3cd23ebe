/* server/server.h: the write path (a Raft shell) and the watch registry.
 *
 * Every mutation goes through one path: srv_propose (encoded state command)
 * -> the Raft core on the leader (a follower forwards it there) -> append to
 * the log -> persist (writer thread, group commit: whatever queued since the
 * last fsync shares one fsync) -> commit (a quorum, decided by raft/) ->
 * state_apply on the loop thread of every server -> the proposer's callback
 * with its own server's result -> wake watchers whose (table, key) changed.
 * A single server is a Raft cluster of one. See docs/architecture.md.
 *
 * Snapshots: once `snapshot_entries` entries were applied since the last one
 * and `snapshot_interval_ms` passed, a forked child encodes its copy-on-write
 * view of the state and writes the file; then the writer thread installs it
 * (prunes, compacts the log behind it) between two batches. Neither the loop
 * nor the log writer waits for it. Restart recovers the latest snapshot plus
 * the log after it. Callbacks of a srv run only from its loop.
 *
 * Owns the struct state; everything here runs on the loop thread except the
 * writer, which touches only storage and copies of entries, the snapshot
 * thread (fork fallback: writes an encoded copy), and the snapshot child
 * process. */
#ifndef CN_SERVER_H
#define CN_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "server/cl_codec.h"
#include "state/state.h"

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

struct srv;
struct stor_io;

struct srv_options {
    const char *data_dir;      /* storage lives in data_dir/raft */
    uint64_t snapshot_entries; /* 0 = 16384 */
    /* Minimum time between the starts of two snapshots; 0 = none (the agent
     * passes raft_snapshot_interval, 30 s by default). */
    uint64_t snapshot_interval_ms;
    /* Never fork: encode on the loop (a stall) and write on the snapshot
     * thread, the path taken anyway when fork() fails. For tests. */
    bool snapshot_in_process;
    size_t snapshot_chunk_bytes; /* snapshot streaming chunk; 0 = 1 MiB */
    /* Applied, durable log entries kept in memory behind the newest (the
     * Raft log window; older ones are read back from the WAL for followers
     * that need them); 0 = 1024. At most 4 MiB of payload either way. */
    size_t log_window_entries;
    uint64_t node_id; /* this server's raft id; 0 = a random one, generated once
                       * and kept in data_dir/raft-id (never reused) */
    /* ---- cluster (Raft) ------------------------------------------------------
     * The single-voter path is a Raft cluster of one. Fields below are
     * optional; zero values give a bootstrapped single server. With a
     * bind_addr, a server bootstraps alone only with `bootstrap` or
     * bootstrap_expect == 1; otherwise it waits for bootstrap_expect servers
     * or to be added by a leader. */
    const char *bind_addr;      /* server RPC listen address ("127.0.0.1") */
    int server_port;            /* server RPC port (8300); 0 = ephemeral */
    int serf_port;              /* this agent's LAN gossip port, told to peers (0: none) */
    const char *advertise_addr; /* "host" others dial; default bind_addr */
    const char *cluster_id;     /* peers with another id are refused (the datacenter) */
    bool bootstrap;             /* -bootstrap: a cluster of this server alone */
    int bootstrap_expect;       /* -bootstrap-expect=N: bootstrap once N servers know each other */
    const char *const *join;    /* -retry-join "host:port" of other servers' RPC ports */
    size_t njoin;
    uint64_t tick_ms;     /* Raft tick; 0 = 10 ms */
    uint64_t election_ms; /* election timeout; 0 = 500 ms (randomized to [t, 2t): failover < 1 s) */
    uint64_t heartbeat_ms;  /* heartbeat interval; 0 = election_ms / 10 */
    const char *node_name;  /* exchanged with peers (srv_peer.node); NULL = "" */
    const char *node_uuid;  /* the agent's node ID (srv_peer.node_id); NULL = "" */
    uint64_t hold_first_ms; /* client: the hold of calls made before any server was
                             * ever up (a route still dialling); 0 = hold_ms */
    uint64_t hold_ms;       /* how long writes/reads wait for a leader; 0 = 7000
                             * (Consul's rpc_hold_timeout) */
    /* Called once, on the loop thread, when the log's storage failed (a write
     * or fsync returned an error: the store is poisoned, docs/format-storage.md).
     * By then the server has stopped taking part in Raft: it no longer ticks
     * and sends nothing to peers, so a failed leader cannot go on leading and
     * the others elect a new one; every pending and later write fails with
     * CN_EIO. The caller should exit: a restart recovers what is durable.
     * NULL: the server stays up in that state. */
    void (*on_fatal)(void *arg, int rc, const char *msg);
    void *fatal_arg;
    /* The storage's system calls (tests inject faults); NULL = the real ones.
     * Borrowed: must outlive the server. */
    const struct stor_io *stor_io;
    /* A client agent (no -server): no Raft, no log, no listener. `join` are
     * the servers' RPC addresses to start from; see "Client agents" below. */
    bool client;
    /* A client: keepalive interval of its server connection, which is
     * presumed dead after 4 of them without a frame; 0 = 2 s (servers send
     * a client keepalives every 2 s: keep it at 1 s or more). */
    uint64_t client_heartbeat_ms;
    /* Server RPC over TLS (transport.h, docs/tls.md): the context (a
     * reference is taken; NULL: plaintext), dial with TLS, refuse
     * plaintext inbound, and the name peers' certificates must carry
     * (server.<dc>.<domain>, verify_server_hostname; NULL: none). */
    struct ssl_ctx_st *tls;
    bool tls_outgoing, tls_required;
    const char *tls_server_name;
};

int srv_open(uv_loop_t *loop, const struct srv_options *opt, struct srv **out, char *err,
             size_t errcap);
/* Stop accepting proposals, finish in-flight writes (their callbacks run with
 * CN_ESHUTDOWN if not committed), join the writer, close storage. */
void srv_close(struct srv *s);
/* Certificate reload: new server RPC connections (and join probes) use ctx
 * (a reference is taken); open ones keep theirs. */
void srv_set_tls(struct srv *s, struct ssl_ctx_st *ctx);

struct state *srv_state(struct srv *s); /* borrowed; read on the loop thread only */

/* Result callback: rc is the state_apply outcome (0, CN_ECONFLICT, ...) or a
 * write-path failure (CN_EIO, CN_ESHUTDOWN). res is owned by srv and valid only
 * during the call; NULL when rc is a write-path failure. */
typedef void (*srv_done_cb)(void *arg, int rc, const struct state_result *res);

/* Propose an encoded command (copied). cb runs exactly once, on the loop
 * thread, after the entry is durable and applied (or failed). Returns 0 or
 * CN_ENOMEM / CN_ESHUTDOWN (then cb is not called). */
int srv_propose(struct srv *s, const void *cmd, size_t len, srv_done_cb cb, void *arg);

/* ---- cluster view and operations ----------------------------------------------
 * Everything here runs on the loop thread; callbacks run exactly once. */

struct srv_peer {
    uint64_t id;
    char node[64];    /* node name, when known */
    char node_id[40]; /* the node's UUID, when known */
    char addr[64];    /* "host:port" of the server RPC port */
    bool voter;
    bool leader;
    uint64_t match; /* leader's view of its log, 0 elsewhere */
};
/* The configuration in force (voters and learners). Returns the count
 * (may exceed cap: then only cap were written; out may be NULL with cap 0). */
size_t srv_peers(const struct srv *s, struct srv_peer *out, size_t cap);
/* The gossip addresses ("host:port" of the serf_lan port) of the servers
 * this one heard of through Raft discovery (INFO), whose gossip port they
 * told: how servers joined through their RPC addresses also find each
 * other's gossip. Returns the count (may exceed cap). */
size_t srv_gossip_addrs(const struct srv *s, char (*out)[80], size_t cap);
/* Leader's "host:port" RPC address, or "" when unknown. Borrowed until the
 * next loop iteration. */
const char *srv_leader_addr(const struct srv *s);

/* Read barrier for consistency modes (api/blocking.c calls it before running a
 * read): STALE answers at once; DEFAULT is answered at once on a leader whose
 * lease holds, else through ReadIndex (a follower asks the leader); CONSISTENT
 * always does a ReadIndex round. cb(arg, 0) once the local state has applied
 * everything the read must see; cb(arg, CN_EAGAIN) when no leader could be
 * reached within the hold timeout (the API answers 500 "No cluster leader").
 * Returns 0 or CN_ENOMEM (cb not called). cb may run before srv_read_barrier
 * returns (STALE, or a leader whose lease holds). */
enum srv_read_mode { SRV_READ_DEFAULT = 0, SRV_READ_STALE, SRV_READ_CONSISTENT };
typedef void (*srv_read_cb)(void *arg, int rc);
int srv_read_barrier(struct srv *s, enum srv_read_mode mode, srv_read_cb cb, void *arg);

/* Operations (Consul: /v1/operator/raft/..., /v1/agent/join, /v1/agent/leave).
 * Each may be called on any server: followers forward to the leader. cb gets 0
 * or CN_ENOTFOUND (unknown peer), CN_EINVAL, CN_EAGAIN (no leader / change in
 * progress), CN_EIO. msg (may be NULL) explains a failure. */
typedef void (*srv_op_cb)(void *arg, int rc, const char *msg);
/* Dial "host:port", learn the server there and add it (as a learner promoted
 * to voter once caught up). */
int srv_join(struct srv *s, const char *addr, srv_op_cb cb, void *arg);
/* Remove a server by id (id != 0) or by RPC address. */
int srv_remove_peer(struct srv *s, uint64_t id, const char *addr, srv_op_cb cb, void *arg);
/* Hand leadership to `id` (0 = the most up to date voter). */
int srv_transfer_leader(struct srv *s, uint64_t id, srv_op_cb cb, void *arg);
/* Graceful leave: transfer leadership if leader, remove this server from the
 * configuration, and report when that change committed. */
int srv_leave(struct srv *s, srv_op_cb cb, void *arg);

/* Session renewals (Consul: a Session.Renew RPC, forwarded to the leader;
 * never a log write). The leader's TTL clocks live above this module: the
 * owner of the clocks installs `fn`, which the leader calls for a renewal
 * made on it or forwarded to it by a follower; fn returns 0 (renewed) or
 * CN_ENOTFOUND (no such session in the leader's state). */
typedef int (*srv_renew_fn)(void *arg, const char *session);
void srv_set_renew_handler(struct srv *s, srv_renew_fn fn, void *arg);
/* Renew `session` on the leader: at once on the leader, else forwarded
 * (SRV_FWD_RENEW), sent again to the next leader if the one asked is gone.
 * cb(arg, rc) exactly once: 0, CN_ENOTFOUND, CN_EAGAIN (no leader answered
 * within the hold timeout) or CN_ESHUTDOWN. Returns 0, or CN_ENOMEM /
 * CN_EINVAL (an id over STATE_SESSION_ID_MAX) / CN_ESHUTDOWN with cb not
 * called. cb may run before this returns (on the leader). */
typedef void (*srv_renew_cb)(void *arg, int rc);
int srv_session_renew(struct srv *s, const char *session, srv_renew_cb cb, void *arg);

/* Questions only the leader answers (Consul forwards such reads to the
 * leader unless ?stale): the owner installs `fn`, which the leader calls
 * with the question's name (at most SRV_ASK_MAX - 1 bytes) to append its
 * answer to `out` (at most SRV_ASK_ANSWER_MAX bytes); fn returns 0 or a
 * CN_E* code (CN_ENOTFOUND: no such question). */
#define SRV_ASK_MAX 33
#define SRV_ASK_ANSWER_MAX 8192
struct cn_buf;
typedef int (*srv_ask_fn)(void *arg, const char *what, struct cn_buf *out);
void srv_set_ask_handler(struct srv *s, srv_ask_fn fn, void *arg);
/* Ask the leader `what`: at once on the leader, else forwarded
 * (SRV_FWD_ASK), again to the next leader as a renewal is. cb(arg, rc,
 * answer, len) exactly once: 0 with the answer (borrowed for the call), or
 * CN_ENOTFOUND, CN_EAGAIN (no leader answered within the hold timeout),
 * CN_ESHUTDOWN, another code the leader's fn returned. Returns 0, or
 * CN_ENOMEM / CN_EINVAL (an empty or long name; a client agent) /
 * CN_ESHUTDOWN with cb not called. cb may run before this returns. */
typedef void (*srv_ask_cb)(void *arg, int rc, const void *answer, size_t len);
int srv_ask_leader(struct srv *s, const char *what, srv_ask_cb cb, void *arg);

/* Leadership view for API headers. */
bool srv_is_leader(const struct srv *s);
bool srv_known_leader(const struct srv *s);
uint64_t srv_last_contact_ms(const struct srv *s); /* 0 on the leader */
uint64_t srv_commit_index(const struct srv *s);
/* Index of the latest installed snapshot (0: none since open or on disk). */
uint64_t srv_snapshot_index(const struct srv *s);

/* ---- snapshot saves (snapsave.c; GET /v1/snapshot) --------------------------
 * srv_snapshot_take asks for a snapshot of this server's state at its
 * applied index: the current one when nothing was applied since it, else a
 * new one taken at once (Consul's cadence bypassed). `taken` runs on the loop
 * at the moment the snapshot's index is chosen (the state is then exactly
 * the snapshot's: count tables there); `done` once, with 0 and the
 * snapshot's (index, term), or an error (CN_ESHUTDOWN at close). A restore
 * being staged delays it. Returns 0 or CN_ENOMEM; *h cancels (callbacks not
 * called after srv_snapshot_cancel). */
struct srv_snapwait;
typedef void (*srv_snap_taken_cb)(void *arg, uint64_t index);
typedef void (*srv_snap_done_cb)(void *arg, int rc, uint64_t index, uint64_t term);
int srv_snapshot_take(struct srv *s, srv_snap_taken_cb taken, srv_snap_done_cb done, void *arg,
                      struct srv_snapwait **h);
void srv_snapshot_cancel(struct srv *s, struct srv_snapwait *h);
/* Open the snapshot file of (index, term) for reading: the fd (>= 0; the
 * file stays readable after it is pruned), and where the encoded state
 * starts and how long it is. A negative error code otherwise. */
int srv_snapshot_open_state(struct srv *s, uint64_t index, uint64_t term, uint64_t *off,
                            uint64_t *len, char *err, size_t errcap);

/* ---- watches (blocking queries) --------------------------------------------
 * A watch is embedded in the waiter's struct (no allocation for the caller;
 * srv keeps a hash of key -> list). It fires once (then is removed) when a
 * change to (table, key) is applied — or, with prefix=true, a change to any
 * key starting with `key`; key NULL = any change to the table. Firing happens
 * after the whole command is applied, so the callback may read the state. */
struct srv_watch;
typedef void (*srv_watch_cb)(struct srv_watch *w, uint64_t index);
struct srv_watch {
    srv_watch_cb cb;
    void *data;
    /* private */
    struct srv_watch *next, *prev;
    struct srv_watch_bucket *bucket;
    uint64_t fired_index;
};
/* key is copied. Returns 0 or CN_ENOMEM. A watch may be armed on one key only;
 * re-arming an armed watch removes it first. */
int srv_watch_arm(struct srv *s, struct srv_watch *w, enum state_table t, const char *key,
                  bool prefix, srv_watch_cb cb, void *data);
void srv_watch_disarm(struct srv *s, struct srv_watch *w); /* no-op if not armed */
/* Fire the watches of (t, key) now, as an applied change would, for data an
 * agent keeps beside the replicated state (its leaf certificates): never from
 * inside a watch callback or an apply. */
void srv_watch_touch(struct srv *s, enum state_table t, const char *key);
/* Armed and its data unchanged since: false once a change that fires it has
 * been applied, even before its callback ran (callbacks run after the whole
 * batch; a reader between the two must not trust what the watch guards). */
bool srv_watch_live(const struct srv *s, const struct srv_watch *w);
/* Watches armed now (parked blocking queries and other waiters). */
size_t srv_watch_count(const struct srv *s);

/* ---- client agents ---------------------------------------------------------------
 * A srv opened with `client` holds no Raft state and no replicated state.
 * srv_state() is a mirror of this node's own catalog rows: replaced by the
 * server's view at each srv_client_refresh, and changed by the agent's own
 * writes as they are acknowledged (so local/ and the agent endpoints read it,
 * and watches on it fire, as on a server). srv_propose sends the command to
 * a server (SRV_CL_PROPOSE: register, deregister and check status only),
 * which proposes it; the callback runs with the server's outcome (res NULL).
 *
 * Server manager (Consul's client router/manager): one preferred server at a
 * time (one connection); a request goes to it; when it is lost (connection
 * closed, or not up within a second) the next known server becomes preferred
 * and idempotent requests in flight are sent again there; every 2-3 minutes
 * (scaled up with the number of servers known) with nothing in flight it
 * moves to a random known server (rebalance). Servers are learnt from the
 * addresses given (probed for their transport id) and from the server
 * directory each server sends (INFO). A request that no server took within
 * the hold timeout (7 s) fails with CN_EAGAIN. */
bool srv_is_client(const struct srv *s);
/* Replace the configured server addresses ("host:port" of server RPC ports):
 * the gossip layer's alive servers, or -retry-join's list. Servers learnt
 * from a server's directory stay known; an address already known keeps its
 * id. 0, CN_EINVAL (not a client, or a malformed address: nothing changed),
 * CN_ENOMEM. */
int srv_client_servers_set(struct srv *s, const char *const *addrs, size_t n);
/* The servers a client knows (node may be ""; leader false; voter true);
 * the preferred one first. Count (may exceed cap). On a server: srv_peers. */
size_t srv_client_servers(const struct srv *s, struct srv_peer *out, size_t cap);
/* An API request for a server (m->kind SRV_CL_HTTP; its id is set here).
 * cb(arg, 0, answer) with the server's answer (borrowed during the call),
 * or cb(arg, rc, NULL): CN_EAGAIN (no server took it within the hold
 * timeout), CN_EIO (the server was lost with a non-idempotent request in
 * flight: its outcome is unknown), CN_ESHUTDOWN. *handle (for
 * srv_client_cancel) is set before cb can run. 0 or CN_ENOMEM/CN_EINVAL
 * (cb not called). */
typedef void (*srv_client_cb)(void *arg, int rc, const struct srv_cl_resp *answer);
int srv_client_http(struct srv *s, struct srv_cl_req *m, bool idempotent, srv_client_cb cb,
                    void *arg, uint64_t *handle);
/* The caller went away: the server is told (CANCEL) and cb never runs. */
void srv_client_cancel(struct srv *s, uint64_t handle);
/* Anti-entropy: fetch the catalog's rows of `node` from a server into the
 * mirror (replacing it; every watch fires). cb(arg, 0, nodes in the
 * catalog) or cb(arg, rc, 0). Returns 0 or CN_ENOMEM/CN_EINVAL. */
typedef void (*srv_refresh_cb)(void *arg, int rc, uint64_t nodes);
int srv_client_refresh(struct srv *s, const char *node, srv_refresh_cb cb, void *arg);

/* Server side: API requests of client agents (SRV_CL_HTTP and CANCEL) go
 * to `fn`; `gone` runs when a client's last connection closed (its
 * requests are dead). PROPOSE and DUMP are served by the server itself. */
typedef void (*srv_client_api_fn)(void *arg, uint64_t from, const struct srv_cl_req *m);
typedef void (*srv_client_gone_fn)(void *arg, uint64_t from);
void srv_set_client_api(struct srv *s, srv_client_api_fn fn, srv_client_gone_fn gone, void *arg);
/* Send a client the answer to its request. 0 or the encoding/send error. */
int srv_client_answer(struct srv *s, uint64_t to, const struct srv_cl_resp *m);

#endif
