/* state/acl.c: ACL tokens, policies and roles (Consul's
 * agent/consul/state/acl.go tables). One AVL tree keyed by kind digit + ID;
 * the unique names (a token's SecretID, a policy's or role's Name) are found
 * by a walk of one kind: ACL objects are few, and api/acl_authz.c caches what
 * it resolves per ACL table index. The objects themselves are opaque bytes
 * (api/acl.c writes and reads their JSON). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/text.h"
#include "state/state_int.h"

#define AR(n) CN_CONTAINER_OF(n, struct acl_rec, a)
#define KEY_MAX 256

static size_t rec_size(const struct state_acl *v)
{
    return sizeof(struct acl_rec) + 2 * strlen(v->id) + strlen(v->name) + 4 + v->def_len + 1;
}

static int a_cmp(const void *key, const struct avl *n)
{
    return strcmp((const char *)key, AR(n)->key);
}
static const void *a_key(const struct avl *n)
{
    return AR(n)->key;
}
static void a_free(struct state *s, struct avl *n)
{
    struct acl_rec *r = AR(n);
    s->mem -= state__chunk(rec_size(&r->v));
    cn_free(r);
}
const struct avl_ops state__acl_ops = {a_cmp, a_key, NULL, a_free};

static bool kind_ok(unsigned k)
{
    return k >= STATE_ACL_TOKEN && k <= STATE_ACL_ROLE;
}

/* "<kind digit><id>" into buf; false when too long. */
static bool mkkey(char *buf, uint8_t kind, const char *id)
{
    size_t n = strlen(id);
    if (n + 2 > KEY_MAX)
        return false;
    buf[0] = (char)('0' + kind);
    memcpy(buf + 1, id, n + 1);
    return true;
}

struct acl_rec *state__acl_new(struct state *s, const struct state_acl *v)
{
    size_t sz = rec_size(v);
    struct acl_rec *r = cn_malloc(sz);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    char *at = (char *)(r + 1);
    r->key = at;
    *at++ = (char)('0' + v->kind);
    cn_str_pack(&at, v->id, strlen(v->id));
    r->v.id = cn_str_pack(&at, v->id, strlen(v->id));
    r->v.name = cn_str_pack(&at, v->name, strlen(v->name));
    r->v.def = (uint8_t *)cn_str_pack(&at, (const char *)v->def, v->def_len);
    r->v.def_len = v->def_len;
    r->v.kind = v->kind;
    r->v.expires_unix_ns = v->expires_unix_ns;
    r->v.create_index = v->create_index;
    r->v.modify_index = v->modify_index;
    s->mem += state__chunk(sz);
    return r;
}

/* ---- commands ----------------------------------------------------------------- */

static int begin(struct cn_buf *out, enum state_cmd_type t)
{
    CN_TRY(cn_enc_u8(out, (uint8_t)t));
    return cn_enc_u8(out, STATE_CMD_VERSION);
}

static int enc_obj(struct cn_buf *out, const struct state_acl *v)
{
    CN_TRY(cn_enc_u8(out, v->kind));
    CN_TRY(cn_enc_str(out, v->id));
    CN_TRY(cn_enc_str(out, v->name ? v->name : ""));
    CN_TRY(cn_enc_u64(out, (uint64_t)v->expires_unix_ns));
    return cn_enc_bytes(out, v->def, v->def_len);
}

static bool obj_ok(const struct state_acl *v)
{
    return v && kind_ok(v->kind) && v->id && (v->def || !v->def_len);
}

int state_cmd_acl_set(struct cn_buf *out, int op, const struct state_acl *v)
{
    if (!obj_ok(v) || op < 0 || op > 2)
        return CN_EINVAL;
    size_t len0 = out->len;
    int rc = begin(out, STATE_CMD_ACL_SET);
    if (!rc)
        rc = cn_enc_u8(out, (uint8_t)op);
    if (!rc)
        rc = enc_obj(out, v);
    if (rc)
        out->len = len0;
    return rc;
}

