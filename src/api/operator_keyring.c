/* api/operator_keyring.c: the gossip encryption keyring over HTTP
 * (website/content/api-docs/operator/keyring.mdx; agent/operator_endpoint.go
 * OperatorKeyringEndpoint, serf's keymanager.go):
 *
 *   GET    /v1/operator/keyring[?relay-factor=N][?local-only]  keyring:read
 *   POST   /v1/operator/keyring  {"Key": "..."}  install          keyring:write
 *   PUT    /v1/operator/keyring  {"Key": "..."}  use (primary)    keyring:write
 *   DELETE /v1/operator/keyring  {"Key": "..."}  remove           keyring:write
 *
 * Each is a keyring query over the LAN gossip pool (gossip/net.h): every
 * member applies it to its keyring and answers; the list answer is Consul's
 * KeyringResponse for the LAN pool (cairn has no WAN pool: one entry, WAN
 * false). A member that reports failure, or one that did not answer, turns
 * the answer into Consul's 500 with the multierror text ("1 error occurred:
 * ... dc1 (LAN) error: 1/3 nodes reported failure"). On a client agent the
 * request is forwarded to a server (api/forward.c), as Consul's agent makes
 * the Internal.KeyringOperation RPC; ?local-only then asks that server's
 * pool too, which is the whole LAN pool (there is no WAN traffic to skip). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "gossip/codec.h"
#include "gossip/net.h"

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

/* The pool's error line and the members' messages, as Consul's
 * keyringErrorsOrNil joins them with go-multierror. */
