/* api/kv.c: /v1/kv/<key> (website/content/api-docs/kv.mdx; behaviour checked
 * against agent/kvs_endpoint.go and agent/consul/kvs_endpoint.go).
 *
 * GET is a read handler (the framework does blocking): one key, ?recurse for
 * a prefix, ?keys [&separator=] for key names, ?raw for the bare value. PUT
 * and DELETE become a one-op KV transaction through api_propose; ?acquire=
 * and ?release= are its lock/unlock verbs (a key in lock-delay answers false
 * without a proposal). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/txn.h"
#include "base/err.h"
#include "base/mem.h"

/* ---- JSON encoders (declared in api_int.h) --------------------------------
 * Consul's DirEntry field order: LockIndex, Key, Flags, Value, Session
 * (omitempty), then the embedded RaftIndex (CreateIndex, ModifyIndex). Value
 * is base64; Go writes a nil []byte as null, which is what an empty value
 * comes back as. */

static void kv_value(struct cn_jsonw *w, const void *p, size_t n)
{
    cn_jsonw_key(w, "Value");
    if (n == 0)
        cn_jsonw_null(w);
    else
        cn_jsonw_base64(w, p, n);
}

void api_json_kv(struct cn_jsonw *w, const struct state_kv *kv)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_ku64(w, "LockIndex", kv->lock_index);
    cn_jsonw_key(w, "Key");
    cn_jsonw_strn(w, kv->key, kv->key_len);
    cn_jsonw_ku64(w, "Flags", kv->flags);
    kv_value(w, kv->value, kv->value ? kv->value_len : 0);
    if (kv->session && *kv->session)
        cn_jsonw_kstr(w, "Session", kv->session);
    cn_jsonw_ku64(w, "CreateIndex", kv->create_index);
    cn_jsonw_ku64(w, "ModifyIndex", kv->modify_index);
    cn_jsonw_obj_close(w);
}

void api_json_kv_copy(struct cn_jsonw *w, const struct state_kv_copy *kv)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_ku64(w, "LockIndex", kv->lock_index);
    cn_jsonw_kstr(w, "Key", kv->key);
    cn_jsonw_ku64(w, "Flags", kv->flags);
    kv_value(w, kv->value, kv->has_value && kv->value ? kv->value_len : 0);
    if (kv->session && *kv->session)
        cn_jsonw_kstr(w, "Session", kv->session);
    cn_jsonw_ku64(w, "CreateIndex", kv->create_index);
    cn_jsonw_ku64(w, "ModifyIndex", kv->modify_index);
    cn_jsonw_obj_close(w);
}

/* ---- helpers --------------------------------------------------------------- */

/* KV's flags are presence-based in Consul (`_, ok := params["recurse"]`):
 * ?recurse, ?recurse=, ?recurse=1 and even ?recurse=yes are true. We also
 * honour an explicit false ("?recurse=false", "=0") as clients mean it. */
static bool kv_flag(struct api_ctx *c, const char *name)
{
    return api_flag(c, name) != 0;
}

/* X-Consul-Index of a listing (KVS.List / KVS.ListKeys): the highest index
 * under the prefix, tombstones included, or the whole table's index when the
 * prefix is empty or nothing ever lived under it. */
static uint64_t list_index(const struct state *s, const char *prefix)
{
    uint64_t idx = *prefix ? state_kv_prefix_index(s, prefix) : 0;
    return idx ? idx : state_table_index(s, STATE_T_KV);
}

struct list_ctx {
    struct api_ctx *c; /* ACL filtering (key:read per key) */
    struct cn_jsonw *w;
    size_t count;
    /* ?keys&separator= */
    size_t plen;
    const char *sep;
    size_t seplen;
    char *rolled; /* the rolled-up key that stopped the scan (owned) */
    int err;
};

static int list_cb(void *arg, const struct state_kv *kv)
{
    struct list_ctx *l = arg;
    if (!api_acl_keep(l->c, ACL_R_KEY, kv->key))
        return 0;
    api_json_kv(l->w, kv);
    l->count++;
    return 0;
}

static int keys_cb(void *arg, const struct state_kv *kv)
{
    struct list_ctx *l = arg;
    if (l->seplen && kv->key_len > l->plen) {
        const char *rest = kv->key + l->plen;
        const char *hit = memmem(rest, kv->key_len - l->plen, l->sep, l->seplen);
        if (hit) {
            /* KVS.ListKeys: everything up to and including the first
             * separator after the prefix, once. Stop here so the caller can
             * jump over the whole rolled-up subtree. */
            size_t n = (size_t)(hit - kv->key) + l->seplen;
            l->rolled = cn_strndup(kv->key, n);
            if (!l->rolled) {
                l->err = CN_ENOMEM;
                return 1;
            }
            if (api_acl_keep(l->c, ACL_R_KEY, l->rolled)) {
                cn_jsonw_strn(l->w, kv->key, n);
                l->count++;
            }
            return 1;
        }
    }
    if (!api_acl_keep(l->c, ACL_R_KEY, kv->key))
        return 0;
    l->count++;
    cn_jsonw_strn(l->w, kv->key, kv->key_len);
    return 0;
}

