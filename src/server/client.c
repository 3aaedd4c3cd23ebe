/* server/client.c: client agents (server.h, "Client agents"), both sides.
 *
 * On a client (s->cl set by srv__client_open): no Raft, no log, no
 * listener. The transport dials one preferred server at a time; requests
 * (API calls, the agent's own catalog writes, node dumps) are encoded once
 * (cl_codec.h), queued, sent to the preferred server once it is up, and
 * matched with their answer by id. The state is a mirror of this node's
 * catalog rows (srv_client_refresh replaces it; an acknowledged write of the
 * agent is applied to it), so local/ and the agent endpoints read it as on
 * a server.
 *
 * On a server: XPORT_CLIENT_REQ frames. PROPOSE (only register, deregister
 * and check status) goes through srv_propose; DUMP is answered from the
 * state; HTTP and CANCEL go to the handler api/ installed
 * (srv_set_client_api), and a client whose connections all closed is
 * reported to it (its parked requests are released). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include <openssl/ssl.h>

#include "server/server_int.h"

#define CL_MAX_SERVERS 64
#define CL_TIMER_MS 100
#define CL_UP_WAIT_MS 1000 /* a preferred server not up by then is passed over */
#define CL_FAILED_MS 30000 /* a lost server is tried again only after the others */
#define CL_REBALANCE_MS 120000

struct cl_server {
    uint64_t id; /* 0: address not probed yet */
    char addr[64];
    char node[64];
    bool configured;    /* from srv_client_servers_set / -retry-join */
    uint64_t failed_at; /* uv_now() of its last loss (0: never) */
};

enum cl_call_kind { CALL_HTTP, CALL_PROPOSE, CALL_DUMP };

struct cl_call {
    struct cl_call *next, *prev;
    enum cl_call_kind kind;
    uint64_t id;
    uint64_t sent_to; /* server id (0: not sent yet) */
    bool idempotent;
    uint64_t deadline; /* uv_now() ms: not taken by a server by then -> CN_EAGAIN */
    srv_client_cb http_cb;
    srv_done_cb prop_cb;
    srv_refresh_cb dump_cb;
    void *arg;
    struct cn_buf req; /* the encoded request */
    uint8_t *cmd;      /* PROPOSE: the command, applied to the mirror when acknowledged */
    size_t cmd_len;
};

struct srv_cl {
    struct cl_server sv[CL_MAX_SERVERS];
    size_t n;
    int pref;         /* index in sv of the preferred server, -1: none */
    uint64_t pref_at; /* uv_now() when it was chosen */
    struct list calls;
    uv_timer_t timer;
    uint64_t next_rebalance;
    uint64_t next_id;
    uint64_t mirror_index;
    uint64_t rng;
    bool ever_up; /* a server has been up: calls get hold_ms, else hold_first_ms */
};

/* ---- server side ------------------------------------------------------------------- */

struct cl_prop {
    struct srv *s;
    uint64_t from, id;
};

static void answer_code(struct srv *s, uint64_t to, enum srv_cl_kind kind, uint64_t id, int rc,
                        uint64_t index, const char *msg)
{
    struct srv_cl_resp a = {.kind = kind,
                            .id = id,
                            .code = (uint8_t)srv_fwd_code_from_err(rc),
                            .index = index,
                            .body = msg,
                            .body_len = msg ? strnlen(msg, SRV_CL_MSG_MAX) : 0};
    srv_client_answer(s, to, &a);
}

static void on_client_applied(void *arg, int rc, const struct state_result *res)
{
    (void)res;
    struct cl_prop *p = arg;
    struct srv *s = p->s;
    if (!s->closing)
        answer_code(s, p->from, SRV_CL_PROPOSE, p->id, rc, s->applied, rc ? cn_strerror(rc) : NULL);
    cn_free(p);
}

