/* api/agent.c: /v1/agent/... (website/content/api-docs/agent/index.mdx,
 * agent/service.mdx, agent/check.mdx; agent/agent_endpoint.go). Writes go
 * through the agent's local state (local/local.h), which writes through to the
 * catalog and calls back once applied. Agent reads are not blocking queries.
 *
 * python-consul 0.7.1 (Debian's python3-consul) sends GET for service and
 * check deregistration and for check pass/warn/fail, as Consul before 1.0
 * accepted: those routes take GET and PUT. */
#include <stdio.h>
#include <string.h>

#include "gossip/net.h"
#include "local/local.h"
#include "api/api_int.h"
#include "api/decode.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/version.h"

static bool have_local(struct api_ctx *c)
{
    if (c->api->local)
        return true;
    api_error(c, 500, "agent local state is not available");
    return false;
}

/* local_done_cb -> Consul's answer: empty 200 or a plain-text error. */
static void local_done(void *arg, int rc, const char *msg)
{
    struct api_ctx *c = arg;
    switch (rc) {
    case 0:
        api_reply_empty(c);
        return;
    case CN_EINVAL:
        api_error(c, 400, "%s", msg);
        return;
    case CN_ENOTFOUND:
        api_error(c, 404, "%s", msg);
        return;
    case CN_ESHUTDOWN:
        api_error(c, 503, "%s", msg);
        return;
    default:
        api_error(c, 500, "%s", msg);
        return;
    }
}

static void reply_buf(struct api_ctx *c, struct cn_jsonw *w, struct cn_buf *b)
{
    if (w->err) {
        cn_buf_free(b);
        api_error(c, 500, "out of memory");
        return;
    }
    api_reply_json(c, 200, b);
    cn_buf_free(b);
}

/* ---- GET /v1/agent/self, /v1/agent/members ------------------------------------- */

static void json_member(struct api_ctx *c, struct cn_jsonw *w, bool wan)
{
    const struct api_config *cfg = &c->api->cfg;
    char port[16], build[96];
    snprintf(port, sizeof(port), "%d", cfg->server_port > 0 ? cfg->server_port : 8300);
    /* Consul's "build" tag is "<version>:<revision>"; tools parse the version
     * from it, so it carries the Consul API version, and cairn's own. */
    snprintf(build, sizeof(build), "%s:cairn-%.48s", CN_CONSUL_API_VERSION,
             cfg->version ? cfg->version : "");
    struct cn_buf name = CN_BUF_INIT;
    if (wan)
        cn_buf_printf(&name, "%s.%s", cfg->node_name, cfg->datacenter);
    else
        cn_buf_puts(&name, cfg->node_name);
    cn_buf_cstr(&name);
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "Name", name.p ? name.p : "");
    cn_jsonw_kstr(w, "Addr", cfg->advertise_addr);
    int serf = cfg->serf_lan_port > 0 ? cfg->serf_lan_port : 8301;
    cn_jsonw_ki64(w, "Port", wan ? serf + 1 : serf);
    /* serf member tags a Consul server advertises (agent/consul/server.go). */
    cn_jsonw_key(w, "Tags");
    cn_jsonw_obj_open(w);
    bool client = srv_is_client(c->api->srv);
    if (!client) {
        cn_jsonw_kstr(w, "acls", "0");
        cn_jsonw_kstr(w, "bootstrap", "1");
    }
    cn_jsonw_kstr(w, "build", build);
    cn_jsonw_kstr(w, "dc", cfg->datacenter);
    cn_jsonw_kstr(w, "id", cfg->node_id);
    if (!client) {
        cn_jsonw_kstr(w, "port", port);
        cn_jsonw_kstr(w, "raft_vsn", "3");
    }
    /* A client agent's tags (agent/consul/client.go): role "node". */
    cn_jsonw_kstr(w, "role", client ? "node" : "consul");
    cn_jsonw_kstr(w, "segment", "");
    cn_jsonw_kstr(w, "vsn", "2");
    cn_jsonw_kstr(w, "vsn_max", "3");
    cn_jsonw_kstr(w, "vsn_min", "2");
    cn_jsonw_obj_close(w);
    cn_jsonw_ki64(w, "Status", 1); /* serf StatusAlive */
    cn_jsonw_ki64(w, "ProtocolMin", 1);
    cn_jsonw_ki64(w, "ProtocolMax", 5);
    cn_jsonw_ki64(w, "ProtocolCur", 2);
    cn_jsonw_ki64(w, "DelegateMin", 2);
    cn_jsonw_ki64(w, "DelegateMax", 5);
    cn_jsonw_ki64(w, "DelegateCur", 4);
    cn_jsonw_obj_close(w);
    cn_buf_free(&name);
}

/* One gossip member as Consul's agent/members answer (api.AgentMember):
 * serf's Status number, its tags, the memberlist protocol versions Consul
 * reports. */
static int tag_kv(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    struct cn_jsonw *w = arg;
    char key[256], val[256];
    snprintf(key, sizeof(key), "%.*s", (int)kl, k);
    snprintf(val, sizeof(val), "%.*s", (int)vl, v);
    cn_jsonw_kstr(w, key, val);
    return 0;
}

