/* server/discovery.c: cluster formation. Servers find each other through
 * -retry-join addresses: a short probe connection reads the peer's
 * transport hello (its raft id), then the transport connects for real and
 * both sides exchange (id, node name, node UUID, advertised RPC address,
 * whether their log was empty) and gossip what they know (the directory).
 * With bootstrap_expect = N, once N servers with empty logs know each other,
 * each writes the same first entry (the configuration of those servers
 * sorted by id, index 1, term 1), Consul's approach; a server with a log
 * never bootstraps again. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"

struct pinfo *srv__dir_find(struct srv *s, uint64_t id)
{
    for (size_t i = 0; i < s->ndir; i++)
        if (s->dir[i].id == id)
            return &s->dir[i];
    return NULL;
}

static struct pinfo *dir_add(struct srv *s, uint64_t id)
{
    struct pinfo *p = srv__dir_find(s, id);
    if (p || id == s->id || s->ndir == MAX_DIR)
        return p;
    p = &s->dir[s->ndir++];
    memset(p, 0, sizeof(*p));
    p->id = id;
    return p;
}

void srv__dial(struct srv *s, uint64_t id, const char *addr)
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

static void peer_of(struct srv_fwd_peer *w, uint64_t id, const char *node, const char *uuid,
                    const char *addr, bool has_log, uint16_t serf_port)
{
    w->id = id;
    w->serf_port = serf_port;
    snprintf(w->node, sizeof(w->node), "%s", node);
    snprintf(w->uuid, sizeof(w->uuid), "%s", uuid);
    snprintf(w->addr, sizeof(w->addr), "%s", addr);
    w->has_log = has_log;
}

void srv__send_info(struct srv *s, uint64_t to, bool want_reply)
{
    struct srv_fwd_req *m = cn_calloc(1, sizeof(*m));
    if (!m)
        return;
    m->kind = SRV_FWD_INFO;
    m->u.info.want_reply = want_reply;
    peer_of(&m->u.info.self, s->id, s->node, s->uuid, s->self_addr, has_log(s), s->serf_port);
    /* gossip: everything we know, so that servers given different join
     * lists still all learn each other */
    for (size_t i = 0; i < s->ndir && i < SRV_FWD_MAX_PEERS; i++) {
        const struct pinfo *p = &s->dir[i];
        peer_of(&m->u.info.peers[m->u.info.n++], p->id, p->node, p->uuid, p->addr, p->has_log,
                p->serf_port);
    }
    srv__send_req(s, to, m);
    cn_free(m);
}

/* INFO: a peer says who it is and gossips whom it knows. */
void srv__on_info(struct srv *s, uint64_t from, const struct srv_fwd_req *m)
{
    bool want = m->u.info.want_reply;
    uint64_t id = m->u.info.self.id;
    if (id != from)
        return;
    bool known = srv__dir_find(s, id) != NULL;
    size_t before = s->ndir;
    struct pinfo *pi = dir_add(s, id);
    if (pi) {
        snprintf(pi->node, sizeof(pi->node), "%s", m->u.info.self.node);
        snprintf(pi->uuid, sizeof(pi->uuid), "%s", m->u.info.self.uuid);
        pi->has_log = m->u.info.self.has_log;
        pi->serf_port = m->u.info.self.serf_port;
        srv__dial(s, id, m->u.info.self.addr);
    }
    for (uint32_t i = 0; i < m->u.info.n; i++) {
        const struct srv_fwd_peer *gp = &m->u.info.peers[i];
        uint64_t gid = gp->id;
        if (gid == s->id || gid == 0)
            continue;
        struct pinfo *g = srv__dir_find(s, gid);
        if (!g && (g = dir_add(s, gid)) != NULL) {
            snprintf(g->node, sizeof(g->node), "%s", gp->node);
            snprintf(g->uuid, sizeof(g->uuid), "%s", gp->uuid);
            g->has_log = gp->has_log;
            g->serf_port = gp->serf_port;
            srv__dial(s, gid, gp->addr);
        }
    }
    if (want)
        srv__send_info(s, from, false);
    if (!known || s->ndir > before) {
        /* Tell everyone else about what we just learnt (gossip), so
         * that a server joined through any member reaches the leader. */
        for (size_t i = 0; i < s->ndir; i++)
            if (s->dir[i].id != from && xport_peer_up(s->x, s->dir[i].id))
                srv__send_info(s, s->dir[i].id, false);
    }
    srv__maybe_bootstrap(s);
}

