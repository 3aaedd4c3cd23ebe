/* state/intention.c: service intentions (Consul's agent/structs/intention.go
 * and the service-intentions config entries that hold them since 1.9). One
 * AVL tree keyed by (destination, source): a pair has at most one intention.
 * IDs (the legacy, pre-1.9 API) are looked up by a walk: intentions are few
 * (one per pair of services that talk, not per instance). The rules that need
 * the state are here, with Consul's texts; field validation (wildcards,
 * action, lengths) is the API layer's (api/intention.c), before proposing. */
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/text.h"
#include "state/state_int.h"

#define IX(n) CN_CONTAINER_OF(n, struct ixn_rec, a)

struct ixn_key {
    const char *dst, *src;
};

struct ixn_rec {
    struct avl a;
    struct ixn_key k; /* points into x */
    struct state_intention x;
};

static size_t rec_size(const struct state_intention *x)
{
    return sizeof(struct ixn_rec) + strlen(x->id) + strlen(x->source) + strlen(x->destination) +
           strlen(x->action) + strlen(x->description) + strlen(x->meta) + 6;
}

static int x_cmp(const void *key, const struct avl *n)
{
    const struct ixn_key *k = key;
    int c = strcmp(k->dst, IX(n)->k.dst);
    return c ? c : strcmp(k->src, IX(n)->k.src);
}
static const void *x_key(const struct avl *n)
{
    return &IX(n)->k;
}
static void x_free(struct state *s, struct avl *n)
{
    struct ixn_rec *r = IX(n);
    s->mem -= state__chunk(rec_size(&r->x));
    cn_free(r);
}
const struct avl_ops state__ixn_ops = {x_cmp, x_key, NULL, x_free};

int state_intention_precedence(const char *source, const char *destination)
{
    /* Intention.UpdatePrecedence with one namespace ("default", exact):
     * exact destination 9 (exact source) or 8 (* source); * destination 6
     * or 5. */
    int max = strcmp(destination, "*") ? 9 : 6;
    return max - (strcmp(source, "*") ? 0 : 1);
}

static struct ixn_rec *rec_new(struct state *s, const struct state_intention *x)
{
    size_t sz = rec_size(x);
    struct ixn_rec *r = cn_malloc(sz);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    char *at = (char *)(r + 1);
    r->x.id = cn_str_pack(&at, x->id, strlen(x->id));
    r->x.source = cn_str_pack(&at, x->source, strlen(x->source));
    r->x.destination = cn_str_pack(&at, x->destination, strlen(x->destination));
    r->x.action = cn_str_pack(&at, x->action, strlen(x->action));
    r->x.description = cn_str_pack(&at, x->description, strlen(x->description));
    r->x.meta = cn_str_pack(&at, x->meta, strlen(x->meta));
    r->x.created_ns = x->created_ns;
    r->x.updated_ns = x->updated_ns;
    r->x.precedence = state_intention_precedence(x->source, x->destination);
    r->x.create_index = x->create_index;
    r->x.modify_index = x->modify_index;
    r->k.dst = r->x.destination;
    r->k.src = r->x.source;
    s->mem += state__chunk(sz);
    return r;
}

/* ---- commands ----------------------------------------------------------------- */

static const char *nz(const char *s)
{
    return s ? s : "";
}

int state_cmd_intention_set(struct cn_buf *out, int op, const struct state_intention *x)
{
    if (!x || !x->source || !x->destination || !x->action || op < 0 || op > STATE_IXN_UPSERT)
        return CN_EINVAL;
    size_t len0 = out->len;
    int rc = cn_enc_u8(out, STATE_CMD_INTENTION_SET);
    if (!rc)
        rc = cn_enc_u8(out, STATE_CMD_VERSION);
    if (!rc)
        rc = cn_enc_u8(out, (uint8_t)op);
    const char *f[] = {nz(x->id), x->source,          x->destination,
                       x->action, nz(x->description), nz(x->meta)};
    for (size_t i = 0; !rc && i < sizeof(f) / sizeof(f[0]); i++)
        rc = cn_enc_str(out, f[i]);
    if (!rc)
        rc = cn_enc_u64(out, (uint64_t)x->updated_ns);
    if (rc)
        out->len = len0;
    return rc;
}