static void json_gossip_member(struct cn_jsonw *w, const struct gossip_member *m)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "Name", m->name);
    cn_jsonw_kstr(w, "Addr", m->host);
    cn_jsonw_ki64(w, "Port", m->port);
    cn_jsonw_key(w, "Tags");
    cn_jsonw_obj_open(w);
    gossip_tags_foreach(m->tags, m->tags_len, tag_kv, w);
    cn_jsonw_obj_close(w);
    cn_jsonw_ki64(w, "Status", gossip_serf_status(m->status, m->leaving));
    cn_jsonw_ki64(w, "ProtocolMin", 1);
    cn_jsonw_ki64(w, "ProtocolMax", 5);
    cn_jsonw_ki64(w, "ProtocolCur", 2);
    cn_jsonw_ki64(w, "DelegateMin", 2);
    cn_jsonw_ki64(w, "DelegateMax", 5);
    cn_jsonw_ki64(w, "DelegateCur", 4);
    cn_jsonw_obj_close(w);
}

struct member_walk {
    struct cn_jsonw *w;
    const char *segment; /* NULL: every member */
};

static int member_cb(void *arg, const struct gossip_member *m)
{
    struct member_walk *x = arg;
    if (x->segment) {
        char seg[128];
        if (gossip_tags_get(m->tags, m->tags_len, "segment", seg, sizeof(seg)))
            seg[0] = '\0';
        if (strcmp(seg, x->segment))
            return 0;
    }
    json_gossip_member(x->w, m);
    return 0;
}

/* GET /v1/agent/members[?wan][?segment=]: the LAN gossip pool's members
 * (every status: alive, leaving, left, failed, as Serf keeps them until
 * reaped). ?segment= keeps the members of one network segment (cairn has
 * only the default one, ""); "_all" (Consul's AllSegments) or no parameter:
 * all. ?wan: the WAN pool of servers (members named NODE.DC); a server
 * without one (serf_wan -1) lists itself alone under that name, a client
 * agent nothing. */
static void h_members(struct api_ctx *c)
{
    int wan = api_flag(c, "wan");
    if (wan < 0) {
        api_error(c, 400, "Invalid value for wan");
        return;
    }
    const char *segment = api_param(c, "segment");
    if (segment && !strcmp(segment, "_all"))
        segment = NULL;
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_arr_open(&w);
    if (wan > 0 && c->api->wan.gossip) {
        struct member_walk x = {&w, NULL};
        gossip_foreach(gossip_net_core(c->api->wan.gossip), member_cb, &x);
    } else if (wan > 0 && srv_is_client(c->api->srv)) {
        /* Consul: a client agent is in no WAN pool; its list is empty. */
    } else if (wan > 0 || !c->api->cfg.gossip) {
        if (wan > 0 || !segment || !*segment)
            json_member(c, &w, wan > 0);
    } else {
        struct member_walk x = {&w, segment};
        gossip_foreach(gossip_net_core(c->api->cfg.gossip), member_cb, &x);
    }
    cn_jsonw_arr_close(&w);
    reply_buf(c, &w, &b);
}

static void kstat(struct cn_jsonw *w, const char *k, uint64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    cn_jsonw_kstr(w, k, s);
}

static int count_ttl(void *arg, const struct state_check *chk)
{
    if (chk->ttl_ns > 0)
        (*(size_t *)arg)++;
    return 0;
}

struct wan_count {
    uint64_t members, failed, left;
};

static int wan_count_cb(void *arg, const struct gossip_member *m)
{
    struct wan_count *x = arg;
    x->members++;
    x->failed += m->status == GOSSIP_FAILED;
    x->left += m->status == GOSSIP_LEFT;
    return 0;
}

