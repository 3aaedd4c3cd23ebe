/* state/session.c: the sessions table (Consul's agent/consul/state/session.go).
 * A session belongs to a node and may name checks on it; it is invalidated
 * by SESSION_DESTROY (proposed by the API or by the leader's TTL timers), by
 * the removal of its node, and by any of its checks turning critical or
 * being removed (catalog.c calls state__sess_invalidate_node inside the same
 * command). Invalidation releases or deletes the keys the session holds and
 * starts their lock-delay (kv.c). Everything is decided here, in apply, so
 * every server agrees. */
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

#define SID(n) CN_CONTAINER_OF(n, struct sess_rec, by_id)
#define SNODE(n) CN_CONTAINER_OF(n, struct sess_rec, by_node)
#define LD(n) CN_CONTAINER_OF(n, struct ld_rec, a)

/* ---- tree ops --------------------------------------------------------------- */

static size_t strs_mem(char **v, size_t n)
{
    size_t m = n ? state__chunk(n * sizeof(char *)) : 0;
    for (size_t i = 0; i < n; i++)
        m += state__str_mem(v[i]);
    return m;
}

static size_t sess_mem(const struct sess_rec *r)
{
    const struct state_session *v = &r->v;
    return state__chunk(sizeof(*r)) + state__str_mem(v->id) + state__str_mem(v->name) +
           state__str_mem(v->node) + state__str_mem(v->behavior) + state__str_mem(v->ttl) +
           strs_mem(v->node_checks, v->n_node_checks) +
           strs_mem(v->service_checks, v->n_service_checks);
}

static int sess_id_cmp(const void *key, const struct avl *n)
{
    return strcmp((const char *)key, SID(n)->v.id);
}
static const void *sess_id_key(const struct avl *n)
{
    return SID(n)->v.id;
}
static void sess_id_free(struct state *s, struct avl *n)
{
    struct sess_rec *r = SID(n);
    s->mem -= sess_mem(r);
    state_session_clear(&r->v);
    cn_free(r);
}
const struct avl_ops state__sess_id_ops = {sess_id_cmp, sess_id_key, NULL, sess_id_free};

static int sess_node_cmp(const void *key, const struct avl *n)
{
    const struct pair_key *p = key;
    const struct pair_key *k = &SNODE(n)->k;
    int c = strcmp(p->a, k->a);
    return c ? c : strcmp(p->b, k->b);
}
static const void *sess_node_key(const struct avl *n)
{
    return &SNODE(n)->k;
}
static void sess_node_free(struct state *s, struct avl *n)
{
    (void)s; /* the by_id tree owns the record */
    (void)n;
}
const struct avl_ops state__sess_node_ops = {sess_node_cmp, sess_node_key, NULL, sess_node_free};

static int ld_cmp(const void *key, const struct avl *n)
{
    return strcmp((const char *)key, LD(n)->key);
}
static const void *ld_key(const struct avl *n)
{
    return LD(n)->key;
}
static void ld_free(struct state *s, struct avl *n)
{
    struct ld_rec *r = LD(n);
    s->mem -= state__chunk(sizeof(*r) + strlen(r->key) + 1);
    cn_free(r);
}
const struct avl_ops state__ld_ops = {ld_cmp, ld_key, NULL, ld_free};

struct ld_rec *state__ld_new(struct state *s, const char *key, uint64_t index, int64_t delay_ns)
{
    size_t n = strlen(key);
    struct ld_rec *r = cn_malloc(sizeof(*r) + n + 1);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    memcpy(r->key, key, n + 1);
    r->index = index;
    r->delay_ns = delay_ns;
    s->mem += state__chunk(sizeof(*r) + n + 1);
    return r;
}

/* ---- values ------------------------------------------------------------------ */

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cn_free(v[i]);
    cn_free(v);
}

void state_session_clear(struct state_session *v)
{
    if (!v)
        return;
    cn_free(v->id);
    cn_free(v->name);
    cn_free(v->node);
    cn_free(v->behavior);
    cn_free(v->ttl);
    free_strs(v->node_checks, v->n_node_checks);
    free_strs(v->service_checks, v->n_service_checks);
    memset(v, 0, sizeof(*v));
}

static char *dup0(const char *s)
{
    return cn_strdup(s ? s : "");
}

static int dup_strs(char ***dst, char *const *src, size_t n)
{
    *dst = NULL;
    if (!n)
        return 0;
    char **v = cn_calloc(n, sizeof(*v));
    if (!v)
        return CN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!(v[i] = dup0(src[i]))) {
            free_strs(v, i);
            return CN_ENOMEM;
        }
    }
    *dst = v;
    return 0;
}