int state_cmd_intention_delete(struct cn_buf *out, const char *id, const char *source,
                               const char *destination)
{
    bool by_id = id && *id;
    if (!by_id && (!source || !destination))
        return CN_EINVAL;
    size_t len0 = out->len;
    int rc = cn_enc_u8(out, STATE_CMD_INTENTION_DELETE);
    if (!rc)
        rc = cn_enc_u8(out, STATE_CMD_VERSION);
    if (!rc)
        rc = cn_enc_u8(out, by_id ? 0 : 1);
    if (!rc)
        rc = by_id ? cn_enc_str(out, id) : cn_enc_str(out, source);
    if (!rc && !by_id)
        rc = cn_enc_str(out, destination);
    if (rc)
        out->len = len0;
    return rc;
}

int state_cmd_intention_entry(struct cn_buf *out, const char *destination, bool del, bool cas,
                              uint64_t cas_index, int64_t now_ns,
                              const struct state_ixn_source *srcs, size_t n)
{
    if (!destination || !*destination || (del ? n != 0 : n == 0) || n > STATE_IXN_ENTRY_MAX)
        return CN_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!srcs[i].source || !*srcs[i].source || !srcs[i].action ||
            (strcmp(srcs[i].action, "allow") && strcmp(srcs[i].action, "deny")))
            return CN_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(srcs[i].source, srcs[j].source))
                return CN_EINVAL;
    }
    size_t len0 = out->len;
    int rc = cn_enc_u8(out, STATE_CMD_INTENTION_ENTRY);
    rc = rc ? rc : cn_enc_u8(out, STATE_CMD_VERSION);
    rc = rc ? rc : cn_enc_u8(out, (uint8_t)((del ? 1 : 0) | (cas ? 2 : 0)));
    rc = rc ? rc : cn_enc_u64(out, cas_index);
    rc = rc ? rc : cn_enc_str(out, destination);
    rc = rc ? rc : cn_enc_u64(out, (uint64_t)now_ns);
    rc = rc ? rc : cn_enc_u32(out, (uint32_t)n);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = cn_enc_str(out, srcs[i].source);
        rc = rc ? rc : cn_enc_str(out, srcs[i].action);
        rc = rc ? rc : cn_enc_str(out, nz(srcs[i].description));
    }
    if (rc)
        out->len = len0;
    return rc;
}

/* ---- reads -------------------------------------------------------------------- */

/* The first intention of destination dst (or NULL): the tree is ordered by
 * (destination, source) and no source is empty. */
static void seek_dst(struct avl_iter *it, const struct state *s, const char *dst)
{
    struct ixn_key k = {dst, ""};
    state__avl_seek(it, s->intentions, &k, false, &state__ixn_ops);
}

void state_intention_entry_index(const struct state *s, const char *destination,
                                 uint64_t *create_index, uint64_t *modify_index)
{
    struct avl_iter it;
    struct avl *a;
    uint64_t ci = 0, mi = 0;
    seek_dst(&it, s, destination);
    while ((a = state__avl_next(&it)) && !strcmp(IX(a)->x.destination, destination)) {
        if (!ci || IX(a)->x.create_index < ci)
            ci = IX(a)->x.create_index;
        if (IX(a)->x.modify_index > mi)
            mi = IX(a)->x.modify_index;
    }
    *create_index = ci;
    *modify_index = mi;
}

const struct state_intention *state_intention_get(const struct state *s, const char *source,
                                                  const char *destination)
{
    if (!source || !destination)
        return NULL;
    struct ixn_key k = {destination, source};
    struct avl *a = state__avl_find(s->intentions, &k, &state__ixn_ops);
    return a ? &IX(a)->x : NULL;
}

static struct avl *find_id(const struct state *s, const char *id)
{
    struct avl_iter it;
    struct avl *a;
    if (!id || !*id)
        return NULL;
    state__avl_seek(&it, s->intentions, NULL, false, &state__ixn_ops);
    while ((a = state__avl_next(&it)))
        if (!strcmp(IX(a)->x.id, id))
            return a;
    return NULL;
}

const struct state_intention *state_intention_by_id(const struct state *s, const char *id)
{
    struct avl *a = find_id(s, id);
    return a ? &IX(a)->x : NULL;
}

