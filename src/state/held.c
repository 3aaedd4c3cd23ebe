/* state/held.c: the session -> held keys index. One record per live KV
 * entry that carries a Session, keyed by (session, key), kept in step with
 * the KV tree by kv.c's put_rec (every change of a KV record goes through
 * it) and rebuilt by snapshot restore. Invalidating a session (release or
 * delete of its keys) then walks only the keys it holds: O(held * log n)
 * instead of a walk of the whole store. The index is derived data: it is
 * neither encoded in snapshots nor in commands.
 *
 * An index record copies nothing: its (session, key) point into the KV
 * record it indexes (48 bytes a record, whatever the key's length). So a KV
 * record replaced by one with the same holder gets a new index record
 * pointing into the new one, and the index changes only after the KV tree
 * did: rolled back in reverse order, the index is undone while the KV
 * record it points into still exists.
 *
 * Agreement with the KV tree is checked: removing the record of a key whose
 * old version held a session must find it (CN_INVARIANT, every build: a
 * missing record means invalidation would leave a key locked by a dead
 * session, which then replicates as state), and debug builds recount the
 * session's keys in the KV tree at each invalidation (CN_ASSERT, O(keys)). */
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

#define HELD(n) CN_CONTAINER_OF(n, struct held_rec, a)

struct held_rec {
    struct avl a;
    struct pair_key k; /* (session, key), pointing into the KV record */
};

static int held_cmp(const void *key, const struct avl *n)
{
    const struct pair_key *p = key;
    const struct pair_key *k = &HELD(n)->k;
    int c = strcmp(p->a, k->a);
    return c ? c : strcmp(p->b, k->b);
}
static const void *held_key(const struct avl *n)
{
    return &HELD(n)->k;
}
static void held_free(struct state *s, struct avl *n)
{
    s->mem -= state__chunk(sizeof(struct held_rec));
    cn_free(HELD(n));
}
const struct avl_ops state__held_ops = {held_cmp, held_key, NULL, held_free};

/* An index record for r's key, held by session (which points into r). */
static struct held_rec *held_new(struct state *s, const char *session, const struct kv_rec *r)
{
    struct held_rec *h = cn_malloc(sizeof(*h));
    if (!h)
        return NULL;
    memset(h, 0, sizeof(*h));
    h->k.a = session;
    h->k.b = KVR_KEY(r);
    s->mem += state__chunk(sizeof(*h));
    return h;
}

/* The session a record holds its key for (NULL: none, or a tombstone). */
static const char *holder(const struct kv_rec *r)
{
    if (!r || KV_IS_TOMB(r) || !(r->mx & KVR_SESS))
        return NULL;
    struct state_kv v;
    state__kv_view(r, &v);
    return v.session;
}

int state__held_update(struct txn *t, const struct kv_rec *old, const struct kv_rec *nw)
{
    struct state *s = t->s;
    const char *was = holder(old), *now = holder(nw);
    if (!was && !now)
        return 0;
    struct held_rec *add = NULL;
    if (now && !(add = held_new(s, now, nw)))
        return CN_ENOMEM;
    if (state__tx_reserve(t, 2, 0)) {
        if (add)
            held_free(s, &add->a);
        return CN_ENOMEM;
    }
    struct avl *gone = NULL;
    if (was) {
        struct pair_key k = {was, KVR_KEY(old)};
        gone = state__avl_find(s->held, &k, &state__held_ops);
        CN_INVARIANT(gone != NULL); /* every held key is in the index */
    }
    if (gone && add && strcmp(was, now) == 0) /* the same holder: repoint */
        state__tx_replace(t, &s->held, &state__held_ops, gone, &add->a, true);
    else {
        if (gone)
            state__tx_remove(t, &s->held, &state__held_ops, gone, true);
        if (add)
            state__tx_insert(t, &s->held, &state__held_ops, &add->a, true);
    }
    return 0;
}

int state__held_restore(struct state *s, const struct kv_rec *r)
{
    const char *sess = holder(r);
    if (!sess)
        return 0;
    struct held_rec *h = held_new(s, sess, r);
    if (!h)
        return CN_ENOMEM;
    state__avl_insert(&s->held, &h->a, &state__held_ops);
    return 0;
}

const char *state__held_first(const struct state *s, const char *session)
{
    struct avl_iter it;
    struct pair_key k = {session, ""};
    state__avl_seek(&it, s->held, &k, false, &state__held_ops);
    struct avl *a = state__avl_next(&it);
    return a && strcmp(HELD(a)->k.a, session) == 0 ? HELD(a)->k.b : NULL;
}

size_t state__held_count(const struct state *s, const char *session)
{
    struct avl_iter it;
    struct avl *a;
    struct pair_key k = {session, ""};
    size_t n = 0;
    state__avl_seek(&it, s->held, &k, false, &state__held_ops);
    while ((a = state__avl_next(&it)) && strcmp(HELD(a)->k.a, session) == 0)
        n++;
    return n;
}

bool state__held_agrees(const struct state *s, const char *session)
{
    size_t n = 0;
    struct avl_iter it;
    struct avl *a;
    state__avl_seek(&it, s->kv, NULL, false, &state__kv_ops);
    while ((a = state__avl_next(&it))) {
        const char *h = holder(CN_CONTAINER_OF(a, struct kv_rec, a));
        if (h && (!session || strcmp(h, session) == 0)) {
            if (session)
                n++;
            else {
                struct pair_key k = {h, KVR_KEY(CN_CONTAINER_OF(a, struct kv_rec, a))};
                if (!state__avl_find(s->held, &k, &state__held_ops))
                    return false;
                n++;
            }
        }
    }
    if (session)
        return n == state__held_count(s, session);
    size_t total = 0;
    state__avl_seek(&it, s->held, NULL, false, &state__held_ops);
    while (state__avl_next(&it))
        total++;
    return n == total;
}

void state_session_held_keys(const struct state *s, const char *session, state_key_cb cb, void *arg)
{
    struct avl_iter it;
    struct avl *a;
    struct pair_key k = {session, ""};
    state__avl_seek(&it, s->held, &k, false, &state__held_ops);
    while ((a = state__avl_next(&it)) && strcmp(HELD(a)->k.a, session) == 0)
        if (cb(arg, HELD(a)->k.b))
            return;
}
