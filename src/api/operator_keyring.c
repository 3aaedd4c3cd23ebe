/* api/operator_keyring.c: the gossip encryption keyrings over HTTP
 * (website/content/api-docs/operator/keyring.mdx; agent/operator_endpoint.go
 * OperatorKeyringEndpoint, Internal.KeyringOperation, serf's keymanager.go):
 *
 *   GET    /v1/operator/keyring[?relay-factor=N][?local-only]  keyring:read
 *   POST   /v1/operator/keyring  {"Key": "..."}  install          keyring:write
 *   PUT    /v1/operator/keyring  {"Key": "..."}  use (primary)    keyring:write
 *   DELETE /v1/operator/keyring  {"Key": "..."}  remove           keyring:write
 *
 * Each is a keyring query over a gossip pool (gossip/net.h): every member
 * applies it to its keyring and answers. As Consul's KeyringOperation, a
 * server with a WAN pool runs it on the WAN pool (every server of every
 * datacenter; the WAN ring persists in serf/remote.keyring) and on the LAN
 * pool of every known datacenter: its own, and each other one's through
 * POST|PUT|DELETE|GET /v1/internal/keyring over the WAN route, which runs it
 * on that datacenter's LAN pool only. ?local-only (lists) asks the local LAN
 * pool only. The answer is Consul's KeyringResponses, one entry per pool
 * (WAN first, then the datacenters' LAN pools in the router's order). A pool
 * with a member that reports failure, or one that did not answer, or that
 * could not be asked, turns the answer into Consul's 500 with the
 * multierror text ("1 error occurred:\n\t* dc1 (LAN) error: 1/3 nodes
 * reported failure..."). On a client agent the request is forwarded to a
 * server (api/forward.c), as Consul's agent makes the RPC. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "base/mem.h"
#include "gossip/codec.h"
#include "gossip/net.h"

#define KR_MAX_SRC 66 /* the WAN pool, the local LAN pool, 64 other datacenters */

/* Go's strconv.ParseBool */
static int parse_bool(const char *s)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (!strcmp(s, t[i]))
            return 1;
        if (!strcmp(s, f[i]))
            return 0;
    }
    return -1;
}

/* A base64 key and how many members hold it. */
struct kcount {
    char b64[GOSSIP_KEY_B64];
    int n;
};

static void count_key(struct kcount *v, size_t *nv, size_t cap, const struct gossip_key *k)
{
    char b64[GOSSIP_KEY_B64];
    gossip_key_to_b64(k, b64);
    for (size_t i = 0; i < *nv; i++)
        if (!strcmp(v[i].b64, b64)) {
            v[i].n++;
            return;
        }
    if (*nv < cap) {
        snprintf(v[*nv].b64, sizeof(v[*nv].b64), "%s", b64);
        v[(*nv)++].n = 1;
    }
}

/* {"Key": "..."}: only Key (a field cairn would not act on is refused). */
static int body_key(struct api_ctx *c, char *key, size_t cap)
{
    char err[200];
    const char *b = c->req->body_len ? c->req->body : "{}";
    size_t n = c->req->body_len ? c->req->body_len : 2;
    struct json_object *o = cn_json_parse(b, n, err, sizeof(err));
    if (!o) {
        api_error(c, 400, "Request decode failed: %s", err);
        return -1;
    }
    int rc = 0;
    if (!json_object_is_type(o, json_type_object)) {
        api_error(c, 400, "Request decode failed: expected a JSON object");
        rc = -1;
        goto out;
    }
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        if (!cn_json_key_eq(k, "Key")) {
            api_error(c, 400, "Request decode failed: unknown field \"%s\"", k);
            rc = -1;
            goto out;
        }
    }
    const char *s = "";
    if (cn_json_get_str(o, "Key", &s) < 0) {
        api_error(c, 400, "Request decode failed: Key: expected a string");
        rc = -1;
        goto out;
    }
    snprintf(key, cap, "%s", s ? s : "");
out:
    json_object_put(o);
    return rc;
}

struct kr_op;
struct kr_src { /* one pool asked: its entries (a JSON array) once done */
    struct kr_op *k;
    char dc[API_DC_MAX];
    bool wan;
    struct json_object *entries;
};

struct kr_op {
    struct api_ctx *c;
    uint8_t op;
    bool internal; /* /v1/internal/keyring: the entries, always 200 */
    char b64[256]; /* the key as given (forwarded as is) */
    unsigned relay;
    int pending;
    size_t nsrc;
    struct kr_src src[KR_MAX_SRC];
};