static void h_self(struct api_ctx *c)
{
    const struct api_config *cfg = &c->api->cfg;
    struct srv *s = c->api->srv;
    struct local *l = c->api->local;
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_obj_open(&w);
    /* Config: agent_endpoint.go AgentSelf's struct, in its order. Version is
     * the Consul API version cairn follows (base/version.h): Nomad, Vault and
     * Fabio gate features on it. Partition is omitempty (empty outside
     * Consul Enterprise). CairnVersion is cairn's own. */
    cn_jsonw_key(&w, "Config");
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "Datacenter", cfg->datacenter);
    cn_jsonw_kstr(&w, "PrimaryDatacenter", cfg->datacenter);
    cn_jsonw_kstr(&w, "NodeName", cfg->node_name);
    cn_jsonw_kstr(&w, "NodeID", cfg->node_id);
    cn_jsonw_kstr(&w, "Revision", "cairn");
    cn_jsonw_kbool(&w, "Server", !srv_is_client(c->api->srv));
    cn_jsonw_kstr(&w, "Version", CN_CONSUL_API_VERSION);
    cn_jsonw_kstr(&w, "BuildDate", "1970-01-01T00:00:00Z");
    cn_jsonw_kstr(&w, "CairnVersion", cfg->version);
    cn_jsonw_obj_close(&w);
    /* DebugConfig: RuntimeConfig's key names for what cairn has (built by
     * the agent from its configuration, agent/debug_config.c). */
    cn_jsonw_key(&w, "DebugConfig");
    const char *cj = cfg->config_json && *cfg->config_json ? cfg->config_json : "{}";
    cn_jsonw_raw(&w, cj, strlen(cj));
    /* This agent's LAN coordinate (the gossip pool's); without gossip or
     * with disable_coordinates, a new coordinate (what Serf starts from). */
    cn_jsonw_key(&w, "Coord");
    struct coord co;
    if (!c->api->cfg.gossip || gossip_coord_self(gossip_net_core(c->api->cfg.gossip), &co)) {
        struct coord_config cc;
        coord_config_default(&cc);
        coord_init(&co, &cc);
    }
    api__json_coord(&w, &co);
    cn_jsonw_key(&w, "Member");
    struct gossip_member me;
    if (c->api->cfg.gossip &&
        !gossip_member_get(gossip_net_core(c->api->cfg.gossip), cfg->node_name, &me))
        json_gossip_member(&w, &me);
    else
        json_member(c, &w, false);
    cn_jsonw_key(&w, "Stats");
    cn_jsonw_obj_open(&w);
    cn_jsonw_key(&w, "agent");
    cn_jsonw_obj_open(&w);
    kstat(&w, "check_monitors", 0);
    size_t nttl = 0, nchk = l ? local_check_count(l) : 0;
    if (l)
        local_checks_foreach(l, count_ttl, &nttl);
    kstat(&w, "check_ttls", nttl);
    kstat(&w, "checks", nchk);
    kstat(&w, "services", l ? local_service_count(l) : 0);
    cn_jsonw_obj_close(&w);
    /* agent/agent.go Stats "build" group. */
    cn_jsonw_key(&w, "build");
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "prerelease", "");
    cn_jsonw_kstr(&w, "revision", "cairn");
    cn_jsonw_kstr(&w, "version", CN_CONSUL_API_VERSION);
    cn_jsonw_kstr(&w, "version_metadata", "");
    cn_jsonw_obj_close(&w);
    /* cairn's own group (Consul's clients ignore unknown groups): tests wait
     * on http_parked (blocking queries parked now) instead of sleeping. Only
     * counts that stay put while nothing is parked, so that two reads of an
     * idle agent agree (`cairn info` is compared with /agent/self). */
    struct http_stats hs;
    http_req_server_stats(c->req, &hs);
    cn_jsonw_key(&w, "cairn");
    cn_jsonw_obj_open(&w);
    kstat(&w, "http_parked", hs.parked);
    kstat(&w, "watches", srv_watch_count(s));
    /* client agents' requests this server is serving (parked ones included) */
    kstat(&w, "client_requests", api_remote_count(c->api));
    cn_jsonw_obj_close(&w);
    /* The cache of encoded listings (api/cache.c). */
    struct api_cache_stats cs;
    api_cache_stats(c->api, &cs);
    cn_jsonw_key(&w, "http_cache");
    cn_jsonw_obj_open(&w);
    kstat(&w, "entries", cs.entries);
    kstat(&w, "bytes", cs.bytes);
    kstat(&w, "cap_bytes", cs.cap_bytes);
    kstat(&w, "hits", cs.hits);
    kstat(&w, "misses", cs.misses);
    kstat(&w, "stores", cs.stores);
    kstat(&w, "evictions", cs.evictions);
    kstat(&w, "invalidations", cs.invalidations);
    kstat(&w, "mismatches", cs.mismatches);
    cn_jsonw_obj_close(&w);
    if (c->api->wan.gossip) {
        /* Consul's serf_wan group (serf.Stats), and what the pool refused. */
        struct gossip_net_stats gs;
        gossip_net_get_stats(c->api->wan.gossip, &gs);
        struct wan_count wc = {0, 0, 0};
        gossip_foreach(gossip_net_core(c->api->wan.gossip), wan_count_cb, &wc);
        cn_jsonw_key(&w, "serf_wan");
        cn_jsonw_obj_open(&w);
        kstat(&w, "members", wc.members);
        kstat(&w, "failed", wc.failed);
        kstat(&w, "left", wc.left);
        kstat(&w, "health_score", gs.core.awareness);
        kstat(&w, "dropped_malformed", gs.core.dropped_malformed);
        kstat(&w, "dropped_cluster", gs.core.dropped_cluster);
        kstat(&w, "dropped_key", gs.drop_key);
        cn_jsonw_obj_close(&w);
    }
    cn_jsonw_key(&w, "consul");
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "acl", "disabled");
    if (srv_is_client(s)) {
        /* agent/consul/client.go Stats: no raft group on a client. */
        kstat(&w, "known_servers", srv_client_servers(s, NULL, 0));
        cn_jsonw_kstr(&w, "server", "false");
        cn_jsonw_obj_close(&w);
        goto runtime;
    }
    cn_jsonw_kstr(&w, "bootstrap", "true");
    size_t ndc = c->api->wan.datacenters ? c->api->wan.datacenters(c->api->wan.arg, NULL, 0) : 1;
    kstat(&w, "known_datacenters", ndc ? ndc : 1);
    cn_jsonw_kstr(&w, "leader", srv_is_leader(s) ? "true" : "false");
    cn_jsonw_kstr(&w, "leader_addr", srv_leader_addr(s));
    cn_jsonw_kstr(&w, "server", "true");
    cn_jsonw_obj_close(&w);
    cn_jsonw_key(&w, "raft");
    cn_jsonw_obj_open(&w);
    struct state *st = srv_state(s);
    /* raft.Raft.Stats: num_peers counts the other voters and learners. */
    size_t npeers = srv_peers(s, NULL, 0); /* the count only */
    kstat(&w, "applied_index", state_last_index(st));
    kstat(&w, "commit_index", srv_commit_index(s));
    char lc[32];
    snprintf(lc, sizeof(lc), "%llums", (unsigned long long)srv_last_contact_ms(s));
    cn_jsonw_kstr(&w, "last_contact", srv_is_leader(s) ? "0" : lc);
    kstat(&w, "last_snapshot_index", srv_snapshot_index(s));
    kstat(&w, "num_peers", npeers > 0 ? npeers - 1 : 0);
    cn_jsonw_kstr(&w, "protocol_version", "3");
    cn_jsonw_kstr(&w, "state", srv_is_leader(s) ? "Leader" : "Follower");
    cn_jsonw_obj_close(&w);