static int id_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct raft_server *)a)->id, y = ((const struct raft_server *)b)->id;
    return x < y ? -1 : x > y;
}

/* bootstrap_expect: once `expect` servers with empty logs (us included) know
 * each other and nobody has a log, write the configuration of all of them
 * (sorted by id, identical everywhere) as entry 1 of term 1. */
void srv__maybe_bootstrap(struct srv *s)
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
    struct raft_entry e = {
        .term = 1, .index = 1, .type = RAFT_ENTRY_CONF, .data = {.base = buf, .len = len}};
    struct raft_restore rs = {.term = 1, .entries = &e, .n_entries = 1};
    struct raft_config cfg;
    srv__raft_config(s, &cfg);
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
    srv__submit_job(s, j);
    raft_free(s->raft);
    s->raft = nr;
    s->bootstrapped = true;
    cn_info("server", "bootstrapping a cluster of %zu servers (expected %d)", c.n, s->expect);
    srv__sync_conf(s, &c);
}

void srv__probe_report(struct probe *p, int rc, const char *msg)
{
    if (p->cb) {
        srv_op_cb cb = p->cb;
        p->cb = NULL;
        cb(p->arg, rc, msg);
    }
}

/* -retry-join keeps probing every second; like Consul's retry_join it says
 * why an address did not answer, with the address and the error, the first
 * time, whenever the reason changes, and every 30th attempt after that. */
static void log_retry_failure(struct probe *p)
{
    p->fails++;
    if (strcmp(p->err, p->logged) != 0 || p->fails % 30 == 1) {
        cn_warn("server", "retry-join: failed to join %s: %s (attempt %u; retrying every 1s)",
                p->addr, p->err, p->fails);
        snprintf(p->logged, sizeof(p->logged), "%s", p->err);
    }
}

static void probe_closed(uv_handle_t *h)
{
    struct probe *p = h->data;
    struct srv *s = p->s;
    p->busy = false;
    if (!p->id && !p->err[0])
        snprintf(p->err, sizeof(p->err), "%s: no cairn server answered", p->addr);
    if (p->once && !p->id && !s->closing && p->tries > 0) {
        /* A server that is still starting refuses for a moment. */
        p->tries--;
        p->next_ms = uv_now(s->loop) + 300;
    } else if (p->once || s->closing) {
        /* Joining our own address joins nothing: an error, never a success. */
        bool ok = p->id && !p->self;
        char msg[240];
        snprintf(msg, sizeof(msg), "Failed to join %s: %s", p->addr, p->err);
        srv__probe_report(p, ok ? 0 : p->self ? CN_EINVAL : CN_EIO, ok ? NULL : msg);
        if (!s->closing) {
            for (struct probe **pp = &s->probes; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                    *pp = p->next;
                    break;
                }
            cn_free(p);
        }
    } else if (!p->id) {
        log_retry_failure(p);
    } else if (p->fails) {
        cn_info("server", "retry-join: %s answered after %u failed attempts", p->addr, p->fails);
        p->fails = 0;
    }
    if (--s->handles == 0 && s->closing)
        srv__free(s);
}

void srv__probe_end(struct probe *p)
{
    tls_conn_free(p->tls);
    p->tls = NULL;
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

static void probe_alloc_tls(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)sz;
    static char buf[16384]; /* the loop thread's: consumed before the next read */
    (void)h;
    *b = uv_buf_init(buf, sizeof(buf));
}

static int probe_plain(void *arg, const char *d, size_t n)
{
    struct probe *p = arg;
    size_t room = sizeof(p->in) - p->in_len;
    if (n > room)
        n = room;
    memcpy(p->in + p->in_len, d, n);
    p->in_len += n;
    return 0;
}

static void probe_hello(struct probe *p);

static void probe_read_tls(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct probe *p = st->data;
    if (!p->tls || uv_is_closing((uv_handle_t *)&p->tcp))
        return;
    if (n < 0 || p->s->closing) {
        snprintf(p->err, sizeof(p->err), "%s: %s before a cairn hello (TLS)", p->addr,
                 n == UV_EOF ? "connection closed" : uv_strerror((int)n));
        srv__probe_end(p);
        return;
    }
    char err[200];
    int rc = tls_conn_input(p->tls, b->base, (size_t)n);
    if (!rc)
        rc = tls_conn_read(p->tls, st, probe_plain, p, err, sizeof(err));
    if (rc < 0) {
        snprintf(p->err, sizeof(p->err), "%s: TLS handshake: %s", p->addr,
                 rc == CN_EPROTO ? err : cn_strerror(rc));
        srv__probe_end(p);
        return;
    }
    if (p->in_len)
        probe_hello(p);
}

