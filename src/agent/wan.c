/* agent/wan.c: the WAN pool and the routes to other datacenters (wan.h). */
#include "agent/wan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/lan.h"
#include "agent/wan_table.h"
#include "base/clock.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/version.h"
#include "gossip/keyfile.h"
#include "server/server.h"

#define WAN_RETRY_JOIN_MS 30000 /* Consul's retry_interval_wan */
#define WAN_FLOOD_MS 60000      /* Consul's SerfFloodInterval */
#define WAN_FLOOD_MAX 16        /* flood joins in flight */
#define WAN_LEAVE_WAIT_MS 2000
#define WAN_MAX_DCS 64
#define WAN_MAX_MEMBERS 512
#define WAN_MAX_DC_SERVERS 16
/* The WAN pool's cluster identity: not a datacenter name (those have no
 * ':'), so LAN packets sent to a WAN port are refused, and the reverse. */
#define WAN_CLUSTER "wan:"

struct wan_join {
    struct agent_wan *w;
    char addr[300];
    bool retry;
    bool busy;
    int failures;
};

/* One route: a client-mode srv dialing a datacenter's servers. */
struct wan_dc {
    char dc[WAN_DC_MAX];
    struct srv *srv;
    char addrs[1024]; /* the addresses last handed to it, '\n'-joined */
    bool dark;        /* its last request found no server (CN_EAGAIN) */
};

struct agent_wan {
    uv_loop_t *loop;
    struct gossip_net *net;
    const struct agent_config *cfg;
    char self[GOSSIP_NAME_MAX + 1];
    char node_id[40];
    struct ssl_ctx_st *tls;
    bool tls_outgoing, tls_verify_hostname;
    uv_timer_t retry;
    bool joined;
    int start_left;
    bool start_ok;
    struct wan_join joins[32];
    size_t njoins;
    void (*on_fatal)(void *);
    void *fatal_arg;
    bool stopping;
    struct wan_dc dcs[WAN_MAX_DCS];
    size_t ndcs;
    uint64_t rng;
    /* the flood joiner: LAN servers of our datacenter joined into the WAN */
    struct gossip_net *lan;
    uv_timer_t flood;
    int flood_inflight; /* joins started by the flood, not yet answered */
    bool flood_again;   /* asked for while joins were in flight */
    int closing;        /* timers not closed yet (agent_wan_stop) */
};

static void on_wan_event(void *arg, const struct gossip_event *e);

/* ---- joins ----------------------------------------------------------------------- */

static void on_join_done(void *arg, int rc, const char *why)
{
    struct wan_join *j = arg;
    struct agent_wan *w = j->w;
    j->busy = false;
    if (rc == CN_ESHUTDOWN || w->stopping)
        return;
    if (!j->retry) {
        w->start_left--;
        if (!rc) {
            w->start_ok = w->joined = true;
            cn_info("agent", "joined the WAN pool through %s", j->addr);
        } else {
            cn_warn("agent", "-join-wan %s: %s", j->addr, why);
        }
        if (w->start_left == 0 && !w->start_ok && w->on_fatal) {
            cn_error("agent", "Failed to join any of the -join-wan addresses");
            w->on_fatal(w->fatal_arg);
        }
        return;
    }
    if (!rc) {
        if (!w->joined)
            cn_info("agent", "retry-join-wan: joined the WAN pool through %s", j->addr);
        w->joined = true;
        j->failures = 0;
        return;
    }
    j->failures++;
    if (j->failures == 1 || j->failures % 10 == 0)
        cn_warn("agent", "retry-join-wan %s: %s (attempt %d)", j->addr, why, j->failures);
}

static void try_join(struct agent_wan *w, struct wan_join *j)
{
    if (j->busy)
        return;
    j->busy = true;
    int rc = gossip_net_join(w->net, j->addr, 8302, on_join_done, j);
    if (rc)
        on_join_done(j, rc, rc == CN_EINVAL ? "expected host[:port]" : cn_strerror(rc));
}

