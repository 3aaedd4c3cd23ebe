/* state/coord.c: the network coordinates table (state.h, "network
 * coordinates"): one record per (node, segment), replaced whole by each
 * batch that names it, removed with its node. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

#define CO(n) CN_CONTAINER_OF(n, struct coord_rec, a)
#define NVALS (STATE_COORD_DIM + 3)

struct coord_rec {
    struct avl a;
    struct pair_key k; /* (v.node, v.segment) */
    struct state_coord v;
    char data[]; /* node NUL segment NUL */
};

static int co_cmp(const void *key, const struct avl *n)
{
    const struct pair_key *p = key;
    int c = strcmp(p->a, CO(n)->k.a);
    return c ? c : strcmp(p->b, CO(n)->k.b);
}
static const void *co_key(const struct avl *n)
{
    return &CO(n)->k;
}
static size_t rec_size(const struct coord_rec *r)
{
    return sizeof(*r) + strlen(r->v.node) + strlen(r->v.segment) + 2;
}
static void co_free(struct state *s, struct avl *n)
{
    struct coord_rec *r = CO(n);
    s->mem -= state__chunk(rec_size(r));
    cn_free(r);
}
const struct avl_ops state__coord_ops = {co_cmp, co_key, NULL, co_free};

static void vals_get(const struct state_coord *c, double *v)
{
    memcpy(v, c->vec, sizeof(c->vec));
    v[STATE_COORD_DIM] = c->error;
    v[STATE_COORD_DIM + 1] = c->adjustment;
    v[STATE_COORD_DIM + 2] = c->height;
}
static void vals_set(struct state_coord *c, const double *v)
{
    memcpy(c->vec, v, sizeof(c->vec));
    c->error = v[STATE_COORD_DIM];
    c->adjustment = v[STATE_COORD_DIM + 1];
    c->height = v[STATE_COORD_DIM + 2];
}

static struct coord_rec *rec_new(struct state *s, const char *node, const char *segment,
                                 const double *vals)
{
    size_t nl = strlen(node), sl = strlen(segment);
    struct coord_rec *r = cn_malloc(sizeof(*r) + nl + sl + 2);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    memcpy(r->data, node, nl + 1);
    memcpy(r->data + nl + 1, segment, sl + 1);
    r->v.node = r->k.a = r->data;
    r->v.segment = r->k.b = r->data + nl + 1;
    vals_set(&r->v, vals);
    s->mem += state__chunk(rec_size(r));
    return r;
}

static int enc_vals(struct cn_buf *b, const double *v)
{
    for (int i = 0; i < NVALS; i++) {
        uint64_t u;
        memcpy(&u, &v[i], sizeof(u));
        CN_TRY(cn_enc_u64(b, u));
    }
    return 0;
}
static void dec_vals(struct cn_dec *d, double *v)
{
    for (int i = 0; i < NVALS; i++) {
        uint64_t u = cn_dec_u64(d);
        memcpy(&v[i], &u, sizeof(u));
    }
}
static bool vals_finite(const double *v)
{
    for (int i = 0; i < NVALS; i++)
        if (isnan(v[i]) || isinf(v[i]))
            return false;
    return true;
}

int state_cmd_coord_batch(struct cn_buf *out, const struct state_coord *v, size_t n)
{
    if (!n || n > STATE_COORD_BATCH_MAX)
        return CN_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!v[i].node || !*v[i].node || !v[i].segment)
            return CN_EINVAL;
    size_t len0 = out->len;
    int rc = cn_enc_u8(out, STATE_CMD_COORD_BATCH);
    if (!rc)
        rc = cn_enc_u8(out, STATE_CMD_VERSION);
    if (!rc)
        rc = cn_enc_u32(out, (uint32_t)n);
    for (size_t i = 0; i < n && !rc; i++) {
        double vals[NVALS];
        vals_get(&v[i], vals);
        rc = cn_enc_str(out, v[i].node);
        if (!rc)
            rc = cn_enc_str(out, v[i].segment);
        if (!rc)
            rc = enc_vals(out, vals);
    }
    if (rc)
        out->len = len0;
    return rc;
}

const struct state_coord *state_coord_get(const struct state *s, const char *node,
                                          const char *segment)
{
    struct pair_key k = {node, segment};
    struct avl *a = state__avl_find(s->coords, &k, &state__coord_ops);
    return a ? &CO(a)->v : NULL;
}

int state_coords_foreach(const struct state *s, const char *node, state_coord_cb cb, void *arg)
{
    struct avl_iter it;
    struct avl *a;
    struct pair_key k = {node ? node : "", ""};
    state__avl_seek(&it, s->coords, node ? &k : NULL, false, &state__coord_ops);
    while ((a = state__avl_next(&it))) {
        if (node && strcmp(CO(a)->v.node, node))
            break;
        int rc = cb(arg, &CO(a)->v);
        if (rc)
            return rc;
    }
    return 0;
}