void state_intentions_foreach(const struct state *s, state_intention_cb cb, void *arg)
{
    struct avl_iter it;
    struct avl *a;
    state__avl_seek(&it, s->intentions, NULL, false, &state__ixn_ops);
    while ((a = state__avl_next(&it)))
        if (cb(arg, &IX(a)->x))
            return;
}

size_t state_intention_count(const struct state *s)
{
    struct avl_iter it;
    size_t n = 0;
    state__avl_seek(&it, s->intentions, NULL, false, &state__ixn_ops);
    while (state__avl_next(&it))
        n++;
    return n;
}

/* ---- apply -------------------------------------------------------------------- */

/* Intention.String(): "ALLOW default/web => default/db (ID: ...)". */
static int duplicate(struct txn *t, const struct state_intention *o)
{
    char act[8];
    size_t i = 0;
    for (; o->action[i] && i < sizeof(act) - 1; i++)
        act[i] =
            (char)(o->action[i] >= 'a' && o->action[i] <= 'z' ? o->action[i] - 32 : o->action[i]);
    act[i] = 0;
    int e = state__tx_error(t, 0, "duplicate intention found: %s default/%s => default/%s (ID: %s)",
                            act, o->source, o->destination, o->id);
    return e ? e : CN_EINVAL;
}

static int fail(struct txn *t, int rc, const char *fmt, const char *a)
{
    int e = state__tx_error(t, 0, fmt, a);
    return e ? e : rc;
}

static int changed(struct txn *t, const char *dst)
{
    if (state__tx_reserve(t, 1, 1))
        return CN_ENOMEM;
    state__tx_set_u64(t, &t->s->tidx[STATE_T_INTENTIONS], t->idx);
    state__tx_note(t, STATE_T_INTENTIONS, dst);
    return 0;
}

static bool str_ok(const char *p, size_t n)
{
    return !n || (p && !memchr(p, '\0', n));
}

static int insert(struct txn *t, const struct state_intention *x)
{
    struct ixn_rec *r = rec_new(t->s, x);
    if (!r)
        return CN_ENOMEM;
    if (state__tx_reserve(t, 1, 0)) {
        x_free(t->s, &r->a);
        return CN_ENOMEM;
    }
    state__tx_insert(t, &t->s->intentions, &state__ixn_ops, &r->a, true);
    return changed(t, r->x.destination);
}

static int remove_rec(struct txn *t, struct avl *a)
{
    if (state__tx_reserve(t, 1, 0))
        return CN_ENOMEM;
    state__tx_remove(t, &t->s->intentions, &state__ixn_ops, a, true);
    return changed(t, IX(a)->x.destination);
}

/* The remaining intentions of dst take the write's index (the entry's
 * ModifyIndex moves: state_intention_entry_index). */
static int bump_dst(struct txn *t, const char *dst)
{
    struct avl_iter it;
    struct avl *a;
    seek_dst(&it, t->s, dst);
    while ((a = state__avl_next(&it)) && !strcmp(IX(a)->x.destination, dst)) {
        if (state__tx_reserve(t, 1, 0))
            return CN_ENOMEM;
        state__tx_set_u64(t, &IX(a)->x.modify_index, t->idx);
    }
    return 0;
}