static void on_retry(uv_timer_t *t)
{
    struct agent_wan *w = t->data;
    if (w->joined || w->stopping) {
        uv_timer_stop(t);
        return;
    }
    for (size_t i = 0; i < w->njoins; i++)
        if (w->joins[i].retry)
            try_join(w, &w->joins[i]);
}

/* ---- the flood joiner (Consul's router.FloodJoins) -------------------------------
 * A server that learns another server of its datacenter through the LAN pool
 * joins it into the WAN pool (at its LAN address and its wan_join_port tag),
 * so one server per datacenter given -join-wan brings the others. Run on
 * each LAN server event (deferred: no join from inside an event) and every
 * WAN_FLOOD_MS; a round waits for the previous one's joins. */
struct flood_join {
    struct agent_wan *w;
    char addr[GOSSIP_HOST_MAX + 8];
};

static void on_flood_timer(uv_timer_t *t);

static void on_flood_join(void *arg, int rc, const char *why)
{
    struct flood_join *j = arg;
    struct agent_wan *w = j->w;
    w->flood_inflight--;
    if (rc == CN_ESHUTDOWN || w->stopping) {
        cn_free(j);
        return;
    }
    if (rc)
        cn_warn("agent", "WAN flood join %s: %s", j->addr, why);
    else
        cn_info("agent", "WAN flood join: joined %s (a server of this datacenter)", j->addr);
    cn_free(j);
    if (w->flood_inflight == 0 && w->flood_again)
        uv_timer_start(&w->flood, on_flood_timer, 0, WAN_FLOOD_MS);
}

struct flood_walk {
    struct agent_wan *w;
    const struct gossip *wan;
};

static int flood_cb(void *arg, const struct gossip_member *m)
{
    struct flood_walk *x = arg;
    struct agent_wan *w = x->w;
    char name[GOSSIP_NAME_MAX + WAN_DC_MAX + 2], addr[GOSSIP_HOST_MAX + 8];
    if (w->flood_inflight >= WAN_FLOOD_MAX ||
        wan_flood_target(m, w->cfg->datacenter, name, sizeof(name), addr, sizeof(addr)))
        return 0;
    struct gossip_member wm;
    if (gossip_member_get(x->wan, name, &wm) == 0 &&
        (wm.status == GOSSIP_ALIVE || wm.status == GOSSIP_SUSPECT))
        return 0; /* already there (ourselves too) */
    struct flood_join *j = cn_calloc(1, sizeof(*j));
    if (!j)
        return 0;
    j->w = w;
    snprintf(j->addr, sizeof(j->addr), "%s", addr);
    w->flood_inflight++;
    int rc = gossip_net_join(w->net, j->addr, 8302, on_flood_join, j);
    if (rc)
        on_flood_join(j, rc, cn_strerror(rc));
    return 0;
}

static void flood(struct agent_wan *w)
{
    if (w->stopping || !w->lan || gossip_net_leaving(w->net))
        return;
    if (w->flood_inflight > 0) {
        w->flood_again = true;
        return;
    }
    w->flood_again = false;
    struct flood_walk x = {w, gossip_net_core(w->net)};
    gossip_foreach(gossip_net_core(w->lan), flood_cb, &x);
}

static void on_flood_timer(uv_timer_t *t)
{
    flood(t->data);
}

static void on_lan_event(void *arg, const struct gossip_event *e)
{
    struct agent_wan *w = arg;
    if ((e->type == GOSSIP_EV_JOIN || e->type == GOSSIP_EV_UPDATE) && !w->stopping &&
        gossip_net_is_server_event(w->lan, e))
        uv_timer_start(&w->flood, on_flood_timer, 0, WAN_FLOOD_MS);
}

/* ---- tags: Consul's WAN Serf tags (agent/consul/server.go setupSerf, WAN) ------- */