runtime:
    cn_jsonw_key(&w, "runtime");
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "arch", api__host_arch());
    kstat(&w, "cpu_count", api__host_ncpu());
    kstat(&w, "goroutines", 0);
    kstat(&w, "max_procs", 1);
    cn_jsonw_kstr(&w, "os", "linux");
    cn_jsonw_kstr(&w, "version", "cairn");
    cn_jsonw_obj_close(&w);
    cn_jsonw_obj_close(&w);
    cn_jsonw_key(&w, "Meta");
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "consul-network-segment", "");
    cn_jsonw_obj_close(&w);
    cn_jsonw_obj_close(&w);
    reply_buf(c, &w, &b);
}

/* ---- GET /v1/agent/version (agent/index.mdx "Retrieve version information") --- */

static void h_version(struct api_ctx *c)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "SHA", "cairn");
    cn_jsonw_kstr(&w, "BuildDate", "1970-01-01T00:00:00Z");
    cn_jsonw_kstr(&w, "HumanVersion", CN_CONSUL_API_VERSION);
    cn_jsonw_kstr(&w, "FIPS", "");
    cn_jsonw_kstr(&w, "CairnVersion", c->api->cfg.version);
    cn_jsonw_obj_close(&w);
    reply_buf(c, &w, &b);
}

/* ---- GET /v1/agent/host (agent/index.mdx "Read Host Information") ----------- */

static void h_host(struct api_ctx *c)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    api__host_json(&w);
    reply_buf(c, &w, &b);
}

/* ---- GET /v1/agent/services, /v1/agent/service/:id, /v1/agent/checks --------------- */

struct agent_walk {
    struct api_ctx *c;
    struct state *st;
    struct cn_jsonw *w;
    struct filter *f; /* ?filter= (AgentService or HealthCheck) */
};

/* The catalog's row carries the indexes; fall back to the local copy while a
 * write is still on its way. */
static const struct state_service *catalog_svc(struct api_ctx *c, const struct state_service *s)
{
    const struct state_service *cs =
        state_service_get(srv_state(c->api->srv), local_node(c->api->local), s->id);
    return cs ? cs : s;
}

/* ---- ACL helpers (Consul's agent endpoint checks) ----------------------------- */

/* service:<access> on local service `id` (its name; the ID itself when
 * unknown, as Consul's vetServiceUpdate falls back to a 404 later). */
static bool svc_acl(struct api_ctx *c, const char *id, enum acl_access a)
{
    if (!c->acl.authz)
        return true;
    const struct state_service *s = c->api->local ? local_service(c->api->local, id) : NULL;
    return api_acl_require(c, ACL_R_SERVICE, s ? s->service : id, a);
}

/* A check: service:write on its service, node:write on this node for a node
 * check (vetCheckUpdate). */
static bool chk_acl(struct api_ctx *c, const char *id)
{
    if (!c->acl.authz)
        return true;
    const struct state_check *k = c->api->local ? local_check(c->api->local, id) : NULL;
    if (k && k->service_id && *k->service_id)
        return svc_acl(c, k->service_id, ACL_A_WRITE);
    return api_acl_require(c, ACL_R_NODE, c->api->cfg.node_name, ACL_A_WRITE);
}

static int svc_map_cb(void *arg, const struct state_service *s)
{
    struct agent_walk *aw = arg;
    if (!api_acl_keep(aw->c, ACL_R_SERVICE, s->service))
        return 0;
    /* the catalog's row: a connect-proxy's merged Config (svc_config.c) */
    const struct state_service *rs = catalog_svc(aw->c, s);
    struct api_fmark m;
    api_filter_mark(aw->w, &m);
    cn_jsonw_key(aw->w, s->id);
    size_t at = aw->w->b->len;
    api_json_agent_service(aw->w, rs, aw->c->api->cfg.datacenter, NULL);
    api_filter_keep(aw->f, aw->w, &m, at);
    return aw->w->err;
}