static void serve_propose(struct srv *s, uint64_t from, const struct srv_cl_req *m)
{
    int t = state_cmd_type(m->body, m->body_len);
    if (t != STATE_CMD_REGISTER && t != STATE_CMD_DEREGISTER && t != STATE_CMD_CHECK_STATUS) {
        cn_warn("server", "client %016llx proposed a command of type %d: refused",
                (unsigned long long)from, t);
        answer_code(s, from, SRV_CL_PROPOSE, m->id, CN_EINVAL, 0,
                    "a client agent may only write catalog registrations");
        return;
    }
    struct cl_prop *p = cn_malloc(sizeof(*p));
    int rc = p ? 0 : CN_ENOMEM;
    if (p) {
        *p = (struct cl_prop){s, from, m->id};
        rc = srv_propose(s, m->body, m->body_len, on_client_applied, p);
        if (rc)
            cn_free(p);
    }
    if (rc)
        answer_code(s, from, SRV_CL_PROPOSE, m->id, rc, 0, cn_strerror(rc));
}

/* ---- DUMP: a node's rows as register commands ---- */

struct dump {
    const struct state *st;
    const struct state_node *node;
    struct cn_buf body;
    const char *svc; /* the service whose checks are collected ("" node-level) */
    struct state_check *checks;
    size_t n, cap;
    int rc;
};

static int collect_check(void *arg, const struct state_check *c)
{
    struct dump *d = arg;
    if (strcmp(c->service_id, d->svc) != 0)
        return 0;
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 8;
        struct state_check *g = cn_realloc(d->checks, nc * sizeof(*g));
        if (!g) {
            d->rc = CN_ENOMEM;
            return 1;
        }
        d->checks = g;
        d->cap = nc;
    }
    d->checks[d->n++] = *c; /* borrowed: encoded at once */
    return 0;
}

static int dump_one(struct dump *d, const struct state_service *svc)
{
    d->svc = svc ? svc->id : "";
    d->n = 0;
    state_node_checks(d->st, d->node->name, collect_check, d);
    if (d->rc)
        return d->rc;
    struct state_register reg;
    memset(&reg, 0, sizeof(reg));
    reg.node = *d->node;
    reg.skip_node_update = svc != NULL;
    reg.service = (struct state_service *)svc;
    reg.checks = d->checks;
    reg.nchecks = d->n;
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_register(&cmd, &reg);
    if (!rc)
        rc = srv_cl_dump_add(&d->body, cmd.p, cmd.len);
    cn_buf_free(&cmd);
    return rc;
}

static int dump_svc(void *arg, const struct state_service *svc)
{
    struct dump *d = arg;
    d->rc = d->rc ? d->rc : dump_one(d, svc);
    return d->rc != 0;
}

static int count_node(void *arg, const struct state_node *n)
{
    (void)n;
    ++*(uint64_t *)arg;
    return 0;
}

struct dump_wait {
    struct srv *s;
    uint64_t from, id;
    char node[SRV_CL_NODE_MAX + 1];
};

static void dump_now(struct srv *s, uint64_t from, uint64_t id, const char *node);

/* After the read barrier: this server has applied what the leader had
 * committed when the dump was asked (a lagging follower would report
 * drift that is not there). */
static void on_dump_barrier(void *arg, int rc)
{
    struct dump_wait *w = arg;
    struct srv *s = w->s;
    if (!s->closing) {
        if (rc)
            answer_code(s, w->from, SRV_CL_DUMP, w->id, rc, 0, NULL);
        else
            dump_now(s, w->from, w->id, w->node);
    }
    cn_free(w);
}

static void serve_dump(struct srv *s, uint64_t from, const struct srv_cl_req *m)
{
    struct dump_wait *w = cn_malloc(sizeof(*w));
    if (!w) {
        answer_code(s, from, SRV_CL_DUMP, m->id, CN_ENOMEM, 0, NULL);
        return;
    }
    w->s = s;
    w->from = from;
    w->id = m->id;
    memcpy(w->node, m->target, m->target_len);
    w->node[m->target_len] = '\0';
    if (srv_read_barrier(s, SRV_READ_DEFAULT, on_dump_barrier, w) != 0) {
        answer_code(s, from, SRV_CL_DUMP, m->id, CN_ENOMEM, 0, NULL);
        cn_free(w);
    }
}

