/* api/txn.c: PUT /v1/txn (website/content/api-docs/txn.mdx; behaviour from
 * agent/txn_endpoint.go, agent/consul/txn_endpoint.go and
 * agent/consul/state/txn.go).
 *
 * The body is decoded by api_txn_decode (txn_decode.c). A transaction with
 * only read verbs (get, get-or-empty, get-tree, check-*) is answered from the
 * state right here, without Raft, with the read headers (Consul's Txn.Read
 * fast path). Anything that writes goes through api_propose as one
 * STATE_CMD_KV_TXN and is all-or-nothing. Success is 200
 * {"Results":[{"KV":{...}}],"Errors":null}; a rollback is 409
 * {"Results":null,"Errors":[{"OpIndex":n,"What":"..."}]}. */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "api/txn.h"
#include "base/err.h"
#include "base/mem.h"

/* ---- JSON answers -------------------------------------------------------- */

static void write_errors(struct cn_jsonw *w, const struct state_txn_error *e, size_t n)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_key(w, "Results");
    cn_jsonw_null(w);
    cn_jsonw_key(w, "Errors");
    cn_jsonw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        cn_jsonw_obj_open(w);
        cn_jsonw_ku64(w, "OpIndex", e[i].op_index);
        cn_jsonw_kstr(w, "What", e[i].what);
        cn_jsonw_obj_close(w);
    }
    cn_jsonw_arr_close(w);
    cn_jsonw_obj_close(w);
}

static void reply_errors(struct api_ctx *c, const struct state_txn_error *e, size_t n)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    write_errors(&w, e, n);
    api_reply_jsonw(c, 409, &w, &b);
}

/* ---- read-only transactions (state.TxnRO) --------------------------------- */

struct tree_ctx {
    struct cn_jsonw *w;
};

static void result_kv(struct cn_jsonw *w, const struct state_kv *kv, bool with_value)
{
    struct state_kv tmp = *kv;
    if (!with_value) {
        /* Consul clones the entry and blanks the value for everything but
         * get/get-or-empty/get-tree. */
        tmp.value = NULL;
        tmp.value_len = 0;
    }
    cn_jsonw_obj_open(w);
    cn_jsonw_key(w, "KV");
    api_json_kv(w, &tmp);
    cn_jsonw_obj_close(w);
}

static int tree_cb(void *arg, const struct state_kv *kv)
{
    struct tree_ctx *t = arg;
    result_kv(t->w, kv, true);
    return 0;
}

/* Format Consul's error text for a failed read op into e->what. */
static int op_error(struct state_txn_error *e, size_t k, const char *fmt_before, const char *key,
                    const char *fmt_after)
{
    struct cn_buf b = CN_BUF_INIT;
    int rc = cn_buf_puts(&b, fmt_before) || api_goquote(&b, key) || cn_buf_puts(&b, fmt_after) ||
             cn_buf_cstr(&b);
    if (!rc) {
        e->op_index = (uint32_t)k;
        snprintf(e->what, sizeof(e->what), "%s", b.p);
    }
    cn_buf_free(&b);
    return rc ? CN_ENOMEM : 0;
}

/* Run op k against the state. With w == NULL only decide whether it fails
 * (returns 1 and fills *e); otherwise write its results (it does not fail:
 * the caller checked first). Returns -1 on out of memory. */