static int build_tags(const struct agent_wan_options *o, struct cn_buf *t)
{
    const struct agent_config *c = o->cfg;
    char build[96], port[16];
    snprintf(build, sizeof(build), "%s:cairn-%s", CN_CONSUL_API_VERSION, CAIRN_VERSION);
    snprintf(port, sizeof(port), "%d", o->server_port);
    int rc = gossip_tags_put(t, "role", "consul");
    rc = rc ? rc : gossip_tags_put(t, "dc", c->datacenter);
    rc = rc ? rc : gossip_tags_put(t, "port", port);
    rc = rc ? rc : gossip_tags_put(t, "id", o->node_id);
    rc = rc ? rc : gossip_tags_put(t, "segment", "");
    rc = rc ? rc : gossip_tags_put(t, "raft_vsn", "3");
    rc = rc ? rc : gossip_tags_put(t, "vsn", "2");
    rc = rc ? rc : gossip_tags_put(t, "vsn_min", "2");
    rc = rc ? rc : gossip_tags_put(t, "vsn_max", "3");
    rc = rc ? rc : gossip_tags_put(t, "build", build);
    return rc;
}

struct agent_wan *agent_wan_start(uv_loop_t *loop, const struct agent_wan_options *o, int *rc,
                                  char *err, size_t errcap)
{
    const struct agent_config *c = o->cfg;
    *rc = 0;
    /* -serf-lan-port=-1 runs without gossip at all: no WAN pool either. */
    if (!c->server || c->dev || c->serf_wan_port < 0 || c->serf_lan_port < 0)
        return NULL;
    struct agent_wan *w = cn_calloc(1, sizeof(*w));
    if (!w) {
        *rc = CN_ENOMEM;
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    w->loop = loop;
    w->cfg = c;
    w->on_fatal = o->on_fatal;
    w->fatal_arg = o->fatal_arg;
    w->tls = o->tls;
    w->tls_outgoing = o->tls_outgoing;
    w->tls_verify_hostname = o->tls_verify_hostname;
    w->rng = cn_now_ns() | 1;
    snprintf(w->node_id, sizeof(w->node_id), "%s", o->node_id ? o->node_id : "");
    /* Consul's WAN member name: NODE.DC */
    if ((size_t)snprintf(w->self, sizeof(w->self), "%s.%s", c->node_name, c->datacenter) >=
        sizeof(w->self)) {
        snprintf(err, errcap, "node name and datacenter too long for a WAN member name");
        cn_free(w);
        *rc = CN_EINVAL;
        return NULL;
    }
    struct cn_buf tags = CN_BUF_INIT;
    if (build_tags(o, &tags)) {
        snprintf(err, errcap, "WAN gossip tags too long (node ID, datacenter)");
        cn_buf_free(&tags);
        cn_free(w);
        *rc = CN_EINVAL;
        return NULL;
    }
    /* memberlist's DefaultWANConfig, as Consul's gossip_wan block sets it.
     * Consul keeps one keyring per pool: serf/remote.keyring for the WAN, set
     * up from `encrypt` as the LAN's (cairn's keyring operations rotate the
     * LAN ring only; docs/consul-compat.md). */
    const char *bind = c->serf_wan_bind && *c->serf_wan_bind ? c->serf_wan_bind : c->bind_addr;
    struct agent_pool p = {.pool = "WAN",
                           .knobs = "gossip_wan",
                           .keyring_file = GOSSIP_WAN_KEYRING_PATH,
                           .bind = bind,
                           .port = (int)c->serf_wan_port,
                           .advertise = o->advertise,
                           .node_name = w->self,
                           .cluster = WAN_CLUSTER,
                           .tags = (const uint8_t *)tags.p,
                           .tags_len = tags.len,
                           .gossip_nodes = c->wan_gossip_nodes,
                           .retransmit_mult = c->wan_retransmit_mult,
                           .suspicion_mult = c->wan_suspicion_mult,
                           .gossip_interval = c->wan_gossip_interval,
                           .probe_interval = c->wan_probe_interval,
                           .probe_timeout = c->wan_probe_timeout};
    gossip_config_default(&p.tune);
    p.tune.push_pull_interval_ms = 60000;
    p.tune.gossip_to_the_dead_ms = 60000;
    size_t nkeys = 0;
    *rc = agent_gossip_open(loop, c, &p, &w->net, &nkeys, err, errcap);
    cn_buf_free(&tags);
    if (*rc) {
        cn_free(w);
        return NULL;
    }
    gossip_net_subscribe(w->net, on_wan_event, w);
    uv_timer_init(loop, &w->retry);
    w->retry.data = w;
    uv_timer_init(loop, &w->flood);
    w->flood.data = w;
    w->lan = o->lan;
    if (w->lan && gossip_net_subscribe(w->lan, on_lan_event, w) == 0)
        uv_timer_start(&w->flood, on_flood_timer, WAN_FLOOD_MS, WAN_FLOOD_MS);
    else
        w->lan = NULL;
    for (size_t i = 0; i < c->nstart_join_wan && w->njoins < 32; i++) {
        struct wan_join *j = &w->joins[w->njoins++];
        j->w = w;
        snprintf(j->addr, sizeof(j->addr), "%s", c->start_join_wan[i]);
        w->start_left++;
    }
    for (size_t i = 0; i < c->nretry_join_wan && w->njoins < 32; i++) {
        struct wan_join *j = &w->joins[w->njoins++];
        j->w = w;
        j->retry = true;
        snprintf(j->addr, sizeof(j->addr), "%s", c->retry_join_wan[i]);
    }
    for (size_t i = 0; i < w->njoins; i++)
        try_join(w, &w->joins[i]);
    if (c->nretry_join_wan)
        uv_timer_start(&w->retry, on_retry, WAN_RETRY_JOIN_MS, WAN_RETRY_JOIN_MS);
    cn_info("agent", "gossip (WAN) on %s:%d as %s%s", bind, gossip_net_port(w->net), w->self,
            nkeys ? ", encrypted" : "");
    return w;
}

/* Both timers close at once (an agent that failed to start closes every
 * handle still open right after: none may be closed later); w goes with
 * the second. */
static void on_timer_closed(uv_handle_t *h)
{
    struct agent_wan *w = h->data;
    if (--w->closing == 0)
        cn_free(w);
}

void agent_wan_stop(struct agent_wan *w)
{
    if (!w)
        return;
    w->stopping = true;
    if (w->lan)
        gossip_net_unsubscribe(w->lan, on_lan_event, w);
    for (size_t i = 0; i < w->ndcs; i++)
        srv_close(w->dcs[i].srv);
    w->ndcs = 0;
    gossip_net_stop(w->net);
    w->closing = 2;
    uv_close((uv_handle_t *)&w->retry, on_timer_closed);
    uv_close((uv_handle_t *)&w->flood, on_timer_closed);
}

struct gossip_net *agent_wan_net(struct agent_wan *w)
{
    return w ? w->net : NULL;
}

void agent_wan_leave(struct agent_wan *w, void (*cb)(void *arg), void *arg)
{
    if (!w) {
        cb(arg);
        return;
    }
    gossip_net_leave(w->net, WAN_LEAVE_WAIT_MS, cb, arg);
}

/* ---- the routing table ------------------------------------------------------------- */

struct collect {
    struct wan_server *sv;
    size_t n, cap;
    const struct gossip *g;
    struct coord self;
    bool have_self; /* this server's WAN coordinate is known */
};

static int collect_cb(void *arg, const struct gossip_member *m)
{
    struct collect *x = arg;
    if (x->n < x->cap && wan_server_of(m, &x->sv[x->n]) == 0) {
        struct coord c;
        if (x->have_self && gossip_coord_get(x->g, m->name, &c) == 0) {
            double d = coord_distance(&x->self, &c);
            if (d >= 0 && isfinite(d))
                x->sv[x->n].rtt_s = d;
        }
        x->n++;
    }
    return 0;
}

/* The WAN members that are servers (owned by the caller: cn_free). */
static struct wan_server *members(const struct agent_wan *w, size_t *n)
{
    struct collect x = {.sv = cn_calloc(WAN_MAX_MEMBERS, sizeof(struct wan_server)),
                        .cap = WAN_MAX_MEMBERS,
                        .g = gossip_net_core(w->net)};
    *n = 0;
    if (!x.sv)
        return NULL;
    x.have_self = gossip_coord_self(x.g, &x.self) == 0;
    gossip_foreach(x.g, collect_cb, &x);
    *n = x.n;
    return x.sv;
}

static struct wan_dc *dc_find(struct agent_wan *w, const char *dc)
{
    for (size_t i = 0; i < w->ndcs; i++)
        if (!strcmp(w->dcs[i].dc, dc))
            return &w->dcs[i];
    return NULL;
}

static int dc_open(struct agent_wan *w, const char *dc, const char **addrs, size_t n,
                   struct wan_dc **out)
{
    if (w->ndcs == WAN_MAX_DCS)
        return CN_ENOMEM;
    struct wan_dc *d = &w->dcs[w->ndcs];
    memset(d, 0, sizeof(*d));
    snprintf(d->dc, sizeof(d->dc), "%s", dc);
    char tls_name[300] = "";
    if (w->tls_verify_hostname) {
        const char *dom = w->cfg->domain ? w->cfg->domain : "consul.";
        size_t dl = strlen(dom);
        if (dl && dom[dl - 1] == '.')
            dl--;
        snprintf(tls_name, sizeof(tls_name), "server.%s.%.*s", dc, (int)dl, dom);
    }
    uint64_t id = 0;
    while (!id) {
        w->rng ^= w->rng << 13;
        w->rng ^= w->rng >> 7;
        w->rng ^= w->rng << 17;
        id = w->rng;
    }
    struct srv_options so = {.data_dir = w->cfg->data_dir,
                             .node_id = id, /* a transport id of its own */
                             .cluster_id = dc,
                             .join = addrs,
                             .njoin = n,
                             .node_name = w->self,
                             .node_uuid = w->node_id,
                             .hold_ms = AGENT_WAN_HOLD_MS,
                             .hold_first_ms = AGENT_WAN_HOLD_FIRST_MS,
                             /* a silent server (cut link) given up after 4 s */
                             .client_heartbeat_ms = 1000,
                             .client = true,
                             .tls = w->tls,
                             .tls_outgoing = w->tls_outgoing,
                             .tls_server_name = tls_name[0] ? tls_name : NULL};
    char err[256] = "";
    int rc = srv_open(w->loop, &so, &d->srv, err, sizeof(err));
    if (rc) {
        cn_warn("agent", "route to datacenter %s: %s", dc, err);
        return rc;
    }
    cn_info("agent", "route to datacenter %s: %zu server%s", dc, n, n == 1 ? "" : "s");
    w->ndcs++;
    *out = d;
    return 0;
}

static void join_addrs(char *out, size_t cap, const char **addrs, size_t n)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && off < cap; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s\n", addrs[i]);
}

