/* state/state.c: lifecycle, the command transaction (undo log, commit,
 * rollback, change notifications) and apply dispatch. See state_int.h for the
 * atomicity design. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

size_t state__chunk(size_t n)
{
    size_t c = (n + 8 + 15) & ~(size_t)15; /* glibc: size + header, 16-aligned */
    return c < 32 ? 32 : c;
}

size_t state__str_mem(const char *s)
{
    return s ? state__chunk(strlen(s) + 1) : 0;
}

struct state *state_new(void)
{
    struct state *s = cn_calloc(1, sizeof(*s));
    if (s)
        s->mem = state__chunk(sizeof(*s));
    return s;
}

void state__free_tree(struct state *s, struct avl *t, const struct avl_ops *ops)
{
    /* Post-order without recursion on both sides: recurse left, loop right. */
    while (t) {
        struct avl *r = t->r;
        state__free_tree(s, t->l, ops);
        if (ops)
            ops->free(s, t);
        t = r;
    }
}

static void free_name_tree(struct state *s, struct avl *t)
{
    state__free_tree(s, t, &state__name_ops);
}

void state_free(struct state *s)
{
    if (!s)
        return;
    state__free_tree(s, s->kv, &state__kv_ops);
    cn_slab_destroy(&s->kv_slab);
    state__free_tree(s, s->sessions, &state__sess_id_ops); /* owns sess_rec */
    state__free_tree(s, s->lock_delays, &state__ld_ops);
    state__free_tree(s, s->held, &state__held_ops);
    state__free_tree(s, s->checks, &state__chk_ops);
    state__free_tree(s, s->services, &state__svc_id_ops); /* owns svc_rec */
    state__free_tree(s, s->node_ids, &state__nid_ops);    /* point into nodes */
    state__free_tree(s, s->node_folded, &state__nfold_ops);
    state__free_tree(s, s->nodes, &state__node_ops);
    free_name_tree(s, s->svc_names);
    free_name_tree(s, s->node_names);
    state__events_free(s);
    state__free_tree(s, s->queries, &state__query_ops);
    state__free_tree(s, s->intentions, &state__ixn_ops);
    state__free_tree(s, s->ca, &state__ca_ops);
    cn_free(s->rst.p);
    state__free_tree(s, s->acl, &state__acl_ops);
    state__free_tree(s, s->coords, &state__coord_ops);
    state__free_tree(s, s->config, &state__cfg_ops);
    cn_free(s);
}

void state_set_change_cb(struct state *s, state_change_cb cb, void *arg)
{
    s->cb = cb;
    s->cb_arg = arg;
}

uint64_t state_last_index(const struct state *s)
{
    return s->last_index;
}

uint64_t state_table_index(const struct state *s, enum state_table t)
{
    return (unsigned)t < STATE_T__COUNT ? s->tidx[t] : 0;
}

static uint64_t name_index(struct avl *root, const char *name)
{
    struct avl *a = state__avl_find(root, name, &state__name_ops);
    return a ? CN_CONTAINER_OF(a, struct name_rec, a)->index : 0;
}

uint64_t state_service_index(const struct state *s, const char *name)
{
    return name ? name_index(s->svc_names, name) : 0;
}

uint64_t state_node_index(const struct state *s, const char *name)
{
    return name ? name_index(s->node_names, name) : 0;
}

size_t state_mem_bytes(const struct state *s)
{
    return s->mem + s->ev.mem;
}

/* ---- results ------------------------------------------------------------- */

void state_result_init(struct state_result *r)
{
    memset(r, 0, sizeof(*r));
}

void state_result_free(struct state_result *r)
{
    if (!r)
        return;
    cn_free(r->results); /* with every string the results point to */
    cn_free(r->errors);
    state__cat_results_free(r);
    state_result_init(r);
}

/* ---- the command transaction -------------------------------------------- */

int state__grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = cn_realloc(*p, c * elem);
    if (!q)
        return CN_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

int state__tx_reserve(struct txn *t, size_t n, size_t m)
{
    if (state__grow((void **)&t->u, &t->cu, t->nu + n, sizeof(*t->u)))
        return CN_ENOMEM;
    if (state__grow((void **)&t->notes, &t->cn, t->nn + m, sizeof(*t->notes)))
        return CN_ENOMEM;
    return 0;
}

static struct undo *push(struct txn *t, uint8_t kind)
{
    /* Callers must reserve (state__tx_reserve) before changing anything:
     * logging an undo entry can never fail, or the change could not be
     * rolled back. */
    CN_ASSERT(t->nu < t->cu);
    struct undo *u = &t->u[t->nu++];
    memset(u, 0, sizeof(*u));
    u->kind = kind;
    return u;
}

