/* api/coordinate.c: network coordinates (website/content/api-docs/coordinate.mdx,
 * agent/coordinate_endpoint.go, agent/consul/coordinate_endpoint.go, the
 * agent's sendCoordinate and agent/consul/rtt.go), single datacenter.
 *
 * Where coordinates come from: the LAN gossip pool computes this agent's
 * coordinate from its probes' round trips (Serf's Vivaldi, coord/ and
 * gossip/). Every agent sends it to the servers every
 * max(sync_coordinate_interval_min, members / sync_coordinate_rate_target)
 * plus a random stagger: a server keeps its own in its pending map, a
 * client agent sends Consul's PUT /v1/coordinate/update to its server with
 * the agent token. A server validates updates (Consul's texts), keeps the
 * latest per (node, segment) and writes them to the log every
 * consul.coordinate.update_period as COORD_BATCH entries of at most 128
 * (Consul's CoordinateUpdateBatchSize; more than 5 batches' worth in one
 * period are discarded, as Consul's CoordinateUpdateMaxBatches). Consul's
 * leader alone batches (the RPC is forwarded to it); here the server that
 * received the update does, and its entry goes through the leader like any
 * write.
 *
 * Reads: /v1/coordinate/nodes and /node/:node come from the replicated
 * table (blocking on it), /datacenters lists this datacenter with its
 * servers' coordinates (the Raft configuration's nodes), and ?near= sorts
 * catalog and health answers and prepared queries by estimated round trip
 * from the named node's coordinate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/query.h"
#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "coord/coord.h"
#include "gossip/net.h"

#define BATCH_SIZE 128 /* Consul's CoordinateUpdateBatchSize */
#define MAX_BATCHES 5  /* CoordinateUpdateMaxBatches */

struct pend {
    char *node;
    char *segment;
    struct coord c;
};

struct api_coord {
    struct api *api;
    uv_timer_t flush; /* servers: the batch to the log */
    uv_timer_t sync;  /* every agent with gossip: send our coordinate */
    int open_handles;
    bool flushing, syncing;
    struct pend *v;
    size_t n, cap;
    bool in_flight; /* a client's update waiting for its answer */
    uint64_t handle;
    uint64_t rng;
};

static bool is_client(const struct api *a)
{
    return a->srv && srv_is_client(a->srv);
}

/* ---- JSON ------------------------------------------------------------------ */

/* The shortest decimal that reads back as v (Go's strconv 'g', -1). */
static void json_double(struct cn_jsonw *w, double v)
{
    char s[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    cn_jsonw_raw(w, s, strlen(s));
}

/* coordinate.Coordinate: Vec, Error, Adjustment, Height (its field order). */
static void json_coord(struct cn_jsonw *w, const double *vec, double error, double adjustment,
                       double height)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_key(w, "Vec");
    cn_jsonw_arr_open(w);
    for (int i = 0; i < COORD_DIM; i++)
        json_double(w, vec[i]);
    cn_jsonw_arr_close(w);
    cn_jsonw_key(w, "Error");
    json_double(w, error);
    cn_jsonw_key(w, "Adjustment");
    json_double(w, adjustment);
    cn_jsonw_key(w, "Height");
    json_double(w, height);
    cn_jsonw_obj_close(w);
}

void api__json_coord(struct cn_jsonw *w, const struct coord *c)
{
    json_coord(w, c->vec, c->error, c->adjustment, c->height);
}

/* structs.Coordinate: Node, Segment, Coord (Partition is Enterprise's,
 * omitted when empty). */
static void json_entry(struct cn_jsonw *w, const struct state_coord *e)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "Node", e->node);
    cn_jsonw_kstr(w, "Segment", e->segment);
    cn_jsonw_key(w, "Coord");
    json_coord(w, e->vec, e->error, e->adjustment, e->height);
    cn_jsonw_obj_close(w);
}

static void to_coord(const struct state_coord *e, struct coord *c)
{
    memcpy(c->vec, e->vec, sizeof(c->vec));
    c->error = e->error;
    c->adjustment = e->adjustment;
    c->height = e->height;
}

static bool disabled(struct api_ctx *c)
{
    if (!c->api->cfg.coord.disabled)
        return false;
    api_error(c, 401, "Coordinate support disabled");
    return true;
}

