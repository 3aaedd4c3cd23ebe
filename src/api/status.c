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

static void status_leader(struct api_ctx *c)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    if (srv_known_leader(c->api->srv))
        jsonw_addr(&w, &c->api->cfg); /* single voter: the leader is us */
    else
        cn_jsonw_str(&w, ""); /* Consul's answer while there is no leader */
    finish(c, &w, &b);
}

static void status_peers(struct api_ctx *c)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_arr_open(&w);
    jsonw_addr(&w, &c->api->cfg);
    cn_jsonw_arr_close(&w);
    finish(c, &w, &b);
}

static void raft_configuration(struct api_ctx *c)
{
    const struct api_config *cfg = &c->api->cfg;
    struct srv *s = c->api->srv;
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    /* structs.RaftConfigurationResponse; RaftServer field order: ID, Node,
     * Address, Leader, ProtocolVersion, Voter. ID is the node ID (raft
     * protocol 3). */
    cn_jsonw_obj_open(&w);
    cn_jsonw_key(&w, "Servers");
    cn_jsonw_arr_open(&w);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "ID", cfg->node_id);
    cn_jsonw_kstr(&w, "Node", cfg->node_name);
    cn_jsonw_key(&w, "Address");
    jsonw_addr(&w, cfg);
    cn_jsonw_kbool(&w, "Leader", srv_is_leader(s));
    cn_jsonw_kstr(&w, "ProtocolVersion", "3");
    cn_jsonw_kbool(&w, "Voter", 1);
    cn_jsonw_obj_close(&w);
    cn_jsonw_arr_close(&w);
    cn_jsonw_ku64(&w, "Index", srv_commit_index(s));
    cn_jsonw_obj_close(&w);
    finish(c, &w, &b);
}

const struct api_route api_status_routes[] = {
    {"/v1/status/leader", false, API_GET, NULL, status_leader},
    {"/v1/status/peers", false, API_GET, NULL, status_peers},
    {"/v1/operator/raft/configuration", false, API_GET, NULL, raft_configuration},
    {NULL, false, 0, NULL, NULL},
};
