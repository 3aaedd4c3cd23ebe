/* state/kv.c: the KV table. One AVL tree holds live entries and tombstones
 * (deleted keys: key + the deleting index), each node augmented with the
 * highest ModifyIndex of its subtree, so a prefix's index (counting deletes)
 * is an O(log n) query and reads never walk the store. Txn semantics follow
 * Consul's agent/consul/state/txn.go and kvs.go (see docs/format-state.md). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

#define KV(n) CN_CONTAINER_OF(n, struct kv_rec, a)

static int kv_cmp(const void *key, const struct avl *n)
{
    return strcmp((const char *)key, KVR_KEY(KV(n)));
}

static const void *kv_key(const struct avl *n)
{
    return KVR_KEY(KV(n));
}

static void kv_fix(struct avl *n)
{
    uint64_t m = KVR_MODIFY(KV(n));
    if (n->l && AVL_AUG(n->l) > m)
        m = AVL_AUG(n->l);
    if (n->r && AVL_AUG(n->r) > m)
        m = AVL_AUG(n->r);
    n->hx = (m << 8) | (n->hx & 0xffu);
}

/* Bytes requested for a record; never below the struct (a short tombstone
 * would be). */
static size_t kv_rec_size(size_t klen, size_t vlen, uint64_t bits, size_t slen)
{
    size_t n = offsetof(struct kv_rec, data) + klen + 1 + vlen + (bits & KVR_CREATE ? 8 : 0) +
               (bits & KVR_FLAGS ? 8 : 0) + (bits & KVR_LOCK ? 8 : 0) +
               (bits & KVR_SESS ? slen + 1 : 0);
    return n < sizeof(struct kv_rec) ? sizeof(struct kv_rec) : n;
}

/* Where r's value starts (after key NUL); klen = strlen of the key. */
static const char *value_at(const struct kv_rec *r, size_t *klen)
{
    *klen = strlen(r->data);
    return r->data + *klen + 1;
}

/* What a record of sz bytes costs: its slab slot, or a glibc chunk. */
static size_t rec_mem(size_t sz)
{
    return sz <= CN_SLAB_MAX ? cn_slab_slot(sz) : state__chunk(sz);
}

static size_t rec_bytes(const struct kv_rec *r)
{
    size_t klen;
    const char *p = value_at(r, &klen) + r->vlen;
    p += (r->mx & KVR_CREATE ? 8 : 0) + (r->mx & KVR_FLAGS ? 8 : 0) + (r->mx & KVR_LOCK ? 8 : 0);
    return kv_rec_size(klen, r->vlen, r->mx, r->mx & KVR_SESS ? strlen(p) : 0);
}

size_t state__kv_rec_mem(const struct kv_rec *r)
{
    return rec_mem(rec_bytes(r));
}

static void kv_free(struct state *s, struct avl *n)
{
    struct kv_rec *r = KV(n);
    size_t sz = rec_bytes(r);
    s->mem -= rec_mem(sz);
    if (sz <= CN_SLAB_MAX)
        cn_slab_free(&s->kv_slab, r, sz);
    else
        cn_free(r);
}

const struct avl_ops state__kv_ops = {kv_cmp, kv_key, kv_fix, kv_free};

static char *put_u64(char *p, uint64_t v)
{
    memcpy(p, &v, 8);
    return p + 8;
}