static int read_op(const struct state *s, const struct api_txn_op *op, size_t k, struct cn_jsonw *w,
                   struct state_txn_error *e)
{
    const char *key = op->kv.key;
    struct state_kv v;
    const struct state_kv *kv =
        op->verb != API_TXN_GET_TREE && state_kv_get(s, key, &v) ? &v : NULL;
    char tail[120];
    switch (op->verb) {
    case API_TXN_GET:
        if (!kv)
            return op_error(e, k, "key ", key, " doesn't exist") ? -1 : 1;
        if (w)
            result_kv(w, kv, true);
        return 0;
    case API_TXN_GET_OR_EMPTY:
        if (w && kv) {
            result_kv(w, kv, true);
        } else if (w) {
            /* Consul echoes the op's own entry with no value. */
            struct state_kv empty = {.key = key,
                                     .key_len = strlen(key),
                                     .flags = op->kv.flags,
                                     .modify_index = op->kv.index,
                                     .session = op->kv.session};
            result_kv(w, &empty, false);
        }
        return 0;
    case API_TXN_GET_TREE:
        if (w) {
            struct tree_ctx t = {w};
            state_kv_scan(s, key, tree_cb, &t);
        }
        return 0;
    case API_TXN_CHECK_INDEX:
        if (!kv)
            return op_error(e, k, "failed to check index, key ", key, " doesn't exist") ? -1 : 1;
        if (kv->modify_index != op->kv.index) {
            snprintf(tail, sizeof(tail), ", current modify index %llu != %llu",
                     (unsigned long long)kv->modify_index, (unsigned long long)op->kv.index);
            return op_error(e, k, "failed index check for key ", key, tail) ? -1 : 1;
        }
        if (w)
            result_kv(w, kv, false);
        return 0;
    case API_TXN_CHECK_SESSION: {
        const char *have = kv && kv->session ? kv->session : "";
        const char *want = op->kv.session ? op->kv.session : "";
        if (!kv)
            return op_error(e, k, "failed to check session, key ", key, " doesn't exist") ? -1 : 1;
        if (strcmp(have, want) != 0) {
            struct cn_buf b = CN_BUF_INIT;
            int rc = cn_buf_puts(&b, ", current session ") || api_goquote(&b, have) ||
                     cn_buf_puts(&b, " != ") || api_goquote(&b, want) || cn_buf_cstr(&b);
            rc = rc || op_error(e, k, "failed session check for key ", key, b.p);
            cn_buf_free(&b);
            return rc ? -1 : 1;
        }
        if (w)
            result_kv(w, kv, false);
        return 0;
    }
    case API_TXN_CHECK_NOT_EXISTS:
        if (kv)
            return op_error(e, k, "key ", key, " exists") ? -1 : 1;
        return 0;
    default:
        return 0; /* writes never reach here */
    }
}

static void txn_read(struct api_ctx *c, const struct api_txn *t)
{
    const struct state *s = srv_state(c->api->srv);
    struct api_read r;
    memset(&r, 0, sizeof(r));
    r.status = 200;
    r.index = state_table_index(s, STATE_T_KV);

    /* Every op runs and every failure is reported (txnDispatch), then the
     * results are dropped if anything failed. */
    struct state_txn_error *errs = NULL;
    size_t nerr = 0;
    for (size_t k = 0; k < t->nops; k++) {
        struct state_txn_error e;
        memset(&e, 0, sizeof(e));
        int rc = read_op(s, &t->ops[k], k, NULL, &e);
        if (rc < 0)
            goto oom;
        if (rc == 1) {
            struct state_txn_error *n = cn_realloc(errs, (nerr + 1) * sizeof(*n));
            if (!n)
                goto oom;
            errs = n;
            errs[nerr++] = e;
        }
    }
    struct cn_jsonw w;
    api_jsonw(c, &w, &r.body);
    if (nerr) {
        r.status = 409;
        write_errors(&w, errs, nerr);
    } else {
        cn_jsonw_obj_open(&w);
        cn_jsonw_key(&w, "Results");
        cn_jsonw_arr_open(&w);
        for (size_t k = 0; k < t->nops; k++)
            read_op(s, &t->ops[k], k, &w, NULL);
        cn_jsonw_arr_close(&w);
        cn_jsonw_key(&w, "Errors");
        cn_jsonw_null(&w);
        cn_jsonw_obj_close(&w);
    }
    cn_free(errs);
    if (w.err) {
        cn_buf_free(&r.body);
        api_error(c, 500, "out of memory");
        return;
    }
    api_reply_read(c, &r); /* frees r.body */
    return;
oom:
    cn_free(errs);
    api_error(c, 500, "out of memory");
}

/* A read-only txn reads like a GET: through the read barrier of its
 * consistency mode (server.h srv_read_barrier). The decoded txn (moved here;
 * it holds no pointer to itself) waits with the request. */
struct txn_wait {
    struct api_ctx *c;
    struct api_txn t;
};

static void on_txn_barrier(void *arg, int rc)
{
    struct txn_wait *tw = arg;
    if (rc)
        api_error(tw->c, rc == CN_ESHUTDOWN ? 503 : 500, "No cluster leader");
    else
        txn_read(tw->c, &tw->t);
    api_txn_free(&tw->t);
    cn_free(tw);
}

static void txn_read_barrier(struct api_ctx *c, struct api_txn *t)
{
    struct txn_wait *tw = cn_malloc(sizeof(*tw));
    if (!tw) {
        api_txn_free(t);
        api_error(c, 500, "out of memory");
        return;
    }
    tw->c = c;
    tw->t = *t;
    enum srv_read_mode m = c->cons == API_CONS_STALE        ? SRV_READ_STALE
                           : c->cons == API_CONS_CONSISTENT ? SRV_READ_CONSISTENT
                                                            : SRV_READ_DEFAULT;
    if (srv_read_barrier(c->api->srv, m, on_txn_barrier, tw) != 0)
        on_txn_barrier(tw, CN_ENOMEM);
}