static void dump_now(struct srv *s, uint64_t from, uint64_t id, const char *node)
{
    struct dump d = {.st = s->state, .body = CN_BUF_INIT};
    struct srv_cl_resp a = {.kind = SRV_CL_DUMP, .id = id, .index = s->applied};
    state_nodes_foreach(s->state, count_node, &a.nodes);
    d.node = state_node_get(s->state, node);
    if (d.node) {
        d.rc = dump_one(&d, NULL);
        if (!d.rc)
            state_node_services(s->state, node, dump_svc, &d);
    }
    if (d.rc) {
        a.code = (uint8_t)srv_fwd_code_from_err(d.rc);
        a.body = NULL;
        a.body_len = 0;
    } else {
        a.body = d.body.p;
        a.body_len = d.body.len;
    }
    srv_client_answer(s, from, &a);
    cn_buf_free(&d.body);
    cn_free(d.checks);
}

void srv_set_client_api(struct srv *s, srv_client_api_fn fn, srv_client_gone_fn gone, void *arg)
{
    s->cl_api = fn;
    s->cl_gone = gone;
    s->cl_api_arg = arg;
}

int srv_client_answer(struct srv *s, uint64_t to, const struct srv_cl_resp *m)
{
    if (!s->x || s->x_stopping)
        return CN_ESHUTDOWN;
    struct cn_buf b = CN_BUF_INIT;
    int rc = srv_cl_resp_encode(m, &b);
    if (!rc)
        rc = xport_send(s->x, to, XPORT_CLIENT_RESP, b.p, b.len);
    cn_buf_free(&b);
    return rc;
}

void srv__client_req_frame(struct srv *s, uint64_t from, const void *p, size_t len)
{
    struct srv_cl_req *m = cn_malloc(sizeof(*m));
    if (!m)
        return;
    char err[160];
    if (s->cl) {
        /* a client serves nothing */
    } else if (srv_cl_req_decode(p, len, m, err, sizeof(err)) != 0) {
        cn_warn("server", "client request from %016llx: %s", (unsigned long long)from, err);
    } else if (m->kind == SRV_CL_PROPOSE) {
        serve_propose(s, from, m);
    } else if (m->kind == SRV_CL_DUMP) {
        serve_dump(s, from, m);
    } else if (s->cl_api) {
        s->cl_api(s->cl_api_arg, from, m);
    } else if (m->kind == SRV_CL_HTTP) {
        static const char msg[] = "this server does not serve client agents";
        struct srv_cl_resp a = {.kind = SRV_CL_HTTP,
                                .id = m->id,
                                .status = 500,
                                .body = msg,
                                .body_len = sizeof(msg) - 1};
        srv_client_answer(s, from, &a);
    }
    cn_free(m);
}

void srv__client_gone(struct srv *s, uint64_t id)
{
    if (!s->cl && s->cl_gone)
        s->cl_gone(s->cl_api_arg, id);
}

/* ---- client side: the server manager ------------------------------------------------ */

bool srv_is_client(const struct srv *s)
{
    return s && s->cl;
}

static uint64_t cl_rand(struct srv_cl *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

static struct cl_server *sv_by_id(struct srv_cl *c, uint64_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->sv[i].id == id)
            return &c->sv[i];
    return NULL;
}

static struct cl_server *sv_by_addr(struct srv_cl *c, const char *addr)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->sv[i].addr, addr))
            return &c->sv[i];
    return NULL;
}

static struct cl_server *pref(struct srv_cl *c)
{
    return c->pref >= 0 ? &c->sv[c->pref] : NULL;
}

static bool pref_up(struct srv *s)
{
    struct cl_server *p = pref(s->cl);
    return p && s->x && xport_peer_up(s->x, p->id);
}

static void call_free(struct cl_call *k)
{
    cn_buf_free(&k->req);
    cn_free(k->cmd);
    cn_free(k);
}

static void call_fail(struct srv *s, struct cl_call *k, int rc)
{
    LIST_DEL(&s->cl->calls, k);
    if (k->kind == CALL_HTTP && k->http_cb)
        k->http_cb(k->arg, rc, NULL);
    else if (k->kind == CALL_PROPOSE && k->prop_cb)
        k->prop_cb(k->arg, rc, NULL);
    else if (k->kind == CALL_DUMP && k->dump_cb)
        k->dump_cb(k->arg, rc, 0);
    call_free(k);
}

