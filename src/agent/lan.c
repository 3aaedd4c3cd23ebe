/* agent/lan.c: the agent's LAN gossip pool (see lan.h). */
#include "agent/lan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dur.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/version.h"
#include "gossip/keyfile.h"

#define RETRY_JOIN_MS 2000
#define LEAVE_WAIT_MS 2000

struct lan_join { /* one address of -join or -retry-join */
    struct agent_lan *l;
    char addr[300];
    bool retry;   /* -retry-join */
    bool busy;    /* an attempt in flight */
    int failures; /* consecutive */
    char last[200];
};

struct agent_lan {
    uv_loop_t *loop;
    struct gossip_net *net;
    struct agent_reconcile *rec;
    struct srv *srv;
    char self[GOSSIP_NAME_MAX + 1];
    uv_timer_t retry;
    uv_timer_t hints; /* gossip addresses of servers known through Raft discovery */
    int hint_busy;
    bool joined;    /* some join succeeded: retry-join stops (Consul) */
    int start_left; /* -join attempts still running */
    bool start_ok;
    struct lan_join joins[32];
    size_t njoins;
    void (*on_fatal)(void *);
    void *fatal_arg;
    bool stopping;
    int handles; /* closing */
};

static void on_join_done(void *arg, int rc, const char *why)
{
    struct lan_join *j = arg;
    struct agent_lan *l = j->l;
    j->busy = false;
    if (rc == CN_ESHUTDOWN || l->stopping)
        return;
    if (!j->retry) {
        l->start_left--;
        if (!rc) {
            l->start_ok = true;
            l->joined = true;
            cn_info("agent", "joined the gossip pool through %s", j->addr);
        } else {
            cn_warn("agent", "-join %s: %s", j->addr, why);
        }
        if (l->start_left == 0 && !l->start_ok && l->on_fatal) {
            cn_error("agent", "Failed to join any of the -join addresses");
            l->on_fatal(l->fatal_arg);
        }
        return;
    }
    if (!rc) {
        if (!l->joined)
            cn_info("agent", "retry-join: joined the gossip pool through %s", j->addr);
        l->joined = true;
        j->failures = 0;
        return;
    }
    /* As the server's RPC joins: the first failure, each new reason, every 30th. */
    j->failures++;
    if (j->failures == 1 || strcmp(j->last, why) || j->failures % 30 == 0)
        cn_warn("agent", "retry-join %s as a gossip address: %s (attempt %d)", j->addr, why,
                j->failures);
    snprintf(j->last, sizeof(j->last), "%s", why);
}

static void try_join(struct agent_lan *l, struct lan_join *j)
{
    if (j->busy)
        return;
    j->busy = true;
    int rc = gossip_net_join(l->net, j->addr, 8301, on_join_done, j);
    if (rc)
        on_join_done(j, rc, rc == CN_EINVAL ? "expected host[:port]" : cn_strerror(rc));
}

/* Servers that formed through RPC joins (-retry-join at server ports, the
 * form before gossip) learn each other's gossip port from Raft discovery
 * (srv_gossip_addrs): join the ones that are not live members. */
struct hint_walk {
    const char *addr;
    bool live;
};

static int hint_cb(void *arg, const struct gossip_member *m)
{
    struct hint_walk *h = arg;
    char a[80];
    snprintf(a, sizeof(a), "%s:%u", m->host, m->port);
    if ((m->status == GOSSIP_ALIVE || m->status == GOSSIP_SUSPECT) && !strcmp(a, h->addr))
        h->live = true;
    return h->live;
}

static void on_hint_done(void *arg, int rc, const char *why)
{
    struct agent_lan *l = arg;
    l->hint_busy--;
    if (rc && rc != CN_ESHUTDOWN)
        cn_debug("agent", "gossip join of a server found through Raft discovery: %s", why);
}

static void on_hints(uv_timer_t *t)
{
    struct agent_lan *l = t->data;
    if (!l->srv || l->stopping || l->hint_busy)
        return;
    char addrs[16][80];
    size_t n = srv_gossip_addrs(l->srv, addrs, 16);
    for (size_t i = 0; i < n && i < 16; i++) {
        struct hint_walk h = {addrs[i], false};
        gossip_foreach(gossip_net_core(l->net), hint_cb, &h);
        if (!h.live && gossip_net_join(l->net, addrs[i], 8301, on_hint_done, l) == 0)
            l->hint_busy++;
    }
}