struct sess_rec *state__sess_dup(struct state *s, const struct state_session *in)
{
    struct sess_rec *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    struct state_session *v = &r->v;
    *v = *in;
    v->id = dup0(in->id);
    v->name = dup0(in->name);
    v->node = dup0(in->node);
    v->behavior = dup0(in->behavior);
    v->ttl = dup0(in->ttl);
    v->node_checks = v->service_checks = NULL;
    v->n_node_checks = v->n_service_checks = 0;
    bool bad = !v->id || !v->name || !v->node || !v->behavior || !v->ttl;
    if (!bad && !dup_strs(&v->node_checks, in->node_checks, in->n_node_checks))
        v->n_node_checks = in->n_node_checks;
    else
        bad = true;
    if (!bad && !dup_strs(&v->service_checks, in->service_checks, in->n_service_checks))
        v->n_service_checks = in->n_service_checks;
    else
        bad = true;
    if (bad) {
        state_session_clear(v);
        cn_free(r);
        return NULL;
    }
    r->k.a = v->node;
    r->k.b = v->id;
    s->mem += sess_mem(r);
    return r;
}

/* ---- reads ------------------------------------------------------------------- */

struct sess_rec *state__sess_find(const struct state *s, const char *id)
{
    struct avl *a = id ? state__avl_find(s->sessions, id, &state__sess_id_ops) : NULL;
    return a ? SID(a) : NULL;
}

const struct state_session *state_session_get(const struct state *s, const char *id)
{
    struct sess_rec *r = state__sess_find(s, id);
    return r ? &r->v : NULL;
}

void state_sessions_foreach(const struct state *s, state_session_cb cb, void *arg)
{
    struct avl_iter it;
    struct avl *a;
    state__avl_seek(&it, s->sessions, NULL, false, &state__sess_id_ops);
    while ((a = state__avl_next(&it)))
        if (cb(arg, &SID(a)->v))
            return;
}

void state_node_sessions(const struct state *s, const char *node, state_session_cb cb, void *arg)
{
    struct avl_iter it;
    struct avl *a;
    struct pair_key k = {node, ""};
    state__avl_seek(&it, s->sess_by_node, &k, false, &state__sess_node_ops);
    while ((a = state__avl_next(&it)) && strcmp(SNODE(a)->v.node, node) == 0)
        if (cb(arg, &SNODE(a)->v))
            return;
}

size_t state_session_count(const struct state *s)
{
    return s->nsess;
}

uint64_t state_session_renew_index(const struct state *s)
{
    return s->sess_renew;
}

bool state_kv_lock_delay(const struct state *s, const char *key, uint64_t *index, int64_t *delay_ns)
{
    struct avl *a = key ? state__avl_find(s->lock_delays, key, &state__ld_ops) : NULL;
    if (!a)
        return false;
    *index = LD(a)->index;
    *delay_ns = LD(a)->delay_ns;
    return true;
}

/* ---- apply ------------------------------------------------------------------- */

static int einval(struct txn *t, const char *fmt, const char *a, const char *b)
{
    int rc = state__tx_error(t, 0, fmt, a, b);
    return rc ? rc : CN_EINVAL;
}

static int check_ok(struct txn *t, const char *node, const char *cid)
{
    const struct state_check *c = state_check_get(t->s, node, cid);
    if (!c)
        return einval(t, "Missing check '%s' registration%s", cid, "");
    if (strcmp(c->status, "critical") == 0)
        return einval(t, "Check '%s' is in %s state", cid, c->status);
    return 0;
}

static int changed(struct txn *t, struct sess_rec *r)
{
    if (state__tx_reserve(t, 1, 1))
        return CN_ENOMEM;
    state__tx_set_u64(t, &t->s->tidx[STATE_T_SESSIONS], t->idx);
    state__tx_note(t, STATE_T_SESSIONS, r->v.id);
    return 0;
}