static void send_pending(struct srv *s)
{
    if (!pref_up(s))
        return;
    uint64_t to = pref(s->cl)->id;
    for (struct cl_call *k = s->cl->calls.head; k; k = k->next) {
        if (k->sent_to)
            continue;
        if (xport_send(s->x, to, XPORT_CLIENT_REQ, k->req.p, k->req.len) == 0)
            k->sent_to = to;
    }
}

/* Make sv[i] the preferred server: one connection at a time. */
static void choose(struct srv *s, int i)
{
    struct srv_cl *c = s->cl;
    struct cl_server *old = pref(c);
    if (old && (i < 0 || old->id != c->sv[i].id) && s->x)
        xport_remove_peer(s->x, old->id);
    c->pref = i;
    c->pref_at = uv_now(s->loop);
    if (i >= 0) {
        cn_info("client", "using server %s (%016llx)", c->sv[i].addr,
                (unsigned long long)c->sv[i].id);
        xport_set_peer(s->x, c->sv[i].id, c->sv[i].addr);
        send_pending(s);
    }
}

/* The next server after the preferred one: those not lost recently first. */
static int next_server(struct srv_cl *c, uint64_t now)
{
    int best = -1;
    for (size_t k = 1; k <= c->n; k++) {
        size_t i = ((size_t)(c->pref < 0 ? 0 : c->pref) + k) % c->n;
        if (!c->sv[i].id || (int)i == c->pref)
            continue;
        bool fresh = !c->sv[i].failed_at || now - c->sv[i].failed_at > CL_FAILED_MS;
        if (fresh)
            return (int)i;
        if (best < 0 || c->sv[i].failed_at < c->sv[best].failed_at)
            best = (int)i;
    }
    if (best < 0 && c->pref >= 0 && c->sv[c->pref].id)
        return c->pref; /* the only one: keep trying it */
    return best;
}

/* The preferred server is lost: requests sent to it are resent to the next
 * one when idempotent, else fail (their outcome is unknown). */
static void lose_pref(struct srv *s, const char *why)
{
    struct srv_cl *c = s->cl;
    struct cl_server *p = pref(c);
    if (!p)
        return;
    uint64_t lost = p->id;
    uint64_t now = uv_now(s->loop);
    /* Said once per loss, not at every retry of a server still down. */
    if (!p->failed_at || now - p->failed_at > CL_FAILED_MS)
        cn_warn("client", "server %s %s: failing over", p->addr, why);
    else
        cn_debug("client", "server %s %s", p->addr, why);
    p->failed_at = now;
    for (struct cl_call *k = c->calls.head, *nx; k; k = nx) {
        nx = k->next;
        if (k->sent_to != lost)
            continue;
        if (k->idempotent) {
            k->sent_to = 0;
            k->deadline = now + s->hold_ms; /* a new hold for the next server */
        } else
            call_fail(s, k, CN_EIO);
    }
    int nxt = next_server(c, now);
    if (nxt == c->pref) {
        c->pref_at = now; /* the same one again: wait for it */
        return;
    }
    choose(s, nxt);
}

static void rebalance_at(struct srv *s)
{
    struct srv_cl *c = s->cl;
    /* Consul's manager: a connection is kept 120 s + jitter, more with more
     * servers, so clients spread over the servers and move after a change. */
    uint64_t span = CL_REBALANCE_MS + (c->n > 3 ? (c->n - 3) * 10000 : 0);
    c->next_rebalance = uv_now(s->loop) + span + cl_rand(c) % (span / 2);
}