/* ---- write transactions --------------------------------------------------- */

/* kvsLockTxn's session errors are per-op errors of the txn (409), as
 * Consul's txnDispatch reports them. */
static bool session_error(const struct state_result *res)
{
    for (size_t i = 0; i < res->nerrors; i++)
        if (strncmp(res->errors[i].what, "missing session", 15) == 0 ||
            strncmp(res->errors[i].what, "invalid session", 15) == 0)
            return true;
    return false;
}

/* One element of a write's Results array. */
typedef void (*result_fn)(struct api_ctx *c, struct cn_jsonw *w, const struct state_result *res,
                          size_t i);

/* The answer to an applied write: 409 with the errors when it rolled back,
 * 500 on any other failure, else 200 {"Results":[...],"Errors":null} with n
 * results, each object's content written by `one`. */
static void reply_write(struct api_ctx *c, int rc, bool rolled_back, const struct state_result *res,
                        size_t n, result_fn one)
{
    if (rolled_back) {
        reply_errors(c, res->errors, res->nerrors);
        return;
    }
    if (rc != 0) {
        api_error(c, 500, "%s", res->nerrors ? res->errors[0].what : cn_strerror(rc));
        return;
    }
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_obj_open(&w);
    cn_jsonw_key(&w, "Results");
    cn_jsonw_arr_open(&w);
    for (size_t i = 0; i < n; i++) {
        cn_jsonw_obj_open(&w);
        one(c, &w, res, i);
        cn_jsonw_obj_close(&w);
    }
    cn_jsonw_arr_close(&w);
    cn_jsonw_key(&w, "Errors");
    cn_jsonw_null(&w);
    cn_jsonw_obj_close(&w);
    api_reply_jsonw(c, 200, &w, &b);
}

static void kv_result(struct api_ctx *c, struct cn_jsonw *w, const struct state_result *res,
                      size_t i)
{
    (void)c;
    cn_jsonw_key(w, "KV");
    api_json_kv_copy(w, &res->results[i]);
}

static void txn_done(struct api_ctx *c, int rc, const struct state_result *res)
{
    bool rolled_back = rc == CN_ECONFLICT || (rc == CN_EINVAL && session_error(res));
    reply_write(c, rc, rolled_back, res, res->nresults, kv_result);
}

/* Node, Service and Check operations: one CAT_TXN command (state/cattxn.c),
 * reads included (they see the txn's earlier writes; a read-only catalog txn
 * is a log entry too, unlike Consul's Txn.Read). Results as Consul's
 * TxnResult: {"Node": structs.Node}, {"Service": structs.NodeService},
 * {"Check": structs.HealthCheck}. */
static void cat_result(struct api_ctx *c, struct cn_jsonw *w, const struct state_result *res,
                       size_t i)
{
    const struct state_cat_result *r = &res->cat[i];
    if (r->kind == STATE_CAT_NODE) {
        cn_jsonw_key(w, "Node");
        api_json_node(w, &r->node, c->api->cfg.datacenter);
    } else if (r->kind == STATE_CAT_SERVICE) {
        cn_jsonw_key(w, "Service");
        api_json_service(w, &r->service, NULL);
    } else {
        cn_jsonw_key(w, "Check");
        api_json_check(w, &r->check, NULL);
    }
}

static void cattxn_done(struct api_ctx *c, int rc, const struct state_result *res)
{
    reply_write(c, rc, rc == CN_ECONFLICT, res, res->ncat, cat_result);
}

static void cattxn_propose(struct api_ctx *c, struct api_txn *t)
{
    struct state_cat_op *ops = cn_calloc(t->nops, sizeof(*ops));
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = ops ? 0 : CN_ENOMEM;
    for (size_t k = 0; !rc && k < t->nops; k++)
        ops[k] = t->ops[k].cat;
    if (!rc)
        rc = state_cmd_cat_txn(&cmd, ops, t->nops);
    cn_free(ops);
    api_txn_free(t);
    api_propose_rc(c, rc, &cmd, cattxn_done);
}

/* Consul's txn preCheck: each op's ACL, a denial reported as that op's
 * error "Permission denied" (409), nothing applied. A tree read or delete
 * needs the access on every rule under the prefix. */