static void on_retry(uv_timer_t *t)
{
    struct agent_lan *l = t->data;
    /* Joined: through one of these addresses, or another way (a server found
     * through Raft discovery, someone joining us). */
    if (l->joined || l->stopping || gossip_num_alive(gossip_net_core(l->net)) > 1) {
        uv_timer_stop(t);
        return;
    }
    for (size_t i = 0; i < l->njoins; i++)
        if (l->joins[i].retry)
            try_join(l, &l->joins[i]);
}

/* ---- servers found through gossip join the server's Raft discovery ------------- */

static void on_srv_join(void *arg, int rc, const char *msg)
{
    char *addr = arg;
    if (rc && rc != CN_ESHUTDOWN)
        cn_debug("agent", "server %s found through gossip: %s", addr, msg);
    cn_free(addr);
}

/* Only a server without a Raft configuration (new, waiting for
 * -bootstrap-expect or to be added) joins the servers it meets: one that is
 * part of a cluster already never dials another cluster's servers met in
 * the same gossip pool (two clusters' Raft traffic must not meet); a new
 * server it meets joins it, and the leader adds that one (autojoin). */
static void on_event(void *arg, const struct gossip_event *e)
{
    struct agent_lan *l = arg;
    if (!l->srv || l->stopping || e->type != GOSSIP_EV_JOIN || !strcmp(e->m.name, l->self) ||
        !gossip_net_is_server_event(l->net, e) || srv_peers(l->srv, NULL, 0) > 0)
        return;
    struct gossip_server s;
    struct gossip_server all[64];
    size_t n = gossip_net_servers(l->net, all, 64);
    bool found = false;
    for (size_t i = 0; i < n && i < 64 && !found; i++)
        if (!strcmp(all[i].name, e->m.name)) {
            s = all[i];
            found = true;
        }
    if (!found)
        return;
    struct srv_peer peers[64];
    size_t np = srv_peers(l->srv, peers, 64);
    for (size_t i = 0; i < np && i < 64; i++)
        if (!strcmp(peers[i].addr, s.addr))
            return; /* already in the configuration */
    char *addr = cn_strdup(s.addr);
    if (!addr)
        return;
    if (srv_join(l->srv, addr, on_srv_join, addr))
        cn_free(addr);
}

/* ---- tags: Consul's (agent/consul/server.go, client.go setupSerf) ---------------- */

static int build_tags(const struct agent_lan_options *o, struct cn_buf *t)
{
    const struct agent_config *c = o->cfg;
    char build[96], port[16], expect[16];
    snprintf(build, sizeof(build), "%s:cairn-%s", CN_CONSUL_API_VERSION, CAIRN_VERSION);
    snprintf(port, sizeof(port), "%d", o->server_port);
    snprintf(expect, sizeof(expect), "%lld", (long long)c->bootstrap_expect);
    int rc = 0;
    if (c->server) {
        rc = rc ? rc : gossip_tags_put(t, "role", "consul");
        rc = rc ? rc : gossip_tags_put(t, "dc", c->datacenter);
        rc = rc ? rc : gossip_tags_put(t, "port", port);
        if (c->bootstrap)
            rc = rc ? rc : gossip_tags_put(t, "bootstrap", "1");
        if (c->bootstrap_expect > 1)
            rc = rc ? rc : gossip_tags_put(t, "expect", expect);
        rc = rc ? rc : gossip_tags_put(t, "raft_vsn", "3");
        /* Consul's wan_join_port: the WAN pool's port, for the other
         * servers' flood joiner (agent/wan.c) */
        char wport[16];
        snprintf(wport, sizeof(wport), "%lld", (long long)c->serf_wan_port);
        if (c->serf_wan_port > 0 && !c->dev)
            rc = rc ? rc : gossip_tags_put(t, "wan_join_port", wport);
    } else {
        rc = rc ? rc : gossip_tags_put(t, "role", "node");
        rc = rc ? rc : gossip_tags_put(t, "dc", c->datacenter);
    }
    rc = rc ? rc : gossip_tags_put(t, "segment", "");
    rc = rc ? rc : gossip_tags_put(t, "id", o->node_id);
    rc = rc ? rc : gossip_tags_put(t, "vsn", "2");
    rc = rc ? rc : gossip_tags_put(t, "vsn_min", "2");
    rc = rc ? rc : gossip_tags_put(t, "vsn_max", "3");
    rc = rc ? rc : gossip_tags_put(t, "build", build);
    return rc;
}

/* Consul's setupBaseKeyrings: with `encrypt` and no keyring file, the file
 * is created holding that key; an existing file wins over `encrypt` (a
 * warning when it lacks that key); a file alone turns encryption on. With
 * disable_keyring_file, only `encrypt`, in memory. *path gets the file (""
 * when none is kept). lan.h. */