/* The catalog's row (indexes, status) with the agent-only definition fields
 * of the local copy (not replicated), for the Definition the agent shows.
 * Borrows from both; valid until the next mutation. */
static const struct state_check *with_agent_fields(struct state_check *m,
                                                   const struct state_check *cc,
                                                   const struct state_check *local)
{
    if (cc == local)
        return cc;
    *m = *cc;
    m->tls_server_name = local->tls_server_name;
    m->udp = local->udp;
    m->grpc = local->grpc;
    m->grpc_use_tls = local->grpc_use_tls;
    m->args = local->args;
    m->nargs = local->nargs;
    m->alias_node = local->alias_node;
    m->alias_service = local->alias_service;
    m->h2ping = local->h2ping;
    m->h2ping_use_tls = local->h2ping_use_tls;
    return m;
}

static int chk_map_cb(void *arg, const struct state_check *chk)
{
    struct agent_walk *aw = arg;
    const char *node = local_node(aw->c->api->local);
    const struct state_check *cc = state_check_get(aw->st, node, chk->check_id);
    if (!cc)
        cc = chk;
    if (!api_acl_keep(aw->c, *cc->service_name ? ACL_R_SERVICE : ACL_R_NODE,
                      *cc->service_name ? cc->service_name : node))
        return 0;
    const struct state_service *svc =
        *cc->service_id ? state_service_get(aw->st, node, cc->service_id) : NULL;
    struct api_fmark fm;
    api_filter_mark(aw->w, &fm);
    cn_jsonw_key(aw->w, chk->check_id);
    size_t at = aw->w->b->len;
    struct state_check m;
    api_json_check(aw->w, with_agent_fields(&m, cc, chk), svc);
    api_filter_keep(aw->f, aw->w, &fm, at);
    return aw->w->err;
}

/* The agent's services (or checks) as one JSON object keyed by their ids. */
static void reply_local_map(struct api_ctx *c, bool checks)
{
    if (!have_local(c))
        return;
    struct filter *f = NULL;
    const char *expr = api_param(c, "filter");
    if (expr && *expr) {
        char err[512];
        int rc = filter_new(expr, strlen(expr), checks ? api_filter_check : api_filter_service, &f,
                            err, sizeof(err));
        if (rc) {
            /* agent/agent_endpoint.go: BadRequestError from bexpr.CreateFilter */
            if (rc == CN_ENOMEM)
                api_error(c, 500, "out of memory");
            else
                api_error(c, 400, "Failed to create boolean expression evaluator: %s", err);
            return;
        }
    }
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    struct agent_walk aw = {c, srv_state(c->api->srv), &w, f};
    cn_jsonw_obj_open(&w);
    if (checks)
        local_checks_foreach(c->api->local, chk_map_cb, &aw);
    else
        local_services_foreach(c->api->local, svc_map_cb, &aw);
    cn_jsonw_obj_close(&w);
    filter_free(f);
    reply_buf(c, &w, &b);
}

static void h_services(struct api_ctx *c)
{
    reply_local_map(c, false);
}

/* GET /v1/agent/service/:id: the AgentService with its ContentHash, also in
 * X-Consul-ContentHash. With ?hash=H equal to the current hash the request
 * waits (hash-based blocking, features/blocking.mdx; agent_endpoint.go
 * AgentService) until the service's local definition changes or ?wait runs
 * out. The watch is on this node's catalog rows: the agent's services and
 * checks write through to them, so any change of the service's definition or
 * health wakes the request, which re-hashes and parks again if the answer is
 * the same. The hash is FNV-1a 64 of the JSON without ContentHash. */
static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void r_service(struct api_ctx *c, struct api_read *r)
{
    r->no_meta = true; /* agent endpoint: no X-Consul-Index */
    if (!strcmp(c->arg, "register") || !strncmp(c->arg, "maintenance/", 12)) {
        /* Go's ServeMux picks the longest pattern: these paths belong to the
         * write endpoints, whose wrong method is a 405, not an unknown service. */
        r->status = 405;
        cn_buf_printf(&r->body, "method %s not allowed",
                      c->req->method_str ? c->req->method_str : "");
        return;
    }
    if (!c->api->local) {
        r->status = 500;
        cn_buf_puts(&r->body, "agent local state is not available");
        return;
    }
    const struct state_service *s = local_service(c->api->local, c->arg);
    if (!api_acl_read_require(c, r, ACL_R_SERVICE, s ? s->service : c->arg, ACL_A_READ))
        return;
    if (!s) {
        r->status = 404;
        cn_buf_printf(&r->body, "unknown service ID: %s", c->arg);
        r->content_type = "text/plain; charset=utf-8";
        return;
    }
    /* the catalog's row: a proxy's Config merged from the config entries,
     * written again when they change (svc_config.c), which wakes this */
    const struct state_service *cs = catalog_svc(c, s);
    struct cn_buf tmp = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &tmp, false);
    api_json_agent_service(&w, cs, c->api->cfg.datacenter, NULL);
    char hash[24];
    snprintf(hash, sizeof(hash), "%llx", (unsigned long long)fnv1a(tmp.p ? tmp.p : "", tmp.len));
    cn_buf_free(&tmp);
    api_jsonw(c, &w, &r->body);
    api_json_agent_service(&w, cs, c->api->cfg.datacenter, hash);
    if (w.err) {
        r->status = 500;
        cn_buf_free(&r->body);
        cn_buf_puts(&r->body, "out of memory");
        return;
    }
    snprintf(r->extra_buf, sizeof(r->extra_buf), "X-Consul-Contenthash: %s\r\n", hash);
    r->extra_headers = r->extra_buf;
    const char *want = api_param(c, "hash");
    if (want && *want && !strcmp(want, hash)) {
        r->park = true;
        api_read_watch(r, STATE_T_NODES, local_node(c->api->local), false);
    }
}