static bool op_allowed(struct api_ctx *c, const struct api_txn_op *op)
{
    const struct acl_authz *z = c->acl.authz;
    if (op->kind == API_TXN_KIND_KV) {
        switch (op->kv.verb) {
        case STATE_KV_GET:
        case STATE_KV_GET_OR_EMPTY:
        case STATE_KV_CHECK_INDEX:
        case STATE_KV_CHECK_NOT_EXISTS:
        case STATE_KV_CHECK_SESSION:
            return acl_allowed(z, ACL_R_KEY, op->kv.key, ACL_A_READ);
        case STATE_KV_GET_TREE:
            return acl_prefix_ok(z, ACL_R_KEY, op->kv.key, ACL_A_READ);
        case STATE_KV_DELETE_TREE:
            return acl_prefix_ok(z, ACL_R_KEY, op->kv.key, ACL_A_WRITE);
        default:
            return acl_allowed(z, ACL_R_KEY, op->kv.key, ACL_A_WRITE);
        }
    }
    enum acl_access a = op->cat.verb == STATE_CAT_GET ? ACL_A_READ : ACL_A_WRITE;
    const struct state_cat_op *k = &op->cat;
    switch (op->kind) {
    case API_TXN_KIND_NODE:
        return acl_allowed(z, ACL_R_NODE, k->node.name ? k->node.name : "", a);
    case API_TXN_KIND_SERVICE:
        return acl_allowed(z, ACL_R_SERVICE, k->service.service ? k->service.service : "", a);
    default:
        if (k->check.service_name && *k->check.service_name)
            return acl_allowed(z, ACL_R_SERVICE, k->check.service_name, a);
        return acl_allowed(z, ACL_R_NODE, k->check.node ? k->check.node : "", a);
    }
}

static bool txn_acl(struct api_ctx *c, struct api_txn *t)
{
    if (!c->acl.authz)
        return true;
    struct state_txn_error *e = NULL;
    size_t n = 0;
    for (size_t k = 0; k < t->nops; k++) {
        if (op_allowed(c, &t->ops[k]))
            continue;
        if (!e && !(e = cn_calloc(t->nops, sizeof(*e)))) {
            api_error(c, 500, "out of memory");
            return false;
        }
        e[n].op_index = (uint32_t)k;
        snprintf(e[n].what, sizeof(e[n].what), "Permission denied");
        n++;
    }
    if (!n)
        return true;
    reply_errors(c, e, n);
    cn_free(e);
    return false;
}

static void txn_handle(struct api_ctx *c)
{
    const struct api_config *cfg = &c->api->cfg;
    /* agent/txn_endpoint.go: the body limit is txn_max_req_len, or
     * kv_max_value_size if that is larger (backward compatibility). */
    uint64_t max_req = cfg->txn_max_req_len;
    if (max_req < cfg->kv_max_value_size)
        max_req = cfg->kv_max_value_size;
    struct api_txn_limits lim = {
        .max_req_len = (size_t)max_req,
        .max_value_size = (size_t)cfg->kv_max_value_size,
        .max_ops = STATE_TXN_MAX_OPS,
    };
    struct api_txn t;
    char err[512];
    int rc = api_txn_decode(c->req->body, c->req->body_len, &lim, &t, err, sizeof(err));
    if (rc) {
        api_error(c, rc == CN_ETOOBIG ? 413 : rc == CN_ENOMEM ? 500 : 400, "%s", err);
        return;
    }
    if (t.nerrors) {
        reply_errors(c, t.errors, t.nerrors);
        api_txn_free(&t);
        return;
    }
    if (!txn_acl(c, &t)) {
        api_txn_free(&t);
        return;
    }
    if (t.ncat) {
        cattxn_propose(c, &t);
        return;
    }
    if (t.nwrites == 0) {
        txn_read_barrier(c, &t);
        return;
    }
    struct state_kv_op *ops = cn_calloc(t.nops, sizeof(*ops));
    struct cn_buf cmd = CN_BUF_INIT;
    if (!ops) {
        api_txn_free(&t);
        api_error(c, 500, "out of memory");
        return;
    }
    for (size_t k = 0; k < t.nops; k++)
        ops[k] = t.ops[k].kv;
    rc = state_cmd_kv_txn(&cmd, ops, t.nops);
    cn_free(ops);
    api_txn_free(&t);
    if (rc) {
        cn_buf_free(&cmd);
        api_error(c, 500, "%s", cn_strerror(rc));
        return;
    }
    api_propose(c, &cmd, txn_done); /* the command is copied */
    cn_buf_free(&cmd);
}

const struct api_route api_txn_routes[] = {
    {"/v1/txn", false, API_PUT, NULL, txn_handle, API_HANDLER, API_HANDLER},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