static void probe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct probe *p = st->data;
    if (n < 0 || p->s->closing) {
        snprintf(p->err, sizeof(p->err), "%s: %s before a cairn hello", p->addr,
                 n == UV_EOF ? "connection closed" : uv_strerror((int)n));
        srv__probe_end(p);
        return;
    }
    p->in_len += (size_t)n;
    probe_hello(p);
}

/* What the peer sent so far (its hello, maybe incomplete). */
static void probe_hello(struct probe *p)
{
    struct xport_hello h;
    size_t used;
    int rc = xport_hello_decode(p->in, p->in_len, &h, &used, NULL, 0);
    if (rc == CN_EAGAIN && p->in_len < sizeof(p->in))
        return;
    if (rc == 0 && h.node_id && strcmp(h.cluster, p->s->cluster) != 0) {
        snprintf(p->err, sizeof(p->err), "%s is a server of cluster \"%s\", not \"%s\"", p->addr,
                 h.cluster, p->s->cluster);
    } else if (rc == 0 && h.node_id) {
        p->id = h.node_id;
        p->err[0] = 0;
        p->self = h.node_id == p->s->id;
        if (p->self)
            snprintf(p->err, sizeof(p->err), "%s is this server's own address", p->addr);
        else if (p->s->cl)
            srv__client_learned(p->s, h.node_id, p->addr);
        else
            srv__dial(p->s, h.node_id, p->addr);
    } else {
        snprintf(p->err, sizeof(p->err), "%s: not a cairn server RPC port (no cairn hello)",
                 p->addr);
    }
    srv__probe_end(p);
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
        /* Go's net.Dial text, as Consul's join errors show it. */
        snprintf(p->err, sizeof(p->err), "dial tcp %s: connect: %s", p->addr, uv_strerror(status));
        srv__probe_end(p);
        return;
    }
    if (p->s->tls && p->s->tls_outgoing) {
        /* The server answers its hello once the handshake is done; ours is
         * not needed (the probe hangs up after reading it). */
        char err[200];
        p->tls = tls_conn_new(p->s->tls, false, true, p->s->tls_name[0] ? p->s->tls_name : NULL);
        if (!p->tls ||
            tls_conn_read(p->tls, (uv_stream_t *)&p->tcp, probe_plain, p, err, sizeof(err)) < 0) {
            snprintf(p->err, sizeof(p->err), "%s: could not start TLS", p->addr);
            srv__probe_end(p);
            return;
        }
        uv_read_start((uv_stream_t *)&p->tcp, probe_alloc_tls, probe_read_tls);
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
    p->err[0] = 0;
    if (uv_tcp_init(s->loop, &p->tcp))
        return CN_EIO;
    p->tcp.data = p;
    p->conn.data = p;
    p->busy = true;
    s->handles++;
    if (uv_tcp_connect(&p->conn, &p->tcp, (struct sockaddr *)&sa, probe_connected))
        srv__probe_end(p);
    return 0;
}

struct probe *srv__probe_new(struct srv *s, const char *addr)
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

void srv__run_probes(struct srv *s)
{
    uint64_t now = uv_now(s->loop);
    for (struct probe *p = s->probes; p; p = p->next) {
        if (p->id || p->busy || p->next_ms > now || (p->once && p->cb == NULL))
            continue;
        p->next_ms = now + 1000;
        probe_start(s, p);
    }
}

int srv_join(struct srv *s, const char *addr, srv_op_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    struct sockaddr_storage sa;
    if (!s->x) {
        cb(arg, CN_EINVAL, "this server has no server RPC port");
        return 0;
    }
    if (s->cl) {
        /* A client agent: one more server address to use. */
        if (!addr || parse_addr(addr, &sa)) {
            cb(arg, CN_EINVAL, "expected host:port");
            return 0;
        }
        struct probe *p = srv__probe_new(s, addr);
        if (!p)
            return CN_ENOMEM;
        srv__run_probes(s);
        cb(arg, 0, NULL);
        return 0;
    }
    if (!addr || parse_addr(addr, &sa)) {
        cb(arg, CN_EINVAL, "expected host:port");
        return 0;
    }
    struct probe *p = srv__probe_new(s, addr);
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
