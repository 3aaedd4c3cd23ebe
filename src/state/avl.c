/* state/avl.c: an intrusive AVL tree with an optional augmentation hook.
 * Nodes are relinked, never copied, so pointers to records stay valid while
 * they are detached (the undo log relies on that). Recursion depth is the
 * tree height (< AVL_MAX_DEPTH). */
#include "base/assert.h"
#include "state/state_int.h"

static void set_h(struct avl *n, int h)
{
    n->hx = (n->hx & ~(uint64_t)0xff) | (uint64_t)h;
}

static void update(struct avl *n, const struct avl_ops *ops)
{
    int hl = AVL_H(n->l), hr = AVL_H(n->r);
    set_h(n, (hl > hr ? hl : hr) + 1);
    if (ops->fix)
        ops->fix(n);
}

static struct avl *rot_right(struct avl *n, const struct avl_ops *ops)
{
    struct avl *l = n->l;
    n->l = l->r;
    l->r = n;
    update(n, ops);
    update(l, ops);
    return l;
}

static struct avl *rot_left(struct avl *n, const struct avl_ops *ops)
{
    struct avl *r = n->r;
    n->r = r->l;
    r->l = n;
    update(n, ops);
    update(r, ops);
    return r;
}

static struct avl *balance(struct avl *n, const struct avl_ops *ops)
{
    update(n, ops);
    int bf = AVL_H(n->l) - AVL_H(n->r);
    if (bf > 1) {
        if (AVL_H(n->l->l) < AVL_H(n->l->r))
            n->l = rot_left(n->l, ops);
        return rot_right(n, ops);
    }
    if (bf < -1) {
        if (AVL_H(n->r->r) < AVL_H(n->r->l))
            n->r = rot_right(n->r, ops);
        return rot_left(n, ops);
    }
    return n;
}

struct avl *state__avl_find(struct avl *t, const void *key, const struct avl_ops *ops)
{
    while (t) {
        int c = ops->cmp(key, t);
        if (c == 0)
            return t;
        t = c < 0 ? t->l : t->r;
    }
    return NULL;
}

static struct avl *ins(struct avl *t, struct avl *n, const void *key, const struct avl_ops *ops)
{
    if (!t) {
        n->l = n->r = NULL;
        update(n, ops);
        return n;
    }
    int c = ops->cmp(key, t);
    CN_ASSERT(c != 0); /* callers must not insert a key that is present */
    if (c < 0)
        t->l = ins(t->l, n, key, ops);
    else
        t->r = ins(t->r, n, key, ops);
    return balance(t, ops);
}

/* Height of t if it is a valid AVL tree (order, stored heights, balance),
 * else -1. *lo: the subtree's first node. */
static int valid(const struct avl *t, const struct avl **lo, const struct avl **hi,
                 const struct avl_ops *ops)
{
    if (!t) {
        *lo = *hi = NULL;
        return 0;
    }
    const struct avl *llo, *lhi, *rlo, *rhi;
    int hl = valid(t->l, &llo, &lhi, ops), hr = valid(t->r, &rlo, &rhi, ops);
    if (hl < 0 || hr < 0 || hl - hr > 1 || hr - hl > 1)
        return -1;
    if ((lhi && ops->cmp(ops->key(lhi), t) >= 0) || (rlo && ops->cmp(ops->key(rlo), t) <= 0))
        return -1;
    int h = (hl > hr ? hl : hr) + 1;
    if (AVL_H(t) != h)
        return -1;
    *lo = llo ? llo : t;
    *hi = rhi ? rhi : t;
    return h;
}

int state__avl_check(const struct avl *root, const struct avl_ops *ops)
{
    const struct avl *lo, *hi;
    return valid(root, &lo, &hi, ops);
}

struct avl *state__avl_last(struct avl *t)
{
    while (t && t->r)
        t = t->r;
    return t;
}

/* ins() for a node known to be after every node of t. */
static struct avl *ins_last(struct avl *t, struct avl *n, const struct avl_ops *ops)
{
    if (!t) {
        n->l = n->r = NULL;
        update(n, ops);
        return n;
    }
    t->r = ins_last(t->r, n, ops);
    return balance(t, ops);
}

void state__avl_insert(struct avl **root, struct avl *n, const struct avl_ops *ops)
{
    const void *key = ops->key(n);
    struct avl *m = state__avl_last(*root);
    if (m && ops->cmp(key, m) > 0)
        *root = ins_last(*root, n, ops);
    else
        *root = ins(*root, n, key, ops);
}

struct avl *state__avl_build(struct avl **list, size_t n, const struct avl_ops *ops)
{
    if (n == 0)
        return NULL;
    size_t nl = (n - 1) / 2; /* the right side gets the odd node: sizes differ by <= 1 */
    struct avl *l = state__avl_build(list, nl, ops);
    struct avl *t = *list;
    CN_ASSERT(t != NULL); /* the chain holds at least n nodes */
    *list = t->r;
    t->l = l;
    t->r = state__avl_build(list, n - 1 - nl, ops);
    update(t, ops);
    return t;
}

static struct avl *del_min(struct avl *t, struct avl **min, const struct avl_ops *ops)
{
    if (!t->l) {
        *min = t;
        return t->r;
    }
    t->l = del_min(t->l, min, ops);
    return balance(t, ops);
}

static struct avl *del(struct avl *t, const void *key, struct avl **out, const struct avl_ops *ops)
{
    if (!t)
        return NULL;
    int c = ops->cmp(key, t);
    if (c < 0) {
        t->l = del(t->l, key, out, ops);
    } else if (c > 0) {
        t->r = del(t->r, key, out, ops);
    } else {
        *out = t;
        if (!t->l)
            return t->r;
        if (!t->r)
            return t->l;
        struct avl *m;
        struct avl *r = del_min(t->r, &m, ops);
        m->l = t->l;
        m->r = r;
        return balance(m, ops);
    }
    return balance(t, ops);
}

struct avl *state__avl_remove(struct avl **root, const void *key, const struct avl_ops *ops)
{
    struct avl *out = NULL;
    *root = del(*root, key, &out, ops);
    return out;
}

static struct avl *rep(struct avl *t, const void *key, struct avl *old, struct avl *nw,
                       const struct avl_ops *ops)
{
    CN_ASSERT(t != NULL); /* old must be linked in this tree */
    if (t == old) {
        CN_ASSERT(ops->cmp(ops->key(nw), old) == 0);
        nw->l = old->l;
        nw->r = old->r;
        update(nw, ops);
        return nw;
    }
    if (ops->cmp(key, t) < 0)
        t->l = rep(t->l, key, old, nw, ops);
    else
        t->r = rep(t->r, key, old, nw, ops);
    if (ops->fix)
        ops->fix(t);
    return t;
}

void state__avl_replace(struct avl **root, struct avl *old, struct avl *nw,
                        const struct avl_ops *ops)
{
    *root = rep(*root, ops->key(old), old, nw, ops);
}

void state__avl_seek(struct avl_iter *it, struct avl *t, const void *key, bool after,
                     const struct avl_ops *ops)
{
    it->n = 0;
    while (t) {
        int c = key ? ops->cmp(key, t) : -1;
        if (c < 0 || (c == 0 && !after)) {
            it->stk[it->n++] = t;
            t = t->l;
        } else {
            t = t->r;
        }
    }
}

struct avl *state__avl_next(struct avl_iter *it)
{
    if (it->n == 0)
        return NULL;
    struct avl *n = it->stk[--it->n];
    for (struct avl *t = n->r; t; t = t->l)
        it->stk[it->n++] = t;
    return n;
}