static int apply_set(struct txn *t, uint8_t op, struct state_intention *x)
{
    struct state *s = t->s;
    struct ixn_key k = {x->destination, x->source};
    struct avl *pair = state__avl_find(s->intentions, &k, &state__ixn_ops);
    struct avl *byid = op == STATE_IXN_UPSERT ? NULL : find_id(s, x->id);
    if (!*x->source || !*x->destination)
        return fail(t, CN_EINVAL, "Intention source and destination must be set%s", "");
    if (op == STATE_IXN_CREATE) {
        if (!*x->id)
            return fail(t, CN_EINVAL, "Intention ID must be set%s", "");
        if (byid)
            return fail(t, CN_EINVAL, "Intention ID '%s' already exists", x->id);
        if (pair)
            return duplicate(t, &IX(pair)->x);
        x->created_ns = x->updated_ns;
        x->create_index = t->idx;
    } else if (op == STATE_IXN_UPDATE) {
        if (!byid)
            return fail(t, CN_ENOTFOUND, "Cannot modify non-existent intention: '%s'", x->id);
        if (pair && pair != byid)
            return duplicate(t, &IX(pair)->x);
        x->created_ns = IX(byid)->x.created_ns;
        x->create_index = IX(byid)->x.create_index;
        pair = byid; /* replaced, possibly under another (destination, source) */
    } else {
        /* Upsert by name: an intention of that pair keeps its ID and
         * creation; a new one has neither (Consul 1.9+). */
        x->id = pair ? IX(pair)->x.id : "";
        x->created_ns = pair ? IX(pair)->x.created_ns : 0;
        if (!pair)
            x->updated_ns = 0;
        x->create_index = pair ? IX(pair)->x.create_index : t->idx;
    }
    x->modify_index = t->idx;
    char *moved_from = NULL; /* an update by ID to another destination */
    if (pair && strcmp(IX(pair)->x.destination, x->destination) != 0 &&
        !(moved_from = cn_strdup(IX(pair)->x.destination)))
        return CN_ENOMEM;
    int rc = pair ? remove_rec(t, pair) : 0;
    rc = rc ? rc : insert(t, x);
    if (!rc && moved_from)
        rc = bump_dst(t, moved_from);
    cn_free(moved_from);
    return rc;
}

int state__ixn_apply_set(struct txn *t, struct cn_dec *d)
{
    uint8_t op = cn_dec_u8(d);
    size_t n[6];
    const char *f[6];
    for (int i = 0; i < 6; i++)
        f[i] = (const char *)cn_dec_bytes(d, &n[i]);
    uint64_t now = cn_dec_u64(d);
    if (!cn_dec_done(d) || op > STATE_IXN_UPSERT)
        return CN_ECORRUPT;
    size_t total = 0;
    for (int i = 0; i < 6; i++) {
        if (!str_ok(f[i], n[i]))
            return CN_ECORRUPT;
        total += n[i] + 1;
    }
    char *buf = cn_malloc(total), *at = buf;
    if (!buf)
        return CN_ENOMEM;
    char *s[6];
    for (int i = 0; i < 6; i++)
        s[i] = cn_str_pack(&at, f[i], n[i]);
    struct state_intention x = {.id = s[0],
                                .source = s[1],
                                .destination = s[2],
                                .action = s[3],
                                .description = s[4],
                                .meta = s[5],
                                .updated_ns = (int64_t)now};
    int rc = strcmp(x.action, "allow") && strcmp(x.action, "deny")
                 ? fail(t, CN_EINVAL, "Action must be set to 'allow' or 'deny'%s", "")
                 : apply_set(t, op, &x);
    if (!rc && t->res)
        t->res->ok = true;
    cn_free(buf);
    return rc;
}

int state__ixn_apply_delete(struct txn *t, struct cn_dec *d)
{
    uint8_t by = cn_dec_u8(d);
    char *a = cn_dec_strdup(d);
    char *b = by == 1 ? cn_dec_strdup(d) : NULL;
    int rc = 0;
    if (!a || (by == 1 && !b) || by > 1 || !cn_dec_done(d))
        rc = d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
    struct avl *hit = NULL;
    if (!rc && by == 0) {
        hit = find_id(t->s, a);
        if (!hit)
            rc = fail(t, CN_ENOTFOUND, "Cannot delete non-existent intention: '%s'", a);
    } else if (!rc) {
        struct ixn_key k = {b, a};
        hit = state__avl_find(t->s->intentions, &k, &state__ixn_ops);
    }
    /* By name, deleting what is not there is done (the config entry has no
     * such source): Consul answers true. */
    char *dst = !rc && hit ? cn_strdup(IX(hit)->x.destination) : NULL;
    if (!rc && hit && !dst)
        rc = CN_ENOMEM;
    if (!rc && hit)
        rc = remove_rec(t, hit);
    if (!rc && hit)
        rc = bump_dst(t, dst);
    if (!rc && t->res)
        t->res->ok = true;
    cn_free(dst);
    cn_free(a);
    cn_free(b);
    return rc;
}