static void h_checks(struct api_ctx *c)
{
    reply_local_map(c, true);
}

/* ---- services: register, deregister, maintenance --------------------------------------- */

static void register_go(struct api_ctx *c, struct local_svc_def *def, bool replace)
{
    local_add_service(c->api->local, def, replace, local_done, c);
}

static void h_service_register(struct api_ctx *c)
{
    if (!have_local(c))
        return;
    int replace = api_flag(c, "replace-existing-checks");
    if (replace < 0) {
        api_error(c, 400, "Invalid value for ?replace-existing-checks");
        return;
    }
    char err[512];
    struct local_svc_def def;
    int rc = api_decode_service_def(c->req->body, c->req->body_len, &def, err, sizeof(err));
    if (rc) {
        api_error(c, rc == CN_ENOMEM ? 500 : 400, "%s", err);
        return;
    }
    if (!api_acl_require(c, ACL_R_SERVICE, def.svc.service, ACL_A_WRITE)) {
        local_svc_def_free(&def);
        return;
    }
    /* a client agent first resolves a new proxy destination's configuration */
    if (api__svcmgr_before_register(c, &def, replace > 0, register_go))
        return;
    local_add_service(c->api->local, &def, replace > 0, local_done, c);
}

static void h_service_deregister(struct api_ctx *c)
{
    if (!have_local(c))
        return;
    if (!*c->arg) {
        api_error(c, 400, "Missing service ID");
        return;
    }
    if (!svc_acl(c, c->arg, ACL_A_WRITE))
        return;
    local_remove_service(c->api->local, c->arg, local_done, c);
}

/* ?enable is required and parsed like Go's strconv.ParseBool
 * (agent_endpoint.go AgentServiceMaintenance). */
static int parse_enable(struct api_ctx *c, bool *enable)
{
    const struct http_param *p = http_req_param(c->req, "enable");
    if (!p) {
        api_error(c, 400, "Missing value for enable");
        return -1;
    }
    int v = p->value && *p->value ? api_flag(c, "enable") : -1;
    if (v < 0) {
        api_error(c, 400, "Invalid value for enable: \"%s\"", p->value ? p->value : "");
        return -1;
    }
    *enable = v > 0;
    return 0;
}

static void h_service_maintenance(struct api_ctx *c)
{
    if (!have_local(c))
        return;
    if (!*c->arg) {
        api_error(c, 400, "Missing service ID");
        return;
    }
    bool enable;
    if (parse_enable(c, &enable) || !svc_acl(c, c->arg, ACL_A_WRITE))
        return;
    local_service_maintenance(c->api->local, c->arg, enable, api_param(c, "reason"), local_done, c);
}

static void h_node_maintenance(struct api_ctx *c)
{
    if (!have_local(c))
        return;
    bool enable;
    if (parse_enable(c, &enable))
        return;
    local_node_maintenance(c->api->local, enable, api_param(c, "reason"), local_done, c);
}

/* ---- checks: register, deregister, TTL updates ------------------------------------------- */

static void h_check_register(struct api_ctx *c)
{
    if (!have_local(c))
        return;
    char err[512];
    struct state_check chk;
    int rc = api_decode_check_def(c->req->body, c->req->body_len, &chk, err, sizeof(err));
    if (rc) {
        api_error(c, rc == CN_ENOMEM ? 500 : 400, "%s", err);
        return;
    }
    bool ok = chk.service_id && *chk.service_id
                  ? svc_acl(c, chk.service_id, ACL_A_WRITE)
                  : api_acl_require(c, ACL_R_NODE, c->api->cfg.node_name, ACL_A_WRITE);
    if (!ok) {
        state_check_clear(&chk);
        return;
    }
    local_add_check(c->api->local, &chk, local_done, c);
}

static void h_check_deregister(struct api_ctx *c)
{
    if (!have_local(c))
        return;
    if (!*c->arg) {
        api_error(c, 400, "Missing check ID");
        return;
    }
    if (!chk_acl(c, c->arg))
        return;
    local_remove_check(c->api->local, c->arg, local_done, c);
}

static void ttl_update(struct api_ctx *c, const char *status)
{
    if (!have_local(c) || !chk_acl(c, c->arg))
        return;
    const char *note = api_param(c, "note");
    local_update_ttl(c->api->local, c->arg, status, note ? note : "", local_done, c);
}

static void h_check_pass(struct api_ctx *c)
{
    ttl_update(c, "passing");
}

static void h_check_warn(struct api_ctx *c)
{
    ttl_update(c, "warning");
}