static bool read_disabled(struct api_ctx *c, struct api_read *r)
{
    if (!c->api->cfg.coord.disabled)
        return false;
    api_read_error(r, 401, "Coordinate support disabled");
    r->no_meta = true;
    return true;
}

/* ---- GET /v1/coordinate/datacenters ---------------------------------------- */

size_t api_coord_local_servers(struct api *a, struct api_coord_server *out, size_t cap)
{
    if (!a->srv || is_client(a))
        return 0;
    struct srv_peer peers[64];
    size_t np = srv_peers(a->srv, peers, 64);
    if (np > 64)
        np = 64;
    struct state *st = srv_state(a->srv);
    size_t n = 0;
    for (size_t i = 0; i < np; i++) {
        const struct state_coord *e =
            peers[i].node[0] ? state_coord_get(st, peers[i].node, "") : NULL;
        if (!e)
            continue;
        if (n < cap) {
            snprintf(out[n].node, sizeof(out[n].node), "%s", e->node);
            to_coord(e, &out[n].c);
        }
        n++;
    }
    /* by node name, as Consul sorts each datacenter's coordinates */
    size_t m = n < cap ? n : cap;
    for (size_t i = 1; i < m; i++)
        for (size_t j = i; j > 0 && strcmp(out[j - 1].node, out[j].node) > 0; j--) {
            struct api_coord_server t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static void dc_entry(struct cn_jsonw *w, const char *dc, const struct api_coord_server *sv,
                     size_t n)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "Datacenter", dc);
    cn_jsonw_kstr(w, "AreaID", "WAN");
    cn_jsonw_key(w, "Coordinates");
    cn_jsonw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        cn_jsonw_obj_open(w);
        cn_jsonw_kstr(w, "Node", sv[i].node);
        cn_jsonw_kstr(w, "Segment", "");
        cn_jsonw_key(w, "Coord");
        json_coord(w, sv[i].c.vec, sv[i].c.error, sv[i].c.adjustment, sv[i].c.height);
        cn_jsonw_obj_close(w);
    }
    cn_jsonw_arr_close(w);
    cn_jsonw_obj_close(w);
}

/* Not blocking, no index headers (the docs' table: blocking NO). A server
 * whose WAN pool knows other datacenters: every known datacenter in the
 * router's order (by round trip), each with its servers' WAN coordinates,
 * as Consul's GetDatacenterMaps. Otherwise (serf_wan off, or no other
 * datacenter joined: cairn's servers do not flood-join the WAN pool, so a
 * lone datacenter's pool holds this server only): this datacenter with its
 * servers' LAN coordinates, one space, as before federation. */
static void h_datacenters(struct api_ctx *c)
{
    if (disabled(c))
        return;
    struct api_coord_server sv[64];
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_arr_open(&w);
    const struct api_wan *wan = &c->api->wan;
    char(*dcs)[API_DC_MAX] = NULL;
    size_t ndc = 0;
    if (wan->datacenters && wan->dc_coords) {
        dcs = cn_calloc(64, sizeof(*dcs));
        ndc = dcs ? wan->datacenters(wan->arg, dcs, 64) : 0;
        if (ndc > 64)
            ndc = 64;
    }
    if (ndc > 1) {
        for (size_t i = 0; i < ndc; i++) {
            size_t n = wan->dc_coords(wan->arg, dcs[i], sv, 64);
            dc_entry(&w, dcs[i], sv, n > 64 ? 64 : n);
        }
    } else {
        size_t n = api_coord_local_servers(c->api, sv, 64);
        dc_entry(&w, c->api->cfg.datacenter, sv, n > 64 ? 64 : n);
    }
    cn_free(dcs);
    cn_jsonw_arr_close(&w);
    api_reply_jsonw(c, 200, &w, &b);
}

/* ---- GET /v1/coordinate/nodes, /v1/coordinate/node/:node -------------------- */

static const struct filter_field f_coordinate[] = {
    {"Node", FILTER_STR, NULL},
    {"Segment", FILTER_STR, NULL},
    {NULL, 0, NULL},
};

struct list_walk {
    struct api_ctx *c;
    struct cn_jsonw *w;
    struct filter *f;
    const char *segment; /* ?segment=, or NULL */
    size_t n;
};