/* Turn s (which starts with a prefix of length plen) into the smallest string
 * greater than every string that starts with s: drop trailing 0xff bytes,
 * then increment the last one. False if that would reach into the prefix,
 * i.e. nothing under the prefix sorts after s's subtree. */
static bool subtree_end(char *s, size_t plen)
{
    size_t n = strlen(s);
    while (n > plen && (unsigned char)s[n - 1] == 0xff)
        n--;
    if (n <= plen)
        return false;
    s[n - 1] = (char)((unsigned char)s[n - 1] + 1);
    s[n] = '\0';
    return true;
}

/* ?keys with a separator, without walking the rolled-up subtrees: each time
 * a key rolls up to R, continue the scan after R's subtree (O(log n) per
 * group). Scans are exclusive of `after`, so the one key equal to the
 * subtree's end is looked up on its own. */
static void keys_rollup(const struct state *s, const char *prefix, struct list_ctx *l)
{
    char *cursor = NULL;
    for (;;) {
        l->rolled = NULL;
        state_kv_scan_from(s, prefix, cursor, keys_cb, l);
        if (!l->rolled)
            break;
        while (l->rolled) {
            char *end = l->rolled;
            l->rolled = NULL;
            cn_free(cursor);
            cursor = end;
            if (!subtree_end(end, l->plen))
                goto done;
            struct state_kv kv;
            if (state_kv_get(s, end, &kv))
                keys_cb(l, &kv); /* may roll up again */
        }
        if (l->err)
            break;
    }
done:
    cn_free(l->rolled);
    l->rolled = NULL;
    cn_free(cursor);
}

/* ---- GET ------------------------------------------------------------------- */

static void kv_get_keys(struct api_ctx *c, struct api_read *r, const struct state *s)
{
    const char *prefix = c->arg;
    /* "Due to historic spelling error" Consul reads ?seperator, then lets
     * ?separator override it (agent/kvs_endpoint.go KVSGetKeys). */
    const char *sep = api_param(c, "seperator");
    const char *sep2 = api_param(c, "separator");
    if (sep2)
        sep = sep2;
    if (!sep)
        sep = "";

    struct cn_jsonw w;
    struct list_ctx l = {
        .c = c, .w = &w, .plen = strlen(prefix), .sep = sep, .seplen = strlen(sep)};
    api_jsonw(c, &w, &r->body);
    cn_jsonw_arr_open(&w);
    if (l.seplen)
        keys_rollup(s, prefix, &l);
    else
        state_kv_scan(s, prefix, keys_cb, &l);
    cn_jsonw_arr_close(&w);
    if (w.err || l.err) {
        api_read_error(r, 500, "out of memory");
        return;
    }
    r->index = list_index(s, prefix);
    api_read_watch(r, STATE_T_KV, *prefix ? prefix : NULL, true);
    /* No 404 for the root: an empty store lists as []. */
    if (l.count == 0 && *prefix) {
        r->status = 404;
        cn_buf_reset(&r->body);
    }
}

static void kv_get_list(struct api_ctx *c, struct api_read *r, const struct state *s)
{
    const char *prefix = c->arg;
    struct cn_jsonw w;
    struct list_ctx l = {.c = c, .w = &w};
    api_jsonw(c, &w, &r->body);
    cn_jsonw_arr_open(&w);
    state_kv_scan(s, prefix, list_cb, &l);
    cn_jsonw_arr_close(&w);
    if (w.err) {
        api_read_error(r, 500, "out of memory");
        return;
    }
    r->index = list_index(s, prefix);
    api_read_watch(r, STATE_T_KV, *prefix ? prefix : NULL, true);
    if (l.count == 0) {
        r->status = 404;
        cn_buf_reset(&r->body);
    }
}