static void maybe_rebalance(struct srv *s)
{
    struct srv_cl *c = s->cl;
    if (uv_now(s->loop) < c->next_rebalance)
        return;
    if (c->calls.head) /* in flight: later */
        return;
    rebalance_at(s);
    size_t known = 0;
    for (size_t i = 0; i < c->n; i++)
        known += c->sv[i].id != 0;
    if (known < 2)
        return;
    size_t pick = cl_rand(c) % known;
    for (size_t i = 0; i < c->n; i++) {
        if (!c->sv[i].id || pick--)
            continue;
        if ((int)i != c->pref)
            choose(s, (int)i);
        return;
    }
}

static void on_cl_timer(uv_timer_t *t)
{
    struct srv *s = t->data;
    struct srv_cl *c = s->cl;
    if (s->closing)
        return;
    srv__run_probes(s);
    uint64_t now = uv_now(s->loop);
    if (c->pref < 0) {
        int nxt = next_server(c, now);
        if (nxt >= 0)
            choose(s, nxt);
    } else if (!pref_up(s) && now - c->pref_at >= CL_UP_WAIT_MS) {
        lose_pref(s, "is not reachable");
    }
    send_pending(s);
    for (struct cl_call *k = c->calls.head, *nx; k; k = nx) {
        nx = k->next;
        if (!k->sent_to && now >= k->deadline)
            call_fail(s, k, CN_EAGAIN);
    }
    maybe_rebalance(s);
}

/* A probe (discovery.c) learnt the transport id behind a configured address. */
void srv__client_learned(struct srv *s, uint64_t id, const char *addr)
{
    struct srv_cl *c = s->cl;
    struct cl_server *v = sv_by_addr(c, addr);
    struct cl_server *other = sv_by_id(c, id);
    if (other && other != v) {
        /* known through a directory under another spelling: keep one row */
        other->configured = true;
        if (v)
            v->id = 0, v->addr[0] = 0;
        return;
    }
    if (!v) {
        if (c->n == CL_MAX_SERVERS)
            return;
        v = &c->sv[c->n++];
        memset(v, 0, sizeof(*v));
        snprintf(v->addr, sizeof(v->addr), "%s", addr);
    }
    v->id = id;
    v->configured = true; /* probes are made for configured addresses only */
    if (c->pref < 0)
        choose(s, (int)(v - c->sv));
}

static void learn(struct srv *s, const struct srv_fwd_peer *p)
{
    struct srv_cl *c = s->cl;
    if (!p->id || !p->addr[0])
        return;
    struct cl_server *v = sv_by_id(c, p->id);
    if (!v && !(v = sv_by_addr(c, p->addr))) {
        if (c->n == CL_MAX_SERVERS)
            return;
        v = &c->sv[c->n++];
        memset(v, 0, sizeof(*v));
    }
    v->id = p->id;
    snprintf(v->addr, sizeof(v->addr), "%s", p->addr);
    if (p->node[0])
        snprintf(v->node, sizeof(v->node), "%s", p->node);
}

/* A server's INFO: itself and its directory of servers. */
static void on_info(struct srv *s, uint64_t from, const uint8_t *p, size_t len)
{
    struct srv_fwd_req *m = cn_malloc(sizeof(*m));
    if (!m)
        return;
    if (srv_fwd_req_decode(p, len, m, NULL, 0) == 0 && m->kind == SRV_FWD_INFO &&
        m->u.info.self.id == from) {
        learn(s, &m->u.info.self);
        for (uint32_t i = 0; i < m->u.info.n; i++)
            learn(s, &m->u.info.peers[i]);
    }
    cn_free(m);
}

static void mirror_apply(struct srv *s, const void *cmd, size_t len)
{
    struct state_result res;
    state_result_init(&res);
    state_apply(s->state, ++s->cl->mirror_index, cmd, len, &res);
    state_result_free(&res);
    s->applied = s->cl->mirror_index;
    srv__watches_flush(s->watches);
}

static void on_change(void *arg, enum state_table t, const char *key, uint64_t index)
{
    struct srv *s = arg;
    srv__watches_change(s->watches, t, key, index);
}

