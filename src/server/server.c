/* server/server.c: open and close, and the public accessors of server.h.
 * The shell around the Raft core (raft/raft.h): propose -> persist (writer
 * thread, group commit) -> commit (quorum, decided by the core) -> apply on
 * the loop -> answer -> wake watchers. The parts, each in its own file, are
 * listed in server_int.h and docs/architecture.md.
 *
 * The loop thread owns the struct raft, the state machine, the proposals in
 * flight and the watch registry. srv_open recovers the state (recover.c),
 * starts the transport, the tick timer, the writer and snapshot threads;
 * srv_close stops them in the reverse order and frees the srv once its
 * last libuv handle closed. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"

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

/* CAIRN_XPORT_MAX_MSG (bytes, tests): a lower transport message limit, to
 * show that snapshots larger than one message still travel. */
size_t srv__xport_max_msg(void)
{
    const char *v = getenv("CAIRN_XPORT_MAX_MSG");
    if (v && atol(v) >= 65536 && atol(v) <= (1L << 30))
        return (size_t)atol(v);
    return 0;
}

static int fail_open(struct srv *s, int rc)
{
    srv_close(s);
    return rc;
}

void srv__keep_tls(struct srv *s, const struct srv_options *opt)
{
    if (opt->tls) {
        SSL_CTX_up_ref(opt->tls); /* released in srv_close */
        s->tls = opt->tls;
        s->tls_outgoing = opt->tls_outgoing;
    }
    if (opt->tls_server_name)
        snprintf(s->tls_name, sizeof(s->tls_name), "%s", opt->tls_server_name);
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
    s->log_window_entries =
        opt->log_window_entries ? opt->log_window_entries : SRV_LOG_WINDOW_ENTRIES;
    s->log_window_bytes = SRV_LOG_WINDOW_BYTES;
    s->snap_interval_ms = opt->snapshot_interval_ms;
    s->snap_in_process = opt->snapshot_in_process;
    /* Snapshot streaming (snapstream.c): 1 MiB chunks, 4 in flight. The
     * environment may set a smaller chunk (tests) or a larger one. */
    s->snap_chunk = opt->snapshot_chunk_bytes ? opt->snapshot_chunk_bytes : (size_t)1 << 20;
    const char *ck = getenv("CAIRN_SNAPSHOT_CHUNK_BYTES");
    if (ck && atol(ck) >= 64 && atol(ck) <= (1L << 26))
        s->snap_chunk = (size_t)atol(ck);
    s->snap_window = 4;
    s->child_fd = -1;
    /* 10 ms ticks give the election timer 50 distinct values in [500 ms, 1 s):
     * with coarser ticks two survivors often time out on the same tick and
     * split the vote (a 1.7 s failover seen at 50 ms ticks). */
    s->tick_ms = opt->tick_ms ? opt->tick_ms : 10;
    s->hold_ms = opt->hold_ms ? opt->hold_ms : 7000;
    s->hold_first_ms = opt->hold_first_ms ? opt->hold_first_ms : s->hold_ms;
    s->on_fatal = opt->on_fatal;
    s->fatal_arg = opt->fatal_arg;
    uint64_t election_ms = opt->election_ms ? opt->election_ms : 500;
    uint64_t hb_ms = opt->heartbeat_ms ? opt->heartbeat_ms : election_ms / 10;
    s->election_ticks = (unsigned)(election_ms / s->tick_ms);
    if (s->election_ticks < 3)
        s->election_ticks = 3;
    s->heartbeat_ticks = (unsigned)(hb_ms / s->tick_ms);
    if (s->heartbeat_ticks < 1)
        s->heartbeat_ticks = 1;
    if (s->heartbeat_ticks >= s->election_ticks)
        s->heartbeat_ticks = s->election_ticks - 1;
    s->expect = opt->bootstrap_expect;
    snprintf(s->node, sizeof(s->node), "%s", opt->node_name ? opt->node_name : "");
    snprintf(s->uuid, sizeof(s->uuid), "%s", opt->node_uuid ? opt->node_uuid : "");
    s->serf_port = opt->serf_port > 0 && opt->serf_port <= 65535 ? (uint16_t)opt->serf_port : 0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_cond_init(&s->snap_cond, NULL);
    pthread_cond_init(&s->done_cond, NULL);
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
    else if ((rc = srv__load_id(opt->data_dir, &s->id, err, errcap)))
        return fail_open(s, rc);
    if (opt->client) {
        /* No Raft, no log: the transport to the servers (client.c). */
        if ((rc = srv__client_open(s, opt, err, errcap)))
            return fail_open(s, rc);
        *out = s;
        return 0;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/raft", opt->data_dir);
    struct stor_options so = {.segment_bytes = 0, .log = log_cb, .log_arg = s, .io = opt->stor_io};
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
    bool alone =
        opt->bootstrap || opt->bootstrap_expect == 1 ||
        ((!opt->bind_addr || !*opt->bind_addr) && opt->bootstrap_expect < 2 && opt->njoin == 0);
    if (opt->bind_addr && *opt->bind_addr) {
        const char *adv =
            opt->advertise_addr && *opt->advertise_addr ? opt->advertise_addr : opt->bind_addr;
        /* The port is known once the transport listens (below). */
        snprintf(s->self_addr, sizeof(s->self_addr), "%s", adv);
    }

    /* Start the transport first: the address we advertise needs its port. */
    if (opt->bind_addr && *opt->bind_addr) {
        const char *cid = opt->cluster_id && *opt->cluster_id ? opt->cluster_id : "dc1";
        snprintf(s->cluster, sizeof(s->cluster), "%s", cid);
        uint64_t hb_xport = (uint64_t)s->heartbeat_ticks * s->tick_ms;
        if (hb_xport < 25)
            hb_xport = 25;
        struct xport_options xo = {.host = opt->bind_addr,
                                   .port = opt->server_port,
                                   .cluster_id = cid,
                                   .node_id = s->id,
                                   .on_frame = srv__on_frame,
                                   .on_peer_state = srv__on_peer_state,
                                   .arg = s,
                                   /* Snapshots are streamed in chunks (snapstream.c):
                                    * the limit is the transport's default (64 MiB,
                                    * above any entry); tests may lower it. */
                                   .max_msg = srv__xport_max_msg(),
                                   .chunk_size = srv__xport_max_msg() / 2,
                                   /* Keepalives and the idle limit follow Raft's
                                    * heartbeat, at least 25 ms: a shorter idle limit
                                    * would reset links of a merely busy peer. */
                                   .heartbeat_ms = hb_xport,
                                   /* client agents' connections (client.c) */
                                   .guest_idle_ms = SRV_CLIENT_IDLE_MS,
                                   .tls = opt->tls,
                                   .tls_outgoing = opt->tls_outgoing,
                                   .tls_required = opt->tls_required,
                                   .tls_server_name = opt->tls_server_name};
        srv__keep_tls(s, opt);
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

    if ((rc = srv__recover(s, dir, empty, alone, &info, err, errcap)))
        return fail_open(s, rc);
    /* A sole voter need not wait an election timeout to learn it is alone:
     * time is ticks, so run them now. */
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (st.conf.n == 1 && st.conf.servers[0].id == s->id && st.conf.servers[0].role == RAFT_VOTER) {
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
        if (!srv__probe_new(s, opt->join[i])) {
            snprintf(err, errcap, "out of memory");
            return fail_open(s, CN_ENOMEM);
        }
    }

    state_set_change_cb(s->state, on_change, s);
    if (uv_async_init(loop, &s->async, srv__on_async)) {
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
    s->tick_at = uv_now(loop);
    uv_timer_start(&s->tick, srv__on_tick, s->tick_ms, s->tick_ms);
    uv_unref((uv_handle_t *)&s->tick);
    s->timer_init = true;
    s->last_snap_start = uv_now(loop);
    uv_timer_init(loop, &s->snap_timer);
    s->snap_timer.data = s;
    s->handles++;
    if (s->snap_interval_ms) {
        uv_timer_start(&s->snap_timer, srv__on_snap_timer, s->snap_interval_ms,
                       s->snap_interval_ms);
        uv_unref((uv_handle_t *)&s->snap_timer);
    }
    if (pthread_create(&s->writer, NULL, srv__writer_main, s)) {
        snprintf(err, errcap, "cannot start the log writer thread");
        return fail_open(s, CN_EIO);
    }
    s->writer_started = true;
    if (pthread_create(&s->snapper, NULL, srv__snapper_main, s)) {
        snprintf(err, errcap, "cannot start the snapshot thread");
        return fail_open(s, CN_EIO);
    }
    s->snapper_started = true;
    /* Apply what the restored commit covers, persist the election. */
    s->opening = true;
    srv__process_ready(s);
    if (st.state == RAFT_LEADER && st.conf.n == 1) {
        /* A sole voter commits its whole log with its first write (the
         * election and the no-op): wait for it, so that the state is
         * complete when srv_open returns, as it was before Raft (the agent
         * rebuilds its registrations from it at once). A few fsyncs: the
         * writer signals done_cond with each batch it hands back, and
         * handling a batch may queue the next (the no-op after the vote). */
        while (s->seq.n_jobs) {
            pthread_mutex_lock(&s->mu);
            while (!s->done_head && !s->write_err)
                pthread_cond_wait(&s->done_cond, &s->mu);
            int werr = s->write_err;
            pthread_mutex_unlock(&s->mu);
            srv__on_async(&s->async);
            if (werr)
                break;
        }
    }
    s->opening = false;
    raft_get_status(s->raft, &st);
    if (st.state != s->role || st.leader != s->leader)
        srv__role_changed(s, &st);
    cn_info("server",
            "raft id %016llx; recovered state at index %llu (snapshot %llu, log "
            "%llu..%llu)%s",
            (unsigned long long)s->id, (unsigned long long)s->applied,
            (unsigned long long)info.snap_index, (unsigned long long)info.first_index,
            (unsigned long long)info.last_index,
            s->bootstrapped ? "" : "; waiting for servers to bootstrap or a leader");
    if (s->probes)
        srv__run_probes(s);
    *out = s;
    return 0;
}

void srv__free(struct srv *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->snap_cond);
    pthread_cond_destroy(&s->done_cond);
    while (s->probes) {
        struct probe *p = s->probes;
        s->probes = p->next;
        tls_conn_free(p->tls);
        cn_free(p);
    }
    if (s->tls)
        SSL_CTX_free(s->tls);
    cn_free(s);
}

void srv_set_tls(struct srv *s, struct ssl_ctx_st *ctx)
{
    if (!ctx || !s->x)
        return;
    xport_set_tls(s->x, ctx);
    SSL_CTX_up_ref(ctx);
    if (s->tls)
        SSL_CTX_free(s->tls);
    s->tls = ctx;
}

void srv__on_handle_closed(uv_handle_t *h)
{
    struct srv *s = h->data;
    if (--s->handles == 0 && s->closing)
        srv__free(s);
}

static void on_xport_stopped(void *arg)
{
    struct srv *s = arg;
    if (--s->handles == 0 && s->closing)
        srv__free(s);
}

void srv_close(struct srv *s)
{
    if (!s)
        return;
    s->closing = true;
    srv__snapwait_close(s);
    if (s->child) {
        kill(s->child, SIGKILL);
        s->reap_pid = s->child;
        s->child = 0;
        srv__child_poll_close(s);
    }
    srv__reap_child(s, true);
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
            srv__on_async(&s->async);
    }
    /* Remember how far we applied, so a restart serves it at once. */
    if (s->st && !s->write_err && s->seq.hs.term) {
        struct stor_hard_state hs = {.term = s->seq.hs.term, .vote = s->seq.hs.vote};
        hs.commit = s->applied;
        stor_set_hard_state(s->st, &hs);
    }
    srv__snapshot_at_close(s);
    while (s->props.head)
        srv__prop_finish(s, s->props.head, CN_ESHUTDOWN, NULL);
    while (s->reads.head)
        srv__read_finish(s, s->reads.head, CN_ESHUTDOWN);
    /* Jobs never written (the writer stopped first). */
    while (s->wq_head) {
        struct wjob *j = s->wq_head;
        s->wq_head = j->next;
        srv__free_job(j);
    }
    while (s->done_head) {
        struct wjob *j = s->done_head;
        s->done_head = j->next;
        srv__free_job(j);
    }
    srv__readback_free(s);
    if (s->snap_job) {
        srv__encbuf_unmap(&s->snap_job->data);
        cn_free(s->snap_job);
        s->snap_job = NULL;
    }
    if (s->cl)
        srv__client_close(s);
    srv__sstream_close_all(s);
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
        srv__op_finish(s, s->ops.head, CN_ESHUTDOWN, "shutting down");
    srv__renews_fail(s, CN_ESHUTDOWN);
    for (struct probe *p = s->probes; p; p = p->next) {
        if (p->busy)
            srv__probe_end(p);
        else
            srv__probe_report(p, CN_ESHUTDOWN, "shutting down");
    }
    if (s->x) {
        s->x_stopping = true;
        s->handles++;
        xport_stop(s->x, on_xport_stopped, s);
        s->x = NULL;
    }
    if (s->timer_init) {
        uv_close((uv_handle_t *)&s->snap_timer, srv__on_handle_closed);
        uv_close((uv_handle_t *)&s->tick, srv__on_handle_closed);
        uv_close((uv_handle_t *)&s->idle, srv__on_handle_closed);
    }
    if (s->async_init)
        uv_close((uv_handle_t *)&s->async, srv__on_handle_closed);
    if (s->handles == 0)
        srv__free(s);
}

struct state *srv_state(struct srv *s)
{
    return s->state;
}

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

size_t srv_gossip_addrs(const struct srv *s, char (*out)[80], size_t cap)
{
    size_t n = 0;
    for (size_t k = 0; k < s->ndir; k++) {
        const struct pinfo *p = &s->dir[k];
        const char *colon = strrchr(p->addr, ':');
        if (!p->serf_port || !colon || p->id == s->id)
            continue;
        if (n < cap)
            snprintf(out[n], 80, "%.*s:%u", (int)(colon - p->addr), p->addr, p->serf_port);
        n++;
    }
    return n;
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
    if (s->cl)
        return srv__client_connected(s); /* a server answers for it */
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

bool srv_watch_live(const struct srv *s, const struct srv_watch *w)
{
    return s->watches && srv__watches_live(s->watches, w);
}

size_t srv_watch_count(const struct srv *s)
{
    return srv__watches_count(s->watches);
}
