/* Three servers in one process, on one loop, talking over loopback TCP
 * through the real transport: formation with bootstrap_expect and a join
 * list (gossip fills in the rest), writes through a follower (forwarded,
 * completed when applied locally), read barriers on a follower, failover
 * after the leader closes, a restarted server catching up through a
 * snapshot sent by the leader (its log was compacted past the follower),
 * removal of a server, and the hold timeout without a leader. Deadlines in
 * the waits only stop a hung test; nothing asserts on timing. */
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "server/server.h"
#include "storage/storage.h"
#include "server/server_int.h" /* re-forwarding tests: raft ids, the log, a send switch */

#define N 3

struct node {
    char dir[64];
    int port;
    char addr[32];
    struct srv *s;
    struct srv_options o;
    const char *join[N];
};

static uv_loop_t loop;
static struct node nodes[N];

/* Storage I/O with an injected failure: every fsync of a file under
 * fail_dir fails with EIO (a disk gone bad under one server). */
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER; /* the writer threads read it */
static char fail_dir[64];
static int fatal_calls[N];

static void set_fail_dir(const char *dir)
{
    pthread_mutex_lock(&fail_mu);
    snprintf(fail_dir, sizeof(fail_dir), "%s", dir);
    pthread_mutex_unlock(&fail_mu);
}

static bool fd_fails(int fd)
{
    char dir[sizeof(fail_dir)];
    pthread_mutex_lock(&fail_mu);
    memcpy(dir, fail_dir, sizeof(dir));
    pthread_mutex_unlock(&fail_mu);
    if (!dir[0])
        return false;
    char link[64], path[512];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0)
        return false;
    path[n] = 0;
    return !strncmp(path, dir, strlen(dir));
}

static int faulty_fdatasync(int fd)
{
    if (fd_fails(fd)) {
        errno = EIO;
        return -1;
    }
    return stor_io_posix.fdatasync(fd);
}

static int faulty_fsync(int fd)
{
    if (fd_fails(fd)) {
        errno = EIO;
        return -1;
    }
    return stor_io_posix.fsync(fd);
}

static struct stor_io faulty_io;

static void on_fatal(void *arg, int rc, const char *msg)
{
    (void)rc, (void)msg;
    (*(int *)arg)++;
}

struct ctx {
    int done;
    int ok;
    int last_rc;
};

static void on_done(void *arg, int rc, const struct state_result *res)
{
    struct ctx *c = arg;
    c->done++;
    c->last_rc = rc;
    if (rc == 0 && res && res->ok)
        c->ok++;
}

static void on_read(void *arg, int rc)
{
    struct ctx *c = arg;
    c->done++;
    c->last_rc = rc;
}

static void on_op(void *arg, int rc, const char *msg)
{
    (void)msg;
    struct ctx *c = arg;
    c->done++;
    c->last_rc = rc;
}

static int rm_entry(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb, (void)f, (void)ftw;
    return remove(p);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void on_wake(uv_timer_t *t)
{
    (void)t;
}

/* Run the loop until pred() holds; a deadline of 30 s of loop time. */
static bool spin(bool (*pred)(void *), void *arg)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_wake, 5, 5);
    uint64_t deadline = uv_now(&loop) + 30000;
    bool ok;
    while (!(ok = pred(arg)) && uv_now(&loop) < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return ok;
}

static bool ctx_done(void *arg)
{
    return ((struct ctx *)arg)->done > 0;
}

static void open_node(int i)
{
    char err[256];
    assert_int_equal(srv_open(&loop, &nodes[i].o, &nodes[i].s, err, sizeof(err)), 0);
}