void state__tx_insert(struct txn *t, struct avl **root, const struct avl_ops *ops, struct avl *n,
                      bool own)
{
    state__avl_insert(root, n, ops);
    struct undo *u = push(t, U_INSERT);
    u->root = root;
    u->ops = ops;
    u->a = n;
    u->own = own;
}

void state__tx_remove(struct txn *t, struct avl **root, const struct avl_ops *ops, struct avl *n,
                      bool own)
{
    struct avl *gone = state__avl_remove(root, ops->key(n), ops);
    CN_ASSERT(gone == n); /* the record removed is the one logged */
    (void)gone;
    struct undo *u = push(t, U_REMOVE);
    u->root = root;
    u->ops = ops;
    u->a = n;
    u->own = own;
}

void state__tx_replace(struct txn *t, struct avl **root, const struct avl_ops *ops, struct avl *old,
                       struct avl *nw, bool own)
{
    state__avl_replace(root, old, nw, ops);
    struct undo *u = push(t, U_REPLACE);
    u->root = root;
    u->ops = ops;
    u->a = old;
    u->b = nw;
    u->own = own;
}

void state__tx_set_u64(struct txn *t, uint64_t *p, uint64_t v)
{
    struct undo *u = push(t, U_U64);
    u->p = p;
    u->v = *p;
    *p = v;
}

void state__tx_note(struct txn *t, enum state_table tb, const char *key)
{
    CN_ASSERT(t->nn < t->cn); /* reserved with the undo entries */
    t->notes[t->nn].t = tb;
    t->notes[t->nn].key = key;
    t->nn++;
}

int state__tx_error(struct txn *t, uint32_t op, const char *fmt, ...)
{
    if (!t->res)
        return 0;
    struct state_result *r = t->res;
    struct state_txn_error *e = cn_realloc(r->errors, (r->nerrors + 1) * sizeof(*e));
    if (!e)
        return CN_ENOMEM;
    r->errors = e;
    e = &r->errors[r->nerrors++];
    e->op_index = op;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->what, sizeof(e->what), fmt, ap);
    va_end(ap);
    return 0;
}

struct name_rec *state__name_touch(struct txn *t, struct avl **root, const char *name)
{
    struct avl *a = state__avl_find(*root, name, &state__name_ops);
    struct name_rec *nr;
    if (a) {
        nr = CN_CONTAINER_OF(a, struct name_rec, a);
        if (nr->index == t->idx)
            return nr;
        if (state__tx_reserve(t, 1, 0))
            return NULL;
        state__tx_set_u64(t, &nr->index, t->idx);
        return nr;
    }
    if (state__tx_reserve(t, 1, 0) || !(nr = state__name_new(t->s, name, t->idx)))
        return NULL;
    state__tx_insert(t, root, &state__name_ops, &nr->a, true);
    return nr;
}

static void rollback(struct txn *t)
{
    while (t->nu) {
        struct undo *u = &t->u[--t->nu];
        switch (u->kind) {
        case U_INSERT: {
            /* Undoing in reverse order restores each tree exactly: the node
             * inserted is still the one under its key. */
            struct avl *gone = state__avl_remove(u->root, u->ops->key(u->a), u->ops);
            CN_ASSERT(gone == u->a);
            (void)gone;
            if (u->own)
                u->ops->free(t->s, u->a);
            break;
        }
        case U_REMOVE:
            state__avl_insert(u->root, u->a, u->ops);
            break;
        case U_REPLACE:
            state__avl_replace(u->root, u->b, u->a, u->ops);
            if (u->own)
                u->ops->free(t->s, u->b);
            break;
        case U_U64:
            *u->p = u->v;
            break;
        }
    }
    t->nn = 0;
}

static void commit(struct txn *t)
{
    struct state *s = t->s;
    /* Notify while replaced/removed records are still allocated: notes may
     * point at their keys. */
    if (s->cb)
        for (size_t i = 0; i < t->nn; i++)
            s->cb(s->cb_arg, t->notes[i].t, t->notes[i].key, t->idx);
    for (size_t i = 0; i < t->nu; i++) {
        struct undo *u = &t->u[i];
        if ((u->kind == U_REMOVE || u->kind == U_REPLACE) && u->own)
            u->ops->free(s, u->a);
    }
    t->nu = t->nn = 0;
}

struct saved {
    uint64_t last_index;
    uint64_t tidx[STATE_T__COUNT];
    size_t kv_live, kv_tombs, nsess, nqueries;
    uint64_t sess_renew;
};

static void save(const struct state *s, struct saved *v)
{
    v->last_index = s->last_index;
    memcpy(v->tidx, s->tidx, sizeof(v->tidx));
    v->kv_live = s->kv_live;
    v->kv_tombs = s->kv_tombs;
    v->nsess = s->nsess;
    v->nqueries = s->nqueries;
    v->sess_renew = s->sess_renew;
}

