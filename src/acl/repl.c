/* acl/repl.c: the diff of ACL replication (acl/repl.h). Both sides are
 * sorted by (kind rank, id) into index arrays and walked together. */
#include "acl/repl.h"

#include <string.h>

#include "base/err.h"
#include "base/mem.h"

struct ctx {
    const struct acl_repl_obj *o;
    const uint8_t *rank;
};

static int cmp(const struct ctx *c, size_t a, size_t b)
{
    const struct acl_repl_obj *x = &c->o[a], *y = &c->o[b];
    uint8_t rx = c->rank[x->kind & 7], ry = c->rank[y->kind & 7];
    if (rx != ry)
        return rx < ry ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Stable merge sort of idx[0..n) through tmp. */
static void msort(const struct ctx *c, size_t *idx, size_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    msort(c, idx, tmp, h);
    msort(c, idx + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmp(c, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof(*idx));
}

/* Sorted indexes of the objects of o[] that take part (local ones skipped);
 * NULL on OOM (n == 0 gives a non-NULL empty array). */
static size_t *sorted(const struct ctx *c, size_t n, size_t *count, int *dup)
{
    size_t *idx = cn_malloc((n ? n : 1) * sizeof(*idx));
    size_t *tmp = cn_malloc((n ? n : 1) * sizeof(*tmp));
    if (!idx || !tmp) {
        cn_free(idx);
        cn_free(tmp);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!c->o[i].local)
            idx[k++] = i;
    msort(c, idx, tmp, k);
    cn_free(tmp);
    for (size_t i = 1; i < k; i++)
        if (!cmp(c, idx[i - 1], idx[i]))
            *dup = 1;
    *count = k;
    return idx;
}

static int cross(const struct acl_repl_obj *x, const uint8_t *rank, const struct acl_repl_obj *y)
{
    uint8_t rx = rank[x->kind & 7], ry = rank[y->kind & 7];
    if (rx != ry)
        return rx < ry ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->id, y->id);
}

static bool same(const struct acl_repl_obj *x, const struct acl_repl_obj *y)
{
    return !strcmp(x->name ? x->name : "", y->name ? y->name : "") &&
           x->expires_unix_ns == y->expires_unix_ns && x->def_len == y->def_len &&
           (!x->def_len || !memcmp(x->def, y->def, x->def_len));
}

int acl_repl_diff(const struct acl_repl_obj *local, size_t nlocal,
                  const struct acl_repl_obj *remote, size_t nremote, const uint8_t kind_rank[8],
                  struct acl_repl_diff *out)
{
    memset(out, 0, sizeof(*out));
    struct ctx cl = {local, kind_rank}, cr = {remote, kind_rank};
    size_t nl = 0, nr = 0;
    int dup = 0;
    size_t *il = sorted(&cl, nlocal, &nl, &dup);
    size_t *ir = il ? sorted(&cr, nremote, &nr, &dup) : NULL;
    out->del = cn_malloc((nl ? nl : 1) * sizeof(size_t));
    out->set = cn_malloc((nr ? nr : 1) * sizeof(size_t));
    if (!il || !ir || !out->del || !out->set || dup) {
        cn_free(il);
        cn_free(ir);
        acl_repl_diff_free(out);
        return dup && il && ir ? CN_EINVAL : CN_ENOMEM;
    }
    size_t i = 0, j = 0;
    while (i < nl || j < nr) {
        int c = i == nl ? 1 : j == nr ? -1 : cross(&local[il[i]], kind_rank, &remote[ir[j]]);
        if (c < 0) {
            out->del[out->ndel++] = il[i++];
        } else if (c > 0) {
            out->set[out->nset++] = ir[j++];
        } else {
            if (!same(&local[il[i]], &remote[ir[j]]))
                out->set[out->nset++] = ir[j];
            i++;
            j++;
        }
    }
    cn_free(il);
    cn_free(ir);
    return 0;
}

void acl_repl_diff_free(struct acl_repl_diff *d)
{
    cn_free(d->del);
    cn_free(d->set);
    memset(d, 0, sizeof(*d));
}

static size_t len_of(const char *s)
{
    return s ? strlen(s) : 0;
}

void acl_repl_batch(const struct acl_repl_diff *d, const struct acl_repl_obj *local,
                    const struct acl_repl_obj *remote, size_t del_from, size_t set_from,
                    size_t max_bytes, size_t *ndel, size_t *nset)
{
    size_t used = 0;
    *ndel = *nset = 0;
    for (size_t i = del_from; i < d->ndel; i++) {
        size_t c = len_of(local[d->del[i]].id) + 8;
        if (*ndel + *nset && used + c > max_bytes)
            return;
        used += c;
        (*ndel)++;
    }
    for (size_t i = set_from; i < d->nset; i++) {
        const struct acl_repl_obj *o = &remote[d->set[i]];
        size_t c = o->def_len + len_of(o->id) + len_of(o->name) + 32;
        if (*ndel + *nset && used + c > max_bytes)
            return;
        used += c;
        (*nset)++;
    }
}
