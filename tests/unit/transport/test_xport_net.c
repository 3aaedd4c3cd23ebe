/* Transport tests over real sockets on 127.0.0.1 ephemeral ports, one uv
 * loop in the test thread. Waits are "run the loop until X happens", guarded
 * by a generous deadline that only turns a hang into a failure (no timing is
 * asserted): every wait, the teardown and the raw sockets' reads give up with
 * a message, so a test can fail but never hang.
 *
 * Both ends of a connection usually live in this one process, so when it is
 * descheduled (a loaded machine) both stall together: hello timeouts are long
 * here (NODE_HELLO_MS), and so is the heartbeat (NODE_HEARTBEAT_MS: silence
 * closes a connection after 4 of them), except where they are tested. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "transport/transport.h"

#define GUARD_MS 15000
#define NODE_HELLO_MS 10000
#define NODE_HEARTBEAT_MS 2000

struct node {
    struct xport *x;
    uint64_t id;
    int port;
    const char *cluster;
    size_t max_queue, chunk;
    uint64_t hello_ms;     /* 0: NODE_HELLO_MS */
    uint64_t heartbeat_ms; /* 0: NODE_HEARTBEAT_MS */
    bool default_backoff;  /* the transport's own (else 10..100 ms) */
    int frames;
    uint64_t last_from;
    uint8_t last_type;
    struct cn_buf last; /* last payload */
    int from_count[8];
    bool up[8];
    int ups, downs;
    struct cn_buf log;
    bool stopped;
    bool stop_on_frame;
};

/* A fresh loop per test; after a failure it is abandoned as it is (closing
 * the transports' handles behind their back is not possible), so a failing
 * test fails instead of hanging in teardown. */
static uv_loop_t *loopp;
#define loop (*loopp)
static uv_timer_t *guard;
static bool guard_fired;
static int live; /* transports started and not yet stopped */

static void on_frame(void *arg, uint64_t from, uint8_t type, const void *p, size_t len)
{
    struct node *n = arg;
    n->frames++;
    n->last_from = from;
    n->last_type = type;
    cn_buf_reset(&n->last);
    assert_int_equal(cn_buf_append(&n->last, p, len), 0);
    if (from < 8)
        n->from_count[from]++;
    if (n->stop_on_frame && n->x) {
        xport_stop(n->x, NULL, NULL); /* from inside a read callback */
        n->x = NULL;
        live--;
    }
}

static void on_state(void *arg, uint64_t id, bool up)
{
    struct node *n = arg;
    if (id < 8)
        n->up[id] = up;
    if (up)
        n->ups++;
    else
        n->downs++;
}

static void on_log(void *arg, int level, const char *msg)
{
    struct node *n = arg;
    cn_buf_puts(&n->log, msg);
    cn_buf_putc(&n->log, '\n');
    cn_buf_cstr(&n->log);
}

static void start_node(struct node *n, uint64_t id, int port)
{
    n->id = id;
    if (!n->cluster)
        n->cluster = "test-cluster";
    n->stopped = false;
    struct xport_options o = {
        .host = "127.0.0.1",
        .port = port,
        .cluster_id = n->cluster,
        .node_id = id,
        .chunk_size = n->chunk,
        .max_queue = n->max_queue,
        .max_msg = 1 << 20,
        .backoff_min_ms = n->default_backoff ? 0 : 10,
        .backoff_max_ms = n->default_backoff ? 0 : 100,
        .hello_timeout_ms = n->hello_ms ? n->hello_ms : NODE_HELLO_MS,
        .heartbeat_ms = n->heartbeat_ms ? n->heartbeat_ms : NODE_HEARTBEAT_MS,
        .seed = id,
        .on_frame = on_frame,
        .on_peer_state = on_state,
        .arg = n,
        .log = on_log,
        .log_arg = n,
    };
    char err[200];
    int rc = xport_start(&loop, &o, &n->x, err, sizeof(err));
    if (rc != 0)
        fail_msg("xport_start: %s", err);
    live++;
    n->port = xport_port(n->x);
    assert_true(n->port > 0);
}

static void stopped_cb(void *arg)
{
    ((struct node *)arg)->stopped = true;
}

static void guard_cb(uv_timer_t *t)
{
    guard_fired = true;
}

typedef bool (*pred_fn)(void *ctx);

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* The guard timer wakes the loop; the clock check bounds the wait even if
 * something kept the guard from firing. */