static void restore(struct state *s, const struct saved *v)
{
    s->last_index = v->last_index;
    memcpy(s->tidx, v->tidx, sizeof(v->tidx));
    s->kv_live = v->kv_live;
    s->kv_tombs = v->kv_tombs;
    s->nsess = v->nsess;
    s->nqueries = v->nqueries;
    s->sess_renew = v->sess_renew;
}

static int dispatch(struct txn *t, const void *cmd, size_t len)
{
    struct cn_dec d;
    cn_dec_init(&d, cmd, len);
    uint8_t type = cn_dec_u8(&d);
    uint8_t ver = cn_dec_u8(&d);
    if (d.err || ver < STATE_CMD_VERSION_MIN || ver > STATE_CMD_VERSION)
        return CN_ECORRUPT;
    t->ver = ver;
    switch (type) {
    case STATE_CMD_NOOP:
        return cn_dec_done(&d) ? 0 : CN_ECORRUPT;
    case STATE_CMD_KV_TXN:
        return state__kv_apply_txn(t, &d);
    case STATE_CMD_REGISTER:
        return state__cat_apply_register(t, &d);
    case STATE_CMD_DEREGISTER:
        return state__cat_apply_deregister(t, &d);
    case STATE_CMD_CHECK_STATUS:
        return state__cat_apply_check_status(t, &d);
    case STATE_CMD_KV_REAP:
        return state__kv_apply_reap(t, &d);
    case STATE_CMD_SESSION_CREATE:
        return state__sess_apply_create(t, &d);
    case STATE_CMD_SESSION_DESTROY:
        return state__sess_apply_destroy(t, &d);
    case STATE_CMD_SESSION_RENEW:
        return state__sess_apply_renew(t, &d);
    case STATE_CMD_EVENT_FIRE:
        return state__event_apply_fire(t, &d);
    case STATE_CMD_QUERY_SET:
        return state__query_apply_set(t, &d);
    case STATE_CMD_QUERY_DELETE:
        return state__query_apply_delete(t, &d);
    case STATE_CMD_CAT_TXN:
        return state__cattxn_apply(t, &d);
    case STATE_CMD_INTENTION_SET:
        return state__ixn_apply_set(t, &d);
    case STATE_CMD_INTENTION_DELETE:
        return state__ixn_apply_delete(t, &d);
    case STATE_CMD_INTENTION_ENTRY:
        return state__ixn_apply_entry(t, &d);
    case STATE_CMD_CA_SET:
        return state__ca_apply_set(t, &d);
    case STATE_CMD_ACL_SET:
        return state__acl_apply_set(t, &d);
    case STATE_CMD_ACL_DELETE:
        return state__acl_apply_delete(t, &d);
    case STATE_CMD_ACL_BOOTSTRAP:
        return state__acl_apply_bootstrap(t, &d);
    case STATE_CMD_COORD_BATCH:
        return state__coord_apply_batch(t, &d);
    case STATE_CMD_ACL_REPLICATE:
        return state__acl_apply_replicate(t, &d);
    case STATE_CMD_CONFIG_ENTRY:
        return state__cfg_apply(t, &d);
    default:
        return CN_ECORRUPT;
    }
}

int state_apply(struct state *s, uint64_t index, const void *cmd, size_t len,
                struct state_result *res)
{
    if (res) {
        state_result_free(res);
        res->ok = false;
    }
    if (index <= s->last_index || index > AVL_AUG_MAX || (!cmd && len)) {
        if (res)
            res->rc = CN_EINVAL;
        return CN_EINVAL;
    }
    int type = state_cmd_type(cmd, len);
    if (type == STATE_CMD_RESTORE_CHUNK || type == STATE_CMD_RESTORE_COMMIT)
        return state__restore_apply(s, index, cmd, len, res);
    struct txn t = {.s = s, .idx = index, .res = res};
    struct saved sv;
    save(s, &sv);
    int rc = dispatch(&t, cmd, len);
    if (rc == CN_ENOMEM || rc == CN_ECORRUPT) {
        rollback(&t);
        restore(s, &sv);
        if (res) {
            state_result_free(res);
            res->rc = rc;
        }
    } else if (rc != 0) {
        /* A failed check, an invalid registration: nothing changes, but the
         * entry counts as applied. The errors[] stay for the caller. */
        rollback(&t);
        restore(s, &sv);
        s->last_index = index;
        if (res) {
            cn_free(res->results);
            res->results = NULL;
            res->nresults = 0;
            state__cat_results_free(res);
            res->rc = rc;
            res->ok = false;
        }
    } else {
        s->last_index = index;
        commit(&t);
        if (res)
            res->rc = 0;
    }
    cn_free(t.u);
    cn_free(t.notes);
    cn_free(t.kres);
    return rc;
}
