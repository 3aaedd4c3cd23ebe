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

/* ---- reads -------------------------------------------------------------------- */

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
    if (pair)
        CN_TRY(remove_rec(t, pair));
    return insert(t, x);
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
    if (!rc && hit)
        rc = remove_rec(t, hit);
    if (!rc && t->res)
        t->res->ok = true;
    cn_free(a);
    cn_free(b);
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
