/* api/status.c: /v1/status/leader, /v1/status/peers and
 * /v1/operator/raft/configuration (website/content/api-docs/status.mdx,
 * operator/raft.mdx). Addresses are the server RPC address (port 8300 by
 * default), not the HTTP one: clients such as Patroni and readiness probes
 * only test /status/leader for a non-empty string. Plain JSON, no index
 * headers, as Consul. */
#include <string.h>

#include "api/api_int.h"
#include "base/err.h"

/* "ip:port", or "[ip6]:port" like Go's net.JoinHostPort. */
static int put_addr(struct cn_buf *b, const struct api_config *cfg)
{
    const char *a = cfg->advertise_addr ? cfg->advertise_addr : "";
    if (strchr(a, ':'))
        return cn_buf_printf(b, "[%s]:%d", a, cfg->server_port);
    return cn_buf_printf(b, "%s:%d", a, cfg->server_port);
}

static void jsonw_addr(struct cn_jsonw *w, const struct api_config *cfg)
{
    struct cn_buf a = CN_BUF_INIT;
    if (put_addr(&a, cfg))
        w->err = CN_ENOMEM;
    else
        cn_jsonw_strn(w, a.p, a.len);
    cn_buf_free(&a);
}

static void finish(struct api_ctx *c, struct cn_jsonw *w, struct cn_buf *b)
{
    if (w->err)
        api_error(c, 500, "out of memory");
    else
        api_reply_json(c, 200, b);
    cn_buf_free(b);
}

/* A server's RPC address as the configuration holds it; this server's own
 * from the agent's config (the same string, and right even without a server
 * port, as in -dev). */
static void jsonw_peer_addr(struct cn_jsonw *w, const struct api_config *cfg,
                            const struct srv_peer *p, bool self)
{
    if (self || !p->addr[0])
        jsonw_addr(w, cfg);
    else
        cn_jsonw_str(w, p->addr);
}

static size_t peers(struct api_ctx *c, struct srv_peer *out, size_t cap)
{
    size_t n = srv_peers(c->api->srv, out, cap);
    return n < cap ? n : cap;
}

static bool is_self(struct api_ctx *c, const struct srv_peer *p)
{
    const char *nid = c->api->cfg.node_id;
    return p->node_id[0] && nid && !strcmp(p->node_id, nid);
}

static void status_leader(struct api_ctx *c)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    struct srv *s = c->api->srv;
    if (srv_is_leader(s))
        jsonw_addr(&w, &c->api->cfg);
    else if (srv_known_leader(s))
        cn_jsonw_str(&w, srv_leader_addr(s)); /* "" while its address is unknown */
    else
        cn_jsonw_str(&w, ""); /* Consul's answer while there is no leader */
    finish(c, &w, &b);
}

static void status_peers(struct api_ctx *c)
{
    struct srv_peer p[32];
    size_t n = peers(c, p, 32);
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_arr_open(&w);
    for (size_t i = 0; i < n; i++)
        if (p[i].voter)
            jsonw_peer_addr(&w, &c->api->cfg, &p[i], is_self(c, &p[i]));
    cn_jsonw_arr_close(&w);
    finish(c, &w, &b);
}

static void raft_configuration(struct api_ctx *c)
{
    const struct api_config *cfg = &c->api->cfg;
    struct srv *s = c->api->srv;
    struct srv_peer p[32];
    size_t n = peers(c, p, 32);
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    /* structs.RaftConfigurationResponse; RaftServer field order: ID, Node,
     * Address, Leader, ProtocolVersion, Voter. ID is the node ID (raft
     * protocol 3); the raft id in hex when the node ID is not known yet. */
    cn_jsonw_obj_open(&w);
    cn_jsonw_key(&w, "Servers");
    cn_jsonw_arr_open(&w);
    for (size_t i = 0; i < n; i++) {
        bool self = is_self(c, &p[i]);
        char id[40];
        if (p[i].node_id[0])
            snprintf(id, sizeof(id), "%s", p[i].node_id);
        else
            snprintf(id, sizeof(id), "%016llx", (unsigned long long)p[i].id);
        cn_jsonw_obj_open(&w);
        cn_jsonw_kstr(&w, "ID", id);
        cn_jsonw_kstr(&w, "Node", self ? cfg->node_name : p[i].node);
        cn_jsonw_key(&w, "Address");
        jsonw_peer_addr(&w, cfg, &p[i], self);
        cn_jsonw_kbool(&w, "Leader", p[i].leader);
        cn_jsonw_kstr(&w, "ProtocolVersion", "3");
        cn_jsonw_kbool(&w, "Voter", p[i].voter);
        cn_jsonw_obj_close(&w);
    }
    cn_jsonw_arr_close(&w);
    cn_jsonw_ku64(&w, "Index", srv_commit_index(s));
    cn_jsonw_obj_close(&w);
    finish(c, &w, &b);
}

const struct api_route api_status_routes[] = {
    {"/v1/status/leader", false, API_GET, NULL, status_leader, API_ACL_OPEN, API_ACL_OPEN},
    {"/v1/status/peers", false, API_GET, NULL, status_peers, API_ACL_OPEN, API_ACL_OPEN},
    {"/v1/operator/raft/configuration", false, API_GET, NULL, raft_configuration,
     API_FIXED(OPERATOR, READ), API_FIXED(OPERATOR, READ)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