int state__ixn_apply_entry(struct txn *t, struct cn_dec *d)
{
    uint8_t flags = cn_dec_u8(d);
    uint64_t cas = cn_dec_u64(d);
    char *dst = cn_dec_strdup(d);
    uint64_t now = cn_dec_u64(d);
    uint32_t n = cn_dec_u32(d);
    if (!dst || d->err || flags > 3 || n > STATE_IXN_ENTRY_MAX || (flags & 1 ? n : !n)) {
        cn_free(dst);
        return d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
    }
    struct state_intention *xs = cn_calloc(n ? n : 1, sizeof(*xs));
    char **bufs = cn_calloc(n ? n : 1, sizeof(*bufs));
    int rc = xs && bufs ? 0 : CN_ENOMEM;
    for (uint32_t i = 0; !rc && i < n; i++) {
        size_t l[3];
        const char *f[3];
        for (int j = 0; j < 3; j++)
            f[j] = (const char *)cn_dec_bytes(d, &l[j]);
        if (d->err || !str_ok(f[0], l[0]) || !str_ok(f[1], l[1]) || !str_ok(f[2], l[2])) {
            rc = d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
            break;
        }
        char *at = bufs[i] = cn_malloc(l[0] + l[1] + l[2] + 3);
        if (!at) {
            rc = CN_ENOMEM;
            break;
        }
        xs[i].source = cn_str_pack(&at, f[0], l[0]);
        xs[i].action = cn_str_pack(&at, f[1], l[1]);
        xs[i].description = cn_str_pack(&at, f[2], l[2]);
        xs[i].destination = dst;
    }
    if (!rc && !cn_dec_done(d))
        rc = CN_ECORRUPT;
    for (uint32_t i = 0; !rc && i < n; i++) {
        if (!*xs[i].source || (strcmp(xs[i].action, "allow") && strcmp(xs[i].action, "deny")))
            rc = fail(t, CN_EINVAL, "Sources: invalid source \"%s\"", xs[i].source);
        for (uint32_t j = 0; !rc && j < i; j++)
            if (!strcmp(xs[i].source, xs[j].source))
                rc = fail(t, CN_EINVAL, "Sources: duplicate source \"%s\"", xs[i].source);
    }
    uint64_t ci, mi;
    if (!rc && !*dst)
        rc = fail(t, CN_EINVAL, "Name is required%s", "");
    if (!rc)
        state_intention_entry_index(t->s, dst, &ci, &mi);
    if (!rc && (flags & 2) && cas != mi) {
        /* a failed check-and-set: nothing changes, Consul answers false */
        goto out;
    }
    /* the pairs the entry no longer names leave */
    struct avl_iter it;
    struct avl *a;
    bool again = !rc;
    while (again) {
        again = false;
        seek_dst(&it, t->s, dst);
        while ((a = state__avl_next(&it)) && !strcmp(IX(a)->x.destination, dst)) {
            bool named = false;
            for (uint32_t i = 0; i < n && !named; i++)
                named = !strcmp(xs[i].source, IX(a)->x.source);
            if (!named) {
                rc = remove_rec(t, a); /* the iterator is stale: start again */
                again = !rc;
                break;
            }
        }
    }
    for (uint32_t i = 0; !rc && i < n; i++) {
        struct ixn_key k = {dst, xs[i].source};
        struct avl *pair = state__avl_find(t->s->intentions, &k, &state__ixn_ops);
        struct state_intention *x = &xs[i];
        const struct state_intention *o = pair ? &IX(pair)->x : NULL;
        bool same = o && !strcmp(o->action, x->action) && !strcmp(o->description, x->description);
        x->id = o ? o->id : "";
        x->meta = o ? o->meta : "";
        x->created_ns = o ? o->created_ns : 0;
        x->updated_ns = same ? o->updated_ns : (o && o->updated_ns ? (int64_t)now : 0);
        x->create_index = o ? o->create_index : t->idx;
        x->modify_index = t->idx;
        struct ixn_rec *r = rec_new(t->s, x); /* copies o's strings before o goes */
        if (!r) {
            rc = CN_ENOMEM;
            break;
        }
        if (pair && (rc = remove_rec(t, pair)) != 0) {
            x_free(t->s, &r->a);
            break;
        }
        if (state__tx_reserve(t, 1, 0)) {
            x_free(t->s, &r->a);
            rc = CN_ENOMEM;
            break;
        }
        state__tx_insert(t, &t->s->intentions, &state__ixn_ops, &r->a, true);
        rc = changed(t, r->x.destination); /* the note outlives this apply */
    }
    if (!rc && t->res)
        t->res->ok = true;
out:
    for (uint32_t i = 0; bufs && i < n; i++)
        cn_free(bufs[i]);
    cn_free(bufs);
    cn_free(xs);
    cn_free(dst);
    return rc;
}

