/* api/coordinate.c: /v1/coordinate/... (website/content/api-docs/coordinate.mdx,
 * agent/coordinate_endpoint.go), single datacenter.
 *
 * Consul's network coordinates (Vivaldi) are computed from Serf's gossip
 * probes. cairn has no gossip yet, so it has no coordinates to report, and it
 * says so in Consul's own shapes rather than inventing numbers: the WAN list
 * names the local datacenter with no server coordinates, the LAN list is
 * empty (blocking on the node table, as Consul blocks on its coordinates
 * table), a node has none (Consul's 404 with an empty body), and an update is
 * refused with a 400 naming why (docs/consul-compat.md). */
#include "api/api_int.h"
#include "base/err.h"

/* GET /v1/coordinate/datacenters: not blocking, no index headers (the docs'
 * table: blocking NO, consistency none). */
static void h_datacenters(struct api_ctx *c)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_arr_open(&w);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "Datacenter", c->api->cfg.datacenter);
    cn_jsonw_kstr(&w, "AreaID", "WAN");
    cn_jsonw_key(&w, "Coordinates");
    cn_jsonw_arr_open(&w);
    cn_jsonw_arr_close(&w);
    cn_jsonw_obj_close(&w);
    cn_jsonw_arr_close(&w);
    api_reply_jsonw(c, 200, &w, &b);
}

/* GET /v1/coordinate/nodes: blocking-capable; an empty list whose index is
 * the node table's (a node joining or leaving is when coordinates would
 * appear or go). */
static void r_nodes(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_arr_open(&w);
    cn_jsonw_arr_close(&w);
    if (w.err) {
        api_read_error(r, 500, "out of memory");
        return;
    }
    r->index = state_table_index(st, STATE_T_NODES);
    api_read_watch(r, STATE_T_NODES, NULL, false);
}

/* GET /v1/coordinate/node/:node: Consul answers 404 with an empty body when
 * the node has no coordinates, which is every node here. */
static void r_node(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    if (!*c->arg) {
        cn_buf_puts(&r->body, "Missing node name");
        r->status = 400;
        return;
    }
    r->status = 404;
    r->index = state_node_index(st, c->arg);
    api_read_watch(r, STATE_T_NODES, c->arg, false);
}

static void h_update(struct api_ctx *c)
{
    api_error(c, 400,
              "Coordinate updates are not supported: cairn has no network coordinates "
              "(they come from gossip, which cairn does not run yet)");
}

const struct api_route api_coordinate_routes[] = {
    {"/v1/coordinate/datacenters", false, API_GET, NULL, h_datacenters, API_ACL_OPEN, API_ACL_OPEN},
    {"/v1/coordinate/nodes", false, API_GET, r_nodes, NULL, API_FIXED(NODE, READ),
     API_FIXED(NODE, READ)},
    {"/v1/coordinate/node/", true, API_GET, r_node, NULL, API_ARG(NODE, READ), API_ARG(NODE, READ)},
    {"/v1/coordinate/update", false, API_PUT, NULL, h_update, API_SELF(NODE, WRITE),
     API_SELF(NODE, WRITE)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