static void kv_get(struct api_ctx *c, struct api_read *r)
{
    const struct state *s = srv_state(c->api->srv);
    if (http_req_param(c->req, "keys")) { /* presence, as in KVSEndpoint */
        kv_get_keys(c, r, s);
        return;
    }
    if (kv_flag(c, "recurse")) {
        kv_get_list(c, r, s);
        return;
    }
    const char *key = c->arg;
    if (!*key) {
        api_read_error(r, 400, "Missing key name");
        return;
    }
    if (!api_acl_read_require(c, r, ACL_R_KEY, key, ACL_A_READ))
        return;
    api_read_watch(r, STATE_T_KV, key, false);
    struct state_kv v;
    const struct state_kv *kv = state_kv_get(s, key, &v) ? &v : NULL;
    if (!kv) {
        /* 404 still carries an index so a client can block on a key that
         * does not exist yet (KVS.Get: the table's index, never 0). */
        r->status = 404;
        r->index = state_table_index(s, STATE_T_KV);
        return;
    }
    r->index = kv->modify_index;
    if (kv_flag(c, "raw")) {
        /* The bytes as stored, never sniffed (CVE-2020-25864): Consul sends
         * exactly "text/plain" plus nosniff/CSP headers. */
        r->content_type = "text/plain";
        r->extra_headers = "X-Content-Type-Options: nosniff\r\n"
                           "Content-Security-Policy: sandbox\r\n";
        if (kv->value_len && cn_buf_append(&r->body, kv->value, kv->value_len))
            api_read_error(r, 500, "out of memory");
        return;
    }
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_arr_open(&w);
    api_json_kv(&w, kv);
    cn_jsonw_arr_close(&w);
    if (w.err)
        api_read_error(r, 500, "out of memory");
}

/* ---- PUT / DELETE ------------------------------------------------------------ */

/* Go's url.QueryEscape. */
static int query_escape(struct cn_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        unsigned char ch = *p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            rc = cn_buf_putc(b, (char)ch);
        } else if (ch == ' ') {
            rc = cn_buf_putc(b, '+');
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = cn_buf_append(b, e, 3);
        }
    }
    return rc;
}

static int param_cmp(const void *a, const void *b)
{
    const struct http_param *x = *(const struct http_param *const *)a;
    const struct http_param *y = *(const struct http_param *const *)b;
    int d = strcmp(x->key, y->key);
    /* qsort is not stable; keep the request order of repeated keys. */
    return d ? d : (x < y ? -1 : x > y);
}

/* conflictingFlags (agent/kvs_endpoint.go): two or more of `names` present
 * answers 400 "Conflicting flags: <url.Values.Encode()>\n". Returns true if
 * it answered. */
static bool conflicting(struct api_ctx *c, const char *const *names, size_t n)
{
    size_t found = 0;
    for (size_t i = 0; i < n; i++)
        found += http_req_param(c->req, names[i]) != NULL;
    if (found < 2)
        return false;
    const struct http_req *req = c->req;
    const struct http_param **ps = cn_calloc(req->nparams ? req->nparams : 1, sizeof(*ps));
    struct cn_buf b = CN_BUF_INIT;
    if (!ps) {
        api_error(c, 500, "out of memory");
        return true;
    }
    for (size_t i = 0; i < req->nparams; i++)
        ps[i] = &req->params[i];
    qsort(ps, req->nparams, sizeof(*ps), param_cmp);
    int rc = cn_buf_puts(&b, "Conflicting flags: ");
    for (size_t i = 0; i < req->nparams && !rc; i++) {
        if (i)
            rc = cn_buf_putc(&b, '&');
        rc = rc || query_escape(&b, ps[i]->key) || cn_buf_putc(&b, '=') ||
             query_escape(&b, ps[i]->value);
    }
    rc = rc || cn_buf_puts(&b, "\n") || cn_buf_cstr(&b);
    cn_free(ps);
    if (rc)
        api_error(c, 500, "out of memory");
    else
        api_error(c, 400, "%s", b.p);
    cn_buf_free(&b);
    return true;
}

/* A uint64 query parameter the way strconv.ParseUint(v, 10, 64) reads it.
 * Returns 0 absent, 1 ok, -1 after answering 400 with Go's error text. */
static int u64_param(struct api_ctx *c, const char *name, uint64_t *out)
{
    int rc = api_param_u64(c, name, out);
    if (rc >= 0)
        return rc;
    const char *v = api_param(c, name);
    bool digits = *v != '\0';
    for (const char *p = v; *p; p++)
        digits = digits && *p >= '0' && *p <= '9';
    /* Consul passes this error up unwrapped; a bad parameter is a client
     * error, so cairn answers 400 rather than Consul's 500. */
    api_error(c, 400, "strconv.ParseUint: parsing \"%s\": %s", v,
              digits ? "value out of range" : "invalid syntax");
    return -1;
}

static void done_plain(struct api_ctx *c, int rc, const struct state_result *res)
{
    if (rc == 0) {
        api_reply_bool(c, true); /* KVSet / delete / delete-tree: always true */
        return;
    }
    if (rc == CN_ECONFLICT) {
        api_reply_bool(c, false);
        return;
    }
    api_error(c, 500, "%s", res && res->nerrors ? res->errors[0].what : cn_strerror(rc));
}

