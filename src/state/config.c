/* state/config.c: the config entries Consul keeps in its config-entries
 * table (agent/consul/state/config_entry.go) for the kinds cairn stores
 * itself: proxy-defaults and service-defaults (service-intentions entries are
 * a view of the intentions, intention.c). One AVL tree keyed by (kind,
 * name); the entry is opaque bytes here, its canonical JSON without indexes,
 * which api/config_defaults.c writes and reads, as prepared queries keep
 * their definition. CONFIG_ENTRY upserts or deletes one entry, optionally
 * only while its ModifyIndex is still the one given (Consul's upsert-cas and
 * delete-cas: 0 means "there is none" for an upsert). */
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/text.h"
#include "state/state_int.h"

#define CE(n) CN_CONTAINER_OF(n, struct cfg_rec, a)

struct cfg_rec {
    struct avl a;
    struct pair_key k; /* (kind, name) */
    struct state_config_entry e;
};

static size_t rec_size(size_t kl, size_t nl, size_t dl)
{
    return sizeof(struct cfg_rec) + kl + nl + dl + 3;
}

static int c_cmp(const void *key, const struct avl *n)
{
    const struct pair_key *p = key;
    int c = strcmp(p->a, CE(n)->k.a);
    return c ? c : strcmp(p->b, CE(n)->k.b);
}
static const void *c_key(const struct avl *n)
{
    return &CE(n)->k;
}
static void c_free(struct state *s, struct avl *n)
{
    struct cfg_rec *r = CE(n);
    s->mem -= state__chunk(rec_size(strlen(r->e.kind), strlen(r->e.name), r->e.len));
    cn_free(r);
}
const struct avl_ops state__cfg_ops = {c_cmp, c_key, NULL, c_free};

/* One allocation: the record, then kind, name and data (each NUL-ended). */
static struct cfg_rec *rec_new(struct state *s, const char *kind, size_t kl, const char *name,
                               size_t nl, const void *data, size_t dl, uint64_t ci, uint64_t mi)
{
    size_t sz = rec_size(kl, nl, dl);
    struct cfg_rec *r = cn_malloc(sz);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    char *at = (char *)(r + 1);
    r->e.kind = r->k.a = cn_str_pack(&at, kind, kl);
    r->e.name = r->k.b = cn_str_pack(&at, name, nl);
    r->e.data = (const uint8_t *)cn_str_pack(&at, data, dl);
    r->e.len = dl;
    r->e.create_index = ci;
    r->e.modify_index = mi;
    s->mem += state__chunk(sz);
    return r;
}

/* ---- commands ----------------------------------------------------------------- */

int state_cmd_config_entry(struct cn_buf *out, const char *kind, const char *name, bool del,
                           bool cas, uint64_t cas_index, const void *data, size_t len)
{
    if (!kind || !name || !*kind || !*name || (del ? len != 0 : (!data || !len)))
        return CN_EINVAL;
    size_t len0 = out->len;
    int rc = cn_enc_u8(out, STATE_CMD_CONFIG_ENTRY);
    rc = rc ? rc : cn_enc_u8(out, STATE_CMD_VERSION);
    rc = rc ? rc : cn_enc_u8(out, (uint8_t)((del ? 1 : 0) | (cas ? 2 : 0)));
    rc = rc ? rc : cn_enc_u64(out, cas_index);
    rc = rc ? rc : cn_enc_str(out, kind);
    rc = rc ? rc : cn_enc_str(out, name);
    rc = rc ? rc : cn_enc_bytes(out, data, len);
    if (rc)
        out->len = len0;
    return rc;
}

/* ---- reads -------------------------------------------------------------------- */

const struct state_config_entry *state_config_entry_get(const struct state *s, const char *kind,
                                                        const char *name)
{
    if (!kind || !name)
        return NULL;
    struct pair_key k = {kind, name};
    struct avl *a = state__avl_find(s->config, &k, &state__cfg_ops);
    return a ? &CE(a)->e : NULL;
}

void state_config_entries_foreach(const struct state *s, const char *kind, state_config_entry_cb cb,
                                  void *arg)
{
    struct avl_iter it;
    struct avl *a;
    struct pair_key k = {kind ? kind : "", ""};
    state__avl_seek(&it, s->config, &k, false, &state__cfg_ops);
    while ((a = state__avl_next(&it))) {
        if (kind && strcmp(CE(a)->e.kind, kind) != 0)
            return;
        if (cb(arg, &CE(a)->e))
            return;
    }
}

size_t state_config_entry_count(const struct state *s)
{
    struct avl_iter it;
    size_t n = 0;
    state__avl_seek(&it, s->config, NULL, false, &state__cfg_ops);
    while (state__avl_next(&it))
        n++;
    return n;
}

/* ---- apply -------------------------------------------------------------------- */

static bool str_ok(const char *p, size_t n)
{
    return p && n && !memchr(p, '\0', n);
}

