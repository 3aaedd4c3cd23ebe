/* state/nodeid.c: two indexes of the node tree.
 *
 * By ID (s->node_ids): one record per node that has an ID, keyed by that ID
 * compared ignoring ASCII case (Consul's "uuid" index parses the UUID, so
 * `ABC...` and `abc...` are one ID). A registration finds the node that
 * already holds its ID in O(log n) (ensureNodeTxn's getNodeIDTxn).
 *
 * By name ignoring case (s->node_folded): one record per node, keyed by
 * (name folded, name): the live node whose name equals a given one ignoring
 * ASCII case (Consul's lower-cased node index; state__node_canon,
 * state_node_lookup) is found in O(log n), not by walking every node.
 *
 * Both are kept in step with the node tree by catalog.c (every node insert,
 * replace and remove goes through state__nid_update) and rebuilt by
 * snapshot restore: derived data, neither encoded in snapshots nor in
 * commands. A record copies nothing but its key's first 8 bytes (folded:
 * most comparisons end there, without a cache miss into the node record):
 * it points at the node record it indexes (one 40-byte allocation, 48 bytes
 * of heap like a 32-byte one), so a node record replaced by another
 * gets a new index record pointing at the new one. The indexes change only
 * after the node tree did: rolled back in reverse order, they are undone
 * while the records they point at still exist.
 *
 * One ID, one node. A state written before this index existed (an older
 * snapshot or log) may hold two nodes with one ID: the first in name order
 * at restore (or the first registered) is indexed, the others are not, and
 * removing an unindexed node leaves the entry of the indexed one alone. */
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

#define NID(n) CN_CONTAINER_OF(n, struct nid_rec, a)

struct nid_rec {
    struct avl a;
    const struct node_rec *node; /* its n.id (or n.name) is the key */
    uint64_t pfx;                /* the key's first 8 bytes folded: pfx_of */
};