static int route(void *arg, const char *dc, struct srv **out)
{
    struct agent_wan *w = arg;
    *out = NULL;
    if (!w || w->stopping || !strcmp(dc, w->cfg->datacenter))
        return CN_ENOTFOUND;
    size_t n = 0;
    struct wan_server *sv = members(w, &n);
    if (!sv)
        return CN_ENOMEM;
    const char *addrs[WAN_MAX_DC_SERVERS];
    size_t na = wan_dc_servers(sv, n, dc, addrs, WAN_MAX_DC_SERVERS);
    if (na > WAN_MAX_DC_SERVERS)
        na = WAN_MAX_DC_SERVERS;
    int rc = 0;
    struct wan_dc *d = dc_find(w, dc);
    if (na == 0) {
        rc = CN_ENOTFOUND; /* unknown, or none of its servers alive */
    } else if (!d) {
        rc = dc_open(w, dc, addrs, na, &d);
        if (d)
            join_addrs(d->addrs, sizeof(d->addrs), addrs, na);
    } else {
        char now[sizeof(d->addrs)];
        join_addrs(now, sizeof(now), addrs, na);
        if (strcmp(now, d->addrs) != 0 && srv_client_servers_set(d->srv, addrs, na) == 0)
            memcpy(d->addrs, now, sizeof(now));
    }
    cn_free(sv);
    if (rc)
        return rc;
    /* Its servers were unreachable at the last request and none is connected
     * since: answer at once instead of waiting out the hold again. */
    if (d->dark && !srv_known_leader(d->srv))
        return CN_EAGAIN;
    *out = d->srv;
    return 0;
}

