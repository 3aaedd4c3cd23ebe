/* state/ca.c: the Connect CA's replicated state: one record, the CA as opaque
 * bytes (connect/ writes and reads them: configuration, roots, the active
 * root's private key, as Consul's built-in provider keeps its key in the
 * state store) with its Raft indexes. The leader proposes a whole new record
 * (CA_SET) on initialisation and rotation; nothing else writes it. Kept in an
 * AVL tree of at most one record so the command transaction's undo covers it. */
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

#define CA(n) CN_CONTAINER_OF(n, struct ca_rec, a)

struct ca_rec {
    struct avl a;
    struct state_ca c;
    uint8_t data[];
};

static const char ca_key_name[] = "ca";

static int c_cmp(const void *key, const struct avl *n)
{
    (void)n;
    return strcmp((const char *)key, ca_key_name);
}
static const void *c_key(const struct avl *n)
{
    (void)n;
    return ca_key_name;
}
static void c_free(struct state *s, struct avl *n)
{
    struct ca_rec *r = CA(n);
    s->mem -= state__chunk(sizeof(*r) + r->c.len);
    cn_free(r);
}
const struct avl_ops state__ca_ops = {c_cmp, c_key, NULL, c_free};

static struct ca_rec *rec_new(struct state *s, const void *p, size_t n, uint64_t ci, uint64_t mi)
{
    struct ca_rec *r = cn_malloc(sizeof(*r) + n);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    if (n)
        memcpy(r->data, p, n);
    r->c.data = r->data;
    r->c.len = n;
    r->c.create_index = ci;
    r->c.modify_index = mi;
    s->mem += state__chunk(sizeof(*r) + n);
    return r;
}

int state_cmd_ca_set(struct cn_buf *out, const void *data, size_t len, uint64_t expect)
{
    if (!data || !len)
        return CN_EINVAL;
    size_t len0 = out->len;
    int rc = cn_enc_u8(out, STATE_CMD_CA_SET);
    if (!rc)
        rc = cn_enc_u8(out, STATE_CMD_VERSION);
    if (!rc)
        rc = cn_enc_u64(out, expect);
    if (!rc)
        rc = cn_enc_bytes(out, data, len);
    if (rc)
        out->len = len0;
    return rc;
}

const struct state_ca *state_ca_get(const struct state *s)
{
    struct avl *a = state__avl_find(s->ca, ca_key_name, &state__ca_ops);
    return a ? &CA(a)->c : NULL;
}

int state__ca_apply_set(struct txn *t, struct cn_dec *d)
{
    size_t n;
    uint64_t expect = cn_dec_u64(d);
    const void *p = cn_dec_bytes(d, &n);
    if (!cn_dec_done(d) || !n)
        return CN_ECORRUPT;
    struct avl *old = state__avl_find(t->s->ca, ca_key_name, &state__ca_ops);
    /* conditional on the record the proposer read (0: none yet), so neither
     * two first CAs nor two concurrent rotations both apply */
    if (expect != (old ? CA(old)->c.modify_index : 0)) {
        int e = state__tx_error(t, 0, "the CA changed since it was read (index %llu)",
                                (unsigned long long)(old ? CA(old)->c.modify_index : 0));
        return e ? e : CN_ECONFLICT;
    }
    struct ca_rec *r = rec_new(t->s, p, n, old ? CA(old)->c.create_index : t->idx, t->idx);
    if (!r)
        return CN_ENOMEM;
    if (state__tx_reserve(t, 2, 1)) {
        c_free(t->s, &r->a);
        return CN_ENOMEM;
    }
    if (old)
        state__tx_replace(t, &t->s->ca, &state__ca_ops, old, &r->a, true);
    else
        state__tx_insert(t, &t->s->ca, &state__ca_ops, &r->a, true);
    state__tx_set_u64(t, &t->s->tidx[STATE_T_CA], t->idx);
    state__tx_note(t, STATE_T_CA, ca_key_name);
    if (t->res)
        t->res->ok = true;
    return 0;
}

int state__ca_encode(const struct state *s, struct cn_buf *b)
{
    const struct state_ca *c = state_ca_get(s);
    CN_TRY(cn_enc_u64(b, s->tidx[STATE_T_CA]));
    CN_TRY(cn_enc_u8(b, c ? 1 : 0));
    if (!c)
        return 0;
    CN_TRY(cn_enc_bytes(b, c->data, c->len));
    CN_TRY(cn_enc_u64(b, c->create_index));
    return cn_enc_u64(b, c->modify_index);
}

int state__ca_decode(struct state *s, struct cn_dec *d, uint64_t clamp, char *err, size_t errcap)
{
    s->tidx[STATE_T_CA] = cn_dec_u64(d);
    uint8_t has = cn_dec_u8(d);
    size_t n = 0;
    const void *p = has == 1 ? cn_dec_bytes(d, &n) : NULL;
    uint64_t ci = has == 1 ? cn_dec_u64(d) : 0, mi = has == 1 ? cn_dec_u64(d) : 0;
    if (d->err || has > 1 || (has && (!n || !ci || ci > mi || mi > s->last_index)) ||
        s->tidx[STATE_T_CA] > s->last_index) {
        snprintf(err, errcap, "connect CA: truncated, or indexes out of range");
        return d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
    }
    if (!has)
        return 0;
    if (clamp) {
        mi = clamp;
        ci = ci > clamp ? clamp : ci;
    }
    struct ca_rec *r = rec_new(s, p, n, ci, mi);
    if (!r)
        return CN_ENOMEM;
    state__avl_insert(&s->ca, &r->a, &state__ca_ops);
    return 0;
}