static int list_cb(void *arg, const struct state_coord *e)
{
    struct list_walk *lw = arg;
    if (lw->segment && strcmp(lw->segment, e->segment))
        return 0;
    if (!api_acl_keep(lw->c, ACL_R_NODE, e->node))
        return 0;
    struct api_fmark m;
    api_filter_mark(lw->w, &m);
    json_entry(lw->w, e);
    if (api_filter_keep(lw->f, lw->w, &m, m.len))
        lw->n++;
    return lw->w->err;
}

static void r_nodes(struct api_ctx *c, struct api_read *r)
{
    if (read_disabled(c, r))
        return;
    struct state *st = srv_state(c->api->srv);
    struct filter *f;
    if (api_filter_open(c, f_coordinate, &f, r))
        return;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct list_walk lw = {c, &w, f, api_param(c, "segment"), 0};
    cn_jsonw_arr_open(&w);
    state_coords_foreach(st, NULL, list_cb, &lw);
    cn_jsonw_arr_close(&w);
    filter_free(f);
    if (w.err)
        return api_read_error(r, 500, "out of memory");
    r->index = state_table_index(st, STATE_T_COORDS);
    api_read_watch(r, STATE_T_COORDS, NULL, false);
}

/* Consul answers 404 with an empty body when the node has no coordinates
 * (after the ?segment= filter). */
static void r_node(struct api_ctx *c, struct api_read *r)
{
    if (read_disabled(c, r))
        return;
    struct state *st = srv_state(c->api->srv);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct list_walk lw = {c, &w, NULL, api_param(c, "segment"), 0};
    cn_jsonw_arr_open(&w);
    if (*c->arg)
        state_coords_foreach(st, c->arg, list_cb, &lw);
    cn_jsonw_arr_close(&w);
    if (w.err)
        return api_read_error(r, 500, "out of memory");
    if (!lw.n) {
        r->body.len = 0;
        r->status = 404;
    }
    r->index = state_table_index(st, STATE_T_COORDS);
    api_read_watch(r, STATE_T_COORDS, *c->arg ? c->arg : NULL, false);
}

/* ---- PUT /v1/coordinate/update ------------------------------------------------ */

static int fail(char *err, size_t cap, int status, const char *msg)
{
    snprintf(err, cap, "%s", msg);
    return status;
}

static int get_double(struct json_object *v, double *out)
{
    if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
        return -1;
    *out = json_object_get_double(v);
    return 0;
}

int api__coord_update_decode(const char *body, size_t len, struct json_object **root,
                             const char **node, const char **segment, struct coord *out, char *err,
                             size_t cap)
{
    char perr[160];
    *root = NULL;
    struct json_object *o = cn_json_parse(len ? body : "{}", len ? len : 2, perr, sizeof(perr));
    if (!o) {
        snprintf(err, cap, "Request decode failed: %s", perr);
        return 400;
    }
    *root = o;
    if (!json_object_is_type(o, json_type_object))
        return fail(err, cap, 400, "Request decode failed: expected a JSON object");
    *node = "";
    *segment = "";
    json_object_object_foreach(o, k, v)
    {
        if (cn_json_key_eq(k, "Node") || cn_json_key_eq(k, "Segment")) {
            if (v && !json_object_is_type(v, json_type_string))
                return fail(err, cap, 400, "Request decode failed: Node and Segment are strings");
        } else if (!cn_json_key_eq(k, "Coord") && !cn_json_key_eq(k, "Datacenter") &&
                   !cn_json_key_eq(k, "Token")) {
            snprintf(err, cap, "Request decode failed: unknown field \"%s\"", k);
            return 400;
        }
    }
    cn_json_get_str(o, "Node", node);
    cn_json_get_str(o, "Segment", segment);
    const char *dc = NULL;
    if (cn_json_get_str(o, "Datacenter", &dc) < 0)
        return fail(err, cap, 400, "Request decode failed: Datacenter is a string");
    if (cn_json_get_str(o, "Token", &dc) < 0)
        return fail(err, cap, 400, "Request decode failed: Token is a string");
    struct json_object *co = cn_json_get(o, "Coord");
    /* Consul's Coordinate.Update: IsValid on what arrived, then the
     * dimensionality against the server's own coordinate. */
    if (!co)
        return fail(err, cap, 500, "invalid coordinate");
    if (!json_object_is_type(co, json_type_object))
        return fail(err, cap, 400, "Request decode failed: Coord is an object");
    memset(out, 0, sizeof(*out));
    size_t nvec = 0;
    bool bad_type = false;
    json_object_object_foreach(co, ck, cv)
    {
        if (cn_json_key_eq(ck, "Vec")) {
            if (!cv)
                continue;
            if (!json_object_is_type(cv, json_type_array)) {
                bad_type = true;
                continue;
            }
            nvec = json_object_array_length(cv);
            for (size_t i = 0; i < nvec && i < COORD_DIM; i++)
                if (get_double(json_object_array_get_idx(cv, i), &out->vec[i]))
                    bad_type = true;
        } else if (cn_json_key_eq(ck, "Error")) {
            bad_type |= cv && get_double(cv, &out->error);
        } else if (cn_json_key_eq(ck, "Adjustment")) {
            bad_type |= cv && get_double(cv, &out->adjustment);
        } else if (cn_json_key_eq(ck, "Height")) {
            bad_type |= cv && get_double(cv, &out->height);
        } else {
            snprintf(err, cap, "Request decode failed: unknown field \"Coord.%s\"", ck);
            return 400;
        }
    }
    if (bad_type)
        return fail(err, cap, 400,
                    "Request decode failed: Coord's Vec is a list of numbers and Error, "
                    "Adjustment and Height are numbers");
    if (!coord_valid(out))
        return fail(err, cap, 500, "invalid coordinate");
    if (nvec != COORD_DIM)
        return fail(err, cap, 500, "incompatible coordinate");
    if (!**node)
        return fail(err, cap, 400, "Missing node name");
    if (**segment)
        return fail(err, cap, 400,
                    "Network segments are not supported: Segment must be empty (Consul "
                    "Enterprise)");
    return 0;
}