int state_cmd_acl_bootstrap(struct cn_buf *out, const struct state_acl *token)
{
    if (!obj_ok(token) || token->kind != STATE_ACL_TOKEN)
        return CN_EINVAL;
    size_t len0 = out->len;
    int rc = begin(out, STATE_CMD_ACL_BOOTSTRAP);
    if (!rc)
        rc = enc_obj(out, token);
    if (rc)
        out->len = len0;
    return rc;
}

int state_cmd_acl_delete(struct cn_buf *out, uint8_t kind, const char *id)
{
    if (!id || !kind_ok(kind))
        return CN_EINVAL;
    size_t len0 = out->len;
    int rc = begin(out, STATE_CMD_ACL_DELETE);
    if (!rc)
        rc = cn_enc_u8(out, kind);
    if (!rc)
        rc = cn_enc_str(out, id);
    if (rc)
        out->len = len0;
    return rc;
}

int state_cmd_acl_replicate(struct cn_buf *out, const struct state_acl *dels, size_t ndel,
                            const struct state_acl *sets, size_t nset)
{
    if (ndel > UINT32_MAX || nset > UINT32_MAX || (ndel && !dels) || (nset && !sets))
        return CN_EINVAL;
    for (size_t i = 0; i < ndel; i++)
        if (!dels[i].id || !kind_ok(dels[i].kind))
            return CN_EINVAL;
    for (size_t i = 0; i < nset; i++)
        if (!obj_ok(&sets[i]))
            return CN_EINVAL;
    size_t len0 = out->len;
    int rc = begin(out, STATE_CMD_ACL_REPLICATE);
    if (!rc)
        rc = cn_enc_u32(out, (uint32_t)ndel);
    for (size_t i = 0; !rc && i < ndel; i++) {
        rc = cn_enc_u8(out, dels[i].kind);
        if (!rc)
            rc = cn_enc_str(out, dels[i].id);
    }
    if (!rc)
        rc = cn_enc_u32(out, (uint32_t)nset);
    for (size_t i = 0; !rc && i < nset; i++)
        rc = enc_obj(out, &sets[i]);
    if (rc)
        out->len = len0;
    return rc;
}

/* ---- reads -------------------------------------------------------------------- */

const struct state_acl *state_acl_get(const struct state *s, uint8_t kind, const char *id)
{
    char key[KEY_MAX];
    if (!id || !kind_ok(kind) || !mkkey(key, kind, id))
        return NULL;
    struct avl *a = state__avl_find(s->acl, key, &state__acl_ops);
    return a ? &AR(a)->v : NULL;
}

void state_acl_foreach(const struct state *s, uint8_t kind, state_acl_cb cb, void *arg)
{
    struct avl_iter it;
    struct avl *a;
    char key[2] = {(char)('0' + kind), 0};
    state__avl_seek(&it, s->acl, key, false, &state__acl_ops);
    while ((a = state__avl_next(&it))) {
        if (AR(a)->v.kind != kind)
            return;
        if (cb(arg, &AR(a)->v))
            return;
    }
}

struct by_name {
    const char *name;
    const struct state_acl *hit;
};
static int by_name_cb(void *arg, const struct state_acl *v)
{
    struct by_name *b = arg;
    if (strcmp(v->name, b->name) != 0)
        return 0;
    b->hit = v;
    return 1;
}

const struct state_acl *state_acl_by_name(const struct state *s, uint8_t kind, const char *name)
{
    struct by_name b = {name, NULL};
    if (!name || !*name || !kind_ok(kind))
        return NULL;
    state_acl_foreach(s, kind, by_name_cb, &b);
    return b.hit;
}

uint64_t state_acl_bootstrap_index(const struct state *s)
{
    return s->acl_bootstrap;
}

/* ---- apply -------------------------------------------------------------------- */

static int fail(struct txn *t, int rc, const char *fmt, const char *a)
{
    int e = state__tx_error(t, 0, fmt, a);
    return e ? e : rc;
}