static void h_check_fail(struct api_ctx *c)
{
    ttl_update(c, "critical");
}

static void h_check_update(struct api_ctx *c)
{
    if (!have_local(c) || !chk_acl(c, c->arg))
        return;
    char err[512];
    char *status, *output;
    int rc =
        api_decode_check_update(c->req->body, c->req->body_len, &status, &output, err, sizeof(err));
    if (rc) {
        api_error(c, rc == CN_ENOMEM ? 500 : 400, "%s", err);
        return;
    }
    local_update_ttl(c->api->local, c->arg, status, output, local_done, c);
    cn_free(status);
    cn_free(output);
}

/* ---- GET /v1/agent/health/service/id/:id and /name/:name -----------------------------------
 * agent/agent_endpoint.go AgentHealthServiceByID/ByName: the aggregated
 * status of a local service's checks and its node's (structs.HealthChecks
 * AggregatedStatus: maintenance > critical > warning > passing), answered as
 * 200 passing, 429 warning, 503 critical or maintenance; ?format=text gives
 * the status alone. What load balancers poll. */

struct agg {
    struct api_ctx *c;
    const char *sid;
    bool passing, warning, critical, maint;
    struct cn_jsonw *w; /* second pass: write the checks */
};

static int agg_visit(void *arg, const struct state_check *chk)
{
    struct agg *a = arg;
    if (*chk->service_id && strcmp(chk->service_id, a->sid) != 0)
        return 0;
    const char *node = local_node(a->c->api->local);
    struct state *st = srv_state(a->c->api->srv);
    const struct state_check *cc = state_check_get(st, node, chk->check_id);
    if (!cc)
        cc = chk;
    if (a->w) {
        const struct state_service *svc =
            *cc->service_id ? state_service_get(st, node, cc->service_id) : NULL;
        struct state_check m;
        api_json_check(a->w, with_agent_fields(&m, cc, chk), svc);
        return a->w->err;
    }
    if (!strcmp(cc->check_id, LOCAL_NODE_MAINT_CHECK_ID) ||
        !strncmp(cc->check_id, LOCAL_SERVICE_MAINT_PREFIX, strlen(LOCAL_SERVICE_MAINT_PREFIX)))
        a->maint = true;
    else if (!strcmp(cc->status, "critical"))
        a->critical = true;
    else if (!strcmp(cc->status, "warning"))
        a->warning = true;
    else
        a->passing = true;
    return 0;
}

static const char *aggregate(struct api_ctx *c, const char *sid, int *code)
{
    struct agg a = {.c = c, .sid = sid};
    local_checks_foreach(c->api->local, agg_visit, &a);
    const char *st = a.maint      ? "maintenance"
                     : a.critical ? "critical"
                     : a.warning  ? "warning"
                                  : "passing";
    *code = !strcmp(st, "passing") ? 200 : !strcmp(st, "warning") ? 429 : 503;
    return st;
}

static void json_service_checks(struct api_ctx *c, struct cn_jsonw *w,
                                const struct state_service *s, const char *status)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "AggregatedStatus", status);
    cn_jsonw_key(w, "Service");
    api_json_agent_service(w, catalog_svc(c, s), c->api->cfg.datacenter, NULL);
    cn_jsonw_key(w, "Checks");
    cn_jsonw_arr_open(w);
    struct agg a = {.c = c, .sid = s->id, .w = w};
    local_checks_foreach(c->api->local, agg_visit, &a);
    cn_jsonw_arr_close(w);
    cn_jsonw_obj_close(w);
}

static bool want_text(struct api_ctx *c)
{
    const char *f = api_param(c, "format");
    return f && !strcmp(f, "text");
}

static void reply_json_code(struct api_ctx *c, struct cn_jsonw *w, struct cn_buf *b, int code)
{
    if (w->err) {
        cn_buf_free(b);
        api_error(c, 500, "out of memory");
        return;
    }
    api_reply_json(c, code, b);
    cn_buf_free(b);
}

static void h_health_by_id(struct api_ctx *c)
{
    if (!have_local(c))
        return;
    const struct state_service *s = local_service(c->api->local, c->arg);
    if (!*c->arg) {
        api_error(c, 400, "Missing serviceID");
        return;
    }
    if (!api_acl_require(c, ACL_R_SERVICE, s ? s->service : c->arg, ACL_A_READ))
        return;
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    if (!s) {
        if (want_text(c)) {
            api_error(c, 404, "ServiceId %s not found", c->arg);
            return;
        }
        api_jsonw(c, &w, &b);
        cn_jsonw_obj_open(&w);
        cn_jsonw_kstr(&w, "AggregatedStatus", "critical");
        cn_jsonw_key(&w, "Service");
        cn_jsonw_null(&w);
        cn_jsonw_key(&w, "Checks");
        cn_jsonw_null(&w);
        cn_jsonw_obj_close(&w);
        reply_json_code(c, &w, &b, 404);
        return;
    }
    int code;
    const char *st = aggregate(c, s->id, &code);
    if (want_text(c)) {
        api_error(c, code, "%s", st);
        return;
    }
    api_jsonw(c, &w, &b);
    json_service_checks(c, &w, s, st);
    reply_json_code(c, &w, &b, code);
}