int agent_gossip_keyring(const struct agent_config *c, const char *file, const char *pool,
                         struct gossip_keyring *kr, char *path, size_t pathcap, char *err,
                         size_t errcap)
{
    memset(kr, 0, sizeof(*kr));
    path[0] = '\0';
    struct gossip_key ek;
    bool have_encrypt = c->encrypt && *c->encrypt;
    if (have_encrypt) {
        char why[96];
        if (gossip_key_from_b64(c->encrypt, &ek, why, sizeof(why))) {
            snprintf(err, errcap, "encrypt: Invalid key: %s (generate one with cairn keygen)", why);
            return CN_EINVAL;
        }
    }
    if (c->disable_keyring_file || !c->data_dir || !*c->data_dir) {
        if (have_encrypt)
            kr->keys[kr->n++] = ek;
        return 0;
    }
    snprintf(path, pathcap, "%s/%s", c->data_dir, file);
    int rc = gossip_keyring_load_file(path, kr, err, errcap);
    if (rc == 0) {
        if (have_encrypt && gossip_keyring_find(kr, ek.k, ek.len) < 0)
            cn_warn("agent",
                    "%s keyring doesn't include key provided with -encrypt, using keyring (%s)",
                    pool, path);
        else if (have_encrypt)
            cn_info("agent", "%s gossip keyring loaded from %s (%zu keys; -encrypt is in it)", pool,
                    path, kr->n);
        else
            cn_info("agent", "%s gossip keyring loaded from %s (%zu keys)", pool, path, kr->n);
        return 0;
    }
    if (rc != CN_ENOTFOUND)
        return rc;
    if (!have_encrypt)
        return 0;
    kr->keys[kr->n++] = ek;
    struct cn_buf b = CN_BUF_INIT;
    rc = gossip_keyring_encode(kr, &b);
    rc = rc ? rc : gossip_keyring_write_file(path, b.p, b.len, err, errcap);
    cn_buf_free(&b);
    return rc;
}

static uint32_t ms_of(const char *dur)
{
    int64_t ns = 0;
    cn_dur_parse(dur, &ns);
    return (uint32_t)(ns / CN_NS_PER_MS);
}

int agent_gossip_open(uv_loop_t *loop, const struct agent_config *c, struct agent_pool *p,
                      struct gossip_net **out, size_t *nkeys, char *err, size_t errcap)
{
    *out = NULL;
    *nkeys = 0;
    p->tune.gossip_nodes = (uint32_t)p->gossip_nodes;
    p->tune.retransmit_mult = (uint32_t)p->retransmit_mult;
    p->tune.suspicion_mult = (uint32_t)p->suspicion_mult;
    p->tune.gossip_interval_ms = ms_of(p->gossip_interval);
    p->tune.probe_interval_ms = ms_of(p->probe_interval);
    p->tune.probe_timeout_ms = ms_of(p->probe_timeout);
    if (!p->tune.gossip_interval_ms || !p->tune.probe_interval_ms || !p->tune.probe_timeout_ms) {
        snprintf(err, errcap, "%s: intervals and timeouts must be at least 1ms", p->knobs);
        return CN_EINVAL;
    }
    struct gossip_keyring kr;
    char kpath[4200];
    int rc =
        agent_gossip_keyring(c, p->keyring_file, p->pool, &kr, kpath, sizeof(kpath), err, errcap);
    if (rc)
        return rc;
    struct gossip_net_options no = {
        .bind_addr = p->bind,
        .port = p->port,
        .advertise = p->advertise,
        .node_name = p->node_name,
        .cluster = p->cluster,
        .tags = p->tags,
        .tags_len = p->tags_len,
        .keyring = &kr,
        .verify_incoming = c->encrypt_verify_incoming,
        .verify_outgoing = c->encrypt_verify_outgoing,
        .keyring_file = kpath[0] ? kpath : NULL,
        .tuning = &p->tune,
    };
    char gerr[256] = "";
    rc = gossip_net_start(loop, &no, out, gerr, sizeof(gerr));
    if (rc) {
        snprintf(err, errcap, "%s gossip: %s", p->pool, gerr[0] ? gerr : cn_strerror(rc));
        return rc;
    }
    *nkeys = kr.n;
    return 0;
}