struct kv_rec *state__kv_rec_new(struct state *s, const struct state_kv *v)
{
    bool tomb = v->create_index == 0;
    size_t vlen = tomb ? 0 : v->value_len;
    uint64_t bits = tomb ? KVR_TOMB : 0;
    size_t slen = 0;
    if (!tomb) {
        bits |= (v->create_index != v->modify_index ? KVR_CREATE : 0) | (v->flags ? KVR_FLAGS : 0) |
                (v->lock_index ? KVR_LOCK : 0);
        if (v->session) {
            bits |= KVR_SESS;
            slen = strlen(v->session);
        }
    }
    if (v->key_len > UINT32_MAX || vlen > UINT32_MAX || v->create_index > AVL_AUG_MAX ||
        v->modify_index > AVL_AUG_MAX)
        return NULL;
    CN_ASSERT(memchr(v->key, 0, v->key_len) == NULL); /* decoders refuse a NUL in a key */
    size_t sz = kv_rec_size(v->key_len, vlen, bits, slen);
    struct kv_rec *r = sz <= CN_SLAB_MAX ? cn_slab_alloc(&s->kv_slab, sz) : cn_malloc(sz);
    if (!r)
        return NULL;
    memset(r, 0, offsetof(struct kv_rec, data));
    r->mx = v->modify_index | bits;
    r->vlen = (uint32_t)vlen;
    char *p = r->data;
    memcpy(p, v->key, v->key_len);
    p[v->key_len] = '\0';
    p += v->key_len + 1;
    if (vlen)
        memcpy(p, v->value, vlen);
    p += vlen;
    if (bits & KVR_CREATE)
        p = put_u64(p, v->create_index);
    if (bits & KVR_FLAGS)
        p = put_u64(p, v->flags);
    if (bits & KVR_LOCK)
        p = put_u64(p, v->lock_index);
    if (bits & KVR_SESS)
        memcpy(p, v->session, slen + 1);
    s->mem += rec_mem(sz);
    return r;
}

static const char *get_u64(const char *p, uint64_t *v)
{
    memcpy(v, p, 8);
    return p + 8;
}

void state__kv_view(const struct kv_rec *r, struct state_kv *out)
{
    const char *val = value_at(r, &out->key_len);
    out->key = r->data;
    out->value = r->vlen ? (const uint8_t *)val : NULL;
    out->value_len = r->vlen;
    out->modify_index = KVR_MODIFY(r);
    out->create_index = KV_IS_TOMB(r) ? 0 : out->modify_index;
    out->flags = out->lock_index = 0;
    const char *p = val + r->vlen;
    if (r->mx & KVR_CREATE)
        p = get_u64(p, &out->create_index);
    if (r->mx & KVR_FLAGS)
        p = get_u64(p, &out->flags);
    if (r->mx & KVR_LOCK)
        p = get_u64(p, &out->lock_index);
    out->session = r->mx & KVR_SESS ? p : NULL;
}

/* ---- reads --------------------------------------------------------------- */

/* The record at key (live or tombstone). A key after the last one (keys
 * written in increasing order: the common append) is answered by one
 * comparison with the last record instead of a walk. */
static struct avl *kv_find(const struct state *s, const char *key)
{
    const struct avl *m = state__avl_last(s->kv);
    if (!m || strcmp(key, KVR_KEY(KV(m))) > 0)
        return NULL;
    return state__avl_find(s->kv, key, &state__kv_ops);
}

static struct kv_rec *live(const struct state *s, const char *key)
{
    struct avl *n = kv_find(s, key);
    return n && !KV_IS_TOMB(KV(n)) ? KV(n) : NULL;
}

bool state_kv_get(const struct state *s, const char *key, struct state_kv *out)
{
    struct kv_rec *r = key ? live(s, key) : NULL;
    if (r && out)
        state__kv_view(r, out);
    return r != NULL;
}

size_t state_kv_count(const struct state *s)
{
    return s->kv_live;
}

static size_t scan(struct avl_iter *it, const char *prefix, state_kv_visit_cb cb, void *arg)
{
    size_t plen = strlen(prefix), n = 0;
    struct avl *a;
    while ((a = state__avl_next(it))) {
        struct kv_rec *r = KV(a);
        if (strncmp(KVR_KEY(r), prefix, plen) != 0)
            break;
        if (KV_IS_TOMB(r))
            continue;
        n++;
        if (cb) {
            struct state_kv v;
            state__kv_view(r, &v);
            if (cb(arg, &v))
                break;
        }
    }
    return n;
}

size_t state_kv_scan(const struct state *s, const char *prefix, state_kv_visit_cb cb, void *arg)
{
    return state_kv_scan_from(s, prefix, NULL, cb, arg);
}

size_t state_kv_scan_from(const struct state *s, const char *prefix, const char *after,
                          state_kv_visit_cb cb, void *arg)
{
    struct avl_iter it;
    if (!prefix)
        prefix = "";
    if (after && strcmp(after, prefix) >= 0)
        state__avl_seek(&it, s->kv, after, true, &state__kv_ops);
    else
        state__avl_seek(&it, s->kv, prefix, false, &state__kv_ops);
    return scan(&it, prefix, cb, arg);
}