static bool str_ok(const char *p, size_t n)
{
    return !n || (p && !memchr(p, '\0', n));
}

/* Decode one object; strings into one cn_malloc'd block (*mem). */
static int dec_obj(struct cn_dec *d, struct state_acl *v, char **mem)
{
    memset(v, 0, sizeof(*v));
    v->kind = cn_dec_u8(d);
    size_t ni, nn;
    const char *id = (const char *)cn_dec_bytes(d, &ni);
    const char *nm = (const char *)cn_dec_bytes(d, &nn);
    v->expires_unix_ns = (int64_t)cn_dec_u64(d);
    v->def = (uint8_t *)cn_dec_bytes(d, &v->def_len);
    if (d->err || !kind_ok(v->kind) || !str_ok(id, ni) || !str_ok(nm, nn) || ni + 2 > KEY_MAX)
        return CN_ECORRUPT;
    char *m = cn_malloc(ni + nn + 2);
    if (!m)
        return CN_ENOMEM;
    char *at = m;
    v->id = cn_str_pack(&at, id ? id : "", ni);
    v->name = cn_str_pack(&at, nm ? nm : "", nn);
    *mem = m;
    return 0;
}

static int changed(struct txn *t, const char *id)
{
    if (state__tx_reserve(t, 1, 1))
        return CN_ENOMEM;
    state__tx_set_u64(t, &t->s->tidx[STATE_T_ACL], t->idx);
    state__tx_note(t, STATE_T_ACL, id);
    return 0;
}

static const char *const clash_fmt[] = {
    NULL,
    "Invalid Token: SecretID is already in use%s",
    "Invalid Policy: A Policy with Name \"%s\" already exists",
    "Invalid Role: A Role with Name \"%s\" already exists",
};
static const char *const kind_name[] = {NULL, "token", "policy", "role"};

static int put(struct txn *t, int op, const struct state_acl *v)
{
    struct state *s = t->s;
    char key[KEY_MAX];
    if (!mkkey(key, v->kind, v->id))
        return CN_ECORRUPT;
    struct avl *old = state__avl_find(s->acl, key, &state__acl_ops);
    if (!*v->id)
        return fail(t, CN_EINVAL, "Missing %s ID", kind_name[v->kind]);
    if (op == 0 && old)
        return fail(t, CN_EINVAL, "ID %s is already in use", v->id);
    if (op == 1 && !old)
        return fail(t, CN_ENOTFOUND, "Cannot find %s to update", kind_name[v->kind]);
    if (!*v->name)
        return fail(t, CN_EINVAL, "Missing %s name", kind_name[v->kind]);
    const struct state_acl *o = state_acl_by_name(s, v->kind, v->name);
    if (o && strcmp(o->id, v->id) != 0)
        return fail(t, CN_EINVAL, clash_fmt[v->kind], v->kind == STATE_ACL_TOKEN ? "" : v->name);
    struct state_acl nv = *v;
    nv.create_index = old ? AR(old)->v.create_index : t->idx;
    nv.modify_index = t->idx;
    struct acl_rec *r = state__acl_new(s, &nv);
    if (!r || state__tx_reserve(t, 1, 0)) {
        if (r)
            a_free(s, &r->a);
        return CN_ENOMEM;
    }
    if (old)
        state__tx_replace(t, &s->acl, &state__acl_ops, old, &r->a, true);
    else
        state__tx_insert(t, &s->acl, &state__acl_ops, &r->a, true);
    CN_TRY(changed(t, r->v.id));
    if (t->res)
        t->res->ok = true;
    return 0;
}

int state__acl_apply_set(struct txn *t, struct cn_dec *d)
{
    uint8_t op = cn_dec_u8(d);
    struct state_acl v;
    char *mem = NULL;
    int rc = dec_obj(d, &v, &mem);
    if (!rc && (!cn_dec_done(d) || op > 2))
        rc = CN_ECORRUPT;
    if (!rc)
        rc = put(t, op, &v);
    cn_free(mem);
    return rc;
}