static void dump_done(struct srv *s, struct cl_call *k, const struct srv_cl_resp *m)
{
    int rc = srv_fwd_err_from_code(m->code);
    if (!rc) {
        struct state *st = state_new();
        if (!st) {
            rc = CN_ENOMEM;
        } else {
            size_t off = 0, n;
            const void *cmd;
            struct state_result res;
            state_result_init(&res);
            while (srv_cl_dump_next(m->body, m->body_len, &off, &cmd, &n) == 1)
                state_apply(st, ++s->cl->mirror_index, cmd, n, &res);
            state_result_free(&res);
            state_free(s->state);
            s->state = st;
            state_set_change_cb(st, on_change, s);
            s->applied = s->cl->mirror_index;
            srv__watches_fire_all(s->watches, s->applied);
        }
    }
    if (k->dump_cb)
        k->dump_cb(k->arg, rc, rc ? 0 : m->nodes);
    srv__watches_flush(s->watches);
}

static void on_resp_frame(struct srv *s, uint64_t from, const void *p, size_t len)
{
    struct srv_cl_resp *m = cn_malloc(sizeof(*m));
    if (!m)
        return;
    char err[160];
    if (srv_cl_resp_decode(p, len, m, err, sizeof(err)) != 0) {
        cn_warn("client", "answer from server %016llx: %s", (unsigned long long)from, err);
        cn_free(m);
        return;
    }
    struct cl_call *k = s->cl->calls.head;
    while (k && !(k->id == m->id && k->sent_to == from))
        k = k->next;
    if (!k) {
        cn_free(m); /* cancelled, or answered already */
        return;
    }
    LIST_DEL(&s->cl->calls, k);
    if (k->kind == CALL_HTTP) {
        if (k->http_cb)
            k->http_cb(k->arg, 0, m);
    } else if (k->kind == CALL_PROPOSE) {
        int rc = srv_fwd_err_from_code(m->code);
        if (!rc)
            mirror_apply(s, k->cmd, k->cmd_len);
        if (k->prop_cb) {
            struct state_result res;
            state_result_init(&res);
            k->prop_cb(k->arg, rc, rc ? NULL : &res);
            state_result_free(&res);
        }
    } else {
        dump_done(s, k, m);
    }
    call_free(k);
    cn_free(m);
}

void srv__client_frame(struct srv *s, uint64_t from, uint8_t type, const void *p, size_t len)
{
    if (type == XPORT_CLIENT_RESP)
        on_resp_frame(s, from, p, len);
    else if (type == XPORT_FORWARD_REQ)
        on_info(s, from, p, len);
    send_pending(s);
}

void srv__client_peer_state(struct srv *s, uint64_t id, bool up)
{
    struct cl_server *p = pref(s->cl);
    if (up) {
        s->cl->ever_up = true;
        if (p && p->id == id)
            p->failed_at = 0;
        send_pending(s);
    } else if (p && p->id == id) {
        lose_pref(s, "closed the connection");
    }
}

/* ---- client side: requests ------------------------------------------------------------ */

static struct cl_call *call_new(struct srv *s, enum cl_call_kind kind, bool idem, void *arg)
{
    struct cl_call *k = cn_calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->kind = kind;
    k->id = ++s->cl->next_id;
    k->idempotent = idem;
    /* A route still dialling its first server (a lossy link's SYN resent at
     * 1 s) waits longer than one whose servers went silent (fail fast). */
    k->deadline = uv_now(s->loop) + (s->cl->ever_up ? s->hold_ms : s->hold_first_ms);
    k->arg = arg;
    k->req = (struct cn_buf)CN_BUF_INIT;
    return k;
}

static void call_queue(struct srv *s, struct cl_call *k)
{
    LIST_PUSH(&s->cl->calls, k);
    send_pending(s);
}

int srv_client_http(struct srv *s, struct srv_cl_req *m, bool idempotent, srv_client_cb cb,
                    void *arg, uint64_t *handle)
{
    if (!s->cl || s->closing)
        return s->cl ? CN_ESHUTDOWN : CN_EINVAL;
    struct cl_call *k = call_new(s, CALL_HTTP, idempotent, arg);
    if (!k)
        return CN_ENOMEM;
    m->kind = SRV_CL_HTTP;
    m->id = k->id;
    int rc = srv_cl_req_encode(m, &k->req);
    if (rc) {
        call_free(k);
        return rc;
    }
    k->http_cb = cb;
    *handle = k->id;
    call_queue(s, k);
    return 0;
}