static void report(void *arg, const char *dc, int rc)
{
    struct agent_wan *w = arg;
    struct wan_dc *d = w ? dc_find(w, dc) : NULL;
    if (!d)
        return;
    if (rc == CN_EAGAIN && !d->dark)
        cn_warn("agent", "datacenter %s: no server reachable", dc);
    d->dark = rc == CN_EAGAIN;
}

/* A server failed or left the WAN pool: its datacenter's route moves on to
 * the servers still alive, or, with none left, is closed: what was in
 * flight there answers "No path to datacenter" now instead of at the end of
 * its own timeouts (the WAN pool noticed first). */
static void on_wan_event(void *arg, const struct gossip_event *e)
{
    struct agent_wan *w = arg;
    struct wan_server s;
    if (w->stopping ||
        (e->type != GOSSIP_EV_FAILED && e->type != GOSSIP_EV_LEFT && e->type != GOSSIP_EV_REAP) ||
        wan_server_of(&e->m, &s))
        return;
    struct wan_dc *d = dc_find(w, s.dc);
    if (!d)
        return;
    size_t n = 0;
    struct wan_server *sv = members(w, &n);
    if (!sv)
        return;
    const char *addrs[WAN_MAX_DC_SERVERS];
    size_t na = wan_dc_servers(sv, n, s.dc, addrs, WAN_MAX_DC_SERVERS);
    if (na > WAN_MAX_DC_SERVERS)
        na = WAN_MAX_DC_SERVERS;
    if (na > 0) {
        char now[sizeof(d->addrs)];
        join_addrs(now, sizeof(now), addrs, na);
        if (strcmp(now, d->addrs) != 0 && srv_client_servers_set(d->srv, addrs, na) == 0)
            memcpy(d->addrs, now, sizeof(now));
        cn_free(sv);
        return;
    }
    cn_free(sv);
    struct srv *dead = d->srv;
    char dc[WAN_DC_MAX];
    snprintf(dc, sizeof(dc), "%s", d->dc);
    size_t i = (size_t)(d - w->dcs);
    memmove(&w->dcs[i], &w->dcs[i + 1], (w->ndcs - i - 1) * sizeof(w->dcs[0]));
    w->ndcs--;
    cn_warn("agent", "datacenter %s: no server alive in the WAN pool: route closed", dc);
    srv_close(dead); /* requests in flight fail now (No path to datacenter) */
}