struct by_name {
    struct api_ctx *c;
    const char *name;
    struct cn_jsonw *w; /* NULL: first pass, the worst status */
    int code;
    const char *status;
};

static int by_name_visit(void *arg, const struct state_service *s)
{
    struct by_name *bn = arg;
    if (strcmp(s->service, bn->name) != 0)
        return 0;
    int code;
    const char *st = aggregate(bn->c, s->id, &code);
    if (bn->w) {
        json_service_checks(bn->c, bn->w, s, st);
        return bn->w->err;
    }
    /* the worst of all: passing 200 < warning 429 < critical 503 */
    if (bn->code == 404 || code > bn->code) {
        bn->code = code;
        bn->status = st;
    }
    return 0;
}

static void h_health_by_name(struct api_ctx *c)
{
    if (!have_local(c))
        return;
    if (!*c->arg) {
        api_error(c, 400, "Missing service Name");
        return;
    }
    struct by_name bn = {.c = c, .name = c->arg, .code = 404};
    local_services_foreach(c->api->local, by_name_visit, &bn);
    if (want_text(c)) {
        if (bn.code == 404)
            api_error(c, 404, "ServiceName %s Not Found", c->arg);
        else
            api_error(c, bn.code, "%s", bn.status);
        return;
    }
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_arr_open(&w);
    bn.w = &w;
    local_services_foreach(c->api->local, by_name_visit, &bn);
    cn_jsonw_arr_close(&w);
    reply_json_code(c, &w, &b, bn.code);
}

/* PUT /v1/agent/reload (https://developer.hashicorp.com/consul/api-docs/agent#reload-agent):
 * 200 with an empty body once the files are re-read and applied; a file with
 * an error leaves the running configuration as it was and answers 500 with
 * the errors. */
static void h_reload(struct api_ctx *c)
{
    char err[4096] = "";
    if (!c->api->cfg.on_reload) {
        api_error(c, 500, "reload is not available");
        return;
    }
    int rc = c->api->cfg.on_reload(c->api->cfg.on_reload_arg, err, sizeof(err));
    if (rc) {
        api_error(c, 500, "Failed reloading config: %s", err);
        return;
    }
    api_reply_empty(c);
}

#define GP (API_GET | API_PUT)

/* Order matters: the router takes the first row whose path and method match,
 * so the fixed paths come before the /v1/agent/service/:id prefix. */
const struct api_route api_agent_routes[] = {
    {"/v1/agent/self", false, API_GET, NULL, h_self, API_SELF(AGENT, READ), API_SELF(AGENT, READ)},
    {"/v1/agent/version", false, API_GET, NULL, h_version, API_ACL_OPEN, API_ACL_OPEN},
    {"/v1/agent/host", false, API_GET, NULL, h_host, API_FIXED(OPERATOR, READ),
     API_FIXED(OPERATOR, READ)},
    {"/v1/agent/members", false, API_GET, NULL, h_members, API_SELF(NODE, READ),
     API_SELF(NODE, READ)},
    {"/v1/agent/services", false, API_GET, NULL, h_services, API_HANDLER, API_HANDLER},
    {"/v1/agent/checks", false, API_GET, NULL, h_checks, API_HANDLER, API_HANDLER},
    {"/v1/agent/maintenance", false, API_PUT, NULL, h_node_maintenance, API_SELF(NODE, WRITE),
     API_SELF(NODE, WRITE)},
    {"/v1/agent/reload", false, API_PUT, NULL, h_reload, API_SELF(AGENT, WRITE),
     API_SELF(AGENT, WRITE)},
    {"/v1/agent/health/service/id/", true, API_GET, NULL, h_health_by_id, API_HANDLER, API_HANDLER},
    {"/v1/agent/health/service/name/", true, API_GET, NULL, h_health_by_name,
     API_ARG(SERVICE, READ), API_ARG(SERVICE, READ)},
    {"/v1/agent/service/register", false, API_PUT, NULL, h_service_register, API_HANDLER,
     API_HANDLER},
    {"/v1/agent/service/deregister/", true, GP, NULL, h_service_deregister, API_HANDLER,
     API_HANDLER},
    {"/v1/agent/service/maintenance/", true, API_PUT, NULL, h_service_maintenance, API_HANDLER,
     API_HANDLER},
    {"/v1/agent/service/", true, API_GET, r_service, NULL, API_HANDLER, API_HANDLER},
    {"/v1/agent/check/register", false, API_PUT, NULL, h_check_register, API_HANDLER, API_HANDLER},
    {"/v1/agent/check/deregister/", true, GP, NULL, h_check_deregister, API_HANDLER, API_HANDLER},
    {"/v1/agent/check/pass/", true, GP, NULL, h_check_pass, API_HANDLER, API_HANDLER},
    {"/v1/agent/check/warn/", true, GP, NULL, h_check_warn, API_HANDLER, API_HANDLER},
    {"/v1/agent/check/fail/", true, GP, NULL, h_check_fail, API_HANDLER, API_HANDLER},
    {"/v1/agent/check/update/", true, API_PUT, NULL, h_check_update, API_HANDLER, API_HANDLER},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