int state__cfg_apply(struct txn *t, struct cn_dec *d)
{
    struct state *s = t->s;
    uint8_t flags = cn_dec_u8(d);
    uint64_t cas = cn_dec_u64(d);
    size_t kl, nl, dl;
    const char *kind = (const char *)cn_dec_bytes(d, &kl);
    const char *name = (const char *)cn_dec_bytes(d, &nl);
    const void *data = cn_dec_bytes(d, &dl);
    bool del = flags & 1;
    if (!cn_dec_done(d) || flags > 3 || !str_ok(kind, kl) || !str_ok(name, nl) ||
        (del ? dl != 0 : dl == 0))
        return CN_ECORRUPT;
    /* the decoded fields are not NUL-ended: the key needs copies */
    char *kbuf = cn_malloc(kl + nl + 2);
    if (!kbuf)
        return CN_ENOMEM;
    char *at = kbuf;
    struct pair_key k;
    k.a = cn_str_pack(&at, kind, kl);
    k.b = cn_str_pack(&at, name, nl);
    struct avl *old = state__avl_find(s->config, &k, &state__cfg_ops);
    uint64_t mi = old ? CE(old)->e.modify_index : 0;
    int rc = 0;
    if ((flags & 2) && (cas != mi || (del && !old))) {
        /* a failed check-and-set: nothing changes, Consul answers false */
        cn_free(kbuf);
        return 0;
    }
    if (del && !old) { /* nothing to delete: success, no change */
        if (t->res)
            t->res->ok = true;
        cn_free(kbuf);
        return 0;
    }
    struct cfg_rec *r = NULL;
    if (!del && !(r = rec_new(s, k.a, kl, k.b, nl, data, dl, old ? CE(old)->e.create_index : t->idx,
                              t->idx))) {
        cn_free(kbuf);
        return CN_ENOMEM;
    }
    if (state__tx_reserve(t, 2, 2)) {
        if (r)
            c_free(s, &r->a);
        cn_free(kbuf);
        return CN_ENOMEM;
    }
    if (del)
        state__tx_remove(t, &s->config, &state__cfg_ops, old, true);
    else if (old)
        state__tx_replace(t, &s->config, &state__cfg_ops, old, &r->a, true);
    else
        state__tx_insert(t, &s->config, &state__cfg_ops, &r->a, true);
    state__tx_set_u64(t, &s->tidx[STATE_T_CONFIG], t->idx);
    /* the key notified is the kind: readers of a kind, or of one entry of
     * it, and the agent's resolved proxy registrations watch that */
    state__tx_note(t, STATE_T_CONFIG, del ? CE(old)->e.kind : r->e.kind);
    if (t->res)
        t->res->ok = true;
    cn_free(kbuf);
    return rc;
}

/* ---- snapshot section (format 6) ------------------------------------------------ */

int state__cfg_encode(const struct state *s, struct cn_buf *b)
{
    struct avl_iter it;
    struct avl *a;
    CN_TRY(cn_enc_u64(b, s->tidx[STATE_T_CONFIG]));
    CN_TRY(cn_enc_u32(b, (uint32_t)state_config_entry_count(s)));
    state__avl_seek(&it, s->config, NULL, false, &state__cfg_ops);
    while ((a = state__avl_next(&it))) {
        const struct state_config_entry *e = &CE(a)->e;
        CN_TRY(cn_enc_str(b, e->kind));
        CN_TRY(cn_enc_str(b, e->name));
        CN_TRY(cn_enc_bytes(b, e->data, e->len));
        CN_TRY(cn_enc_u64(b, e->create_index));
        CN_TRY(cn_enc_u64(b, e->modify_index));
    }
    return 0;
}

int state__cfg_decode(struct state *s, struct cn_dec *d, uint64_t clamp, char *err, size_t errcap)
{
    s->tidx[STATE_T_CONFIG] = cn_dec_u64(d);
    uint32_t n = cn_dec_u32(d);
    if (d->err || s->tidx[STATE_T_CONFIG] > s->last_index) {
        snprintf(err, errcap, "config entries: truncated, or table index out of range");
        return d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
    }
    const struct cfg_rec *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        size_t kl, nl, dl;
        const char *kind = (const char *)cn_dec_bytes(d, &kl);
        const char *name = (const char *)cn_dec_bytes(d, &nl);
        const void *data = cn_dec_bytes(d, &dl);
        uint64_t ci = cn_dec_u64(d), mi = cn_dec_u64(d);
        if (d->err || !str_ok(kind, kl) || !str_ok(name, nl) || !dl || !ci || ci > mi ||
            mi > s->last_index) {
            snprintf(err, errcap, "config entry %u: truncated, or indexes out of range", i);
            return d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
        }
        if (clamp) {
            mi = clamp;
            ci = ci > clamp ? clamp : ci;
        }
        struct cfg_rec *r = rec_new(s, kind, kl, name, nl, data, dl, ci, mi);
        if (!r)
            return CN_ENOMEM;
        /* written in (kind, name) order, each once: the canonical form */
        if (prev && c_cmp(&r->k, &prev->a) <= 0) {
            c_free(s, &r->a);
            snprintf(err, errcap, "config entry %u: duplicate or out of order", i);
            return CN_ECORRUPT;
        }
        state__avl_insert(&s->config, &r->a, &state__cfg_ops);
        prev = r;
    }
    return 0;
}