void srv_client_cancel(struct srv *s, uint64_t handle)
{
    if (!s->cl)
        return;
    for (struct cl_call *k = s->cl->calls.head; k; k = k->next) {
        if (k->id != handle)
            continue;
        if (k->sent_to) {
            struct srv_cl_req m = {.kind = SRV_CL_CANCEL, .id = k->id};
            struct cn_buf b = CN_BUF_INIT;
            if (srv_cl_req_encode(&m, &b) == 0)
                xport_send(s->x, k->sent_to, XPORT_CLIENT_REQ, b.p, b.len);
            cn_buf_free(&b);
        }
        LIST_DEL(&s->cl->calls, k);
        call_free(k);
        return;
    }
}

int srv__client_propose(struct srv *s, const void *cmd, size_t len, srv_done_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    /* A registration written twice is the same registration: resent to
     * another server when the first is lost. */
    struct cl_call *k = call_new(s, CALL_PROPOSE, true, arg);
    if (!k)
        return CN_ENOMEM;
    k->prop_cb = cb;
    k->cmd = cn_malloc(len ? len : 1);
    struct srv_cl_req m = {.kind = SRV_CL_PROPOSE, .id = k->id, .body = cmd, .body_len = len};
    int rc = k->cmd ? srv_cl_req_encode(&m, &k->req) : CN_ENOMEM;
    if (rc) {
        call_free(k);
        return rc;
    }
    memcpy(k->cmd, cmd, len);
    k->cmd_len = len;
    call_queue(s, k);
    return 0;
}

int srv_client_refresh(struct srv *s, const char *node, srv_refresh_cb cb, void *arg)
{
    if (!s->cl || s->closing)
        return CN_EINVAL;
    struct cl_call *k = call_new(s, CALL_DUMP, true, arg);
    if (!k)
        return CN_ENOMEM;
    k->dump_cb = cb;
    struct srv_cl_req m = {
        .kind = SRV_CL_DUMP, .id = k->id, .target = node, .target_len = strlen(node)};
    int rc = srv_cl_req_encode(&m, &k->req);
    if (rc) {
        call_free(k);
        return rc;
    }
    call_queue(s, k);
    return 0;
}

int srv_client_servers_set(struct srv *s, const char *const *addrs, size_t n)
{
    if (!s->cl)
        return CN_EINVAL;
    struct srv_cl *c = s->cl;
    for (size_t i = 0; i < n; i++) {
        char a[64];
        if (!addrs[i] || strlen(addrs[i]) >= sizeof(a) || !strrchr(addrs[i], ':'))
            return CN_EINVAL;
    }
    for (size_t i = 0; i < c->n; i++)
        c->sv[i].configured = false;
    for (size_t i = 0; i < n; i++) {
        struct cl_server *v = sv_by_addr(c, addrs[i]);
        if (v) {
            v->configured = true;
            continue;
        }
        bool probing = false;
        for (struct probe *p = s->probes; p; p = p->next)
            probing |= !strcmp(p->addr, addrs[i]) && !p->id;
        if (!probing && !srv__probe_new(s, addrs[i]))
            return CN_ENOMEM;
    }
    /* Servers neither configured nor the preferred one are forgotten once
     * the list comes from elsewhere (the gossip layer's alive servers). */
    size_t w = 0;
    int np = -1;
    for (size_t i = 0; i < c->n; i++) {
        if (!c->sv[i].configured && (int)i != c->pref && n > 0)
            continue;
        if ((int)i == c->pref)
            np = (int)w;
        c->sv[w++] = c->sv[i];
    }
    c->n = w;
    c->pref = np;
    /* The preferred server left the list (the gossip layer saw it fail or
     * leave): move on now rather than at the next error. */
    if (n > 0 && c->pref >= 0 && !c->sv[c->pref].configured)
        lose_pref(s, "is no longer among the servers");
    srv__run_probes(s);
    return 0;
}