static void close_node(int i)
{
    srv_close(nodes[i].s);
    nodes[i].s = NULL;
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* The index of the leader every open node agrees on, or -1. */
static int agreed_leader(void)
{
    const char *seen = NULL;
    for (int i = 0; i < N; i++) {
        if (!nodes[i].s)
            continue;
        const char *l = srv_leader_addr(nodes[i].s);
        if (!l[0] || (seen && strcmp(seen, l)))
            return -1;
        seen = l;
    }
    for (int i = 0; i < N; i++)
        if (seen && nodes[i].s && !strcmp(nodes[i].addr, seen) && srv_is_leader(nodes[i].s))
            return i;
    return -1;
}

static bool have_leader(void *arg)
{
    (void)arg;
    return agreed_leader() >= 0;
}

static int put(int i, const char *key, const char *val)
{
    struct state_kv_op op = {
        .verb = STATE_KV_SET, .key = key, .value = val, .value_len = strlen(val)};
    struct cn_buf cmd = CN_BUF_INIT;
    assert_int_equal(state_cmd_kv_txn(&cmd, &op, 1), 0);
    struct ctx c = {0};
    assert_int_equal(srv_propose(nodes[i].s, cmd.p, cmd.len, on_done, &c), 0);
    cn_buf_free(&cmd);
    assert_true(spin(ctx_done, &c));
    return c.ok == 1 ? 0 : c.last_rc ? c.last_rc : CN_EIO;
}

static bool has_key(int i, const char *key)
{
    return state_kv_get(srv_state(nodes[i].s), key, NULL);
}

struct keyarg {
    int node;
    const char *key;
};

static bool key_there(void *arg)
{
    struct keyarg *k = arg;
    return has_key(k->node, k->key);
}

static uint64_t election_ms = 150, heartbeat_ms = 0;

static void setup_nodes(void)
{
    faulty_io = stor_io_posix;
    faulty_io.fdatasync = faulty_fdatasync;
    faulty_io.fsync = faulty_fsync;
    set_fail_dir("");
    memset(fatal_calls, 0, sizeof(fatal_calls));
    uv_loop_init(&loop);
    memset(nodes, 0, sizeof(nodes));
    for (int i = 0; i < N; i++) {
        struct node *n = &nodes[i];
        snprintf(n->dir, sizeof(n->dir), "/tmp/cairn-cl-XXXXXX");
        assert_non_null(mkdtemp(n->dir));
        n->port = free_port();
        snprintf(n->addr, sizeof(n->addr), "127.0.0.1:%d", n->port);
    }
    for (int i = 0; i < N; i++) {
        struct node *n = &nodes[i];
        /* Each knows only the first server: gossip does the rest. */
        n->join[0] = nodes[0].addr;
        n->o = (struct srv_options){.data_dir = n->dir,
                                    .bind_addr = "127.0.0.1",
                                    .server_port = n->port,
                                    .cluster_id = "dc1",
                                    .bootstrap_expect = N,
                                    .join = n->join,
                                    .njoin = i == 0 ? 0 : 1,
                                    .tick_ms = 10,
                                    .election_ms = election_ms,
                                    .heartbeat_ms = heartbeat_ms,
                                    .snapshot_entries = 100,
                                    .snapshot_interval_ms = 0,
                                    .hold_ms = 1500,
                                    .on_fatal = on_fatal,
                                    .fatal_arg = &fatal_calls[i],
                                    .stor_io = &faulty_io};
        char name[16];
        snprintf(name, sizeof(name), "n%d", i + 1);
        n->o.node_name = strdup(name);
        open_node(i);
    }
}

static void teardown_nodes(void)
{
    for (int i = 0; i < N; i++) {
        if (nodes[i].s)
            close_node(i);
        free((void *)nodes[i].o.node_name);
        nftw(nodes[i].dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_form_write_read_failover(void **state)
{
    (void)state;
    setup_nodes();
    assert_true(spin(have_leader, NULL));
    int l = agreed_leader();
    struct srv_peer peers[8];
    assert_int_equal(srv_peers(nodes[l].s, peers, 8), N);
    for (int i = 0; i < N; i++)
        assert_true(peers[i].voter);

    /* A write through each server; each is applied everywhere. */
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "w/%d", i);
        assert_int_equal(put(i, key, "v"), 0);
    }
    int f = (l + 1) % N;
    for (int i = 0; i < N; i++) {
        /* the proposer has it when its callback runs */
        snprintf(key, sizeof(key), "w/%d", i);
        assert_true(has_key(i, key));
    }
    /* A read barrier on a follower makes the latest write visible there. */
    assert_int_equal(put(l, "latest", "x"), 0);
    struct ctx rc = {0};
    assert_int_equal(srv_read_barrier(nodes[f].s, SRV_READ_CONSISTENT, on_read, &rc), 0);
    assert_true(spin(ctx_done, &rc));
    assert_int_equal(rc.last_rc, 0);
    assert_true(has_key(f, "latest"));
    assert_true(srv_known_leader(nodes[f].s));
    assert_false(srv_is_leader(nodes[f].s));

    /* The leader goes away: the others elect one and take writes. */
    close_node(l);
    assert_true(spin(have_leader, NULL));
    int l2 = agreed_leader();
    assert_true(l2 != l);
    int f2 = 3 - l - l2;
    assert_int_equal(put(f2, "after-failover", "y"), 0);
    assert_true(has_key(l2, "after-failover") ||
                spin(key_there, &(struct keyarg){l2, "after-failover"}));

    /* Many writes while it is down: the leader's snapshots compact the log
     * past what the old leader has, so it catches up from a snapshot. */
    for (int i = 0; i < 1300; i++) {
        snprintf(key, sizeof(key), "bulk/%04d", i);
        assert_int_equal(put(i % 2 ? l2 : f2, key, "z"), 0);
    }
    open_node(l);
    assert_true(spin(key_there, &(struct keyarg){l, "bulk/1299"}));
    assert_true(has_key(l, "w/0") && has_key(l, "after-failover"));
    assert_true(srv_snapshot_index(nodes[l].s) > 0);
    assert_true(spin(have_leader, NULL));
    teardown_nodes();
}

/* The two servers other than `arg` agree on a leader that is not `arg`. */
static bool others_lead(void *arg)
{
    int x = *(int *)arg, a = (x + 1) % N, b = (x + 2) % N;
    const char *la = srv_leader_addr(nodes[a].s), *lb = srv_leader_addr(nodes[b].s);
    return la[0] && !strcmp(la, lb) && strcmp(la, nodes[x].addr) &&
           (srv_is_leader(nodes[a].s) || srv_is_leader(nodes[b].s));
}

static bool fatal_seen(void *arg)
{
    return fatal_calls[*(int *)arg] > 0;
}

/* A leader whose disk fails (fsync returns EIO) must not go on leading: its
 * write fails, it tells its owner once, goes silent, and the two others
 * elect a leader and take writes while it stays open. */
static void test_leader_storage_failure(void **state)
{
    (void)state;
    setup_nodes();
    assert_true(spin(have_leader, NULL));
    int l = agreed_leader();
    int f = (l + 1) % N;
    assert_int_equal(put(l, "before", "x"), 0);

    set_fail_dir(nodes[l].dir);
    assert_int_equal(put(l, "during", "x"), CN_EIO);
    assert_true(spin(fatal_seen, &l));
    assert_true(spin(others_lead, &l));
    assert_int_equal(put(f, "after", "y"), 0);
    assert_true(has_key(f, "before") && has_key(f, "after"));
    assert_false(has_key(l, "after"));
    assert_int_equal(fatal_calls[l], 1);
    assert_int_equal(fatal_calls[f] + fatal_calls[(l + 2) % N], 0);
    set_fail_dir("");
    teardown_nodes();
}

static void test_remove_and_no_leader_hold(void **state)
{
    (void)state;
    setup_nodes();
    assert_true(spin(have_leader, NULL));
    int l = agreed_leader();
    int f = (l + 1) % N, g = (l + 2) % N;

    /* Removing an unknown server fails; removing a follower (asked through
     * the other follower, which forwards) shrinks the configuration. */
    struct ctx c = {0};
    assert_int_equal(srv_remove_peer(nodes[f].s, 0, "127.0.0.1:1", on_op, &c), 0);
    assert_true(spin(ctx_done, &c));
    assert_int_equal(c.last_rc, CN_ENOTFOUND);
    memset(&c, 0, sizeof(c));
    assert_int_equal(srv_remove_peer(nodes[f].s, 0, nodes[g].addr, on_op, &c), 0);
    assert_true(spin(ctx_done, &c));
    assert_int_equal(c.last_rc, 0);
    struct srv_peer peers[8];
    assert_int_equal(srv_peers(nodes[l].s, peers, 8), N - 1);
    close_node(g);
    assert_int_equal(put(f, "two", "voters"), 0);

    /* Without the leader, a single voter of two has no quorum: a write is
     * held for hold_ms, then fails with CN_EAGAIN (no leader) or
     * CN_ECONFLICT (outcome unknown). */
    close_node(l);
    struct state_kv_op op = {.verb = STATE_KV_SET, .key = "held", .value = "x", .value_len = 1};
    struct cn_buf cmd = CN_BUF_INIT;
    assert_int_equal(state_cmd_kv_txn(&cmd, &op, 1), 0);
    memset(&c, 0, sizeof(c));
    assert_int_equal(srv_propose(nodes[f].s, cmd.p, cmd.len, on_done, &c), 0);
    cn_buf_free(&cmd);
    assert_true(spin(ctx_done, &c));
    assert_true(c.last_rc == CN_EAGAIN || c.last_rc == CN_ECONFLICT);
    assert_false(has_key(f, "held"));
    /* A stale read needs nobody. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(srv_read_barrier(nodes[f].s, SRV_READ_STALE, on_read, &c), 0);
    assert_int_equal(c.done, 1);
    teardown_nodes();
}

static bool follower_quiet(void *arg)
{
    uint64_t ms = *(uint64_t *)arg;
    for (int i = 0; i < N; i++)
        if (nodes[i].s && !srv_is_leader(nodes[i].s) && srv_known_leader(nodes[i].s) &&
            srv_last_contact_ms(nodes[i].s) >= ms)
            return true;
    return false;
}

/* Servers that bootstrap together (bootstrap_expect) use the configured
 * heartbeat like any other: a follower of a leader that beats every 50 ticks
 * goes 30 ticks without hearing from it at some point (with a heartbeat of
 * election/10 = 10 ticks it never would). Nothing is written meanwhile. */
static void test_bootstrap_uses_configured_heartbeat(void **state)
{
    (void)state;
    election_ms = 1000;
    heartbeat_ms = 500;
    setup_nodes();
    election_ms = 150;
    heartbeat_ms = 0;
    assert_true(spin(have_leader, NULL));
    uint64_t quiet = 300;
    assert_true(spin(follower_quiet, &quiet));
    teardown_nodes();
}

/* ---- exact re-forwarding ------------------------------------------------ */

static uint64_t last_index(int i)
{
    struct raft_status st;
    raft_get_status(nodes[i].s->raft, &st);
    return st.last_index;
}

struct grew {
    int node;
    uint64_t than;
};

static bool log_grew(void *arg)
{
    struct grew *g = arg;
    return last_index(g->node) > g->than;
}

static bool other_leads(void *arg)
{
    int l = *(int *)arg;
    for (int i = 0; i < N; i++)
        if (i != l && nodes[i].s && srv_is_leader(nodes[i].s))
            return true;
    return false;
}

static void propose_set(int i, const char *key, struct ctx *c)
{
    struct state_kv_op op = {.verb = STATE_KV_SET, .key = key, .value = "v", .value_len = 1};
    struct cn_buf cmd = CN_BUF_INIT;
    assert_int_equal(state_cmd_kv_txn(&cmd, &op, 1), 0);
    assert_int_equal(srv_propose(nodes[i].s, cmd.p, cmd.len, on_done, c), 0);
    cn_buf_free(&cmd);
}

/* The key is on every open server, written by exactly one entry: a second
 * application of a SET would have moved its modify index. */
static void assert_applied_once(const char *key)
{
    for (int i = 0; i < N; i++) {
        if (!nodes[i].s)
            continue;
        assert_true(has_key(i, key) || spin(key_there, &(struct keyarg){i, key}));
        struct state_kv kv;
        assert_true(state_kv_get(srv_state(nodes[i].s), key, &kv));
        assert_int_equal(kv.create_index, kv.modify_index);
    }
}

/* A write forwarded by a follower to the leader, which proposes it and then
 * stops before it answered or replicated anything (its sends switched off,
 * then closed): it completes through the next leader, once. Before
 * re-forwarding it waited 7 s and failed. */
static void test_forwarded_write_survives_leader_stop(void **state)
{
    (void)state;
    setup_nodes();
    assert_true(spin(have_leader, NULL));
    int l = agreed_leader(), f = (l + 1) % N;
    assert_int_equal(put(f, "warm", "1"), 0); /* connections are up */
    struct grew g = {l, last_index(l)};
    struct ctx c = {0};
    nodes[l].s->x_stopping = true; /* the leader sends nothing more: no answer, no entry */
    propose_set(f, "once/a", &c);
    assert_true(spin(log_grew, &g)); /* the leader proposed it... */
    close_node(l);                   /* ...and stops */
    assert_true(spin(ctx_done, &c));
    assert_int_equal(c.last_rc, 0);
    assert_int_equal(c.ok, 1);
    assert_applied_once("once/a");
    teardown_nodes();
}

/* A leader proposes a write, cannot send anything (its sends are switched
 * off), loses leadership to the others, then comes back: its entry was
 * replaced, so the write is made again through the new leader, once. */
static void test_deposed_leader_reproposes_once(void **state)
{
    (void)state;
    setup_nodes();
    assert_true(spin(have_leader, NULL));
    int l = agreed_leader();
    assert_int_equal(put(l, "warm", "1"), 0);
    nodes[l].s->x_stopping = true; /* nothing leaves l */
    struct ctx c = {0};
    propose_set(l, "once/b", &c);
    assert_true(spin(other_leads, &l));
    assert_int_equal(c.done, 0);
    nodes[l].s->x_stopping = false;
    assert_true(spin(ctx_done, &c));
    assert_int_equal(c.last_rc, 0);
    assert_int_equal(c.ok, 1);
    assert_applied_once("once/b");
    teardown_nodes();
}

/* Feed the leader a forwarded PROPOSE as if from follower f. */
static void forward_as(int l, int f, uint64_t attempt, uint64_t term, uint64_t origin,
                       uint64_t env_id, const char *key)
{
    struct state_kv_op op = {.verb = STATE_KV_SET, .key = key, .value = "v", .value_len = 1};
    struct cn_buf cmd = CN_BUF_INIT, entry = CN_BUF_INIT, msg = CN_BUF_INIT;
    assert_int_equal(state_cmd_kv_txn(&cmd, &op, 1), 0);
    struct srv_env env = {.origin = origin, .req_id = env_id};
    assert_int_equal(srv_env_encode(&env, cmd.p, cmd.len, &entry), 0);
    struct srv_fwd_req *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->kind = SRV_FWD_PROPOSE;
    m->req_id = attempt;
    m->u.propose.term = term;
    m->u.propose.epoch = 77;
    m->u.propose.floor = 1;
    m->u.propose.cmd = entry.p;
    m->u.propose.cmd_len = entry.len;
    assert_int_equal(srv_fwd_req_encode(m, &msg), 0);
    srv__on_frame(nodes[l].s, nodes[f].s->id, XPORT_FORWARD_REQ, msg.p, msg.len);
    free(m);
    cn_buf_free(&cmd);
    cn_buf_free(&entry);
    cn_buf_free(&msg);
}

/* The leader proposes a forwarded write once per term: the same request sent
 * again (the same attempt, or another attempt of it) is answered from its
 * table; a request for another term, or whose envelope names another
 * server, is not proposed. */
static void test_duplicate_forward_answered_not_reproposed(void **state)
{
    (void)state;
    setup_nodes();
    assert_true(spin(have_leader, NULL));
    int l = agreed_leader(), f = (l + 1) % N;
    assert_int_equal(put(f, "warm", "1"), 0);
    struct raft_status st;
    raft_get_status(nodes[l].s->raft, &st);
    uint64_t fid = nodes[f].s->id, before = last_index(l);
    forward_as(l, f, 1, st.term, fid, 12345, "dup/k");
    assert_int_equal(last_index(l), before + 1);
    forward_as(l, f, 1, st.term, fid, 12345, "dup/k"); /* the attempt again */
    forward_as(l, f, 2, st.term, fid, 12345, "dup/k"); /* another attempt of it */
    assert_int_equal(last_index(l), before + 1);
    forward_as(l, f, 3, st.term - 1, fid, 999, "dup/old-term");
    forward_as(l, f, 4, st.term + 1, fid, 998, "dup/new-term");
    forward_as(l, f, 5, st.term, nodes[l].s->id, 997, "dup/not-theirs");
    assert_int_equal(last_index(l), before + 1);
    assert_applied_once("dup/k");
    /* the follower's own write still goes through */
    assert_int_equal(put(f, "dup/after", "1"), 0);
    assert_false(has_key(l, "dup/old-term") || has_key(l, "dup/new-term") ||
                 has_key(l, "dup/not-theirs"));
    teardown_nodes();
}

/* A follower's read index request to the leader is lost (no leader change,
 * so nothing else re-dispatches it): it is asked again after a resend
 * interval and succeeds. Before, it waited out the 7 s hold and failed. */
static void test_lost_forwarded_read_asked_again(void **state)
{
    (void)state;
    setup_nodes();
    assert_true(spin(have_leader, NULL));
    int l = agreed_leader(), f = (l + 1) % N;
    assert_int_equal(put(f, "warm", "1"), 0); /* connections are up */
    struct raft_status before;
    raft_get_status(nodes[f].s->raft, &before);
    nodes[f].s->x_drop_reads = 1;
    struct ctx c = {0};
    assert_int_equal(srv_read_barrier(nodes[f].s, SRV_READ_DEFAULT, on_read, &c), 0);
    assert_true(spin(ctx_done, &c));
    assert_int_equal(c.last_rc, 0);
    assert_int_equal(nodes[f].s->x_drop_reads, 0); /* the first ask was the lost one */
    struct raft_status after;
    raft_get_status(nodes[f].s->raft, &after);
    assert_int_equal(after.term, before.term); /* no election helped it along */
    assert_int_equal(agreed_leader(), l);
    teardown_nodes();
}

int main(void)
{
    /* A peer's transport resets dead links (SO_LINGER 0); a write racing the
     * reset must be an error, not a signal (the agent ignores SIGPIPE too). */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_write_read_failover),
        cmocka_unit_test(test_leader_storage_failure),
        cmocka_unit_test(test_remove_and_no_leader_hold),
        cmocka_unit_test(test_bootstrap_uses_configured_heartbeat),
        cmocka_unit_test(test_forwarded_write_survives_leader_stop),
        cmocka_unit_test(test_deposed_leader_reproposes_once),
        cmocka_unit_test(test_duplicate_forward_answered_not_reproposed),
        cmocka_unit_test(test_lost_forwarded_read_asked_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