int state__sess_apply_create(struct txn *t, struct cn_dec *d)
{
    struct state_session v;
    memset(&v, 0, sizeof(v));
    state__dec_session(d, &v);
    int rc = d->err ? d->err : cn_dec_done(d) ? 0 : CN_ECORRUPT;
    if (!rc && !*v.id)
        rc = CN_ECORRUPT;
    /* sessionCreateTxn and Session.Apply's checks, in Consul's order. */
    if (!rc && strcmp(v.behavior, "release") && strcmp(v.behavior, "delete"))
        rc = einval(t, "Invalid Behavior setting '%s'%s", v.behavior, "");
    if (!rc && (v.ttl_ns < 0 || v.lock_delay_ns < 0))
        rc = einval(t, "Invalid session TTL or lock delay%s%s", "", "");
    if (!rc && state__sess_find(t->s, v.id))
        rc = einval(t, "Session ID '%s' already exists%s", v.id, "");
    if (!rc)
        state__node_canon(t->s, v.node);
    if (!rc && !state_node_get(t->s, v.node))
        rc = einval(t, "Missing node registration%s%s", "", "");
    for (size_t i = 0; !rc && i < v.n_node_checks; i++)
        rc = check_ok(t, v.node, v.node_checks[i]);
    for (size_t i = 0; !rc && i < v.n_service_checks; i++)
        rc = check_ok(t, v.node, v.service_checks[i]);
    struct sess_rec *r = NULL;
    if (!rc) {
        v.create_index = v.modify_index = t->idx;
        v.renew_index = 0;
        if (!(r = state__sess_dup(t->s, &v)))
            rc = CN_ENOMEM;
    }
    if (!rc && state__tx_reserve(t, 2, 0)) {
        sess_id_free(t->s, &r->by_id);
        rc = CN_ENOMEM;
    }
    if (!rc) {
        state__tx_insert(t, &t->s->sessions, &state__sess_id_ops, &r->by_id, true);
        state__tx_insert(t, &t->s->sess_by_node, &state__sess_node_ops, &r->by_node, false);
        t->s->nsess++;
        rc = changed(t, r);
        if (!rc && t->res)
            t->res->ok = true;
    }
    state_session_clear(&v);
    return rc;
}

/* Invalidate r: its keys first (they read r's behavior and delay), then the
 * record leaves both trees (freed at commit, after the notes are delivered). */
static int invalidate(struct txn *t, struct sess_rec *r)
{
    int rc = state__kv_session_gone(t, r->v.id, strcmp(r->v.behavior, "delete") == 0,
                                    r->v.lock_delay_ns);
    if (!rc)
        rc = state__query_session_gone(t, r->v.id);
    if (rc)
        return rc;
    if (state__tx_reserve(t, 2, 0))
        return CN_ENOMEM;
    state__tx_remove(t, &t->s->sess_by_node, &state__sess_node_ops, &r->by_node, false);
    state__tx_remove(t, &t->s->sessions, &state__sess_id_ops, &r->by_id, true);
    t->s->nsess--;
    return changed(t, r);
}

int state__sess_invalidate_node(struct txn *t, const char *node, const char *check_id)
{
    struct avl_iter it;
    struct avl *a;
    struct pair_key k = {node, ""};
    state__avl_seek(&it, t->s->sess_by_node, &k, false, &state__sess_node_ops);
    while ((a = state__avl_next(&it)) && strcmp(SNODE(a)->v.node, node) == 0) {
        struct sess_rec *r = SNODE(a);
        bool hit = check_id == NULL;
        for (size_t i = 0; !hit && i < r->v.n_node_checks; i++)
            hit = strcmp(r->v.node_checks[i], check_id) == 0;
        for (size_t i = 0; !hit && i < r->v.n_service_checks; i++)
            hit = strcmp(r->v.service_checks[i], check_id) == 0;
        if (!hit)
            continue;
        struct pair_key at = r->k; /* r stays allocated until commit */
        int rc = invalidate(t, r);
        if (rc)
            return rc;
        state__avl_seek(&it, t->s->sess_by_node, &at, true, &state__sess_node_ops);
    }
    return 0;
}

int state__sess_apply_destroy(struct txn *t, struct cn_dec *d)
{
    size_t n;
    const char *id = state__dec_zstr(d, &n);
    if (d->err || !cn_dec_done(d))
        return CN_ECORRUPT;
    struct sess_rec *r = state__sess_find(t->s, id);
    if (t->res)
        t->res->ok = r != NULL;
    return r ? invalidate(t, r) : 0;
}

int state__sess_apply_renew(struct txn *t, struct cn_dec *d)
{
    size_t n;
    const char *id = state__dec_zstr(d, &n);
    if (d->err || !cn_dec_done(d))
        return CN_ECORRUPT;
    struct sess_rec *r = state__sess_find(t->s, id);
    if (!r) {
        int rc = state__tx_error(t, 0, "Session id '%s' not found", id);
        return rc ? rc : CN_ENOTFOUND;
    }
    if (state__tx_reserve(t, 2, 0))
        return CN_ENOMEM;
    /* Not a visible change: no index moves, nothing is notified. */
    state__tx_set_u64(t, &r->v.renew_index, t->idx);
    state__tx_set_u64(t, &t->s->sess_renew, t->idx);
    if (t->res)
        t->res->ok = true;
    return 0;
}