size_t srv_client_servers(const struct srv *s, struct srv_peer *out, size_t cap)
{
    if (!s->cl)
        return srv_peers(s, out, cap);
    const struct srv_cl *c = s->cl;
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < c->n; i++) {
            if (!c->sv[i].id || (pass == 0) != ((int)i == c->pref))
                continue;
            if (k < cap) {
                memset(&out[k], 0, sizeof(out[k]));
                out[k].id = c->sv[i].id;
                snprintf(out[k].node, sizeof(out[k].node), "%s", c->sv[i].node);
                snprintf(out[k].addr, sizeof(out[k].addr), "%s", c->sv[i].addr);
                out[k].voter = true;
            }
            k++;
        }
    return k;
}

/* ---- client side: open and close ---------------------------------------------------- */

int srv__client_open(struct srv *s, const struct srv_options *opt, char *err, size_t errcap)
{
    s->cl = cn_calloc(1, sizeof(*s->cl));
    if (!s->cl) {
        snprintf(err, errcap, "out of memory");
        return CN_ENOMEM;
    }
    struct srv_cl *c = s->cl;
    c->pref = -1;
    c->rng = cn_now_ns() | 1;
    c->next_id = cl_rand(c) >> 2; /* ids of another run of this client never match */
    const char *cid = opt->cluster_id && *opt->cluster_id ? opt->cluster_id : "dc1";
    snprintf(s->cluster, sizeof(s->cluster), "%s", cid);
    struct xport_options xo = {.host = NULL,
                               .cluster_id = cid,
                               .node_id = s->id,
                               .on_frame = srv__on_frame,
                               .on_peer_state = srv__on_peer_state,
                               .arg = s,
                               .max_msg = srv__xport_max_msg(),
                               .chunk_size = srv__xport_max_msg() / 2,
                               /* keepalives every 2 s; a silent server (partition,
                                * SIGSTOP) is given up after 8 s; a closed one at once */
                               .heartbeat_ms = opt->client_heartbeat_ms ? opt->client_heartbeat_ms
                                                                        : SRV_CLIENT_IDLE_MS / 4,
                               /* servers requiring mutual TLS: dial with it */
                               .tls = opt->tls,
                               .tls_outgoing = opt->tls_outgoing,
                               .tls_server_name = opt->tls_server_name};
    srv__keep_tls(s, opt);
    char xerr[256] = "";
    int rc = xport_start(s->loop, &xo, &s->x, xerr, sizeof(xerr));
    if (rc) {
        snprintf(err, errcap, "server RPC: %s", xerr[0] ? xerr : cn_strerror(rc));
        return rc;
    }
    state_set_change_cb(s->state, on_change, s);
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = s;
    s->handles++;
    uv_timer_start(&c->timer, on_cl_timer, CL_TIMER_MS, CL_TIMER_MS);
    uv_unref((uv_handle_t *)&c->timer);
    rebalance_at(s);
    /* -retry-join: the same entry as the gossip layer's server list. */
    rc = srv_client_servers_set(s, opt->join, opt->njoin);
    if (rc) {
        snprintf(err, errcap, "%s",
                 rc == CN_EINVAL ? "bad -retry-join address (host:port)" : "out of memory");
        return rc;
    }
    cn_info("server", "client agent: transport id %016llx, %zu server address%s to try",
            (unsigned long long)s->id, opt->njoin, opt->njoin == 1 ? "" : "es");
    return 0;
}

static void cl_timer_closed(uv_handle_t *h)
{
    struct srv *s = h->data; /* the handle lives in s->cl: freed last */
    cn_free(s->cl);
    s->cl = NULL;
    if (--s->handles == 0 && s->closing)
        srv__free(s);
}

void srv__client_close(struct srv *s)
{
    struct srv_cl *c = s->cl;
    while (c->calls.head)
        call_fail(s, c->calls.head, CN_ESHUTDOWN);
    if (c->timer.data)
        uv_close((uv_handle_t *)&c->timer, cl_timer_closed);
    else {
        cn_free(c);
        s->cl = NULL;
    }
}

bool srv__client_connected(const struct srv *s)
{
    return pref_up((struct srv *)s);
}
