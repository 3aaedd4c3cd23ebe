/* state/query.c: prepared queries (Consul's agent/consul/state/prepared_query.go
 * and the Apply checks of agent/consul/prepared_query_endpoint.go that need
 * the state). One AVL tree by ID; names are looked up by a walk (queries are
 * few: Consul's own tests and deployments hold dozens, not thousands). The
 * definition is opaque here (api/query.c writes and reads it). */
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/text.h"
#include "state/state_int.h"

#define QR(n) CN_CONTAINER_OF(n, struct query_rec, a)

static size_t rec_size(const struct state_query *q)
{
    return sizeof(struct query_rec) + strlen(q->id) + strlen(q->name) + strlen(q->session) + 3 +
           q->def_len + 1;
}

static int q_cmp(const void *key, const struct avl *n)
{
    return strcmp((const char *)key, QR(n)->q.id);
}
static const void *q_key(const struct avl *n)
{
    return QR(n)->q.id;
}
static void q_free(struct state *s, struct avl *n)
{
    struct query_rec *r = QR(n);
    s->mem -= state__chunk(rec_size(&r->q));
    cn_free(r);
}
const struct avl_ops state__query_ops = {q_cmp, q_key, NULL, q_free};

/* One allocation: the record, then id, name, session and def (NUL-ended). */
struct query_rec *state__query_new(struct state *s, const struct state_query *q)
{
    size_t sz = rec_size(q);
    struct query_rec *r = cn_malloc(sz);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    char *at = (char *)(r + 1);
    r->q.id = cn_str_pack(&at, q->id, strlen(q->id));
    r->q.name = cn_str_pack(&at, q->name, strlen(q->name));
    r->q.session = cn_str_pack(&at, q->session, strlen(q->session));
    r->q.def = (uint8_t *)cn_str_pack(&at, q->def, q->def_len);
    r->q.def_len = q->def_len;
    r->q.is_template = q->is_template;
    r->q.create_index = q->create_index;
    r->q.modify_index = q->modify_index;
    s->mem += state__chunk(sz);
    return r;
}

/* ---- commands ----------------------------------------------------------------- */

static int begin(struct cn_buf *out, enum state_cmd_type t)
{
    CN_TRY(cn_enc_u8(out, (uint8_t)t));
    return cn_enc_u8(out, STATE_CMD_VERSION);
}

static int enc_set(struct cn_buf *out, int op, const struct state_query *q)
{
    CN_TRY(begin(out, STATE_CMD_QUERY_SET));
    CN_TRY(cn_enc_u8(out, (uint8_t)op));
    CN_TRY(cn_enc_str(out, q->id));
    CN_TRY(cn_enc_str(out, q->name ? q->name : ""));
    CN_TRY(cn_enc_str(out, q->session ? q->session : ""));
    CN_TRY(cn_enc_u8(out, q->is_template ? 1 : 0));
    return cn_enc_bytes(out, q->def, q->def_len);
}

int state_cmd_query_set(struct cn_buf *out, int op, const struct state_query *q)
{
    if (!q || !q->id || (op != 0 && op != 1) || (!q->def && q->def_len))
        return CN_EINVAL;
    size_t len0 = out->len;
    int rc = enc_set(out, op, q);
    if (rc)
        out->len = len0;
    return rc;
}

int state_cmd_query_delete(struct cn_buf *out, const char *id)
{
    if (!id)
        return CN_EINVAL;
    size_t len0 = out->len;
    int rc = begin(out, STATE_CMD_QUERY_DELETE);
    if (!rc)
        rc = cn_enc_str(out, id);
    if (rc)
        out->len = len0;
    return rc;
}

/* ---- reads -------------------------------------------------------------------- */

const struct state_query *state_query_get(const struct state *s, const char *id)
{
    struct avl *a = id ? state__avl_find(s->queries, id, &state__query_ops) : NULL;
    return a ? &QR(a)->q : NULL;
}

const struct state_query *state_query_by_name(const struct state *s, const char *name)
{
    struct avl_iter it;
    struct avl *a;
    if (!name || !*name)
        return NULL;
    state__avl_seek(&it, s->queries, NULL, false, &state__query_ops);
    while ((a = state__avl_next(&it)))
        if (!strcmp(QR(a)->q.name, name))
            return &QR(a)->q;
    return NULL;
}

const struct state_query *state_query_template_match(const struct state *s, const char *name)
{
    struct avl_iter it;
    struct avl *a;
    const struct state_query *best = NULL;
    size_t best_len = 0;
    state__avl_seek(&it, s->queries, NULL, false, &state__query_ops);
    while ((a = state__avl_next(&it))) {
        const struct state_query *q = &QR(a)->q;
        size_t n = strlen(q->name);
        if (!q->is_template || strncmp(name, q->name, n) != 0)
            continue;
        if (!best || n > best_len) {
            best = q;
            best_len = n;
        }
    }
    return best;
}

void state_queries_foreach(const struct state *s, state_query_cb cb, void *arg)
{
    struct avl_iter it;
    struct avl *a;
    state__avl_seek(&it, s->queries, NULL, false, &state__query_ops);
    while ((a = state__avl_next(&it)))
        if (cb(arg, &QR(a)->q))
            return;
}

size_t state_query_count(const struct state *s)
{
    return s->nqueries;
}

/* ---- apply -------------------------------------------------------------------- */

static int fail(struct txn *t, int rc, const char *fmt, const char *a)
{
    int e = state__tx_error(t, 0, fmt, a);
    return e ? e : rc;
}