static struct json_object *entry_new(bool wan, const char *dc, const char *err)
{
    struct json_object *e = json_object_new_object();
    if (!e)
        return NULL;
    json_object_object_add(e, "WAN", json_object_new_boolean(wan));
    json_object_object_add(e, "Datacenter", json_object_new_string(dc));
    json_object_object_add(e, "Segment", json_object_new_string(""));
    json_object_object_add(e, "Messages", json_object_new_object());
    json_object_object_add(e, "Keys", json_object_new_object());
    json_object_object_add(e, "PrimaryKeys", json_object_new_object());
    json_object_object_add(e, "NumNodes", json_object_new_int64(0));
    json_object_object_add(e, "Error", json_object_new_string(err ? err : ""));
    return e;
}

static void src_set(struct kr_src *s, struct json_object *e)
{
    json_object_put(s->entries);
    s->entries = json_object_new_array();
    if (s->entries && e)
        json_object_array_add(s->entries, e);
    else
        json_object_put(e);
}

static void put_counts(struct json_object *e, const char *name, const struct kcount *v, size_t n)
{
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; o && i < n; i++)
        json_object_object_add(o, v[i].b64, json_object_new_int64(v[i].n));
    json_object_object_add(e, name, o);
}

/* structs.KeyringResponse of one pool from its query. */
static struct json_object *entry_of(const struct kr_src *s, int rc,
                                    const struct gossip_query_done *d)
{
    if (rc)
        return entry_new(s->wan, s->dc, cn_strerror(rc));
    size_t nerr = 0;
    for (size_t i = 0; i < d->nresp; i++)
        nerr += !d->resp[i].ok;
    char why[96] = "";
    if (nerr)
        snprintf(why, sizeof(why), "%zu/%zu nodes reported failure", nerr, d->num_nodes);
    else if (d->nresp != d->num_nodes)
        snprintf(why, sizeof(why), "%zu/%zu nodes reported success", d->nresp, d->num_nodes);
    struct json_object *e = entry_new(s->wan, s->dc, why);
    if (!e)
        return NULL;
    struct json_object *msgs = json_object_new_object();
    for (size_t i = 0; msgs && i < d->nresp; i++)
        if (!d->resp[i].ok)
            json_object_object_add(msgs, d->resp[i].name, json_object_new_string(d->resp[i].msg));
    json_object_object_add(e, "Messages", msgs);
    json_object_object_add(e, "NumNodes", json_object_new_int64((int64_t)d->num_nodes));
    if (d->op != GOSSIP_QOP_LIST)
        return e;
    size_t cap = d->nresp * GOSSIP_KEYRING_MAX + 1;
    struct kcount *keys = cn_calloc(cap, sizeof(*keys));
    struct kcount *prim = cn_calloc(d->nresp + 1, sizeof(*prim));
    if (keys && prim) {
        size_t nk = 0, np = 0;
        for (size_t i = 0; i < d->nresp; i++) {
            const struct gossip_keyring *kr = &d->resp[i].keys;
            for (size_t k = 0; k < kr->n; k++)
                count_key(keys, &nk, cap, &kr->keys[k]);
            if (kr->n)
                count_key(prim, &np, d->nresp + 1, &kr->keys[0]);
        }
        put_counts(e, "Keys", keys, nk);
        put_counts(e, "PrimaryKeys", prim, np);
    }
    cn_free(keys);
    cn_free(prim);
    return e;
}

/* Consul's keyringErrorsOrNil, joined as go-multierror does: "<pool> error:
 * <Error>" and each of its members' messages, per pool with an Error. */