/* The latest update per (node, segment). */
static int pend_put(struct api_coord *k, const char *node, const char *segment,
                    const struct coord *c)
{
    for (size_t i = 0; i < k->n; i++)
        if (!strcmp(k->v[i].node, node) && !strcmp(k->v[i].segment, segment)) {
            k->v[i].c = *c;
            return 0;
        }
    if (k->n == k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 16;
        struct pend *v = cn_realloc(k->v, nc * sizeof(*v));
        if (!v)
            return CN_ENOMEM;
        k->v = v;
        k->cap = nc;
    }
    struct pend *p = &k->v[k->n];
    p->node = cn_strdup(node);
    p->segment = cn_strdup(segment);
    if (!p->node || !p->segment) {
        cn_free(p->node);
        cn_free(p->segment);
        return CN_ENOMEM;
    }
    p->c = *c;
    k->n++;
    return 0;
}

static void h_update(struct api_ctx *c)
{
    if (disabled(c))
        return;
    struct api_coord *k = c->api->coord;
    if (!k || is_client(c->api))
        return api_error(c, 500, "coordinate updates are served by servers");
    struct json_object *root;
    const char *node, *segment;
    struct coord co;
    char err[200];
    int status = api__coord_update_decode(c->req->body, c->req->body_len, &root, &node, &segment,
                                          &co, err, sizeof(err));
    if (status) {
        json_object_put(root);
        return api_error(c, status, "%s", err);
    }
    if (!api_acl_require(c, ACL_R_NODE, node, ACL_A_WRITE)) {
        json_object_put(root);
        return;
    }
    int rc = pend_put(k, node, segment, &co);
    json_object_put(root);
    if (rc)
        return api_error(c, 500, "out of memory");
    api_reply_empty(c);
}

/* ---- the server's batches ------------------------------------------------------ */

static void batch_done(void *arg, int rc, const struct state_result *res)
{
    (void)arg;
    (void)res;
    if (rc)
        cn_warn("coordinate", "Batch update failed: %s", cn_strerror(rc));
}

static void pend_clear(struct api_coord *k)
{
    for (size_t i = 0; i < k->n; i++) {
        cn_free(k->v[i].node);
        cn_free(k->v[i].segment);
    }
    k->n = 0;
}