struct agent_lan *agent_lan_start(uv_loop_t *loop, const struct agent_lan_options *o, int *rc,
                                  char *err, size_t errcap)
{
    const struct agent_config *c = o->cfg;
    *rc = 0;
    if (c->serf_lan_port < 0 || c->dev)
        return NULL;
    struct agent_lan *l = cn_calloc(1, sizeof(*l));
    if (!l) {
        *rc = CN_ENOMEM;
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    l->loop = loop;
    l->srv = o->srv;
    l->on_fatal = o->on_fatal;
    l->fatal_arg = o->fatal_arg;
    snprintf(l->self, sizeof(l->self), "%s", c->node_name);
    struct cn_buf tags = CN_BUF_INIT;
    if (build_tags(o, &tags)) {
        snprintf(err, errcap, "gossip tags too long (node ID, datacenter)");
        cn_buf_free(&tags);
        cn_free(l);
        *rc = CN_EINVAL;
        return NULL;
    }
    const char *bind = c->serf_lan_bind && *c->serf_lan_bind ? c->serf_lan_bind : c->bind_addr;
    struct agent_pool p = {.pool = "LAN",
                           .knobs = "gossip_lan",
                           .keyring_file = GOSSIP_KEYRING_PATH,
                           .bind = bind,
                           .port = (int)c->serf_lan_port,
                           .advertise = o->advertise,
                           .node_name = c->node_name,
                           .cluster = c->datacenter,
                           .tags = (const uint8_t *)tags.p,
                           .tags_len = tags.len,
                           .gossip_nodes = c->gossip_nodes,
                           .retransmit_mult = c->retransmit_mult,
                           .suspicion_mult = c->suspicion_mult,
                           .gossip_interval = c->gossip_interval,
                           .probe_interval = c->probe_interval,
                           .probe_timeout = c->probe_timeout};
    gossip_config_default(&p.tune);
    p.tune.disable_coordinates = c->disable_coordinates;
    size_t nkeys = 0;
    *rc = agent_gossip_open(loop, c, &p, &l->net, &nkeys, err, errcap);
    cn_buf_free(&tags);
    if (*rc) {
        cn_free(l);
        return NULL;
    }
    gossip_net_subscribe(l->net, on_event, l);
    if (o->srv)
        l->rec = agent_reconcile_start(loop, o->srv, l->net, c->node_name);
    uv_timer_init(loop, &l->retry);
    l->retry.data = l;
    for (size_t i = 0; i < c->nstart_join && l->njoins < 32; i++) {
        struct lan_join *j = &l->joins[l->njoins++];
        j->l = l;
        snprintf(j->addr, sizeof(j->addr), "%s", c->start_join[i]);
        l->start_left++;
    }
    for (size_t i = 0; i < c->nretry_join && l->njoins < 32; i++) {
        struct lan_join *j = &l->joins[l->njoins++];
        j->l = l;
        j->retry = true;
        snprintf(j->addr, sizeof(j->addr), "%s", c->retry_join[i]);
    }
    for (size_t i = 0; i < l->njoins; i++)
        try_join(l, &l->joins[i]);
    if (c->nretry_join)
        uv_timer_start(&l->retry, on_retry, RETRY_JOIN_MS, RETRY_JOIN_MS);
    uv_timer_init(loop, &l->hints);
    l->hints.data = l;
    if (o->srv)
        uv_timer_start(&l->hints, on_hints, 1000, 3000);
    cn_info("agent", "gossip (LAN) on %s:%d%s%s%s", bind, gossip_net_port(l->net),
            nkeys ? ", encrypted" : "",
            nkeys && !c->encrypt_verify_incoming ? ", accepting unencrypted" : "",
            nkeys && !c->encrypt_verify_outgoing ? ", sending unencrypted" : "");
    return l;
}

static void on_retry_closed(uv_handle_t *h)
{
    struct agent_lan *l = h->data;
    if (--l->handles == 0)
        cn_free(l);
}

void agent_lan_stop(struct agent_lan *l)
{
    if (!l)
        return;
    l->stopping = true;
    agent_reconcile_stop(l->rec);
    gossip_net_stop(l->net);
    l->handles = 2;
    uv_close((uv_handle_t *)&l->retry, on_retry_closed);
    uv_close((uv_handle_t *)&l->hints, on_retry_closed);
}

struct gossip_net *agent_lan_net(struct agent_lan *l)
{
    return l ? l->net : NULL;
}

void agent_lan_leave(struct agent_lan *l, void (*cb)(void *arg), void *arg)
{
    if (!l) {
        cb(arg);
        return;
    }
    gossip_net_leave(l->net, LEAVE_WAIT_MS, cb, arg);
}