static int changed(struct txn *t, const char *id)
{
    if (state__tx_reserve(t, 1, 1))
        return CN_ENOMEM;
    state__tx_set_u64(t, &t->s->tidx[STATE_T_QUERIES], t->idx);
    state__tx_note(t, STATE_T_QUERIES, id);
    return 0;
}

static bool str_ok(const char *p, size_t n)
{
    return p && !memchr(p, '\0', n);
}

int state__query_apply_set(struct txn *t, struct cn_dec *d)
{
    struct state *s = t->s;
    uint8_t op = cn_dec_u8(d);
    size_t n[5];
    const char *f[5];
    for (int i = 0; i < 3; i++)
        f[i] = (const char *)cn_dec_bytes(d, &n[i]);
    uint8_t tmpl = cn_dec_u8(d);
    f[3] = (const char *)cn_dec_bytes(d, &n[3]);
    if (!cn_dec_done(d) || op > 1 || tmpl > 1)
        return CN_ECORRUPT;
    for (int i = 0; i < 3; i++)
        if (n[i] && !str_ok(f[i], n[i]))
            return CN_ECORRUPT;
    char *id = cn_malloc(n[0] + n[1] + n[2] + 3);
    if (!id)
        return CN_ENOMEM;
    char *at = id;
    cn_str_pack(&at, f[0], n[0]);
    char *name = cn_str_pack(&at, f[1], n[1]);
    char *sess = cn_str_pack(&at, f[2], n[2]);
    int rc = 0;
    struct avl *old = state__avl_find(s->queries, id, &state__query_ops);
    if (!*id)
        rc = fail(t, CN_EINVAL, "Missing query ID%s", "");
    else if (op == 0 && old)
        rc = fail(t, CN_EINVAL, "Query ID '%s' already exists", id);
    else if (op == 1 && !old)
        rc = fail(t, CN_ENOTFOUND, "Cannot modify non-existent prepared query: '%s'", id);
    /* preparedQuerySetTxn: names never shadow IDs or other names. */
    if (!rc && *name && state__avl_find(s->queries, name, &state__query_ops))
        rc = fail(t, CN_EINVAL, "name '%s' aliases an existing query ID", name);
    if (!rc && *name) {
        const struct state_query *o = state_query_by_name(s, name);
        if (o && strcmp(o->id, id) != 0)
            rc = fail(t, CN_EINVAL, "name '%s' aliases an existing query name", name);
    }
    if (!rc && tmpl && !*name) {
        struct avl_iter it;
        struct avl *a;
        state__avl_seek(&it, s->queries, NULL, false, &state__query_ops);
        while (!rc && (a = state__avl_next(&it)))
            if (QR(a)->q.is_template && !*QR(a)->q.name && strcmp(QR(a)->q.id, id) != 0)
                rc = fail(t, CN_EINVAL, "a query template with an empty name already exists%s", "");
    }
    if (!rc && *sess && !state__sess_find(s, sess))
        rc = fail(t, CN_EINVAL, "invalid session \"%s\"", sess);
    struct query_rec *r = NULL;
    if (!rc) {
        struct state_query q = {.id = id,
                                .name = name,
                                .session = sess,
                                .is_template = tmpl,
                                .def = (uint8_t *)f[3],
                                .def_len = n[3],
                                .create_index = old ? QR(old)->q.create_index : t->idx,
                                .modify_index = t->idx};
        if (!(r = state__query_new(s, &q)) || state__tx_reserve(t, 1, 0)) {
            if (r)
                q_free(s, &r->a);
            rc = CN_ENOMEM;
        }
    }
    if (!rc) {
        if (old) {
            state__tx_replace(t, &s->queries, &state__query_ops, old, &r->a, true);
        } else {
            state__tx_insert(t, &s->queries, &state__query_ops, &r->a, true);
            s->nqueries++;
        }
        rc = changed(t, r->q.id);
        if (!rc && t->res)
            t->res->ok = true;
    }
    cn_free(id);
    return rc;
}

static int remove_rec(struct txn *t, struct avl *a)
{
    if (state__tx_reserve(t, 1, 0))
        return CN_ENOMEM;
    state__tx_remove(t, &t->s->queries, &state__query_ops, a, true);
    t->s->nqueries--;
    return changed(t, QR(a)->q.id);
}

int state__query_apply_delete(struct txn *t, struct cn_dec *d)
{
    char *id = cn_dec_strdup(d);
    if (!id)
        return d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
    if (!cn_dec_done(d)) {
        cn_free(id);
        return CN_ECORRUPT;
    }
    struct avl *a = state__avl_find(t->s->queries, id, &state__query_ops);
    int rc = a ? remove_rec(t, a)
               : fail(t, CN_ENOTFOUND, "Cannot modify non-existent prepared query: '%s'", id);
    if (!rc && t->res)
        t->res->ok = true;
    cn_free(id);
    return rc;
}

int state__query_session_gone(struct txn *t, const char *id)
{
    struct avl_iter it;
    struct avl *a;
    /* Removing while iterating: restart after each removal (few queries). */
    for (;;) {
        struct avl *hit = NULL;
        state__avl_seek(&it, t->s->queries, NULL, false, &state__query_ops);
        while ((a = state__avl_next(&it)))
            if (!strcmp(QR(a)->q.session, id)) {
                hit = a;
                break;
            }
        if (!hit)
            return 0;
        CN_TRY(remove_rec(t, hit));
    }
}