static void on_flush(uv_timer_t *t)
{
    struct api_coord *k = t->data;
    if (!k->n)
        return;
    size_t size = k->n;
    if (size > BATCH_SIZE * MAX_BATCHES) {
        cn_warn("coordinate", "Discarded %zu coordinate updates", size - BATCH_SIZE * MAX_BATCHES);
        size = BATCH_SIZE * MAX_BATCHES;
    }
    for (size_t start = 0; start < size; start += BATCH_SIZE) {
        size_t end = start + BATCH_SIZE < size ? start + BATCH_SIZE : size;
        struct state_coord v[BATCH_SIZE];
        for (size_t i = start; i < end; i++) {
            struct state_coord *e = &v[i - start];
            e->node = k->v[i].node;
            e->segment = k->v[i].segment;
            memcpy(e->vec, k->v[i].c.vec, sizeof(e->vec));
            e->error = k->v[i].c.error;
            e->adjustment = k->v[i].c.adjustment;
            e->height = k->v[i].c.height;
        }
        struct cn_buf cmd = CN_BUF_INIT;
        int rc = state_cmd_coord_batch(&cmd, v, end - start);
        if (!rc)
            rc = srv_propose(k->api->srv, cmd.p, cmd.len, batch_done, NULL);
        cn_buf_free(&cmd);
        if (rc)
            cn_warn("coordinate", "Batch update failed: %s", cn_strerror(rc));
    }
    pend_clear(k);
}

/* ---- the agent's own coordinate ------------------------------------------------- */

static uint64_t rnd(struct api_coord *k)
{
    k->rng ^= k->rng << 13;
    k->rng ^= k->rng >> 7;
    k->rng ^= k->rng << 17;
    return k->rng;
}

/* lib.RateScaledInterval plus lib.RandomStagger. */
static uint64_t next_sync_ms(struct api_coord *k)
{
    const struct api_config *cfg = &k->api->cfg;
    uint64_t min = cfg->coord.sync_interval_min_ms ? cfg->coord.sync_interval_min_ms : 15000;
    uint64_t rate = cfg->coord.sync_rate_target ? cfg->coord.sync_rate_target : 64;
    size_t members = gossip_num_alive(gossip_net_core(cfg->gossip));
    uint64_t iv = (uint64_t)members * 1000 / rate;
    if (iv < min)
        iv = min;
    return iv + rnd(k) % iv;
}

static void sent_cb(void *arg, int rc, const struct srv_cl_resp *m)
{
    struct api_coord *k = arg;
    k->in_flight = false;
    if (rc)
        cn_warn("coordinate", "Coordinate update error: %s", cn_strerror(rc));
    else if (m->status == 403)
        cn_warn("coordinate", "Coordinate update blocked by ACLs");
    else if (m->status != 200)
        cn_warn("coordinate", "Coordinate update error: %u %.*s", m->status, (int)m->body_len,
                (const char *)m->body);
}

static void send_own(struct api_coord *k)
{
    struct api *a = k->api;
    struct coord co;
    if (gossip_coord_self(gossip_net_core(a->cfg.gossip), &co) || !coord_valid(&co))
        return;
    if (!is_client(a)) {
        char acc[40];
        if (!api_acl_agent_may(a, a->cfg.node_name, NULL, acc, sizeof(acc))) {
            cn_warn("coordinate", "Coordinate update blocked by ACLs (accessorID %s)", acc);
            return;
        }
        if (pend_put(k, a->cfg.node_name, "", &co))
            cn_warn("coordinate", "Coordinate update error: out of memory");
        return;
    }
    if (k->in_flight)
        return;
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &b, 0);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "Datacenter", a->cfg.datacenter);
    cn_jsonw_kstr(&w, "Node", a->cfg.node_name);
    cn_jsonw_kstr(&w, "Segment", "");
    cn_jsonw_key(&w, "Coord");
    json_coord(&w, co.vec, co.error, co.adjustment, co.height);
    cn_jsonw_obj_close(&w);
    struct srv_cl_req m;
    memset(&m, 0, sizeof(m));
    m.method = "PUT";
    m.method_len = 3;
    m.target = "/v1/coordinate/update";
    m.target_len = strlen(m.target);
    const char *tok = api__acl_agent_token(a);
    if (tok)
        m.hdrs[m.nhdrs++] = (struct srv_cl_hdr){"X-Consul-Token", tok, 14, strlen(tok)};
    m.body = b.p;
    m.body_len = b.len;
    int rc = w.err ? w.err : srv_client_http(a->srv, &m, false, sent_cb, k, &k->handle);
    cn_buf_free(&b);
    if (rc)
        cn_warn("coordinate", "Coordinate update error: %s", cn_strerror(rc));
    else
        k->in_flight = true;
}