static int errors_text(struct json_object *all, struct cn_buf *out)
{
    struct cn_buf items = CN_BUF_INIT;
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < json_object_array_length(all) && !rc; i++) {
        struct json_object *e = json_object_array_get_idx(all, i);
        struct json_object *err = cn_json_get(e, "Error"), *wan = cn_json_get(e, "WAN");
        const char *es = err ? json_object_get_string(err) : "";
        if (!es || !*es)
            continue;
        const char *dc = "", *seg = "";
        cn_json_get_str(e, "Datacenter", &dc);
        cn_json_get_str(e, "Segment", &seg);
        if (wan && json_object_get_boolean(wan))
            rc = cn_buf_printf(&items, "\n\t* WAN");
        else
            rc = cn_buf_printf(&items, "\n\t* %s (LAN)", dc ? dc : "");
        if (!rc && seg && *seg)
            rc = cn_buf_printf(&items, " [segment: %s]", seg);
        rc = rc ? rc : cn_buf_printf(&items, " error: %s", es);
        n++;
        struct json_object *msgs = cn_json_get(e, "Messages");
        if (!rc && msgs && json_object_is_type(msgs, json_type_object)) {
            json_object_object_foreach(msgs, node, msg)
            {
                if (!rc)
                    rc = cn_buf_printf(&items, "\n\t* %s: %s", node, json_object_get_string(msg));
                n++;
            }
        }
    }
    if (!rc && n) {
        rc = n == 1 ? cn_buf_printf(out, "1 error occurred:")
                    : cn_buf_printf(out, "%zu errors occurred:", n);
        rc = rc ? rc : cn_buf_append(out, items.p, items.len);
        rc = rc ? rc : cn_buf_append(out, "\n\n", 2);
    }
    cn_buf_free(&items);
    return rc;
}

static void kr_free(struct kr_op *k)
{
    for (size_t i = 0; i < k->nsrc; i++)
        json_object_put(k->src[i].entries);
    cn_free(k);
}

static void finish(struct kr_op *k)
{
    struct api_ctx *c = k->c;
    struct json_object *all = json_object_new_array();
    for (size_t i = 0; all && i < k->nsrc; i++) {
        struct json_object *es = k->src[i].entries;
        for (size_t j = 0; es && j < json_object_array_length(es); j++)
            json_object_array_add(all, json_object_get(json_object_array_get_idx(es, j)));
    }
    bool list = k->op == GOSSIP_QOP_LIST;
    bool internal = k->internal;
    kr_free(k);
    if (!all) {
        api_error(c, 500, "out of memory");
        return;
    }
    struct cn_buf errs = CN_BUF_INIT;
    if (!internal && errors_text(all, &errs)) {
        api_error(c, 500, "out of memory");
    } else if (errs.len) {
        api_error(c, 500, "%.*s", (int)errs.len, errs.p);
    } else if (list || internal) {
        const char *s = json_object_to_json_string_ext(all, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
        if (s)
            api_reply_raw(c, 200, "application/json", s, strlen(s));
        else
            api_error(c, 500, "out of memory");
    } else {
        api_reply_empty(c);
    }
    cn_buf_free(&errs);
    json_object_put(all);
}

static void src_done(struct kr_op *k)
{
    if (--k->pending == 0)
        finish(k);
}

static void on_pool_done(void *arg, int rc, const struct gossip_query_done *d)
{
    struct kr_src *s = arg;
    src_set(s, entry_of(s, rc, d));
    src_done(s->k);
}

static struct kr_src *src_add(struct kr_op *k, const char *dc, bool wan)
{
    if (k->nsrc == KR_MAX_SRC)
        return NULL;
    struct kr_src *s = &k->src[k->nsrc++];
    s->k = k;
    snprintf(s->dc, sizeof(s->dc), "%s", dc);
    s->wan = wan;
    src_set(s, entry_new(wan, dc, "")); /* replaced once answered */
    return s;
}

/* Run the operation on a pool of this server (key_err: the key did not
 * decode, as serf's key manager refuses it before asking anyone). */
static void ask_pool(struct kr_op *k, struct kr_src *s, struct gossip_net *net,
                     const struct gossip_key *key, const char *key_err)
{
    if (key_err) {
        src_set(s, entry_new(s->wan, s->dc, key_err));
        return;
    }
    if (!net) {
        src_set(s, entry_new(s->wan, s->dc,
                             "this agent runs no gossip pool (-dev, or ports.serf_lan = -1)"));
        return;
    }
    k->pending++;
    int rc = gossip_net_keyring_query(net, k->op, k->op == GOSSIP_QOP_LIST ? NULL : key, k->relay,
                                      on_pool_done, s);
    if (rc) {
        k->pending--;
        src_set(s, entry_new(s->wan, s->dc,
                             rc == CN_EAGAIN ? "too many keyring operations in flight; try again"
                                             : cn_strerror(rc)));
    }
}

static void on_remote(void *arg, int rc, const struct srv_cl_resp *m)
{
    struct kr_src *s = arg;
    struct api *a = s->k->c->api;
    if (a->wan.report)
        a->wan.report(a->wan.arg, s->dc, rc);
    char why[300];
    struct json_object *es = NULL;
    if (rc)
        snprintf(why, sizeof(why), "%s",
                 rc == CN_EAGAIN ? "No path to datacenter" : cn_strerror(rc));
    else if (m->status != 200)
        snprintf(why, sizeof(why), "%u %.*s", (unsigned)m->status,
                 (int)(m->body_len < 200 ? m->body_len : 200), (const char *)m->body);
    else if (api__keyring_entries_parse(m->body, m->body_len, &es))
        snprintf(why, sizeof(why), "a malformed answer");
    if (es) {
        json_object_put(s->entries);
        s->entries = es;
    } else {
        src_set(s, entry_new(false, s->dc, why));
    }
    src_done(s->k);
}

/* Another datacenter's LAN pool, through /v1/internal/keyring there. */
static void ask_remote(struct kr_op *k, struct kr_src *s)
{
    struct api *a = k->c->api;
    struct srv *to = NULL;
    if (a->wan.route(a->wan.arg, s->dc, &to) || !to) {
        src_set(s, entry_new(false, s->dc, "No path to datacenter"));
        return;
    }
    static const char *const methods[] = {"", "GET", "POST", "PUT", "DELETE"};
    char target[64];
    snprintf(target, sizeof(target), "/v1/internal/keyring?relay-factor=%u", k->relay);
    struct cn_buf body = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &body, false);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "Key", k->b64);
    cn_jsonw_obj_close(&w);
    struct srv_cl_req m;
    memset(&m, 0, sizeof(m));
    m.method = methods[k->op];
    m.method_len = strlen(m.method);
    m.target = target;
    m.target_len = strlen(target);
    m.hdrs[m.nhdrs++] = (struct srv_cl_hdr){"Content-Type", "application/json", 12, 16};
    const char *tok = api__acl_token_of(k->c);
    if (tok && *tok)
        m.hdrs[m.nhdrs++] = (struct srv_cl_hdr){"X-Consul-Token", tok, 14, strlen(tok)};
    if (k->op != GOSSIP_QOP_LIST && !w.err) {
        m.body = body.p;
        m.body_len = body.len;
    }
    uint64_t h = 0;
    k->pending++;
    int rc = w.err ? CN_ENOMEM : srv_client_http(to, &m, false, on_remote, s, &h);
    cn_buf_free(&body);
    if (rc) {
        k->pending--;
        src_set(s, entry_new(false, s->dc, cn_strerror(rc)));
    }
}