static size_t datacenters(void *arg, char (*out)[API_DC_MAX], size_t cap)
{
    struct agent_wan *w = arg;
    size_t n = 0;
    struct wan_server *sv = members(w, &n);
    if (!sv)
        return 0;
    _Static_assert(API_DC_MAX == WAN_DC_MAX, "one datacenter name size");
    size_t k = wan_datacenters(sv, n, w->cfg->datacenter, out, cap);
    cn_free(sv);
    return k;
}

/* ---- DNS for other datacenters ------------------------------------------------------ */

struct wan_dnsq {
    struct agent_wan *w;
    char dc[WAN_DC_MAX];
    struct srv *to;
    uint64_t handle;
    void (*done)(void *ctx, int rc, const uint8_t *answer, size_t n);
    void *ctx;
};

static void on_dns_answer(void *arg, int rc, const struct srv_cl_resp *m)
{
    struct wan_dnsq *d = arg;
    report(d->w, d->dc, rc);
    if (!rc && m->status != 200)
        rc = CN_EPROTO;
    d->done(d->ctx, rc, rc ? NULL : (const uint8_t *)m->body, rc ? 0 : m->body_len);
    cn_free(d);
}

int agent_wan_dns_remote(void *arg, const char *dc, const uint8_t *q, size_t len, size_t limit,
                         bool small_udp,
                         void (*done)(void *ctx, int rc, const uint8_t *answer, size_t n),
                         void *ctx, uint64_t *handle)
{
    struct agent_wan *w = arg;
    struct srv *to = NULL;
    int rc = route(w, dc, &to);
    if (rc == CN_ENOTFOUND) {
        /* unknown to the WAN pool: no such name (NXDOMAIN); known but with
         * no server alive: a failure (SERVFAIL) */
        size_t n = 0;
        struct wan_server *sv = members(w, &n);
        bool known = sv && wan_dc_known(sv, n, dc);
        cn_free(sv);
        return known ? CN_EAGAIN : CN_ENOTFOUND;
    }
    if (rc)
        return rc;
    struct wan_dnsq *d = cn_calloc(1, sizeof(*d));
    if (!d)
        return CN_ENOMEM;
    d->w = w;
    snprintf(d->dc, sizeof(d->dc), "%s", dc);
    d->to = to;
    d->done = done;
    d->ctx = ctx;
    char target[96];
    snprintf(target, sizeof(target), "/v1/internal/dns?limit=%zu%s", limit,
             small_udp ? "&small_udp=1" : "");
    struct srv_cl_req m;
    memset(&m, 0, sizeof(m));
    m.method = "POST";
    m.method_len = 4;
    m.target = target;
    m.target_len = strlen(target);
    m.hdrs[m.nhdrs++] = (struct srv_cl_hdr){"Content-Type", "application/octet-stream", 12, 24};
    m.body = q;
    m.body_len = len;
    rc = srv_client_http(to, &m, true, on_dns_answer, d, &d->handle);
    if (rc) {
        cn_free(d);
        return rc;
    }
    *handle = (uint64_t)(uintptr_t)d;
    return 0;
}