size_t state_coord_count(const struct state *s)
{
    struct avl_iter it;
    size_t n = 0;
    state__avl_seek(&it, s->coords, NULL, false, &state__coord_ops);
    while (state__avl_next(&it))
        n++;
    return n;
}

int state__coord_apply_batch(struct txn *t, struct cn_dec *d)
{
    uint32_t n = cn_dec_u32(d);
    if (d->err || !n || n > STATE_COORD_BATCH_MAX)
        return CN_ECORRUPT;
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        char *node = cn_dec_strdup(d);
        char *seg = d->err ? NULL : cn_dec_strdup(d);
        double vals[NVALS];
        dec_vals(d, vals);
        if (d->err)
            rc = d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
        else if (!*node)
            rc = CN_ECORRUPT;
        /* CoordinateBatchUpdate: updates for nodes we do not know are
         * dropped (coordinates go with their node); so are non-finite ones,
         * which the API and gossip never let through */
        else if (state_node_get(t->s, node) && vals_finite(vals)) {
            struct pair_key k = {node, seg};
            struct avl *old = state__avl_find(t->s->coords, &k, &state__coord_ops);
            struct coord_rec *r = rec_new(t->s, node, seg, vals);
            if (!r || state__tx_reserve(t, 1, 1)) {
                if (r)
                    co_free(t->s, &r->a);
                rc = CN_ENOMEM;
            } else {
                if (old)
                    state__tx_replace(t, &t->s->coords, &state__coord_ops, old, &r->a, true);
                else
                    state__tx_insert(t, &t->s->coords, &state__coord_ops, &r->a, true);
                state__tx_note(t, STATE_T_COORDS, r->v.node);
            }
        }
        cn_free(node);
        cn_free(seg);
    }
    if (!rc && !cn_dec_done(d))
        rc = CN_ECORRUPT;
    if (rc)
        return rc;
    t->s->tidx[STATE_T_COORDS] = t->idx;
    if (t->res)
        t->res->ok = true;
    return 0;
}

int state__coord_node_gone(struct txn *t, const char *node)
{
    struct avl_iter it;
    struct avl *a;
    struct pair_key k = {node, ""};
    bool any = false;
    for (;;) {
        state__avl_seek(&it, t->s->coords, &k, false, &state__coord_ops);
        a = state__avl_next(&it);
        if (!a || strcmp(CO(a)->v.node, node))
            break;
        if (state__tx_reserve(t, 1, 1))
            return CN_ENOMEM;
        state__tx_remove(t, &t->s->coords, &state__coord_ops, a, true);
        if (!any)
            state__tx_note(t, STATE_T_COORDS, CO(a)->v.node);
        any = true;
    }
    if (any)
        t->s->tidx[STATE_T_COORDS] = t->idx;
    return 0;
}

int state__coord_encode(const struct state *s, struct cn_buf *b)
{
    struct avl_iter it;
    struct avl *a;
    CN_TRY(cn_enc_u64(b, s->tidx[STATE_T_COORDS]));
    CN_TRY(cn_enc_u32(b, (uint32_t)state_coord_count(s)));
    state__avl_seek(&it, s->coords, NULL, false, &state__coord_ops);
    while ((a = state__avl_next(&it))) {
        double vals[NVALS];
        vals_get(&CO(a)->v, vals);
        CN_TRY(cn_enc_str(b, CO(a)->v.node));
        CN_TRY(cn_enc_str(b, CO(a)->v.segment));
        CN_TRY(enc_vals(b, vals));
    }
    return 0;
}

int state__coord_decode(struct state *s, struct cn_dec *d, uint64_t clamp, char *err, size_t errcap)
{
    uint64_t idx = cn_dec_u64(d);
    uint32_t n = cn_dec_u32(d);
    if (d->err || idx > s->last_index) {
        snprintf(err, errcap, "coordinates: truncated, or table index out of range");
        return d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
    }
    s->tidx[STATE_T_COORDS] = clamp ? clamp : idx;
    for (uint32_t i = 0; i < n; i++) {
        char *node = cn_dec_strdup(d);
        char *seg = d->err ? NULL : cn_dec_strdup(d);
        double vals[NVALS];
        dec_vals(d, vals);
        int rc = 0;
        if (d->err)
            rc = d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
        else if (!*node || !vals_finite(vals) || !state_node_get(s, node))
            rc = CN_ECORRUPT;
        else if (state_coord_get(s, node, seg))
            rc = CN_ECORRUPT;
        struct coord_rec *r = rc ? NULL : rec_new(s, node, seg, vals);
        if (!rc && !r)
            rc = CN_ENOMEM;
        if (rc == CN_ECORRUPT)
            snprintf(err, errcap,
                     "coordinate %" PRIu32 ": truncated, empty or unknown node, "
                     "duplicate, or not finite",
                     i);
        cn_free(node);
        cn_free(seg);
        if (rc)
            return rc;
        state__avl_insert(&s->coords, &r->a, &state__coord_ops);
    }
    return 0;
}