int api__keyring_entries_parse(const void *body, size_t len, struct json_object **out)
{
    char err[64];
    *out = NULL;
    struct json_object *o = cn_json_parse(body, len, err, sizeof(err));
    if (!o || !json_object_is_type(o, json_type_array) || json_object_array_length(o) > 64)
        goto bad;
    for (size_t i = 0; i < json_object_array_length(o); i++) {
        struct json_object *e = json_object_array_get_idx(o, i);
        if (!json_object_is_type(e, json_type_object))
            goto bad;
        static const struct {
            const char *k;
            json_type t;
        } want[] = {{"WAN", json_type_boolean},    {"Datacenter", json_type_string},
                    {"Segment", json_type_string}, {"Messages", json_type_object},
                    {"Keys", json_type_object},    {"PrimaryKeys", json_type_object},
                    {"NumNodes", json_type_int},   {"Error", json_type_string}};
        size_t nk = 0;
        json_object_object_foreach(e, key, val)
        {
            size_t j = 0;
            while (j < sizeof(want) / sizeof(want[0]) && strcmp(want[j].k, key) != 0)
                j++;
            if (j == sizeof(want) / sizeof(want[0]) || !json_object_is_type(val, want[j].t))
                goto bad;
            nk++;
        }
        if (nk != sizeof(want) / sizeof(want[0]))
            goto bad;
        static const char *const maps[] = {"Messages", "Keys", "PrimaryKeys"};
        for (size_t j = 0; j < 3; j++) {
            json_object_object_foreach(cn_json_get(e, maps[j]), key2, v2)
            {
                (void)key2;
                if (!json_object_is_type(v2, j == 0 ? json_type_string : json_type_int))
                    goto bad;
            }
        }
    }
    *out = o;
    return 0;
bad:
    json_object_put(o);
    return CN_EINVAL;
}