static void on_sync(uv_timer_t *t)
{
    struct api_coord *k = t->data;
    send_own(k);
    uv_timer_start(&k->sync, on_sync, next_sync_ms(k), 0);
}

int api__coord_new(struct api *a)
{
    if (!a->srv || a->cfg.coord.disabled)
        return 0;
    struct api_coord *k = cn_calloc(1, sizeof(*k));
    if (!k)
        return CN_ENOMEM;
    k->api = a;
    k->rng = (uint64_t)uv_hrtime() | 1;
    a->coord = k;
    if (!is_client(a)) {
        uint64_t p = a->cfg.coord.update_period_ms ? a->cfg.coord.update_period_ms : 5000;
        uv_timer_init(a->loop, &k->flush);
        k->flush.data = k;
        uv_timer_start(&k->flush, on_flush, p, p);
        uv_unref((uv_handle_t *)&k->flush);
        k->flushing = true;
        k->open_handles++;
    }
    if (a->cfg.gossip) {
        uv_timer_init(a->loop, &k->sync);
        k->sync.data = k;
        uv_timer_start(&k->sync, on_sync, next_sync_ms(k), 0);
        uv_unref((uv_handle_t *)&k->sync);
        k->syncing = true;
        k->open_handles++;
    }
    return 0;
}

static void free_coord(struct api_coord *k)
{
    pend_clear(k);
    cn_free(k->v);
    cn_free(k);
}

static void on_closed(uv_handle_t *h)
{
    struct api_coord *k = h->data;
    if (--k->open_handles == 0)
        free_coord(k);
}

void api__coord_stop(struct api *a)
{
    struct api_coord *k = a->coord;
    if (!k)
        return;
    a->coord = NULL;
    if (k->in_flight)
        srv_client_cancel(a->srv, k->handle);
    if (!k->open_handles) {
        free_coord(k);
        return;
    }
    if (k->flushing)
        uv_close((uv_handle_t *)&k->flush, on_closed);
    if (k->syncing)
        uv_close((uv_handle_t *)&k->sync, on_closed);
}

/* ---- ?near= ----------------------------------------------------------------------- */

struct near_key {
    double d;
    size_t i;
};

static int near_cmp(const void *x, const void *y)
{
    const struct near_key *a = x, *b = y;
    if (a->d < b->d)
        return -1;
    if (a->d > b->d)
        return 1;
    return a->i < b->i ? -1 : a->i > b->i; /* stable */
}

bool api__near_order(const struct state *st, const char *source, const char *const *node, size_t n,
                     size_t *perm)
{
    const struct state_coord *se = source && *source ? state_coord_get(st, source, "") : NULL;
    if (!se || !n)
        return false;
    struct near_key *keys = cn_malloc(n * sizeof(*keys));
    if (!keys)
        return false;
    struct coord src, other;
    to_coord(se, &src);
    for (size_t i = 0; i < n; i++) {
        const struct state_coord *e = state_coord_get(st, node[i], "");
        keys[i].i = i;
        if (!strcmp(node[i], source)) {
            /* the source itself first: Consul estimates 2 x its height
             * (plus adjustments), which may put a close neighbour first */
            keys[i].d = -1;
        } else if (e) {
            to_coord(e, &other);
            keys[i].d = coord_distance(&src, &other);
        } else {
            keys[i].d = INFINITY;
        }
    }
    qsort(keys, n, sizeof(*keys), near_cmp);
    for (size_t i = 0; i < n; i++)
        perm[i] = keys[i].i;
    cn_free(keys);
    return true;
}

struct near_item {
    char *node;
    size_t start, end;
};

struct api_near {
    struct api_ctx *c;
    char *source;
    struct near_item *v;
    size_t n, cap;
    size_t first; /* where the first element may start (after '[') */
    bool err;
};

struct api_near *api__near_begin(struct api_ctx *c, struct cn_jsonw *w)
{
    const char *near = api_param(c, "near");
    if (!near || !*near)
        return NULL;
    if (!strcmp(near, "_agent"))
        near = c->api->cfg.node_name;
    if (!state_coord_get(srv_state(c->api->srv), near, ""))
        return NULL; /* Consul: no coordinate for the source, no sort */
    struct api_near *nr = cn_calloc(1, sizeof(*nr));
    if (!nr || !(nr->source = cn_strdup(near))) {
        cn_free(nr);
        return NULL;
    }
    nr->c = c;
    nr->first = w->b->len;
    return nr;
}