static int fold(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int fold_cmp(const char *sa, const char *sb)
{
    const unsigned char *a = (const unsigned char *)sa, *b = (const unsigned char *)sb;
    for (;; a++, b++) {
        if (*a == *b) { /* the common case: equal bytes, no folding */
            if (!*a)
                return 0;
            continue;
        }
        int x = fold(*a), y = fold(*b);
        if (x != y)
            return x - y;
    }
}

/* The first 8 bytes of s folded, big-endian (NUL-padded): comparing two as
 * integers orders them as fold_cmp orders the strings' first 8 bytes, so a
 * descent compares in the record itself and follows the pointer into the
 * node record only on a tie (random UUIDs: at the match). */
static uint64_t pfx_of(const char *s)
{
    uint64_t v = 0;
    int i = 0;
    for (; i < 8 && s[i]; i++)
        v = v << 8 | (uint64_t)fold((unsigned char)s[i]);
    return v << (8 * (8 - i));
}

/* key vs a record keyed by str: by prefix, then ignoring case */
static int pfx_cmp(const char *key, const struct avl *n, const char *str)
{
    uint64_t k = pfx_of(key), p = NID(n)->pfx;
    if (k != p)
        return k < p ? -1 : 1;
    return fold_cmp(key, str);
}

static int nid_cmp(const void *key, const struct avl *n)
{
    return pfx_cmp(key, n, NID(n)->node->n.id);
}
static const void *nid_key(const struct avl *n)
{
    return NID(n)->node->n.id;
}
static void nid_free(struct state *s, struct avl *n)
{
    s->mem -= state__chunk(sizeof(struct nid_rec));
    cn_free(NID(n));
}
const struct avl_ops state__nid_ops = {nid_cmp, nid_key, NULL, nid_free};

static int nfold_cmp(const void *key, const struct avl *n)
{
    const char *b = NID(n)->node->n.name;
    int c = pfx_cmp(key, n, b);
    return c ? c : strcmp(key, b);
}
static const void *nfold_key(const struct avl *n)
{
    return NID(n)->node->n.name;
}
const struct avl_ops state__nfold_ops = {nfold_cmp, nfold_key, NULL, nid_free};

/* A record for r keyed by its ID (by_id) or its name. */
static struct nid_rec *nid_new(struct state *s, const struct node_rec *r, bool by_id)
{
    struct nid_rec *x = cn_malloc(sizeof(*x));
    if (!x)
        return NULL;
    memset(x, 0, sizeof(*x));
    x->node = r;
    x->pfx = pfx_of(by_id ? r->n.id : r->n.name);
    s->mem += state__chunk(sizeof(*x));
    return x;
}

static const char *id_of(const struct node_rec *r)
{
    return r && r->n.id && *r->n.id ? r->n.id : NULL;
}

int state__nid_update(struct txn *t, const struct node_rec *old, const struct node_rec *nw)
{
    struct state *s = t->s;
    /* by name: nw takes old's place (a replace keeps the name) */
    CN_ASSERT(!old || !nw || strcmp(old->n.name, nw->n.name) == 0);
    struct avl *fo = old ? state__avl_find(s->node_folded, old->n.name, &state__nfold_ops) : NULL;
    CN_INVARIANT(!old || (fo && NID(fo)->node == old)); /* every node is in it */
    struct nid_rec *fn = nw ? nid_new(s, nw, false) : NULL;
    if ((nw && !fn) || state__tx_reserve(t, 1, 0)) {
        if (fn)
            nid_free(s, &fn->a);
        return CN_ENOMEM;
    }
    if (fo && fn)
        state__tx_replace(t, &s->node_folded, &state__nfold_ops, fo, &fn->a, true);
    else if (fo)
        state__tx_remove(t, &s->node_folded, &state__nfold_ops, fo, true);
    else
        state__tx_insert(t, &s->node_folded, &state__nfold_ops, &fn->a, true);
    /* by ID */
    const char *was = id_of(old), *now = id_of(nw);
    if (!was && !now)
        return 0;
    /* old's entry, if old is the node indexed under its ID */
    struct avl *gone = was ? state__avl_find(s->node_ids, was, &state__nid_ops) : NULL;
    if (gone && NID(gone)->node != old)
        gone = NULL;
    /* now's entry: old's (the same ID, maybe another spelling), none, or
     * another node's (legacy states only: nw stays unindexed) */
    struct avl *held = now ? state__avl_find(s->node_ids, now, &state__nid_ops) : NULL;
    bool same = held && held == gone;
    struct nid_rec *add = NULL;
    if (now && (!held || same) && !(add = nid_new(s, nw, true)))
        return CN_ENOMEM;
    if (state__tx_reserve(t, 2, 0)) {
        if (add)
            nid_free(s, &add->a);
        return CN_ENOMEM;
    }
    if (same) /* the same ID: repoint */
        state__tx_replace(t, &s->node_ids, &state__nid_ops, gone, &add->a, true);
    else {
        if (gone)
            state__tx_remove(t, &s->node_ids, &state__nid_ops, gone, true);
        if (add)
            state__tx_insert(t, &s->node_ids, &state__nid_ops, &add->a, true);
    }
    return 0;
}

int state__nid_restore(struct state *s, const struct node_rec *r)
{
    struct nid_rec *f = nid_new(s, r, false);
    if (!f)
        return CN_ENOMEM;
    state__avl_insert(&s->node_folded, &f->a, &state__nfold_ops);
    const char *id = id_of(r);
    if (!id || state__avl_find(s->node_ids, id, &state__nid_ops))
        return 0;
    struct nid_rec *x = nid_new(s, r, true);
    if (!x)
        return CN_ENOMEM;
    state__avl_insert(&s->node_ids, &x->a, &state__nid_ops);
    return 0;
}

const struct node_rec *state__node_folded(const struct state *s, const char *name)
{
    /* the leftmost record whose folded name equals name's: a lower-bound
     * descent on the folded comparison alone */
    const struct avl *a = s->node_folded, *hit = NULL;
    while (a) {
        int c = pfx_cmp(name, a, NID(a)->node->n.name);
        if (c <= 0) {
            if (c == 0)
                hit = a;
            a = a->l;
        } else
            a = a->r;
    }
    return hit ? NID(hit)->node : NULL;
}

struct node_rec *state__nid_find(const struct state *s, const char *id)
{
    if (!id || !*id)
        return NULL;
    struct avl *a = state__avl_find(s->node_ids, id, &state__nid_ops);
    return a ? (struct node_rec *)NID(a)->node : NULL;
}

size_t state__nid_count(const struct state *s)
{
    struct avl_iter it;
    size_t n = 0;
    state__avl_seek(&it, s->node_ids, NULL, false, &state__nid_ops);
    while (state__avl_next(&it))
        n++;
    return n;
}

bool state__nid_agrees(const struct state *s)
{
    if (state__avl_check(s->node_ids, &state__nid_ops) < 0 ||
        state__avl_check(s->node_folded, &state__nfold_ops) < 0)
        return false;
    /* the name index: exactly the live nodes */
    struct avl_iter fi;
    struct avl *f;
    size_t nf = 0, nn = 0;
    state__avl_seek(&fi, s->node_folded, NULL, false, &state__nfold_ops);
    while ((f = state__avl_next(&fi))) {
        const struct node_rec *r = NID(f)->node;
        if (state_node_get(s, r->n.name) != &r->n)
            return false;
        nf++;
    }
    state__avl_seek(&fi, s->nodes, NULL, false, &state__node_ops);
    while (state__avl_next(&fi))
        nn++;
    if (nf != nn)
        return false;
    /* every entry points at the live node of that name */
    struct avl_iter it;
    struct avl *a;
    state__avl_seek(&it, s->node_ids, NULL, false, &state__nid_ops);
    while ((a = state__avl_next(&it))) {
        const struct node_rec *r = NID(a)->node;
        if (!id_of(r) || state_node_get(s, r->n.name) != &r->n)
            return false;
    }
    /* every node with an ID has an entry (its own, or a legacy twin's) */
    const struct state_node *n;
    state__avl_seek(&it, s->nodes, NULL, false, &state__node_ops);
    while ((a = state__avl_next(&it))) {
        n = &CN_CONTAINER_OF(a, struct node_rec, a)->n;
        if (n->id && *n->id && !state__nid_find(s, n->id))
            return false;
    }
    return true;
}