/* The parameters and the key; NULL (answered) on a bad request. */
static struct kr_op *kr_begin(struct api_ctx *c, bool *local_only, struct gossip_key *key,
                              char *key_err, size_t errcap)
{
    enum http_method m = c->req->method;
    unsigned relay = 0;
    const char *rf = api_param(c, "relay-factor");
    if (rf && *rf) {
        char *end;
        errno = 0;
        long v = strtol(rf, &end, 10);
        if (*end || end == rf || errno) {
            api_error(c, 400, "Error parsing relay factor: strconv.Atoi: parsing \"%s\": %s", rf,
                      errno == ERANGE ? "value out of range" : "invalid syntax");
            return NULL;
        }
        if (v < 0 || v > 5) {
            api_error(c, 400, "Invalid relay-factor: Relay factor must be in range: [0, 5]");
            return NULL;
        }
        relay = (unsigned)v;
    }
    *local_only = false;
    const char *lo = api_param(c, "local-only");
    if (lo && *lo) {
        int v = parse_bool(lo);
        if (v < 0) {
            api_error(c, 400,
                      "Error parsing local-only: strconv.ParseBool: parsing \"%s\": invalid syntax",
                      lo);
            return NULL;
        }
        if (v && m != HTTP_M_GET && m != HTTP_M_HEAD) {
            api_error(c, 400,
                      "Invalid use of local-only: local-only can only be set for list requests");
            return NULL;
        }
        *local_only = v > 0;
    }
    uint8_t op = m == HTTP_M_GET || m == HTTP_M_HEAD ? GOSSIP_QOP_LIST
                 : m == HTTP_M_POST                  ? GOSSIP_QOP_INSTALL
                 : m == HTTP_M_PUT                   ? GOSSIP_QOP_USE
                                                     : GOSSIP_QOP_REMOVE;
    char b64[256] = "";
    memset(key, 0, sizeof(*key));
    key_err[0] = '\0';
    if (op != GOSSIP_QOP_LIST) {
        if (body_key(c, b64, sizeof(b64)))
            return NULL;
        if (gossip_key_from_b64(b64, key, key_err, errcap) && !key_err[0])
            snprintf(key_err, errcap, "invalid key");
    }
    struct kr_op *k = cn_calloc(1, sizeof(*k));
    if (!k) {
        api_error(c, 500, "out of memory");
        return NULL;
    }
    k->c = c;
    k->op = op;
    k->relay = relay;
    k->pending = 1; /* ours, until every pool is asked */
    snprintf(k->b64, sizeof(k->b64), "%s", b64);
    return k;
}

static void h_keyring(struct api_ctx *c)
{
    bool local_only;
    struct gossip_key key;
    char why[96];
    struct kr_op *k = kr_begin(c, &local_only, &key, why, sizeof(why));
    if (!k)
        return;
    struct api *a = c->api;
    const char *err = why[0] ? why : NULL;
    if (a->wan.gossip && !local_only) {
        /* Consul: the WAN pool once, then every datacenter's LAN pool */
        struct kr_src *w = src_add(k, a->cfg.datacenter, true);
        ask_pool(k, w, a->wan.gossip, &key, err);
        ask_pool(k, src_add(k, a->cfg.datacenter, false), a->cfg.gossip, &key, err);
        char dcs[64][API_DC_MAX];
        size_t n = a->wan.datacenters ? a->wan.datacenters(a->wan.arg, dcs, 64) : 0;
        for (size_t i = 1; i < n && i < 64; i++) {
            struct kr_src *s = src_add(k, dcs[i], false);
            if (s)
                ask_remote(k, s);
        }
    } else {
        ask_pool(k, src_add(k, a->cfg.datacenter, false), a->cfg.gossip, &key, err);
    }
    src_done(k);
}

/* Another datacenter's KeyringOperation, forwarded: this LAN pool only; the
 * entries whatever their Error (the asking server joins the errors). */
static void h_internal_keyring(struct api_ctx *c)
{
    bool local_only;
    struct gossip_key key;
    char why[96];
    struct kr_op *k = kr_begin(c, &local_only, &key, why, sizeof(why));
    if (!k)
        return;
    k->internal = true;
    ask_pool(k, src_add(k, c->api->cfg.datacenter, false), c->api->cfg.gossip, &key,
             why[0] ? why : NULL);
    src_done(k);
}

const struct api_route api_keyring_routes[] = {
    {"/v1/operator/keyring", false, API_GET | API_POST | API_PUT | API_DELETE, NULL, h_keyring,
     API_FIXED(KEYRING, READ), API_FIXED(KEYRING, WRITE)},
    {"/v1/internal/keyring", false, API_GET | API_POST | API_PUT | API_DELETE, NULL,
     h_internal_keyring, API_FIXED(KEYRING, READ), API_FIXED(KEYRING, WRITE)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