void agent_wan_dns_cancel(void *arg, uint64_t handle)
{
    (void)arg;
    struct wan_dnsq *d = (struct wan_dnsq *)(uintptr_t)handle;
    if (!d)
        return;
    srv_client_cancel(d->to, d->handle);
    cn_free(d);
}

static size_t dc_coords(void *arg, const char *dc, struct api_coord_server *out, size_t cap)
{
    struct agent_wan *w = arg;
    const struct gossip *g = gossip_net_core(w->net);
    size_t n = 0, k = 0;
    struct wan_server *sv = members(w, &n);
    if (!sv)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char name[GOSSIP_NAME_MAX + WAN_DC_MAX + 2];
        struct coord c;
        if (sv[i].left || strcmp(sv[i].dc, dc) != 0)
            continue;
        snprintf(name, sizeof(name), "%s.%s", sv[i].node, sv[i].dc);
        if (gossip_coord_get(g, name, &c) != 0)
            continue;
        if (k < cap) {
            snprintf(out[k].node, sizeof(out[k].node), "%s", sv[i].node);
            out[k].c = c;
        }
        k++;
    }
    cn_free(sv);
    size_t m = k < cap ? k : cap; /* by node name, as Consul sorts them */
    for (size_t i = 1; i < m; i++)
        for (size_t j = i; j > 0 && strcmp(out[j - 1].node, out[j].node) > 0; j--) {
            struct api_coord_server t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return k;
}

void agent_wan_api(struct agent_wan *w, struct api_wan *out)
{
    memset(out, 0, sizeof(*out));
    if (!w)
        return;
    out->route = route;
    out->report = report;
    out->datacenters = datacenters;
    out->dc_coords = dc_coords;
    out->dns_remote = agent_wan_dns_remote;
    out->dns_cancel = agent_wan_dns_cancel;
    out->arg = w;
    out->gossip = w->net;
}