/* ---- snapshots ------------------------------------------------------------------ */

int state__ixn_encode(const struct state *s, struct cn_buf *b)
{
    struct avl_iter it;
    struct avl *a;
    CN_TRY(cn_enc_u64(b, s->tidx[STATE_T_INTENTIONS]));
    CN_TRY(cn_enc_u32(b, (uint32_t)state_intention_count(s)));
    state__avl_seek(&it, s->intentions, NULL, false, &state__ixn_ops);
    while ((a = state__avl_next(&it))) {
        const struct state_intention *x = &IX(a)->x;
        const char *f[] = {x->id, x->source, x->destination, x->action, x->description, x->meta};
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
            CN_TRY(cn_enc_str(b, f[i]));
        CN_TRY(cn_enc_u64(b, (uint64_t)x->created_ns));
        CN_TRY(cn_enc_u64(b, (uint64_t)x->updated_ns));
        CN_TRY(cn_enc_u64(b, x->create_index));
        CN_TRY(cn_enc_u64(b, x->modify_index));
    }
    return 0;
}

int state__ixn_decode(struct state *s, struct cn_dec *d, uint64_t clamp, char *err, size_t errcap)
{
    s->tidx[STATE_T_INTENTIONS] = cn_dec_u64(d);
    uint32_t n = cn_dec_u32(d);
    if (d->err) {
        snprintf(err, errcap, "intentions: truncated header");
        return CN_ECORRUPT;
    }
    if (s->tidx[STATE_T_INTENTIONS] > s->last_index) {
        snprintf(err, errcap, "intention table index beyond last index");
        return CN_ECORRUPT;
    }
    struct ixn_rec *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        size_t len[6];
        const char *f[6];
        for (int j = 0; j < 6; j++)
            f[j] = (const char *)cn_dec_bytes(d, &len[j]);
        uint64_t created = cn_dec_u64(d), updated = cn_dec_u64(d);
        uint64_t ci = cn_dec_u64(d), mi = cn_dec_u64(d);
        if (d->err) {
            snprintf(err, errcap, "intention %u: truncated", i);
            return d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
        }
        char *buf = NULL, *s6[6];
        size_t total = 0;
        bool ok = true;
        for (int j = 0; j < 6; j++) {
            ok &= str_ok(f[j], len[j]);
            total += len[j] + 1;
        }
        if (ok && !(buf = cn_malloc(total)))
            return CN_ENOMEM;
        char *at = buf;
        for (int j = 0; ok && j < 6; j++)
            s6[j] = cn_str_pack(&at, f[j], len[j]);
        struct state_intention x = {0};
        if (ok) {
            x = (struct state_intention){.id = s6[0],
                                         .source = s6[1],
                                         .destination = s6[2],
                                         .action = s6[3],
                                         .description = s6[4],
                                         .meta = s6[5],
                                         .created_ns = (int64_t)created,
                                         .updated_ns = (int64_t)updated,
                                         .create_index = ci,
                                         .modify_index = mi};
            ok = *x.source && *x.destination &&
                 (!strcmp(x.action, "allow") || !strcmp(x.action, "deny")) && ci <= mi &&
                 mi <= s->last_index && (!*x.id || !find_id(s, x.id));
        }
        if (ok && clamp) {
            x.modify_index = clamp;
            x.create_index = x.create_index > clamp ? clamp : x.create_index;
        }
        struct ixn_rec *r = ok ? rec_new(s, &x) : NULL;
        cn_free(buf);
        if (ok && !r)
            return CN_ENOMEM;
        if (r && prev && x_cmp(&prev->k, &r->a) >= 0) {
            x_free(s, &r->a);
            r = NULL;
        }
        if (!r) {
            snprintf(err, errcap, "intention %u: empty name, bad action, indexes or order", i);
            return CN_ECORRUPT;
        }
        state__avl_insert(&s->intentions, &r->a, &state__ixn_ops);
        prev = r;
    }
    return 0;
}