void api__near_item(struct api_near *nr, const char *node, size_t start)
{
    if (!nr || nr->err)
        return;
    if (nr->n == nr->cap) {
        size_t nc = nr->cap ? nr->cap * 2 : 16;
        struct near_item *v = cn_realloc(nr->v, nc * sizeof(*v));
        if (!v) {
            nr->err = true;
            return;
        }
        nr->v = v;
        nr->cap = nc;
    }
    nr->v[nr->n].node = cn_strdup(node);
    nr->v[nr->n].start = start;
    nr->v[nr->n].end = 0;
    if (!nr->v[nr->n].node)
        nr->err = true;
    else
        nr->n++;
}

static void near_free(struct api_near *nr)
{
    for (size_t i = 0; i < nr->n; i++)
        cn_free(nr->v[i].node);
    cn_free(nr->v);
    cn_free(nr->source);
    cn_free(nr);
}

/* The separator the writer put before an element: a comma and (pretty)
 * white space. */
static size_t sep_len(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ',' || p[i] == ' ' || p[i] == '\n' || p[i] == '\t' || p[i] == '\r'))
        i++;
    return i;
}

void api__near_end(struct api_near *nr, struct cn_jsonw *w)
{
    if (!nr)
        return;
    struct cn_buf *b = w->b;
    /* Each item recorded its start; dropped ones (a filter rollback) left
     * the buffer where they began, so the next start equals theirs: keep
     * the last item of each start only. */
    size_t k = 0;
    for (size_t i = 0; i < nr->n; i++) {
        if (k && nr->v[k - 1].start == nr->v[i].start) {
            cn_free(nr->v[k - 1].node);
            nr->v[k - 1] = nr->v[i];
        } else {
            nr->v[k++] = nr->v[i];
        }
    }
    nr->n = k;
    if (nr->n && nr->v[nr->n - 1].start >= b->len) { /* the last one was dropped */
        cn_free(nr->v[nr->n - 1].node);
        nr->n--;
    }
    for (size_t i = 0; i < nr->n; i++)
        nr->v[i].end = i + 1 < nr->n ? nr->v[i + 1].start : b->len;
    size_t *perm = nr->n ? cn_malloc(nr->n * sizeof(*perm)) : NULL;
    const char **names = nr->n ? cn_malloc(nr->n * sizeof(*names)) : NULL;
    if (nr->err || w->err || nr->n < 2 || !perm || !names) {
        cn_free(perm);
        cn_free(names);
        near_free(nr);
        return;
    }
    for (size_t i = 0; i < nr->n; i++)
        names[i] = nr->v[i].node;
    size_t base = nr->v[0].start;
    struct cn_buf out = CN_BUF_INIT;
    bool ok = api__near_order(srv_state(nr->c->api->srv), nr->source, names, nr->n, perm);
    for (size_t i = 0; ok && i < nr->n; i++) {
        const struct near_item *slot = &nr->v[i], *src = &nr->v[perm[i]];
        size_t ss = sep_len(b->p + slot->start, slot->end - slot->start);
        size_t sb = sep_len(b->p + src->start, src->end - src->start);
        ok = !cn_buf_append(&out, b->p + slot->start, ss) &&
             !cn_buf_append(&out, b->p + src->start + sb, src->end - src->start - sb);
    }
    if (ok && out.len == b->len - base)
        memcpy(b->p + base, out.p, out.len);
    cn_buf_free(&out);
    cn_free(perm);
    cn_free(names);
    near_free(nr);
}

const struct api_route api_coordinate_routes[] = {
    {"/v1/coordinate/datacenters", false, API_GET, NULL, h_datacenters, API_ACL_OPEN, API_ACL_OPEN},
    /* Consul filters the list per node (node:read) */
    {"/v1/coordinate/nodes", false, API_GET, r_nodes, NULL, API_HANDLER, API_HANDLER},
    {"/v1/coordinate/node/", true, API_GET, r_node, NULL, API_ARG(NODE, READ), API_ARG(NODE, READ)},
    /* node:write on the body's Node */
    {"/v1/coordinate/update", false, API_PUT, NULL, h_update, API_HANDLER, API_HANDLER},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