static void run_until(pred_fn pred, void *ctx, const char *what)
{
    uint64_t end = mono_ms() + GUARD_MS + 1000;
    guard_fired = false;
    uv_timer_start(guard, guard_cb, GUARD_MS, 0);
    while (!pred(ctx) && !guard_fired && mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(guard);
    if (!pred(ctx))
        fail_msg("timed out after %d ms waiting for %s", GUARD_MS, what);
}

static bool is_stopped(void *ctx)
{
    return ((struct node *)ctx)->stopped;
}

static void stop_node(struct node *n)
{
    xport_stop(n->x, stopped_cb, n);
    run_until(is_stopped, n, "stop");
    n->x = NULL;
    live--;
}

static void free_node(struct node *n)
{
    if (n->x)
        stop_node(n);
    cn_buf_free(&n->last);
    cn_buf_free(&n->log);
}

struct pair {
    struct node *n;
    uint64_t id;
};

static bool sees_up(void *ctx)
{
    struct pair *p = ctx;
    return p->n->x && xport_peer_up(p->n->x, p->id);
}

static bool sees_down(void *ctx)
{
    return !sees_up(ctx);
}

static void wait_up(struct node *n, uint64_t id)
{
    struct pair p = {n, id};
    run_until(sees_up, &p, "peer up");
}

struct want {
    struct node *n;
    int frames;
};

static bool has_frames(void *ctx)
{
    struct want *w = ctx;
    return w->n->frames >= w->frames;
}

static void wait_frames(struct node *n, int count)
{
    struct want w = {n, count};
    run_until(has_frames, &w, "frames");
}

struct logwant {
    struct node *n;
    const char *s;
};

static bool log_has(void *ctx)
{
    struct logwant *l = ctx;
    return l->n->log.p && strstr(l->n->log.p, l->s) != NULL;
}

static void wait_log(struct node *n, const char *s)
{
    struct logwant l = {n, s};
    run_until(log_has, &l, s);
}

static int setup(void **state)
{
    loopp = malloc(sizeof(*loopp));
    guard = malloc(sizeof(*guard));
    assert_int_equal(uv_loop_init(loopp), 0);
    uv_timer_init(loopp, guard);
    live = 0;
    return 0;
}

static void free_guard(uv_handle_t *h)
{
    free(h);
}

struct census {
    int n;
    char names[200];
};

static void count_handle(uv_handle_t *h, void *arg)
{
    struct census *c = arg;
    if (h == (uv_handle_t *)guard)
        return;
    c->n++;
    size_t len = strlen(c->names);
    snprintf(c->names + len, sizeof(c->names) - len, " %s%s", uv_handle_type_name(h->type),
             uv_is_closing(h) ? "(closing)"
             : uv_has_ref(h)  ? ""
                              : "(unref)");
}

/* Every transport has been stopped: only handles still closing may remain.
 * Run the loop until they are gone, for a bounded time (the guard timer keeps
 * the loop from blocking forever in epoll_wait), then close it. A handle that
 * never closes is a bug in the transport's stop: fail, naming it. */
static int teardown(void **state)
{
    if (live > 0)
        return 0; /* a failed test: abandon the loop */
    struct census c;
    uint64_t end = mono_ms() + GUARD_MS + 1000;
    guard_fired = false;
    uv_timer_start(guard, guard_cb, GUARD_MS, 0);
    for (;;) {
        memset(&c, 0, sizeof(c));
        uv_walk(loopp, count_handle, &c);
        if (c.n == 0 || guard_fired || mono_ms() >= end)
            break;
        uv_run(loopp, UV_RUN_ONCE);
    }
    if (c.n > 0)
        fail_msg("teardown: %d handle(s) still open after %d ms:%s", c.n, GUARD_MS, c.names);
    uv_close((uv_handle_t *)guard, free_guard);
    uv_run(loopp, UV_RUN_NOWAIT); /* runs the guard's close callback */
    assert_int_equal(uv_loop_close(loopp), 0);
    free(loopp);
    return 0;
}

static const char *addr_of(int port)
{
    static char b[4][32];
    static int i;
    char *s = b[i++ % 4];
    snprintf(s, 32, "127.0.0.1:%d", port);
    return s;
}

static int send_str(struct node *n, uint64_t to, const char *s)
{
    return xport_send(n->x, to, XPORT_RAFT_MSG, s, strlen(s));
}

/* ---- connected transports ------------------------------------------------------------ */

static void test_two_way(void **state)
{
    struct node a = {.chunk = 1024}, b = {.chunk = 1024};
    start_node(&a, 1, 0);
    start_node(&b, 2, 0);
    assert_int_equal(xport_send(a.x, 2, XPORT_RAFT_MSG, "x", 1), CN_EAGAIN); /* not yet */
    assert_int_equal(xport_set_peer(a.x, 2, addr_of(b.port)), 0);
    assert_int_equal(xport_set_peer(b.x, 1, addr_of(a.port)), 0);
    wait_up(&a, 2);
    wait_up(&b, 1);
    assert_true(a.up[2]);

    assert_int_equal(send_str(&a, 2, "ping"), 0);
    wait_frames(&b, 1);
    assert_int_equal(b.last_from, 1);
    assert_int_equal(b.last_type, XPORT_RAFT_MSG);
    assert_memory_equal(b.last.p, "ping", 4);
    assert_int_equal(xport_send(b.x, 1, XPORT_FORWARD_REQ, "pong", 4), 0);
    wait_frames(&a, 1);
    assert_int_equal(a.last_from, 2);
    assert_int_equal(a.last_type, XPORT_FORWARD_REQ);

    /* A large message goes in fragments; a small one queued after it may
     * overtake it; both arrive intact. */
    static char big[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7 + 3);
    assert_int_equal(xport_send(a.x, 2, XPORT_RAFT_MSG, big, sizeof(big)), 0);
    assert_int_equal(send_str(&a, 2, "after"), 0);
    wait_frames(&b, 3);
    assert_int_equal(b.last.len, sizeof(big));
    assert_memory_equal(b.last.p, big, sizeof(big));

    /* Too big for max_msg (1 MiB here). */
    assert_int_equal(xport_send(a.x, 2, XPORT_RAFT_MSG, big, (1 << 20) + 1), CN_ETOOBIG);
    assert_int_equal(xport_send(a.x, 2, 0, "x", 1), CN_EINVAL);

    struct xport_stats st;
    xport_get_stats(a.x, &st);
    assert_int_equal(st.msgs_sent, 3);
    assert_int_equal(st.msgs_recv, 1);
    assert_int_equal(st.drops_noconn, 1);
    assert_int_equal(st.queued_bytes, 0);
    assert_int_equal(st.refused, 0);
    free_node(&a);
    free_node(&b);
}

static void test_three_nodes(void **state)
{
    struct node n[3] = {0};
    for (int i = 0; i < 3; i++)
        start_node(&n[i], (uint64_t)i + 1, 0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j)
                assert_int_equal(xport_set_peer(n[i].x, (uint64_t)j + 1, addr_of(n[j].port)), 0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j)
                wait_up(&n[i], (uint64_t)j + 1);
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                if (i != j)
                    assert_int_equal(send_str(&n[i], (uint64_t)j + 1, "m"), 0);
    for (int i = 0; i < 3; i++)
        wait_frames(&n[i], 10);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            assert_int_equal(n[i].from_count[j + 1], i == j ? 0 : 5);
    /* Only node 1 knows node 3 as a peer: node 3 still answers over the
     * inbound connection once node 3 forgets node 1. */
    assert_int_equal(xport_remove_peer(n[2].x, 1), 0);
    assert_int_equal(xport_remove_peer(n[2].x, 1), CN_ENOTFOUND);
    assert_true(xport_peer_up(n[2].x, 1)); /* node 1's connection to it */
    assert_int_equal(send_str(&n[2], 1, "via inbound"), 0);
    wait_frames(&n[0], 11);
    assert_int_equal(n[0].last_from, 3);
    for (int i = 0; i < 3; i++)
        free_node(&n[i]);
}

/* A port nothing listens on until we start a node there, held by *fd (bound
 * with SO_REUSEADDR, not listening) so that no other process on a busy
 * machine takes it meanwhile: dials to it are refused, and a transport (libuv
 * binds with SO_REUSEADDR too) can still listen on it. Close *fd at the end. */
static int reserve_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    int on = 1;
    assert_int_equal(setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

static void test_late_peer_and_restart(void **state)
{
    struct node a = {0}, b = {0};
    int rfd;
    int port = reserve_port(&rfd);
    start_node(&a, 1, 0);
    assert_int_equal(xport_set_peer(a.x, 2, addr_of(port)), 0);
    /* Let a few dials fail first. */
    wait_log(&a, "connect to node 2");
    start_node(&b, 2, port);
    wait_up(&a, 2); /* found by a backoff retry: b does not dial a */
    assert_int_equal(a.ups, 1);
    assert_int_equal(send_str(&a, 2, "late"), 0);
    wait_frames(&b, 1);

    /* Restart b on the same port: a sees it go, then redials. */
    stop_node(&b);
    struct pair p = {&a, 2};
    run_until(sees_down, &p, "peer down");
    assert_int_equal(a.downs, 1);
    assert_false(a.up[2]);
    cn_buf_free(&b.log);
    b.frames = 0;
    start_node(&b, 2, port);
    wait_up(&a, 2);
    assert_int_equal(a.ups, 2);
    assert_int_equal(send_str(&a, 2, "again"), 0);
    wait_frames(&b, 1);
    assert_memory_equal(b.last.p, "again", 5);
    free_node(&a);
    free_node(&b);
    close(rfd);
}

/* ---- refusals ------------------------------------------------------------------------ */

static void test_wrong_cluster(void **state)
{
    struct node a = {.cluster = "east"}, b = {.cluster = "west"};
    start_node(&a, 1, 0);
    start_node(&b, 2, 0);
    assert_int_equal(xport_set_peer(a.x, 2, addr_of(b.port)), 0);
    wait_log(&a, "cluster ID \"west\" (node 2) differs from ours \"east\"");
    wait_log(&b, "cluster ID \"east\" (node 1) differs from ours \"west\"");
    assert_non_null(strstr(b.log.p, "refused inbound peer 127.0.0.1:"));
    assert_int_equal(send_str(&a, 2, "x"), CN_EAGAIN);
    assert_int_equal(a.frames + b.frames, 0);
    assert_int_equal(a.ups + b.ups, 0);
    struct xport_stats st;
    xport_get_stats(b.x, &st);
    assert_true(st.refused >= 1);
    free_node(&a);
    free_node(&b);
}

static void test_wrong_node_id(void **state)
{
    /* a believes node 3 lives where node 2 does. */
    struct node a = {0}, b = {0};
    start_node(&a, 1, 0);
    start_node(&b, 2, 0);
    assert_int_equal(xport_set_peer(a.x, 3, addr_of(b.port)), 0);
    wait_log(&a, "it is node 2, expected node 3");
    assert_int_equal(xport_set_peer(a.x, 1, addr_of(b.port)), CN_EINVAL); /* ourselves */
    assert_int_equal(xport_set_peer(a.x, 4, "localhost:80"), CN_EINVAL);  /* not numeric */
    assert_int_equal(xport_set_peer(a.x, 4, "127.0.0.1"), CN_EINVAL);
    assert_int_equal(xport_set_peer(a.x, 4, "127.0.0.1:0"), CN_EINVAL);
    assert_int_equal(xport_set_peer(a.x, 4, "[::1]:8300"), 0);
    assert_int_equal(xport_remove_peer(a.x, 4), 0);
    free_node(&a);
    free_node(&b);
}

/* A blocking client socket that speaks whatever the test writes. */
static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    /* Bounds connect, send and recv: a blocked socket fails the test. */
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* The transport has closed our socket: reads reach EOF (or a reset) after
 * its hello (and at most a few frames), never time out. */
static void assert_closed(int fd)
{
    char b[512];
    size_t total = 0;
    for (;;) {
        ssize_t r = recv(fd, b, sizeof(b), 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            break;
        if (r < 0)
            fail_msg("the transport left the connection open (recv: %s)", strerror(errno));
        total += (size_t)r;
        if (total > 64 * 1024)
            fail_msg("the transport keeps writing to a connection it should have closed");
    }
    close(fd);
}

static size_t hello(uint8_t *out, uint16_t version, uint64_t id, const char *cluster)
{
    struct xport_hello h = {.version = XPORT_VERSION, .node_id = id};
    snprintf(h.cluster, sizeof(h.cluster), "%s", cluster);
    size_t len;
    assert_int_equal(xport_hello_encode(&h, out, XPORT_HELLO_MAX, &len), 0);
    out[8] = (uint8_t)version;
    return len;
}

static void test_raw_refusals(void **state)
{
    struct node a = {0};
    start_node(&a, 1, 0);
    uint8_t b[XPORT_HELLO_MAX];

    int fd = raw_connect(a.port);
    raw_send(fd, "GET / HTTP/1.1\r\n\r\n", 18);
    wait_log(&a, "bad magic");
    assert_closed(fd);

    fd = raw_connect(a.port);
    size_t n = hello(b, 1, 7, "test-cluster"); /* before keepalives */
    raw_send(fd, b, n);
    wait_log(&a, "protocol version 1, we speak 2");
    assert_non_null(strstr(a.log.p, "refused inbound peer 127.0.0.1:"));
    assert_closed(fd);

    fd = raw_connect(a.port);
    n = hello(b, XPORT_VERSION, 7, "other");
    raw_send(fd, b, n);
    wait_log(&a, "cluster ID \"other\" (node 7) differs");
    assert_closed(fd);

    fd = raw_connect(a.port);
    n = hello(b, XPORT_VERSION, 1, "test-cluster");
    raw_send(fd, b, n);
    wait_log(&a, "claims our own node ID 1");
    assert_closed(fd);

    assert_int_equal(a.frames, 0);
    assert_int_equal(a.ups, 0);
    struct xport_stats st;
    xport_get_stats(a.x, &st);
    assert_int_equal(st.refused, 4);
    free_node(&a);
}

static size_t frame(uint8_t *out, uint8_t type, const char *s)
{
    size_t n = strlen(s);
    xport_frame_header(out, type, 0, s, (uint32_t)n);
    memcpy(out + XPORT_FRAME_HDR, s, n);
    return XPORT_FRAME_HDR + n;
}

static bool downs_at_least(void *ctx)
{
    struct want *w = ctx;
    return w->n->downs >= w->frames;
}

static void test_raw_bad_frames(void **state)
{
    struct node a = {0};
    start_node(&a, 1, 0);
    uint8_t b[1024];

    /* A valid hello then a good frame: delivered, from node 7. */
    int fd = raw_connect(a.port);
    size_t n = hello(b, XPORT_VERSION, 7, "test-cluster");
    n += frame(b + n, XPORT_RAFT_MSG, "good");
    raw_send(fd, b, n);
    wait_frames(&a, 1);
    assert_int_equal(a.last_from, 7);
    assert_true(xport_peer_up(a.x, 7));
    /* Replies go back over the inbound connection. */
    assert_int_equal(send_str(&a, 7, "reply"), 0);

    /* Corrupt CRC. */
    n = frame(b, XPORT_RAFT_MSG, "evil");
    b[XPORT_FRAME_HDR] ^= 1;
    raw_send(fd, b, n);
    wait_log(&a, "frame checksum mismatch");
    assert_closed(fd);
    struct want w = {&a, 1};
    run_until(downs_at_least, &w, "node 7 down");

    /* Oversized claimed length (4 GiB - 1): refused on the header. */
    fd = raw_connect(a.port);
    n = hello(b, XPORT_VERSION, 7, "test-cluster");
    xport_frame_header(b + n, XPORT_RAFT_MSG, 0, NULL, 0);
    cn_put_u32(b + n, 0xffffffffu);
    raw_send(fd, b, n + XPORT_FRAME_HDR);
    wait_log(&a, "frame of 4294967295 bytes over the 1048576-byte limit");
    assert_closed(fd);

    /* Truncated: half a frame, then the peer goes away. */
    fd = raw_connect(a.port);
    n = hello(b, XPORT_VERSION, 7, "test-cluster");
    size_t f = frame(b + n, XPORT_RAFT_MSG, "truncated payload");
    raw_send(fd, b, n + f - 5);
    shutdown(fd, SHUT_WR);
    wait_log(&a, "in the middle of a frame");
    assert_closed(fd);

    /* Unknown frame type. */
    fd = raw_connect(a.port);
    n = hello(b, XPORT_VERSION, 7, "test-cluster");
    n += frame(b + n, 42, "??");
    raw_send(fd, b, n);
    wait_log(&a, "unknown frame type 42");
    assert_closed(fd);

    assert_int_equal(a.frames, 1); /* only "good" */
    struct xport_stats st;
    xport_get_stats(a.x, &st);
    assert_int_equal(st.proto_errors, 4);
    assert_int_equal(st.conns_up, 0);

    /* And the transport still works. */
    struct node c = {0};
    start_node(&c, 2, 0);
    assert_int_equal(xport_set_peer(c.x, 1, addr_of(a.port)), 0);
    wait_up(&c, 1);
    assert_int_equal(send_str(&c, 1, "fine"), 0);
    wait_frames(&a, 2);
    assert_int_equal(a.last_from, 2);
    free_node(&a);
    free_node(&c);
}

/* Blocks the loop after each poll phase, as a descheduled process would. */
static void stall_cb(uv_check_t *h)
{
    struct timespec ts = {.tv_nsec = 300 * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_hello_timeout(void **state)
{
    uint8_t b[XPORT_HELLO_MAX];
    struct node s = {.hello_ms = 200};
    start_node(&s, 1, 0);

    /* Silent: closed when the hello timeout passes. */
    int fd = raw_connect(s.port);
    wait_log(&s, "no hello within 200 ms");
    assert_closed(fd);

    /* Our loop stalls past the deadline right after the poll that accepted a
     * connection whose hello is already in its socket: libuv runs the sweep
     * timer before the next poll reads it, and the sweep must let the read go
     * first (the peer was on time; we were late). */
    static uv_check_t stall;
    fd = raw_connect(s.port);
    raw_send(fd, b, hello(b, XPORT_VERSION, 8, "test-cluster"));
    uv_check_init(&loop, &stall);
    uv_check_start(&stall, stall_cb);
    wait_up(&s, 8);
    uv_close((uv_handle_t *)&stall, NULL);
    /* Only the silent connection timed out. */
    const char *first = strstr(s.log.p, "no hello within");
    assert_non_null(first);
    assert_null(strstr(first + 1, "no hello within"));
    struct xport_stats st;
    xport_get_stats(s.x, &st);
    assert_int_equal(st.conns_up, 1);
    free_node(&s);
    close(fd);
}

/* ---- liveness: keepalives, silent peers, dials that get no answer ------------------------ */

/* A listening socket on 127.0.0.1 that the test accepts from by hand
 * (non-blocking; the accepted sockets block, bounded like raw_connect's). */
static int raw_listen(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

struct acceptor {
    int lfd, fd; /* fd: the accepted socket, -1 until then */
};

static bool accepted(void *ctx)
{
    struct acceptor *a = ctx;
    if (a->fd < 0) {
        a->fd = accept(a->lfd, NULL, NULL);
        if (a->fd >= 0) {
            struct timeval tv = {.tv_sec = 5};
            setsockopt(a->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            setsockopt(a->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        }
    }
    return a->fd >= 0;
}

/* The test's end of a raw connection: decodes what the transport sends. */
struct rawpeer {
    int fd;
    uint8_t hello[XPORT_HELLO_MAX];
    size_t hello_len;
    bool hello_done;
    struct xport_decoder dec;
    int frames, keepalives;
};

static int raw_frame(void *arg, uint8_t type, const void *p, size_t len)
{
    struct rawpeer *r = arg;
    r->frames++;
    if (type == XPORT_KEEPALIVE) {
        assert_int_equal(len, 0);
        r->keepalives++;
    }
    return 0;
}

/* Read what has arrived, without blocking. */
static bool raw_got_keepalive(void *ctx)
{
    struct rawpeer *r = ctx;
    uint8_t b[4096];
    ssize_t n;
    while ((n = recv(r->fd, b, sizeof(b), MSG_DONTWAIT)) > 0) {
        const uint8_t *p = b;
        size_t left = (size_t)n;
        if (!r->hello_done) {
            size_t take = sizeof(r->hello) - r->hello_len;
            take = take < left ? take : left;
            memcpy(r->hello + r->hello_len, p, take);
            r->hello_len += take;
            struct xport_hello h;
            size_t used, before = r->hello_len - take;
            int rc = xport_hello_decode(r->hello, r->hello_len, &h, &used, NULL, 0);
            if (rc == CN_EAGAIN)
                continue;
            assert_int_equal(rc, 0);
            r->hello_done = true;
            p += used - before;
            left -= used - before;
        }
        assert_int_equal(xport_decoder_feed(&r->dec, p, left, raw_frame, r, NULL, 0), 0);
    }
    return r->keepalives > 0;
}

static bool idle_closed_at_least_one(void *ctx)
{
    struct xport_stats st;
    xport_get_stats(((struct node *)ctx)->x, &st);
    return st.idle_closed >= 1;
}

/* A peer that completes its hello and then stops reading, then talking (a
 * stopped process, a partition): the transport keeps writing keepalives while
 * it can, is presumed dead after 4 heartbeats of silence, reset with what is
 * queued for it dropped, and redialed. */
static void test_silent_peer(void **state)
{
    struct node a = {
        .heartbeat_ms = 20, .default_backoff = true, .chunk = 16384, .max_queue = 65536};
    start_node(&a, 1, 0);
    int port;
    int lfd = raw_listen(8, &port);
    assert_int_equal(xport_set_peer(a.x, 2, addr_of(port)), 0);
    struct acceptor ac = {lfd, -1};
    run_until(accepted, &ac, "a's dial");
    struct rawpeer r = {.fd = ac.fd};
    xport_decoder_init(&r.dec, 1 << 20);
    uint8_t b[XPORT_HELLO_MAX];
    raw_send(r.fd, b, hello(b, XPORT_VERSION, 2, "test-cluster"));
    wait_up(&a, 2);

    /* Nothing to say: a says that it is alive. */
    run_until(raw_got_keepalive, &r, "a keepalive from a");
    assert_int_equal(r.frames, r.keepalives);
    xport_decoder_free(&r.dec);

    /* The peer goes on talking (keepalives of its own) but stops reading:
     * a's messages fill the socket, then a's queue. */
    uint8_t ka[XPORT_FRAME_HDR];
    xport_frame_header(ka, XPORT_KEEPALIVE, 0, NULL, 0);
    static char m[16384];
    int rc = 0;
    for (int i = 0; i < 20000 && rc == 0; i++) {
        rc = xport_send(a.x, 2, XPORT_RAFT_MSG, m, sizeof(m));
        raw_send(r.fd, ka, sizeof(ka));
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(rc, CN_EAGAIN);
    struct xport_stats st;
    xport_get_stats(a.x, &st);
    assert_int_equal(st.drops_full, 1);
    assert_true(st.queued_bytes > 0);
    assert_true(st.keepalives_recv >= 1);
    assert_int_equal(st.idle_closed, 0);
    assert_int_equal(a.frames, 0); /* keepalives are not messages */

    /* Now silence: presumed dead, reset, the queue dropped. */
    run_until(idle_closed_at_least_one, &a, "the silent peer presumed dead");
    xport_get_stats(a.x, &st);
    assert_int_equal(st.idle_closed, 1);
    assert_true(st.drops_closed >= 1);
    assert_int_equal(st.queued_bytes, 0);
    assert_int_equal(a.downs, 1);
    assert_false(xport_peer_up(a.x, 2));
    assert_non_null(strstr(a.log.p, "nothing received for"));
    close(r.fd);

    /* And redialed. */
    ac.fd = -1;
    run_until(accepted, &ac, "a's redial");
    struct xport_peer_info info;
    assert_int_equal(xport_peer_info(a.x, 2, &info), 0);
    assert_int_equal(info.dials, 2);
    assert_true(info.dialing);
    raw_send(ac.fd, b, hello(b, XPORT_VERSION, 2, "test-cluster"));
    wait_up(&a, 2);
    assert_int_equal(a.ups, 2);
    assert_int_equal(xport_peer_info(a.x, 3, &info), CN_ENOTFOUND);
    free_node(&a);
    close(ac.fd);
    close(lfd);
}

struct dials {
    struct node *n;
    uint64_t want;
};

static bool dial_timeouts_reach(void *ctx)
{
    struct dials *d = ctx;
    struct xport_stats st;
    xport_get_stats(d->n->x, &st);
    return st.dial_timeouts >= d->want;
}

/* Dials into a partition (SYNs dropped: here by a listener whose accept queue
 * is full) are abandoned after the connect timeout, not after the kernel's
 * SYN retries, and retried with a delay capped at one heartbeat however long
 * the partition lasts; after the heal the next dial gets through. */
static void test_dial_timeout_and_heal(void **state)
{
    struct node a = {.heartbeat_ms = 20, .default_backoff = true};
    start_node(&a, 1, 0);
    int port;
    int lfd = raw_listen(0, &port); /* room for one connection */
    int filler = raw_connect(port);
    assert_int_equal(xport_set_peer(a.x, 2, addr_of(port)), 0);
    /* Eight failures: uncapped doubling from 4 ms would be past a second. */
    struct dials d = {&a, 8};
    run_until(dial_timeouts_reach, &d, "dials abandoned");
    assert_non_null(strstr(a.log.p, "connect to node 2 at 127.0.0.1:"));
    assert_non_null(strstr(a.log.p, "no answer within 40 ms"));
    struct xport_peer_info info;
    assert_int_equal(xport_peer_info(a.x, 2, &info), 0);
    assert_false(info.up);
    assert_true(info.dials >= 8);
    assert_true(info.backoff_ms >= 1 && info.backoff_ms <= 20); /* one heartbeat */
    assert_int_equal(a.ups, 0);

    /* The heal: the queue drains, and a's next dial gets through. */
    struct acceptor ac = {lfd, -1};
    run_until(accepted, &ac, "the filler");
    close(ac.fd);
    close(filler);
    ac.fd = -1;
    run_until(accepted, &ac, "a's dial after the heal");
    uint8_t b[XPORT_HELLO_MAX];
    raw_send(ac.fd, b, hello(b, XPORT_VERSION, 2, "test-cluster"));
    wait_up(&a, 2);
    assert_int_equal(a.ups, 1);
    free_node(&a);
    close(ac.fd);
    close(lfd);
}

struct kas {
    struct node *a, *b;
    uint64_t want;
};

static bool both_keepalives(void *ctx)
{
    struct kas *k = ctx;
    struct xport_stats sa, sb;
    xport_get_stats(k->a->x, &sa);
    xport_get_stats(k->b->x, &sb);
    return sa.keepalives_recv >= k->want && sb.keepalives_recv >= k->want;
}

static void stall_150_cb(uv_check_t *h)
{
    struct timespec ts = {.tv_nsec = 150 * 1000000L};
    nanosleep(&ts, NULL);
}

/* An idle link stays up on keepalives, for many idle timeouts; and when our
 * own process stalls past the idle timeout after every poll (a descheduled
 * machine), the stall is not blamed on the peer. */
static void test_keepalive_and_own_stall(void **state)
{
    struct node a = {.heartbeat_ms = 20}, b = {.heartbeat_ms = 20};
    start_node(&a, 1, 0);
    start_node(&b, 2, 0);
    assert_int_equal(xport_set_peer(a.x, 2, addr_of(b.port)), 0);
    wait_up(&a, 2);
    wait_up(&b, 1);
    assert_int_equal(xport_send(a.x, 2, XPORT_KEEPALIVE, NULL, 0), CN_EINVAL);
    struct kas k = {&a, &b, 20}; /* 5 idle timeouts at least */
    run_until(both_keepalives, &k, "keepalives both ways");
    static uv_check_t stall;
    uv_check_init(&loop, &stall);
    uv_check_start(&stall, stall_150_cb);
    k.want += 5;
    run_until(both_keepalives, &k, "keepalives through stalls");
    uv_close((uv_handle_t *)&stall, NULL);
    struct xport_stats sa, sb;
    xport_get_stats(a.x, &sa);
    xport_get_stats(b.x, &sb);
    assert_int_equal(sa.idle_closed + sb.idle_closed, 0);
    assert_int_equal(a.downs + b.downs, 0);
    assert_int_equal(a.ups + b.ups, 2);
    assert_int_equal(a.frames + b.frames, 0);
    assert_int_equal(sa.msgs_recv + sb.msgs_recv, 0);
    free_node(&a);
    free_node(&b);
}

/* ---- backpressure and shutdown ----------------------------------------------------------- */

static void test_backpressure(void **state)
{
    struct node a = {.chunk = 1000, .max_queue = 4000}, b = {0};
    start_node(&a, 1, 0);
    start_node(&b, 2, 0);
    assert_int_equal(xport_set_peer(a.x, 2, addr_of(b.port)), 0);
    wait_up(&a, 2);
    /* Queued bytes leave the queue only when the loop completes the write,
     * so without running it the bound is hit deterministically. */
    static char m[1000];
    int ok = 0;
    for (int i = 0; i < 4; i++)
        ok += xport_send(a.x, 2, XPORT_RAFT_MSG, m, sizeof(m)) == 0;
    assert_int_equal(ok, 4);
    assert_int_equal(xport_send(a.x, 2, XPORT_RAFT_MSG, m, sizeof(m)), CN_EAGAIN);
    assert_int_equal(xport_send(a.x, 2, XPORT_RAFT_MSG, m, 1), CN_EAGAIN);
    /* One large message at a time, beside the small ones. */
    static char big[5000];
    assert_int_equal(xport_send(a.x, 2, XPORT_RAFT_MSG, big, sizeof(big)), 0);
    assert_int_equal(xport_send(a.x, 2, XPORT_RAFT_MSG, big, sizeof(big)), CN_EAGAIN);
    struct xport_stats st;
    xport_get_stats(a.x, &st);
    assert_int_equal(st.drops_full, 3);
    assert_int_equal(st.queued_bytes, 4000 + sizeof(big));
    /* Once written, room again (but not without memory). */
    wait_frames(&b, 5);
    cn_mem_fail_after(0);
    assert_int_equal(xport_send(a.x, 2, XPORT_RAFT_MSG, m, sizeof(m)), CN_ENOMEM);
    cn_mem_fail_after(-1);
    xport_get_stats(a.x, &st);
    assert_int_equal(st.queued_bytes, 0);
    assert_int_equal(xport_send(a.x, 2, XPORT_RAFT_MSG, m, sizeof(m)), 0);
    wait_frames(&b, 6);
    free_node(&a);
    free_node(&b);
}

static void test_stop_with_pending(void **state)
{
    struct node a = {.chunk = 1000}, b = {0};
    start_node(&a, 1, 0);
    start_node(&b, 2, 0);
    assert_int_equal(xport_set_peer(a.x, 2, addr_of(b.port)), 0);
    assert_int_equal(xport_set_peer(b.x, 1, addr_of(a.port)), 0);
    wait_up(&a, 2);
    static char big[50000];
    assert_int_equal(xport_send(a.x, 2, XPORT_RAFT_MSG, big, sizeof(big)), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(send_str(&a, 2, "pending"), 0);
    /* A peer still being dialed, and a stop in the middle of everything:
     * ASan's leak check at exit is the assertion. */
    int rfd;
    assert_int_equal(xport_set_peer(a.x, 5, addr_of(reserve_port(&rfd))), 0);
    int downs = a.downs;
    xport_stop(a.x, stopped_cb, &a);
    xport_stop(a.x, stopped_cb, &a);  /* no-op */
    assert_int_equal(a.downs, downs); /* no callbacks after stop */
    run_until(is_stopped, &a, "stop");
    a.x = NULL;
    live--;
    free_node(&a);
    free_node(&b);
    close(rfd);
}

static bool is_null(void *ctx)
{
    return ((struct node *)ctx)->x == NULL;
}

static void test_stop_inside_callback(void **state)
{
    struct node a = {0}, b = {.stop_on_frame = true};
    start_node(&a, 1, 0);
    start_node(&b, 2, 0);
    assert_int_equal(xport_set_peer(a.x, 2, addr_of(b.port)), 0);
    wait_up(&a, 2);
    /* Two frames in one write: b stops on the first, never sees the second. */
    assert_int_equal(send_str(&a, 2, "one"), 0);
    assert_int_equal(send_str(&a, 2, "two"), 0);
    run_until(is_null, &b, "b stopped");
    struct pair p = {&a, 2};
    run_until(sees_down, &p, "peer down");
    assert_int_equal(b.frames, 1);
    cn_mem_fail_after(0);
    assert_int_equal(xport_set_peer(a.x, 3, "127.0.0.1:1"), CN_ENOMEM);
    cn_mem_fail_after(-1);
    free_node(&a);
    free_node(&b);
}

static void test_start_errors(void **state)
{
    struct node a = {0};
    start_node(&a, 1, 0);
    struct xport *x = NULL;
    char err[200];
    struct xport_options o = {
        .host = "127.0.0.1", .port = a.port, .cluster_id = "c", .node_id = 2, .on_frame = on_frame};
    assert_int_equal(xport_start(&loop, &o, &x, err, sizeof(err)), CN_EIO);
    assert_non_null(strstr(err, "listen on 127.0.0.1 port"));
    o.port = 0;
    o.cluster_id = "has space";
    assert_int_equal(xport_start(&loop, &o, &x, err, sizeof(err)), CN_EINVAL);
    o.cluster_id = "c";
    o.host = "not-an-ip";
    assert_int_equal(xport_start(&loop, &o, &x, err, sizeof(err)), CN_EINVAL);
    o.host = "127.0.0.1";
    o.port = 65536;
    assert_int_equal(xport_start(&loop, &o, &x, err, sizeof(err)), CN_EINVAL);
    o.port = 0;
    o.host = NULL;
    o.chunk_size = 10;
    o.max_msg = 5;
    assert_int_equal(xport_start(&loop, &o, &x, err, sizeof(err)), CN_EINVAL);
    free_node(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_way, setup, teardown),
        cmocka_unit_test_setup_teardown(test_three_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_peer_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_node_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_bad_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dial_timeout_and_heal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_and_own_stall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