/* Range-max over keys starting with prefix. In key order the sign of
 * strncmp(key, prefix, plen) is monotonic (<0 before the range, 0 in it, >0
 * after), so the range is found along two root-to-leaf paths. */
static uint64_t umax(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t aug(const struct avl *n)
{
    return n ? AVL_AUG(n) : 0;
}

uint64_t state_kv_prefix_index(const struct state *s, const char *prefix)
{
    if (!prefix || !*prefix)
        return aug(s->kv);
    size_t plen = strlen(prefix);
    const struct avl *n = s->kv;
    while (n) {
        int c = strncmp(KVR_KEY(KV(n)), prefix, plen);
        if (c < 0) {
            n = n->r;
        } else if (c > 0) {
            n = n->l;
        } else {
            uint64_t m = KVR_MODIFY(KV(n));
            for (const struct avl *x = n->l; x;) { /* keys >= prefix */
                if (strncmp(KVR_KEY(KV(x)), prefix, plen) < 0) {
                    x = x->r;
                } else {
                    m = umax(m, umax(KVR_MODIFY(KV(x)), aug(x->r)));
                    x = x->l;
                }
            }
            for (const struct avl *x = n->r; x;) { /* keys still in range */
                if (strncmp(KVR_KEY(KV(x)), prefix, plen) > 0) {
                    x = x->l;
                } else {
                    m = umax(m, umax(KVR_MODIFY(KV(x)), aug(x->l)));
                    x = x->r;
                }
            }
            return m;
        }
    }
    return 0;
}

/* ---- writes inside a command ------------------------------------------- */

/* Link nw in place of the record at its key (old: NULL, tombstone or live). */
static int put_rec(struct txn *t, struct kv_rec *old, struct kv_rec *nw)
{
    struct state *s = t->s;
    if (state__tx_reserve(t, 1, 1)) {
        kv_free(s, &nw->a);
        return CN_ENOMEM;
    }
    bool was_live = old && !KV_IS_TOMB(old), now_live = !KV_IS_TOMB(nw);
    if (old)
        state__tx_replace(t, &s->kv, &state__kv_ops, &old->a, &nw->a, true);
    else
        state__tx_insert(t, &s->kv, &state__kv_ops, &nw->a, true);
    if (old && !was_live)
        s->kv_tombs--;
    if (now_live)
        s->kv_live++;
    else
        s->kv_tombs++;
    if (was_live)
        s->kv_live--;
    s->tidx[STATE_T_KV] = t->idx;
    state__tx_note(t, STATE_T_KV, KVR_KEY(nw));
    /* After the KV tree: the held index points into nw (held.c). On
     * CN_ENOMEM nw is already the undo log's, and the command rolls back. */
    return state__held_update(t, old, nw);
}

static int delete_rec(struct txn *t, struct kv_rec *old, struct kv_rec **out)
{
    /* create_index 0 marks the tombstone */
    struct state_kv v = {
        .key = KVR_KEY(old), .key_len = strlen(KVR_KEY(old)), .modify_index = t->idx};
    struct kv_rec *nw = state__kv_rec_new(t->s, &v);
    if (!nw)
        return CN_ENOMEM;
    if (out)
        *out = nw;
    return put_rec(t, old, nw);
}

struct dop { /* one decoded op; strings borrowed from the command bytes */
    uint8_t verb;
    const char *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
    uint64_t flags, index;
    const char *session; /* NULL: none */
};

/* Record a result (copied out by copy_results once the txn succeeded). */
static int add_result(struct txn *t, const struct state_kv *kv, bool with_value)
{
    if (!t->res)
        return 0;
    if (state__grow((void **)&t->kres, &t->ckres, t->nkres + 1, sizeof(*t->kres)))
        return CN_ENOMEM;
    t->kres[t->nkres].kv = *kv;
    t->kres[t->nkres].with_value = with_value;
    t->nkres++;
    return 0;
}

/* Copy the recorded results into t->res as one allocation: the array, then
 * each key NUL [value] [session NUL]. */
static int copy_results(struct txn *t)
{
    struct state_result *r = t->res;
    if (!r || t->nkres == 0)
        return 0;
    size_t sz = t->nkres * sizeof(struct state_kv_copy);
    for (size_t i = 0; i < t->nkres; i++) {
        const struct kv_res *k = &t->kres[i];
        sz += k->kv.key_len + 1 + (k->with_value ? k->kv.value_len : 0) +
              (k->kv.session ? strlen(k->kv.session) + 1 : 0);
    }
    struct state_kv_copy *v = cn_malloc(sz);
    if (!v)
        return CN_ENOMEM;
    char *p = (char *)(v + t->nkres);
    for (size_t i = 0; i < t->nkres; i++) {
        const struct state_kv *kv = &t->kres[i].kv;
        struct state_kv_copy *c = &v[i];
        memset(c, 0, sizeof(*c));
        c->key = p;
        memcpy(p, kv->key, kv->key_len);
        p[kv->key_len] = '\0';
        p += kv->key_len + 1;
        if (t->kres[i].with_value) {
            c->has_value = true;
            c->value_len = kv->value_len;
            if (kv->value_len) {
                c->value = (uint8_t *)p;
                memcpy(p, kv->value, kv->value_len);
                p += kv->value_len;
            }
        }
        if (kv->session) {
            size_t sl = strlen(kv->session) + 1;
            c->session = p;
            memcpy(p, kv->session, sl);
            p += sl;
        }
        c->flags = kv->flags;
        c->create_index = kv->create_index;
        c->modify_index = kv->modify_index;
        c->lock_index = kv->lock_index;
    }
    r->results = v;
    r->nresults = t->nkres;
    return 0;
}

/* Go's %q, enough for error texts: quotes, backslashes and control bytes
 * escaped; other bytes as they are. */
static const char *goq(char *buf, size_t cap, const char *s)
{
    size_t o = 0;
    buf[o++] = '"';
    for (; *s && o + 6 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c == '\t') {
            buf[o++] = '\\';
            buf[o++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* Set (or cas-set) key: keeps CreateIndex, LockIndex and Session; an update
 * that changes nothing writes nothing (kvsSetTxn's Equal check). */
static int do_set(struct txn *t, const struct dop *op, const struct state_kv *cur, struct avl *old)
{
    if (cur && cur->flags == op->flags && cur->value_len == op->vlen &&
        (op->vlen == 0 || memcmp(cur->value, op->val, op->vlen) == 0))
        return add_result(t, cur, false);
    struct state_kv v = {.key = op->key,
                         .key_len = op->klen,
                         .value = op->val,
                         .value_len = op->vlen,
                         .flags = op->flags,
                         .create_index = cur ? cur->create_index : t->idx,
                         .modify_index = t->idx,
                         .lock_index = cur ? cur->lock_index : 0,
                         .session = cur ? cur->session : NULL};
    struct kv_rec *nw = state__kv_rec_new(t->s, &v);
    if (!nw)
        return CN_ENOMEM;
    int rc = put_rec(t, old ? KV(old) : NULL, nw);
    return rc ? rc : add_result(t, &v, false);
}

/* kvsLockTxn / kvsUnlockTxn (agent/consul/state/kvs.go). */
static int do_lock(struct txn *t, uint32_t i, const struct dop *op, const struct state_kv *cur,
                   struct avl *old, int *failed, bool *ok)
{
    char q1[160];
    const char *ks = op->key;
    bool lock = op->verb == STATE_KV_LOCK;
    if (!op->session || !*op->session) {
        *ok = false, *failed = CN_EINVAL;
        return state__tx_error(t, i, "missing session");
    }
    if (lock && !state__sess_find(t->s, op->session)) {
        *ok = false, *failed = CN_EINVAL;
        return state__tx_error(t, i, "invalid session %s", goq(q1, sizeof(q1), op->session));
    }
    bool mine = cur && cur->session && strcmp(cur->session, op->session) == 0;
    if (lock && cur && cur->session && !mine) {
        *ok = false, *failed = CN_ECONFLICT;
        return state__tx_error(t, i, "failed to lock key %s, lock is already held",
                               goq(q1, sizeof(q1), ks));
    }
    if (!lock && !mine) {
        *ok = false, *failed = CN_ECONFLICT;
        return state__tx_error(t, i,
                               "failed to unlock key %s, lock isn't held, or is held by another "
                               "session",
                               goq(q1, sizeof(q1), ks));
    }
    struct state_kv v = {.key = op->key,
                         .key_len = op->klen,
                         .value = op->val,
                         .value_len = op->vlen,
                         .flags = op->flags,
                         .create_index = cur ? cur->create_index : t->idx,
                         .modify_index = t->idx,
                         /* a re-acquire by the holder does not count */
                         .lock_index = (cur ? cur->lock_index : 0) + (lock && !mine ? 1 : 0),
                         .session = lock ? op->session : NULL};
    struct kv_rec *nw = state__kv_rec_new(t->s, &v);
    if (!nw)
        return CN_ENOMEM;
    int rc = put_rec(t, old ? KV(old) : NULL, nw);
    if (rc)
        return rc;
    state__kv_view(nw, &v); /* the result points into the record, not the command */
    return add_result(t, &v, false);
}

/* Start key's lock-delay (replacing an older one). */
static int set_lock_delay(struct txn *t, const char *key, int64_t delay_ns)
{
    struct state *s = t->s;
    if (state__tx_reserve(t, 1, 0))
        return CN_ENOMEM;
    struct ld_rec *nw = state__ld_new(s, key, t->idx, delay_ns);
    if (!nw)
        return CN_ENOMEM;
    struct avl *old = state__avl_find(s->lock_delays, key, &state__ld_ops);
    if (old)
        state__tx_replace(t, &s->lock_delays, &state__ld_ops, old, &nw->a, true);
    else
        state__tx_insert(t, &s->lock_delays, &state__ld_ops, &nw->a, true);
    return 0;
}

int state__kv_session_gone(struct txn *t, const char *id, bool del, int64_t delay_ns)
{
    /* deleteSessionTxn: every key the session holds is released (Session
     * cleared, ModifyIndex bumped) or deleted, then lock-delay starts for it.
     * The held index (held.c) names them: O(held * log n). Each change
     * removes the key's index record, so the first one left is the next. */
    struct state *s = t->s;
    CN_ASSERT(state__held_agrees(s, id));
    const char *key;
    while ((key = state__held_first(s, id))) {
        struct avl *a = state__avl_find(s->kv, key, &state__kv_ops);
        CN_INVARIANT(a != NULL && !KV_IS_TOMB(KV(a)));
        struct kv_rec *r = KV(a);
        struct state_kv v;
        state__kv_view(r, &v);
        CN_INVARIANT(v.session && strcmp(v.session, id) == 0);
        struct kv_rec *nw;
        int rc;
        if (del) {
            rc = delete_rec(t, r, &nw);
        } else {
            v.session = NULL;
            v.modify_index = t->idx;
            if (!(nw = state__kv_rec_new(s, &v)))
                return CN_ENOMEM;
            rc = put_rec(t, r, nw);
        }
        if (!rc && delay_ns > 0)
            rc = set_lock_delay(t, KVR_KEY(nw), delay_ns);
        if (rc)
            return rc;
    }
    return 0;
}

/* Run one op. Returns 0 or CN_ENOMEM; a failed op records an error and sets
 * *failed (CN_ECONFLICT or CN_EINVAL) and changes nothing; *ok is the
 * boolean a plain PUT/DELETE would return. */
static int do_op(struct txn *t, uint32_t i, const struct dop *op, int *failed, bool *ok)
{
    char q1[160], q2[40], q3[40];
    struct avl *found = kv_find(t->s, op->key); /* live or tombstone */
    struct kv_rec *cur = found && !KV_IS_TOMB(KV(found)) ? KV(found) : NULL;
    struct state_kv cv = {.key = NULL};
    if (cur)
        state__kv_view(cur, &cv);
    const char *ks = op->key;
    *ok = true;
    switch (op->verb) {
    case STATE_KV_SET:
    case STATE_KV_CAS:
        if (op->klen == 0) {
            *failed = CN_EINVAL, *ok = false;
            return state__tx_error(t, i, "missing key name");
        }
        if (op->verb == STATE_KV_CAS &&
            ((op->index == 0 && cur) ||
             (op->index != 0 && (!cur || cv.modify_index != op->index)))) {
            *ok = false, *failed = CN_ECONFLICT;
            return state__tx_error(t, i, "failed to set key %s, index is stale",
                                   goq(q1, sizeof(q1), ks));
        }
        return do_set(t, op, cur ? &cv : NULL, found);
    case STATE_KV_GET:
        if (!cur) {
            *ok = false, *failed = CN_ECONFLICT;
            return state__tx_error(t, i, "key %s doesn't exist", goq(q1, sizeof(q1), ks));
        }
        return add_result(t, &cv, true);
    case STATE_KV_GET_OR_EMPTY: {
        if (cur)
            return add_result(t, &cv, true);
        /* Consul echoes the op's entry with a nil Value. */
        struct state_kv e = {
            .key = op->key, .key_len = op->klen, .flags = op->flags, .modify_index = op->index};
        return add_result(t, &e, false);
    }
    case STATE_KV_GET_TREE: {
        struct avl_iter it;
        struct avl *a;
        state__avl_seek(&it, t->s->kv, op->key, false, &state__kv_ops);
        while ((a = state__avl_next(&it)) && strncmp(KVR_KEY(KV(a)), op->key, op->klen) == 0) {
            if (KV_IS_TOMB(KV(a)))
                continue;
            struct state_kv v;
            state__kv_view(KV(a), &v);
            int rc = add_result(t, &v, true);
            if (rc)
                return rc;
        }
        return 0;
    }
    case STATE_KV_CHECK_INDEX:
        if (!cur) {
            *ok = false, *failed = CN_ECONFLICT;
            return state__tx_error(t, i, "failed to check index, key %s doesn't exist",
                                   goq(q1, sizeof(q1), ks));
        }
        if (cv.modify_index != op->index) {
            *ok = false, *failed = CN_ECONFLICT;
            return state__tx_error(
                t, i, "failed index check for key %s, current modify index %" PRIu64 " != %" PRIu64,
                goq(q1, sizeof(q1), ks), cv.modify_index, op->index);
        }
        return add_result(t, &cv, false);
    case STATE_KV_CHECK_NOT_EXISTS:
        if (cur) {
            *ok = false, *failed = CN_ECONFLICT;
            return state__tx_error(t, i, "key %s exists", goq(q1, sizeof(q1), ks));
        }
        return 0;
    case STATE_KV_CHECK_SESSION: {
        const char *want = op->session ? op->session : "";
        if (!cur || strcmp(cv.session ? cv.session : "", want) != 0) {
            *ok = false, *failed = CN_ECONFLICT;
            if (!cur)
                return state__tx_error(t, i, "failed to check session, key %s doesn't exist",
                                       goq(q1, sizeof(q1), ks));
            return state__tx_error(
                t, i, "failed session check for key %s, current session %s != %s",
                goq(q1, sizeof(q1), ks), goq(q2, sizeof(q2), cv.session ? cv.session : ""),
                goq(q3, sizeof(q3), want));
        }
        return add_result(t, &cv, false);
    }
    case STATE_KV_DELETE:
        return cur ? delete_rec(t, cur, NULL) : 0;
    case STATE_KV_DELETE_CAS:
        /* kvsDeleteCASTxn: a missing key "succeeds" without a tombstone. */
        if (!cur)
            return 0;
        if (cv.modify_index != op->index) {
            *ok = false, *failed = CN_ECONFLICT;
            return state__tx_error(t, i, "failed to delete key %s, index is stale",
                                   goq(q1, sizeof(q1), ks));
        }
        return delete_rec(t, cur, NULL);
    case STATE_KV_DELETE_TREE: {
        /* One tombstone per deleted key (Consul keeps one for the prefix):
         * then every sub-prefix's index stays monotonic too. Re-seek after
         * each change: replacing nodes invalidates an iterator's stack. */
        struct avl_iter it;
        struct avl *a;
        state__avl_seek(&it, t->s->kv, op->key, false, &state__kv_ops);
        while ((a = state__avl_next(&it)) && strncmp(KVR_KEY(KV(a)), op->key, op->klen) == 0) {
            if (KV_IS_TOMB(KV(a)))
                continue;
            struct kv_rec *tomb;
            int rc = delete_rec(t, KV(a), &tomb);
            if (rc)
                return rc;
            state__avl_seek(&it, t->s->kv, KVR_KEY(tomb), true, &state__kv_ops);
        }
        return 0;
    }
    case STATE_KV_LOCK:
    case STATE_KV_UNLOCK:
        return do_lock(t, i, op, cur ? &cv : NULL, found, failed, ok);
    }
    return CN_ECORRUPT;
}

int state__kv_apply_txn(struct txn *t, struct cn_dec *d)
{
    struct dop ops[STATE_TXN_MAX_OPS];
    uint32_t n = cn_dec_u32(d);
    if (d->err || n == 0 || n > STATE_TXN_MAX_OPS)
        return CN_ECORRUPT;
    for (uint32_t i = 0; i < n; i++) {
        struct dop *op = &ops[i];
        op->verb = cn_dec_u8(d);
        op->key = state__dec_zstr(d, &op->klen);
        op->val = cn_dec_bytes(d, &op->vlen);
        op->flags = cn_dec_u64(d);
        op->index = cn_dec_u64(d);
        uint8_t has_sess = cn_dec_u8(d);
        size_t sl;
        const char *sess = state__dec_zstr(d, &sl);
        if (d->err || op->verb >= STATE_KV__COUNT || has_sess > 1 || (!has_sess && sl))
            return CN_ECORRUPT;
        op->session = has_sess ? sess : NULL;
    }
    if (!cn_dec_done(d))
        return CN_ECORRUPT;
    /* Room for the common case (one change and one result per op) before
     * any record is allocated: growing these arrays between records would
     * leave holes among them once freed. */
    if (state__tx_reserve(t, n, n) ||
        (t->res && state__grow((void **)&t->kres, &t->ckres, n, sizeof(*t->kres))))
        return CN_ENOMEM;
    /* Like txnDispatch: every op runs (later ones see earlier writes) and
     * every failure is reported; any failure undoes the whole txn. */
    int failed = 0, rc;
    bool ok = true;
    for (uint32_t i = 0; i < n; i++) {
        int f = 0;
        bool op_ok;
        if ((rc = do_op(t, i, &ops[i], &f, &op_ok)))
            return rc;
        if (f == CN_EINVAL || (f && !failed))
            failed = f;
        if (n == 1)
            ok = op_ok;
    }
    if (!failed && (rc = copy_results(t)))
        return rc;
    if (t->res)
        t->res->ok = failed ? false : ok;
    return failed;
}

int state__kv_apply_reap(struct txn *t, struct cn_dec *d)
{
    uint64_t upto = cn_dec_u64(d);
    if (!cn_dec_done(d))
        return CN_ECORRUPT;
    struct state *s = t->s;
    struct avl_iter it;
    struct avl *a;
    size_t k = 0;
    state__avl_seek(&it, s->kv, NULL, false, &state__kv_ops);
    while ((a = state__avl_next(&it)))
        k += KV_IS_TOMB(KV(a)) && KVR_MODIFY(KV(a)) <= upto;
    if (t->res)
        t->res->ok = true;
    /* Lock-delays started at or before the reaped index go too (they are
     * long over: the leader reaps what is older than its tombstone TTL). */
    size_t nld = 0;
    state__avl_seek(&it, s->lock_delays, NULL, false, &state__ld_ops);
    while ((a = state__avl_next(&it)))
        nld += CN_CONTAINER_OF(a, struct ld_rec, a)->index <= upto;
    if (nld) {
        struct ld_rec **l = cn_malloc(nld * sizeof(*l));
        if (!l || state__tx_reserve(t, nld, 0)) {
            cn_free(l);
            return CN_ENOMEM;
        }
        size_t j = 0;
        state__avl_seek(&it, s->lock_delays, NULL, false, &state__ld_ops);
        while ((a = state__avl_next(&it)))
            if (CN_CONTAINER_OF(a, struct ld_rec, a)->index <= upto)
                l[j++] = CN_CONTAINER_OF(a, struct ld_rec, a);
        for (j = 0; j < nld; j++)
            state__tx_remove(t, &s->lock_delays, &state__ld_ops, &l[j]->a, true);
        cn_free(l);
    }
    if (k == 0)
        return 0;
    struct kv_rec **v = cn_malloc(k * sizeof(*v));
    if (!v || state__tx_reserve(t, k, 0)) {
        cn_free(v);
        return CN_ENOMEM;
    }
    size_t j = 0;
    state__avl_seek(&it, s->kv, NULL, false, &state__kv_ops);
    while ((a = state__avl_next(&it)))
        if (KV_IS_TOMB(KV(a)) && KVR_MODIFY(KV(a)) <= upto)
            v[j++] = KV(a);
    for (j = 0; j < k; j++)
        state__tx_remove(t, &s->kv, &state__kv_ops, &v[j]->a, true);
    s->kv_tombs -= k;
    cn_free(v);
    return 0;
}
