/* state/cattxn.c: /v1/txn Node, Service and Check operations (Consul's
 * agent/consul/state/txn.go txnNode, txnService, txnCheck and the catalog
 * functions they call). One CAT_TXN command holds up to STATE_TXN_MAX_OPS
 * ops; they run in order inside one command transaction, so a failure
 * anywhere undoes all of them (state.c's undo log). */
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

/* ---- encoding ----------------------------------------------------------------- */

static int enc_op(struct cn_buf *out, const struct state_cat_op *op)
{
    CN_TRY(cn_enc_u8(out, (uint8_t)op->kind));
    CN_TRY(cn_enc_u8(out, (uint8_t)op->verb));
    CN_TRY(cn_enc_u64(out, op->index));
    switch (op->kind) {
    case STATE_CAT_NODE:
        return state__enc_node(out, &op->node);
    case STATE_CAT_SERVICE:
        CN_TRY(cn_enc_str(out, op->node.name ? op->node.name : ""));
        return state__enc_service(out, &op->service);
    case STATE_CAT_CHECK:
        CN_TRY(cn_enc_str(out, op->check.node ? op->check.node : ""));
        return state__enc_check(out, &op->check);
    }
    return CN_EINVAL;
}

int state_cmd_cat_txn(struct cn_buf *out, const struct state_cat_op *ops, size_t nops)
{
    if (!ops || nops == 0 || nops > STATE_TXN_MAX_OPS)
        return CN_EINVAL;
    for (size_t i = 0; i < nops; i++)
        if (ops[i].kind < STATE_CAT_NODE || ops[i].kind > STATE_CAT_CHECK ||
            (unsigned)ops[i].verb >= STATE_CAT__COUNT)
            return CN_EINVAL;
    size_t len0 = out->len;
    int rc = cn_enc_u8(out, STATE_CMD_CAT_TXN);
    if (!rc)
        rc = cn_enc_u8(out, STATE_CMD_VERSION);
    if (!rc)
        rc = cn_enc_u32(out, (uint32_t)nops);
    for (size_t i = 0; !rc && i < nops; i++)
        rc = enc_op(out, &ops[i]);
    if (rc)
        out->len = len0;
    return rc;
}

/* ---- results ------------------------------------------------------------------ */

void state__cat_results_free(struct state_result *r)
{
    for (size_t i = 0; i < r->ncat; i++) {
        state_node_clear(&r->cat[i].node);
        state_service_clear(&r->cat[i].service);
        state_check_clear(&r->cat[i].check);
    }
    cn_free(r->cat);
    r->cat = NULL;
    r->ncat = 0;
}

/* Append a copy of the item op names, as the state holds it now. */
static int add_result(struct txn *t, const struct state_cat_op *op, const char *node,
                      const char *id)
{
    struct state_result *r = t->res;
    if (!r)
        return 0;
    struct state_cat_result *v = cn_realloc(r->cat, (r->ncat + 1) * sizeof(*v));
    if (!v)
        return CN_ENOMEM;
    r->cat = v;
    v = &r->cat[r->ncat];
    memset(v, 0, sizeof(*v));
    v->kind = op->kind;
    int rc = 0;
    if (op->kind == STATE_CAT_NODE) {
        const struct state_node *n = state_node_get(t->s, node);
        rc = n ? state__node_copy(&v->node, n) : 0;
    } else if (op->kind == STATE_CAT_SERVICE) {
        const struct state_service *s = state_service_get(t->s, node, id);
        rc = s ? state_service_copy(&v->service, s) : 0;
    } else {
        const struct state_check *c = state_check_get(t->s, node, id);
        rc = c ? state_check_copy(&v->check, c) : 0;
    }
    if (rc)
        return rc;
    r->ncat++;
    return 0;
}

/* ---- apply -------------------------------------------------------------------- */

static void clear_op(struct state_cat_op *op)
{
    state_node_clear(&op->node);
    state_service_clear(&op->service);
    state_check_clear(&op->check);
}

/* Record a failure of op i: 1 (a failed op), or CN_ENOMEM. */
static int op_fail(struct txn *t, uint32_t i, const char *fmt, const char *a, const char *b)
{
    int rc = b ? state__tx_error(t, i, fmt, a, b) : state__tx_error(t, i, fmt, a);
    return rc ? rc : 1;
}

/* A set's registration error (recorded as op 0) belongs to op i. */
static int set_result(struct txn *t, uint32_t i, int rc)
{
    if (rc == CN_EINVAL || rc == CN_ECONFLICT) { /* invalid, or a refused node ID */
        if (t->res && t->res->nerrors)
            t->res->errors[t->res->nerrors - 1].op_index = i;
        return 1;
    }
    return rc;
}

static uint64_t modify_of(const struct state *s, const struct state_cat_op *op, const char *node,
                          const char *id, bool *exists)
{
    uint64_t m = 0;
    *exists = false;
    if (op->kind == STATE_CAT_NODE) {
        const struct state_node *n = state_node_get(s, node);
        if (n)
            *exists = true, m = n->modify_index;
    } else if (op->kind == STATE_CAT_SERVICE) {
        const struct state_service *v = state_service_get(s, node, id);
        if (v)
            *exists = true, m = v->modify_index;
    } else {
        const struct state_check *c = state_check_get(s, node, id);
        if (c)
            *exists = true, m = c->modify_index;
    }
    return m;
}