static void reply_errors(struct api_ctx *c, const char *pool_err, const struct gossip_query_done *d)
{
    struct cn_buf b = CN_BUF_INIT;
    size_t n = 1;
    for (size_t i = 0; d && i < d->nresp; i++)
        n += !d->resp[i].ok;
    char line[600];
    int rc = 0;
    if (n == 1)
        rc = cn_buf_append(&b, "1 error occurred:", 17);
    else {
        snprintf(line, sizeof(line), "%zu errors occurred:", n);
        rc = cn_buf_append(&b, line, strlen(line));
    }
    snprintf(line, sizeof(line), "\n\t* %s (LAN) error: %s", c->api->cfg.datacenter, pool_err);
    rc = rc ? rc : cn_buf_append(&b, line, strlen(line));
    for (size_t i = 0; d && i < d->nresp && !rc; i++) {
        if (d->resp[i].ok)
            continue;
        snprintf(line, sizeof(line), "\n\t* %s: %s", d->resp[i].name, d->resp[i].msg);
        rc = cn_buf_append(&b, line, strlen(line));
    }
    rc = rc ? rc : cn_buf_append(&b, "\n\n", 2);
    if (rc)
        api_error(c, 500, "out of memory");
    else
        api_error(c, 500, "%.*s", (int)b.len, b.p);
    cn_buf_free(&b);
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

static void write_counts(struct cn_jsonw *w, const char *name, const struct kcount *v, size_t n)
{
    cn_jsonw_key(w, name);
    cn_jsonw_obj_open(w);
    for (size_t i = 0; i < n; i++)
        cn_jsonw_ki64(w, v[i].b64, v[i].n);
    cn_jsonw_obj_close(w);
}

/* structs.KeyringResponse of the LAN pool. */
static void reply_list(struct api_ctx *c, const struct gossip_query_done *d)
{
    size_t cap = d->nresp * GOSSIP_KEYRING_MAX + 1;
    struct kcount *keys = cn_calloc(cap, sizeof(*keys));
    struct kcount *prim = cn_calloc(d->nresp + 1, sizeof(*prim));
    if (!keys || !prim) {
        cn_free(keys);
        cn_free(prim);
        api_error(c, 500, "out of memory");
        return;
    }
    size_t nk = 0, np = 0;
    for (size_t i = 0; i < d->nresp; i++) {
        const struct gossip_keyring *kr = &d->resp[i].keys;
        for (size_t k = 0; k < kr->n; k++)
            count_key(keys, &nk, cap, &kr->keys[k]);
        if (kr->n)
            count_key(prim, &np, d->nresp + 1, &kr->keys[0]);
    }
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_arr_open(&w);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kbool(&w, "WAN", false);
    cn_jsonw_kstr(&w, "Datacenter", c->api->cfg.datacenter);
    cn_jsonw_kstr(&w, "Segment", "");
    cn_jsonw_key(&w, "Messages");
    cn_jsonw_obj_open(&w);
    for (size_t i = 0; i < d->nresp; i++)
        if (!d->resp[i].ok)
            cn_jsonw_kstr(&w, d->resp[i].name, d->resp[i].msg);
    cn_jsonw_obj_close(&w);
    write_counts(&w, "Keys", keys, nk);
    write_counts(&w, "PrimaryKeys", prim, np);
    cn_jsonw_ki64(&w, "NumNodes", (int64_t)d->num_nodes);
    cn_jsonw_kstr(&w, "Error", "");
    cn_jsonw_obj_close(&w);
    cn_jsonw_arr_close(&w);
    cn_free(keys);
    cn_free(prim);
    api_reply_jsonw(c, 200, &w, &b);
}

static void on_done(void *arg, int rc, const struct gossip_query_done *d)
{
    struct api_ctx *c = arg;
    if (rc) {
        api_error(c, 500, "%s", cn_strerror(rc));
        return;
    }
    size_t nerr = 0;
    for (size_t i = 0; i < d->nresp; i++)
        nerr += !d->resp[i].ok;
    char why[96];
    if (nerr) {
        snprintf(why, sizeof(why), "%zu/%zu nodes reported failure", nerr, d->num_nodes);
        reply_errors(c, why, d);
        return;
    }
    if (d->nresp != d->num_nodes) {
        snprintf(why, sizeof(why), "%zu/%zu nodes reported success", d->nresp, d->num_nodes);
        reply_errors(c, why, NULL);
        return;
    }
    if (d->op == GOSSIP_QOP_LIST)
        reply_list(c, d);
    else
        api_reply_empty(c);
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

static void h_keyring(struct api_ctx *c)
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
            return;
        }
        if (v < 0 || v > 5) {
            api_error(c, 400, "Invalid relay-factor: Relay factor must be in range: [0, 5]");
            return;
        }
        relay = (unsigned)v;
    }
    const char *lo = api_param(c, "local-only");
    if (lo && *lo) {
        int v = parse_bool(lo);
        if (v < 0) {
            api_error(c, 400,
                      "Error parsing local-only: strconv.ParseBool: parsing \"%s\": invalid syntax",
                      lo);
            return;
        }
        if (v && m != HTTP_M_GET && m != HTTP_M_HEAD) {
            api_error(c, 400,
                      "Invalid use of local-only: local-only can only be set for list requests");
            return;
        }
    }
    uint8_t op = m == HTTP_M_GET || m == HTTP_M_HEAD ? GOSSIP_QOP_LIST
                 : m == HTTP_M_POST                  ? GOSSIP_QOP_INSTALL
                 : m == HTTP_M_PUT                   ? GOSSIP_QOP_USE
                                                     : GOSSIP_QOP_REMOVE;
    struct gossip_key key;
    memset(&key, 0, sizeof(key));
    if (op != GOSSIP_QOP_LIST) {
        char b64[256];
        if (body_key(c, b64, sizeof(b64)))
            return;
        char why[96];
        if (gossip_key_from_b64(b64, &key, why, sizeof(why))) {
            reply_errors(c, why, NULL);
            return;
        }
    }
    struct gossip_net *net = c->api->cfg.gossip;
    if (!net) {
        reply_errors(c, "this agent runs no gossip pool (-dev, or ports.serf_lan = -1)", NULL);
        return;
    }
    int rc =
        gossip_net_keyring_query(net, op, op == GOSSIP_QOP_LIST ? NULL : &key, relay, on_done, c);
    if (rc == CN_EAGAIN)
        api_error(c, 429, "too many keyring operations in flight; try again");
    else if (rc)
        api_error(c, 500, "%s", cn_strerror(rc));
}

const struct api_route api_keyring_routes[] = {
    {"/v1/operator/keyring", false, API_GET | API_POST | API_PUT | API_DELETE, NULL, h_keyring,
     API_FIXED(KEYRING, READ), API_FIXED(KEYRING, WRITE)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