static void done_cas(struct api_ctx *c, int rc, const struct state_result *res)
{
    /* A failed compare rolls the one-op txn back: Consul's `false`. */
    if (rc == 0 || rc == CN_ECONFLICT) {
        api_reply_bool(c, rc == 0);
        return;
    }
    api_error(c, 500, "%s", res && res->nerrors ? res->errors[0].what : cn_strerror(rc));
}

static void propose_one(struct api_ctx *c, const struct state_kv_op *op, api_done_fn done)
{
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_kv_txn(&cmd, op, 1);
    if (rc) {
        cn_buf_free(&cmd);
        api_error(c, 500, "%s", cn_strerror(rc));
        return;
    }
    api_propose(c, &cmd, done); /* the command is copied */
    cn_buf_free(&cmd);
}

static void kv_put(struct api_ctx *c)
{
    const struct http_req *req = c->req;
    const char *key = c->arg;
    if (!*key) {
        api_error(c, 400, "Missing key name");
        return;
    }
    static const char *const excl[] = {"cas", "acquire", "release"};
    if (conflicting(c, excl, 3))
        return;
    struct state_kv_op op = {.verb = STATE_KV_SET, .key = key};
    uint64_t cas = 0;
    int rc;
    if ((rc = u64_param(c, "flags", &op.flags)) < 0)
        return;
    if ((rc = u64_param(c, "cas", &cas)) < 0)
        return;
    if (rc == 1) {
        op.verb = STATE_KV_CAS; /* cas=0: create only if absent */
        op.index = cas;
    }
    const char *acquire = api_param(c, "acquire");
    const char *release = api_param(c, "release");
    uint64_t max = c->api->cfg.kv_max_value_size;
    if ((uint64_t)req->body_len > max) {
        /* The text of agent/kvs_endpoint.go quoted in hashicorp/consul#1682. */
        api_error(c, 413, "Value exceeds %llu byte limit", (unsigned long long)max);
        return;
    }
    if (acquire || release) {
        /* kvsLockTxn / kvsUnlockTxn decide in the state; lock-delay is
         * checked here, as Consul's KVS endpoint does on its leader. */
        op.verb = acquire ? STATE_KV_LOCK : STATE_KV_UNLOCK;
        op.session = acquire ? acquire : release;
        if (acquire && *acquire && api__sess_lock_delay_ms(c->api, key) > 0) {
            api_reply_bool(c, false);
            return;
        }
    }
    op.value = req->body_len ? req->body : NULL;
    op.value_len = req->body_len;
    propose_one(c, &op, op.verb == STATE_KV_CAS ? done_cas : done_plain);
}

static void kv_delete(struct api_ctx *c)
{
    static const char *const excl[] = {"recurse", "cas"};
    if (conflicting(c, excl, 2))
        return;
    const char *key = c->arg;
    struct state_kv_op op = {.verb = STATE_KV_DELETE, .key = key};
    if (http_req_param(c->req, "recurse")) {
        op.verb = STATE_KV_DELETE_TREE; /* an empty key deletes everything */
    } else if (!*key) {
        api_error(c, 400, "Missing key name");
        return;
    }
    uint64_t cas = 0;
    int rc = u64_param(c, "cas", &cas);
    if (rc < 0)
        return;
    if (rc == 1) {
        /* Consul's server takes any index here (cas=0 on a missing key is a
         * successful no-op); only its Go client insists on > 0. */
        op.verb = STATE_KV_DELETE_CAS;
        op.index = cas;
    }
    propose_one(c, &op, op.verb == STATE_KV_DELETE_CAS ? done_cas : done_plain);
}

static void kv_handle(struct api_ctx *c)
{
    /* key:write; a recursive delete needs write on every key under the
     * prefix (Consul's KeyWritePrefix: no rule beneath it may say less). */
    bool tree = c->req->method == HTTP_M_DELETE && http_req_param(c->req, "recurse");
    if (c->acl.authz && tree && !acl_write_prefix_ok(c->acl.authz, ACL_R_KEY, c->arg)) {
        char msg[1024];
        api_acl_denied_text(c, ACL_R_KEY, c->arg, ACL_A_WRITE, msg, sizeof(msg));
        api_error(c, 403, "%s", msg);
        return;
    }
    if (!api_acl_require(c, ACL_R_KEY, c->arg, ACL_A_WRITE))
        return;
    switch (c->req->method) {
    case HTTP_M_PUT:
        kv_put(c);
        break;
    case HTTP_M_DELETE:
        kv_delete(c);
        break;
    default:
        api_error(c, 405, "method %s not allowed", c->req->method_str);
        break;
    }
}

const struct api_route api_kv_routes[] = {
    {"/v1/kv/", true, API_GET | API_PUT | API_DELETE, kv_get, kv_handle, API_HANDLER, API_HANDLER},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