int state__acl_apply_bootstrap(struct txn *t, struct cn_dec *d)
{
    struct state_acl v;
    char *mem = NULL;
    int rc = dec_obj(d, &v, &mem);
    if (!rc && (!cn_dec_done(d) || v.kind != STATE_ACL_TOKEN))
        rc = CN_ECORRUPT;
    if (!rc && t->s->acl_bootstrap) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%" PRIu64, t->s->acl_bootstrap);
        rc = fail(t, CN_EEXIST, "ACL bootstrap no longer allowed (reset index: %s)", msg);
    }
    if (!rc)
        rc = state__tx_reserve(t, 1, 0) ? CN_ENOMEM : 0;
    if (!rc) {
        state__tx_set_u64(t, &t->s->acl_bootstrap, t->idx);
        rc = put(t, 0, &v);
    }
    cn_free(mem);
    return rc;
}

/* Remove the object under key if there is one: 0, or CN_ENOMEM. */
static int remove_key(struct txn *t, const char *key)
{
    struct avl *a = state__avl_find(t->s->acl, key, &state__acl_ops);
    if (!a)
        return 0;
    if (state__tx_reserve(t, 1, 0))
        return CN_ENOMEM;
    state__tx_remove(t, &t->s->acl, &state__acl_ops, a, true);
    return changed(t, AR(a)->v.id);
}

int state__acl_apply_replicate(struct txn *t, struct cn_dec *d)
{
    uint32_t ndel = cn_dec_u32(d);
    if (d->err)
        return CN_ECORRUPT;
    char key[KEY_MAX];
    for (uint32_t i = 0; i < ndel; i++) {
        uint8_t kind = cn_dec_u8(d);
        char *id = cn_dec_strdup(d);
        if (!id)
            return d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
        int rc = kind_ok(kind) && mkkey(key, kind, id) ? remove_key(t, key) : CN_ECORRUPT;
        cn_free(id);
        if (rc)
            return rc;
    }
    uint32_t nset = cn_dec_u32(d);
    if (d->err)
        return CN_ECORRUPT;
    for (uint32_t i = 0; i < nset; i++) {
        struct state_acl v;
        char *mem = NULL;
        int rc = dec_obj(d, &v, &mem);
        if (!rc) {
            /* the name another object of the kind holds: the primary's
             * object takes it */
            const struct state_acl *o = state_acl_by_name(t->s, v.kind, v.name);
            if (o && strcmp(o->id, v.id) != 0 && mkkey(key, o->kind, o->id))
                rc = remove_key(t, key);
        }
        if (!rc)
            rc = put(t, 2, &v);
        cn_free(mem);
        if (rc)
            return rc;
    }
    if (!cn_dec_done(d))
        return CN_ECORRUPT;
    if (t->res)
        t->res->ok = true;
    return 0;
}

int state__acl_apply_delete(struct txn *t, struct cn_dec *d)
{
    uint8_t kind = cn_dec_u8(d);
    char *id = cn_dec_strdup(d);
    if (!id)
        return d->err == CN_ENOMEM ? CN_ENOMEM : CN_ECORRUPT;
    char key[KEY_MAX];
    int rc = 0;
    if (!cn_dec_done(d) || !kind_ok(kind) || !mkkey(key, kind, id))
        rc = CN_ECORRUPT;
    struct avl *a = rc ? NULL : state__avl_find(t->s->acl, key, &state__acl_ops);
    if (!rc && !a) {
        /* Consul's deletes of an unknown ID succeed (idempotent). */
        if (t->res)
            t->res->ok = false;
    } else if (!rc) {
        if (state__tx_reserve(t, 1, 0))
            rc = CN_ENOMEM;
        else {
            state__tx_remove(t, &t->s->acl, &state__acl_ops, a, true);
            rc = changed(t, AR(a)->v.id);
            if (!rc && t->res)
                t->res->ok = true;
        }
    }
    cn_free(id);
    return rc;
}