/* Run op i. 0 ok, 1 failed (error recorded), CN_ENOMEM. */
static int run_op(struct txn *t, uint32_t i, const struct state_cat_op *op)
{
    struct state *s = t->s;
    const char *node, *id;
    static const char *const what[] = {"", "node", "service", "check"};
    if (op->kind == STATE_CAT_NODE) {
        node = op->node.name;
        id = "";
    } else if (op->kind == STATE_CAT_SERVICE) {
        node = op->node.name;
        id = *op->service.id ? op->service.id : op->service.service;
    } else {
        node = op->check.node;
        id = *op->check.check_id ? op->check.check_id : op->check.name;
    }
    bool exists;
    uint64_t mod = modify_of(s, op, node, id, &exists);
    const char *w = what[op->kind];
    char fmt[96];
    bool is_node = op->kind == STATE_CAT_NODE;
    switch (op->verb) {
    case STATE_CAT_GET:
        if (!exists) {
            if (is_node)
                return op_fail(t, i, "node \"%s\" doesn't exist", node, NULL);
            snprintf(fmt, sizeof(fmt), "%s \"%%s\" on node \"%%s\" doesn't exist", w);
            return op_fail(t, i, fmt, id, node);
        }
        return add_result(t, op, node, id);
    case STATE_CAT_CAS:
        if (op->index == 0 ? exists : !exists || mod != op->index) {
            if (is_node)
                return op_fail(t, i, "failed to set node \"%s\", index is stale", node, NULL);
            snprintf(fmt, sizeof(fmt), "failed to set %s \"%%s\" on node \"%%s\", index is stale",
                     w);
            return op_fail(t, i, fmt, id, node);
        }
        /* a cas that passed is a set */
        __attribute__((fallthrough));
    case STATE_CAT_SET: {
        int rc;
        if (!is_node && !state_node_get(s, node))
            return op_fail(t, i, "Missing node registration%s", "", NULL);
        if (is_node)
            rc = state__cat_set_node(t, &op->node);
        else if (op->kind == STATE_CAT_SERVICE)
            rc = state__cat_set_service(t, node, &op->service);
        else
            rc = state__cat_set_check(t, node, &op->check);
        rc = set_result(t, i, rc);
        return rc ? rc : add_result(t, op, node, id);
    }
    case STATE_CAT_DELETE_CAS:
        if (!exists || mod != op->index) {
            if (is_node)
                return op_fail(t, i, "failed to delete node \"%s\", index is stale", node, NULL);
            snprintf(fmt, sizeof(fmt),
                     "failed to delete %s \"%%s\" on node \"%%s\", index is stale", w);
            return op_fail(t, i, fmt, id, node);
        }
        __attribute__((fallthrough));
    case STATE_CAT_DELETE:
        if (is_node)
            return state__cat_del_node(t, node);
        if (op->kind == STATE_CAT_SERVICE)
            return state__cat_del_service(t, node, id);
        return state__cat_del_check(t, node, id);
    default:
        return CN_ECORRUPT;
    }
}

static void dec_op(struct cn_dec *d, struct state_cat_op *op, uint8_t ver)
{
    op->kind = (enum state_cat_kind)cn_dec_u8(d);
    op->verb = (enum state_cat_verb)cn_dec_u8(d);
    op->index = cn_dec_u64(d);
    if (d->err)
        return;
    if (op->kind == STATE_CAT_NODE) {
        state__dec_node(d, &op->node);
    } else if (op->kind == STATE_CAT_SERVICE) {
        op->node.name = cn_dec_strdup(d);
        if (!d->err)
            state__dec_service(d, &op->service,
                               ver >= 4   ? STATE_SVC_UPSTREAM_CONFIG
                               : ver >= 3 ? STATE_SVC_MESH
                                          : STATE_SVC_BASE);
    } else if (op->kind == STATE_CAT_CHECK) {
        op->check.node = cn_dec_strdup(d);
        if (!d->err) {
            char *n = op->check.node;
            op->check.node = NULL;
            state__dec_check(d, &op->check, ver >= 2);
            cn_free(op->check.node);
            op->check.node = n;
        }
    } else {
        d->err = CN_ECORRUPT;
    }
    if (!d->err && (unsigned)op->verb >= STATE_CAT__COUNT)
        d->err = CN_ECORRUPT;
}

int state__cattxn_apply(struct txn *t, struct cn_dec *d)
{
    uint32_t n = cn_dec_u32(d);
    if (d->err || n == 0 || n > STATE_TXN_MAX_OPS)
        return CN_ECORRUPT;
    struct state_cat_op *ops = cn_calloc(n, sizeof(*ops));
    if (!ops)
        return CN_ENOMEM;
    uint32_t got = 0;
    for (; got < n && !d->err; got++)
        dec_op(d, &ops[got], t->ver);
    int rc = d->err ? d->err : cn_dec_done(d) ? 0 : CN_ECORRUPT;
    if (rc == CN_ENOMEM || (rc && rc != CN_ENOMEM))
        goto out;
    /* txnDispatch: every op runs and every failure is reported. */
    bool failed = false;
    for (uint32_t i = 0; i < n; i++) {
        /* after the ops before it: a node set earlier in the txn counts */
        state__node_canon(t->s,
                          ops[i].kind == STATE_CAT_CHECK ? ops[i].check.node : ops[i].node.name);
        int r = run_op(t, i, &ops[i]);
        if (r == 1)
            failed = true;
        else if (r) {
            rc = r;
            goto out;
        }
    }
    rc = failed ? CN_ECONFLICT : 0;
    if (t->res)
        t->res->ok = !failed;
out:
    for (uint32_t i = 0; i < got; i++)
        clear_op(&ops[i]);
    cn_free(ops);
    return rc;
}
