/* state/snapshot.c: the whole state as one versioned byte string (layout in
 * docs/format-state.md), and its strict decoder. Restore builds a fresh
 * state and swaps it in only when every record decoded and validated. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/crc.h"
#include "base/assert.h"
#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

#define SNAP_MAGIC "CNST"
/* 1: no sessions, four table indexes; 2: no prepared queries, checks without
 * their agent-only definition; 3: no intentions, no Connect CA, no ACL tables;
 * 4: services without their Connect fields (proxy, native), no network coordinates;
 * 5: no config entries (proxy-defaults, service-defaults); 6: upstreams without their
 * Config */
#define SNAP_VERSION 7
#define SNAP_V1_TABLES 4
/* Table indexes a version-2 snapshot carries: kv, nodes, services, checks,
 * sessions. STATE_T_EVENTS is agent memory, never in a snapshot. */
#define SNAP_V2_TABLES 5

static int enc_names(struct cn_buf *b, struct avl *root)
{
    struct avl_iter it;
    struct avl *a;
    uint32_t n = 0;
    state__avl_seek(&it, root, NULL, false, &state__name_ops);
    while (state__avl_next(&it))
        n++;
    CN_TRY(cn_enc_u32(b, n));
    state__avl_seek(&it, root, NULL, false, &state__name_ops);
    while ((a = state__avl_next(&it))) {
        struct name_rec *r = CN_CONTAINER_OF(a, struct name_rec, a);
        CN_TRY(cn_enc_str(b, r->name));
        CN_TRY(cn_enc_u64(b, r->index));
    }
    return 0;
}

static uint32_t count(struct avl *root, const struct avl_ops *ops)
{
    struct avl_iter it;
    uint32_t n = 0;
    state__avl_seek(&it, root, NULL, false, ops);
    while (state__avl_next(&it))
        n++;
    return n;
}

static int encode(const struct state *s, struct cn_buf *b)
{
    struct avl_iter it;
    struct avl *a;
    CN_TRY(cn_buf_append(b, SNAP_MAGIC, 4));
    CN_TRY(cn_enc_u8(b, SNAP_VERSION));
    CN_TRY(cn_enc_u64(b, s->last_index));
    for (int i = 0; i < SNAP_V2_TABLES; i++)
        CN_TRY(cn_enc_u64(b, s->tidx[i]));

    CN_TRY(cn_enc_u64(b, (uint64_t)(s->kv_live + s->kv_tombs)));
    state__avl_seek(&it, s->kv, NULL, false, &state__kv_ops);
    while ((a = state__avl_next(&it))) {
        const struct kv_rec *r = CN_CONTAINER_OF(a, struct kv_rec, a);
        struct state_kv v;
        state__kv_view(r, &v);
        bool tomb = KV_IS_TOMB(r);
        CN_TRY(cn_enc_u8(b, tomb ? 1 : 0));
        CN_TRY(cn_enc_bytes(b, v.key, v.key_len));
        if (!tomb) {
            CN_TRY(cn_enc_bytes(b, v.value, v.value_len));
            CN_TRY(cn_enc_u64(b, v.flags));
            CN_TRY(cn_enc_u64(b, v.create_index));
            CN_TRY(cn_enc_u64(b, v.lock_index));
            CN_TRY(cn_enc_u8(b, v.session ? 1 : 0));
            CN_TRY(cn_enc_str(b, v.session));
        }
        CN_TRY(cn_enc_u64(b, v.modify_index));
    }

    CN_TRY(enc_names(b, s->svc_names));
    CN_TRY(enc_names(b, s->node_names));

    CN_TRY(cn_enc_u32(b, count(s->nodes, &state__node_ops)));
    state__avl_seek(&it, s->nodes, NULL, false, &state__node_ops);
    while ((a = state__avl_next(&it))) {
        const struct state_node *n = &CN_CONTAINER_OF(a, struct node_rec, a)->n;
        CN_TRY(state__enc_node(b, n));
        CN_TRY(cn_enc_u64(b, n->create_index));
        CN_TRY(cn_enc_u64(b, n->modify_index));
    }
    CN_TRY(cn_enc_u32(b, count(s->services, &state__svc_id_ops)));
    state__avl_seek(&it, s->services, NULL, false, &state__svc_id_ops);
    while ((a = state__avl_next(&it))) {
        const struct state_service *v = &CN_CONTAINER_OF(a, struct svc_rec, by_id)->s;
        CN_TRY(cn_enc_str(b, v->node));
        CN_TRY(state__enc_service(b, v));
        CN_TRY(cn_enc_u64(b, v->create_index));
        CN_TRY(cn_enc_u64(b, v->modify_index));
    }
    CN_TRY(cn_enc_u32(b, count(s->checks, &state__chk_ops)));
    state__avl_seek(&it, s->checks, NULL, false, &state__chk_ops);
    while ((a = state__avl_next(&it))) {
        const struct state_check *c = &CN_CONTAINER_OF(a, struct chk_rec, a)->c;
        CN_TRY(cn_enc_str(b, c->node));
        CN_TRY(state__enc_check(b, c));
        CN_TRY(cn_enc_u64(b, c->create_index));
        CN_TRY(cn_enc_u64(b, c->modify_index));
    }
    CN_TRY(cn_enc_u32(b, (uint32_t)s->nsess));
    state__avl_seek(&it, s->sessions, NULL, false, &state__sess_id_ops);
    while ((a = state__avl_next(&it))) {
        const struct state_session *v = &CN_CONTAINER_OF(a, struct sess_rec, by_id)->v;
        CN_TRY(state__enc_session(b, v));
        CN_TRY(cn_enc_u64(b, v->create_index));
        CN_TRY(cn_enc_u64(b, v->modify_index));
        CN_TRY(cn_enc_u64(b, v->renew_index));
    }
    CN_TRY(cn_enc_u64(b, s->sess_renew));
    CN_TRY(cn_enc_u32(b, count(s->lock_delays, &state__ld_ops)));
    state__avl_seek(&it, s->lock_delays, NULL, false, &state__ld_ops);
    while ((a = state__avl_next(&it))) {
        const struct ld_rec *l = CN_CONTAINER_OF(a, struct ld_rec, a);
        CN_TRY(cn_enc_str(b, l->key));
        CN_TRY(cn_enc_u64(b, l->index));
        CN_TRY(cn_enc_u64(b, (uint64_t)l->delay_ns));
    }
    CN_TRY(cn_enc_u64(b, s->tidx[STATE_T_QUERIES]));
    CN_TRY(cn_enc_u32(b, (uint32_t)s->nqueries));
    state__avl_seek(&it, s->queries, NULL, false, &state__query_ops);
    while ((a = state__avl_next(&it))) {
        const struct state_query *q = &CN_CONTAINER_OF(a, struct query_rec, a)->q;
        CN_TRY(cn_enc_str(b, q->id));
        CN_TRY(cn_enc_str(b, q->name));
        CN_TRY(cn_enc_str(b, q->session));
        CN_TRY(cn_enc_u8(b, q->is_template ? 1 : 0));
        CN_TRY(cn_enc_bytes(b, q->def, q->def_len));
        CN_TRY(cn_enc_u64(b, q->create_index));
        CN_TRY(cn_enc_u64(b, q->modify_index));
    }
    CN_TRY(state__ixn_encode(s, b));
    CN_TRY(state__ca_encode(s, b));
    CN_TRY(cn_enc_u64(b, s->tidx[STATE_T_ACL]));
    CN_TRY(cn_enc_u64(b, s->acl_bootstrap));
    CN_TRY(cn_enc_u32(b, count(s->acl, &state__acl_ops)));
    state__avl_seek(&it, s->acl, NULL, false, &state__acl_ops);
    while ((a = state__avl_next(&it))) {
        const struct state_acl *v = &CN_CONTAINER_OF(a, struct acl_rec, a)->v;
        CN_TRY(cn_enc_u8(b, v->kind));
        CN_TRY(cn_enc_str(b, v->id));
        CN_TRY(cn_enc_str(b, v->name));
        CN_TRY(cn_enc_u64(b, (uint64_t)v->expires_unix_ns));
        CN_TRY(cn_enc_bytes(b, v->def, v->def_len));
        CN_TRY(cn_enc_u64(b, v->create_index));
        CN_TRY(cn_enc_u64(b, v->modify_index));
    }
    CN_TRY(state__coord_encode(s, b));
    return state__cfg_encode(s, b);
}

int state_snapshot_encode(const struct state *s, struct cn_buf *out)
{
    size_t len0 = out->len;
    int rc = encode(s, out);
    if (!rc)
        rc = cn_enc_u32(out, cn_crc32c(0, out->p + len0, out->len - len0));
    if (rc)
        out->len = len0;
    return rc;
}

/* ---- restore ----------------------------------------------------------------- */

struct rd {
    struct cn_dec d;
    struct state *s;
    uint8_t version;
    char *err;
    size_t errcap;
    bool failed;
    uint64_t clamp; /* 0, or the highest index allowed: higher ones are lowered to it */
};

/* An index read from the snapshot, lowered to the restore point (restore_at). */
static uint64_t cl(const struct rd *r, uint64_t v)
{
    return r->clamp && v > r->clamp ? r->clamp : v;
}

/* A modify index (of an entry, a name, a table): the restore point itself,
 * so every read's X-Consul-Index moves past what it was before the restore
 * and every parked blocking query sees a change (restore_at). */
static uint64_t mod(const struct rd *r, uint64_t v)
{
    return r->clamp ? r->clamp : v;
}

static int fail(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct rd *r, const char *fmt, ...)
{
    if (!r->failed && r->err && r->errcap) {
        int n = snprintf(r->err, r->errcap, "state snapshot at offset %zu: ", r->d.off);
        if (n >= 0 && (size_t)n < r->errcap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->errcap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    r->failed = true;
    return CN_ECORRUPT;
}

/* After a field group: CN_ENOMEM, a corrupt-input message, or 0. */
static int dec_check(struct rd *r, const char *what)
{
    if (r->d.err == CN_ENOMEM)
        return CN_ENOMEM;
    if (r->d.err)
        return fail(r, "truncated or malformed %s", what);
    return 0;
}

static int check_idx(struct rd *r, const char *what, uint64_t create, uint64_t modify)
{
    uint64_t last = r->s->last_index;
    if (create == 0 || create > modify || modify > last)
        return fail(r, "%s: bad indexes create=%" PRIu64 " modify=%" PRIu64 " (last %" PRIu64 ")",
                    what, create, modify, last);
    return 0;
}

static int rd_kv(struct rd *r)
{
    struct state *s = r->s;
    uint64_t n = cn_dec_u64(&r->d);
    CN_TRY(dec_check(r, "kv count"));
    if (n > (r->d.len - r->d.off) / 13)
        return fail(r, "kv count %" PRIu64 " too large", n);
    /* Records come in strictly increasing key order (checked): they are
     * chained through a.r and built into a balanced tree once all are read,
     * with no comparisons or rotations (state__avl_build). */
    CN_ASSERT(s->kv == NULL);
    struct avl *head = NULL, **tail = &head;
    size_t count = 0;
    int rc = 0;
    const char *prev = NULL;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t kind = cn_dec_u8(&r->d);
        size_t klen, vlen = 0, sl = 0;
        const uint8_t *key = cn_dec_bytes(&r->d, &klen), *val = NULL, *sess = NULL;
        uint64_t flags = 0, create = 0, lock = 0;
        uint8_t has_sess = 0;
        if (kind == 0) {
            val = cn_dec_bytes(&r->d, &vlen);
            flags = cn_dec_u64(&r->d);
            create = cl(r, cn_dec_u64(&r->d));
            lock = cn_dec_u64(&r->d);
            has_sess = cn_dec_u8(&r->d);
            sess = cn_dec_bytes(&r->d, &sl);
        }
        uint64_t modify = mod(r, cn_dec_u64(&r->d));
        if ((rc = dec_check(r, "kv entry")))
            break;
        if (kind > 1 || has_sess > 1 || (!has_sess && sl)) {
            rc = fail(r, "kv entry %" PRIu64 ": bad flags", i);
            break;
        }
        if (memchr(key, 0, klen) || (sess && memchr(sess, 0, sl))) {
            rc = fail(r, "kv entry %" PRIu64 ": NUL in key or session", i);
            break;
        }
        char sbuf[256];
        if (sl >= sizeof(sbuf)) {
            rc = fail(r, "kv entry %" PRIu64 ": session too long", i);
            break;
        }
        memcpy(sbuf, sess ? (const char *)sess : "", sl);
        sbuf[sl] = '\0';
        struct state_kv v = {.key = (const char *)key,
                             .key_len = klen,
                             .value = val,
                             .value_len = vlen,
                             .flags = flags,
                             .create_index = create,
                             .modify_index = modify,
                             .lock_index = lock,
                             .session = has_sess ? sbuf : NULL};
        /* Indexes first: they bound create_index below AVL_AUG_MAX, which
         * state__kv_rec_new needs (it would fail as if out of memory). */
        rc = kind == 1 ? (modify == 0 || modify > s->last_index
                              ? fail(r, "kv tombstone %" PRIu64 ": bad index", i)
                              : 0)
                       : check_idx(r, "kv entry", create, modify);
        if (rc)
            break;
        struct kv_rec *kr = state__kv_rec_new(s, &v);
        if (!kr) {
            rc = CN_ENOMEM;
            break;
        }
        if (prev && strcmp(prev, KVR_KEY(kr)) >= 0) {
            state__kv_ops.free(s, &kr->a);
            rc = fail(r, "kv keys out of order at entry %" PRIu64, i);
            break;
        }
        kr->a.l = kr->a.r = NULL;
        *tail = &kr->a;
        tail = &kr->a.r;
        count++;
        if (state__held_restore(s, kr)) {
            rc = CN_ENOMEM;
            break;
        }
        if (kind == 1)
            s->kv_tombs++;
        else
            s->kv_live++;
        prev = KVR_KEY(kr);
    }
    /* On an error the chain is still a tree (a right spine) that state_free
     * frees; on success it becomes the balanced tree. */
    s->kv = rc ? head : state__avl_build(&head, count, &state__kv_ops);
    CN_ASSERT(rc || (head == NULL && state__avl_check(s->kv, &state__kv_ops) >= 0));
    return rc;
}

static int rd_names(struct rd *r, struct avl **root, const char *what)
{
    uint32_t n = cn_dec_u32(&r->d);
    CN_TRY(dec_check(r, what));
    char *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        char *name = cn_dec_strdup(&r->d);
        uint64_t idx = mod(r, cn_dec_u64(&r->d));
        int rc = dec_check(r, what);
        if (!rc && (!*name || (prev && strcmp(prev, name) == 0)))
            rc = fail(r, "%s: empty or repeated name", what);
        if (!rc && (idx == 0 || idx > r->s->last_index))
            rc = fail(r, "%s %s: bad index %" PRIu64, what, name, idx);
        /* Names index case-insensitively (catalog.c name_cmp): a snapshot
         * written before that may hold "Web" and "web"; they become one entry
         * with the later index. */
        struct avl *dup = rc ? NULL : state__avl_find(*root, name, &state__name_ops);
        if (dup) {
            struct name_rec *d = CN_CONTAINER_OF(dup, struct name_rec, a);
            if (idx > d->index)
                d->index = idx;
            cn_free(name);
            prev = d->name;
            continue;
        }
        struct name_rec *nr = rc ? NULL : state__name_new(r->s, name, idx);
        if (!rc && !nr)
            rc = CN_ENOMEM;
        cn_free(name);
        if (rc)
            return rc;
        state__avl_insert(root, &nr->a, &state__name_ops);
        prev = nr->name;
    }
    return 0;
}

static int rd_nodes(struct rd *r)
{
    struct state *s = r->s;
    uint32_t n = cn_dec_u32(&r->d);
    CN_TRY(dec_check(r, "node count"));
    const char *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        struct state_node tmp;
        memset(&tmp, 0, sizeof(tmp));
        state__dec_node(&r->d, &tmp);
        tmp.create_index = cl(r, cn_dec_u64(&r->d));
        tmp.modify_index = mod(r, cn_dec_u64(&r->d));
        int rc = dec_check(r, "node");
        if (!rc && (!*tmp.name || (prev && strcmp(prev, tmp.name) >= 0)))
            rc = fail(r, "node %" PRIu32 ": empty or out of order name", i);
        if (!rc && !state__avl_find(s->node_names, tmp.name, &state__name_ops))
            rc = fail(r, "node %s has no index entry", tmp.name);
        if (!rc)
            rc = check_idx(r, "node", tmp.create_index, tmp.modify_index);
        struct node_rec *nr = rc ? NULL : state__node_dup(s, &tmp);
        if (!rc && !nr)
            rc = CN_ENOMEM;
        state_node_clear(&tmp);
        if (rc)
            return rc;
        state__avl_insert(&s->nodes, &nr->a, &state__node_ops);
        if (state__nid_restore(s, nr)) /* derived: not in the snapshot */
            return CN_ENOMEM;
        prev = nr->n.name;
    }
    return 0;
}

static int rd_services(struct rd *r)
{
    struct state *s = r->s;
    uint32_t n = cn_dec_u32(&r->d);
    CN_TRY(dec_check(r, "service count"));
    const struct svc_rec *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        struct state_service tmp;
        memset(&tmp, 0, sizeof(tmp));
        tmp.node = cn_dec_strdup(&r->d);
        if (!r->d.err)
            state__dec_service(&r->d, &tmp,
                               r->version >= 7   ? STATE_SVC_UPSTREAM_CONFIG
                               : r->version >= 5 ? STATE_SVC_MESH
                                                 : STATE_SVC_BASE);
        tmp.create_index = cl(r, cn_dec_u64(&r->d));
        tmp.modify_index = mod(r, cn_dec_u64(&r->d));
        int rc = dec_check(r, "service");
        struct avl *nm = NULL;
        if (!rc && (!*tmp.id || !*tmp.service))
            rc = fail(r, "service %" PRIu32 ": empty id or name", i);
        if (!rc && prev &&
            (strcmp(prev->s.node, tmp.node) > 0 ||
             (strcmp(prev->s.node, tmp.node) == 0 && strcmp(prev->s.id, tmp.id) >= 0)))
            rc = fail(r, "service %" PRIu32 ": out of order", i);
        if (!rc && !state__avl_find(s->nodes, tmp.node, &state__node_ops))
            rc = fail(r, "service %s on unknown node %s", tmp.id, tmp.node);
        if (!rc && !(nm = state__avl_find(s->svc_names, tmp.service, &state__name_ops)))
            rc = fail(r, "service name %s has no index entry", tmp.service);
        if (!rc)
            rc = check_idx(r, "service", tmp.create_index, tmp.modify_index);
        struct svc_rec *v = rc ? NULL : state__svc_dup(s, &tmp);
        if (!rc && !v)
            rc = CN_ENOMEM;
        state_service_clear(&tmp);
        if (rc)
            return rc;
        state__avl_insert(&s->services, &v->by_id, &state__svc_id_ops);
        state__avl_insert(&CN_CONTAINER_OF(nm, struct name_rec, a)->inst, &v->by_name,
                          &state__svc_name_ops);
        prev = v;
    }
    return 0;
}

static bool valid_status(const char *st)
{
    return !strcmp(st, "passing") || !strcmp(st, "warning") || !strcmp(st, "critical");
}

static int rd_checks(struct rd *r)
{
    struct state *s = r->s;
    uint32_t n = cn_dec_u32(&r->d);
    CN_TRY(dec_check(r, "check count"));
    const struct chk_rec *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        struct state_check tmp;
        memset(&tmp, 0, sizeof(tmp));
        tmp.node = cn_dec_strdup(&r->d);
        if (!r->d.err)
            state__dec_check(&r->d, &tmp, r->version >= 3);
        tmp.create_index = cl(r, cn_dec_u64(&r->d));
        tmp.modify_index = mod(r, cn_dec_u64(&r->d));
        int rc = dec_check(r, "check");
        if (!rc && (!*tmp.check_id || !valid_status(tmp.status)))
            rc = fail(r, "check %" PRIu32 ": empty id or bad status", i);
        if (!rc && prev &&
            (strcmp(prev->c.node, tmp.node) > 0 ||
             (strcmp(prev->c.node, tmp.node) == 0 && strcmp(prev->c.check_id, tmp.check_id) >= 0)))
            rc = fail(r, "check %" PRIu32 ": out of order", i);
        if (!rc && !state__avl_find(s->nodes, tmp.node, &state__node_ops))
            rc = fail(r, "check %s on unknown node %s", tmp.check_id, tmp.node);
        if (!rc) {
            const struct state_service *v =
                *tmp.service_id ? state_service_get(s, tmp.node, tmp.service_id) : NULL;
            if (*tmp.service_id ? !v || strcmp(v->service, tmp.service_name) != 0
                                : *tmp.service_name != '\0')
                rc = fail(r, "check %s: service %s not on node %s", tmp.check_id, tmp.service_id,
                          tmp.node);
        }
        if (!rc)
            rc = check_idx(r, "check", tmp.create_index, tmp.modify_index);
        struct chk_rec *c = rc ? NULL : state__chk_dup(s, &tmp);
        if (!rc && !c)
            rc = CN_ENOMEM;
        state_check_clear(&tmp);
        if (rc)
            return rc;
        state__avl_insert(&s->checks, &c->a, &state__chk_ops);
        prev = c;
    }
    return 0;
}

static int rd_sessions(struct rd *r)
{
    struct state *s = r->s;
    uint32_t n = cn_dec_u32(&r->d);
    CN_TRY(dec_check(r, "session count"));
    const char *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        struct state_session tmp;
        memset(&tmp, 0, sizeof(tmp));
        state__dec_session(&r->d, &tmp);
        tmp.create_index = cl(r, cn_dec_u64(&r->d));
        tmp.modify_index = mod(r, cn_dec_u64(&r->d));
        tmp.renew_index = cl(r, cn_dec_u64(&r->d));
        int rc = dec_check(r, "session");
        if (!rc && (!*tmp.id || (prev && strcmp(prev, tmp.id) >= 0)))
            rc = fail(r, "session %" PRIu32 ": empty or out of order id", i);
        if (!rc && (strcmp(tmp.behavior, "release") && strcmp(tmp.behavior, "delete")))
            rc = fail(r, "session %s: bad behavior", tmp.id);
        if (!rc && (tmp.ttl_ns < 0 || tmp.lock_delay_ns < 0 || tmp.renew_index > s->last_index))
            rc = fail(r, "session %s: bad TTL, lock delay or renew index", tmp.id);
        if (!rc && !state__avl_find(s->nodes, tmp.node, &state__node_ops))
            rc = fail(r, "session %s on unknown node %s", tmp.id, tmp.node);
        if (!rc)
            rc = check_idx(r, "session", tmp.create_index, tmp.modify_index);
        struct sess_rec *v = rc ? NULL : state__sess_dup(s, &tmp);
        if (!rc && !v)
            rc = CN_ENOMEM;
        state_session_clear(&tmp);
        if (rc)
            return rc;
        state__avl_insert(&s->sessions, &v->by_id, &state__sess_id_ops);
        state__avl_insert(&s->sess_by_node, &v->by_node, &state__sess_node_ops);
        s->nsess++;
        prev = v->v.id;
    }
    s->sess_renew = cl(r, cn_dec_u64(&r->d));
    CN_TRY(dec_check(r, "session renew index"));
    if (s->sess_renew > s->last_index)
        return fail(r, "session renew index beyond last index");
    n = cn_dec_u32(&r->d);
    CN_TRY(dec_check(r, "lock-delay count"));
    prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        char *key = cn_dec_strdup(&r->d);
        uint64_t idx = cl(r, cn_dec_u64(&r->d));
        int64_t delay = (int64_t)cn_dec_u64(&r->d);
        int rc = dec_check(r, "lock-delay");
        if (!rc && (prev && strcmp(prev, key) >= 0))
            rc = fail(r, "lock-delay %" PRIu32 ": out of order key", i);
        if (!rc && (idx == 0 || idx > s->last_index || delay <= 0))
            rc = fail(r, "lock-delay %" PRIu32 ": bad index or delay", i);
        struct ld_rec *l = rc ? NULL : state__ld_new(s, key, idx, delay);
        if (!rc && !l)
            rc = CN_ENOMEM;
        cn_free(key);
        if (rc)
            return rc;
        state__avl_insert(&s->lock_delays, &l->a, &state__ld_ops);
        prev = l->key;
    }
    return 0;
}

static int rd_queries(struct rd *r)
{
    struct state *s = r->s;
    s->tidx[STATE_T_QUERIES] = mod(r, cn_dec_u64(&r->d));
    uint32_t n = cn_dec_u32(&r->d);
    CN_TRY(dec_check(r, "query count"));
    if (s->tidx[STATE_T_QUERIES] > s->last_index)
        return fail(r, "query table index beyond last index");
    const char *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        struct state_query q;
        memset(&q, 0, sizeof(q));
        q.id = cn_dec_strdup(&r->d);
        q.name = cn_dec_strdup(&r->d);
        q.session = cn_dec_strdup(&r->d);
        uint8_t tmpl = cn_dec_u8(&r->d);
        q.def = (uint8_t *)cn_dec_bytes(&r->d, &q.def_len);
        q.create_index = cl(r, cn_dec_u64(&r->d));
        q.modify_index = mod(r, cn_dec_u64(&r->d));
        q.is_template = tmpl == 1;
        int rc = dec_check(r, "query");
        if (!rc && (tmpl > 1 || !*q.id || (prev && strcmp(prev, q.id) >= 0)))
            rc = fail(r, "query %" PRIu32 ": empty or out of order id, or bad template flag", i);
        if (!rc && *q.session && !state__avl_find(s->sessions, q.session, &state__sess_id_ops))
            rc = fail(r, "query %s bound to unknown session %s", q.id, q.session);
        if (!rc && *q.name && state_query_by_name(s, q.name))
            rc = fail(r, "query %s: duplicate name %s", q.id, q.name);
        if (!rc)
            rc = check_idx(r, "query", q.create_index, q.modify_index);
        struct query_rec *qr = rc ? NULL : state__query_new(s, &q);
        if (!rc && !qr)
            rc = CN_ENOMEM;
        cn_free(q.id);
        cn_free(q.name);
        cn_free(q.session);
        if (rc)
            return rc;
        state__avl_insert(&s->queries, &qr->a, &state__query_ops);
        s->nqueries++;
        prev = qr->q.id;
    }
    return 0;
}

static int rd_acl(struct rd *r)
{
    struct state *s = r->s;
    s->tidx[STATE_T_ACL] = cn_dec_u64(&r->d);
    s->acl_bootstrap = cn_dec_u64(&r->d);
    uint32_t n = cn_dec_u32(&r->d);
    CN_TRY(dec_check(r, "acl count"));
    if (s->tidx[STATE_T_ACL] > s->last_index || s->acl_bootstrap > s->last_index)
        return fail(r, "acl table or bootstrap index beyond last index");
    for (uint32_t i = 0; i < n; i++) {
        struct state_acl v;
        memset(&v, 0, sizeof(v));
        v.kind = cn_dec_u8(&r->d);
        v.id = cn_dec_strdup(&r->d);
        v.name = cn_dec_strdup(&r->d);
        v.expires_unix_ns = (int64_t)cn_dec_u64(&r->d);
        v.def = (uint8_t *)cn_dec_bytes(&r->d, &v.def_len);
        v.create_index = cn_dec_u64(&r->d);
        v.modify_index = cn_dec_u64(&r->d);
        int rc = dec_check(r, "acl object");
        if (!rc && (v.kind < STATE_ACL_TOKEN || v.kind > STATE_ACL_ROLE || !*v.id || !*v.name ||
                    strlen(v.id) > 200 || state_acl_get(s, v.kind, v.id)))
            rc = fail(r, "acl object %" PRIu32 ": bad kind, empty or duplicate id", i);
        if (!rc && state_acl_by_name(s, v.kind, v.name))
            rc = fail(r, "acl object %s: duplicate name", v.id);
        if (!rc)
            rc = check_idx(r, "acl object", v.create_index, v.modify_index);
        v.create_index = cl(r, v.create_index); /* a restore point (restore_at) */
        v.modify_index = mod(r, v.modify_index);
        struct acl_rec *ar = rc ? NULL : state__acl_new(s, &v);
        if (!rc && !ar)
            rc = CN_ENOMEM;
        cn_free(v.id);
        cn_free(v.name);
        if (rc)
            return rc;
        if (state__avl_find(s->acl, ar->key, &state__acl_ops)) {
            cn_free(ar);
            return fail(r, "acl object %" PRIu32 ": duplicate", i);
        }
        state__avl_insert(&s->acl, &ar->a, &state__acl_ops);
    }
    return 0;
}

static int decode(struct rd *r, uint8_t version)
{
    struct state *s = r->s;
    s->last_index = mod(r, cn_dec_u64(&r->d));
    for (int i = 0; i < (version == 1 ? SNAP_V1_TABLES : SNAP_V2_TABLES); i++)
        s->tidx[i] = mod(r, cn_dec_u64(&r->d));
    CN_TRY(dec_check(r, "header"));
    if (s->last_index > AVL_AUG_MAX)
        return fail(r, "last index %" PRIu64 " out of range", s->last_index);
    for (int i = 0; i < STATE_T__COUNT; i++)
        if (s->tidx[i] > s->last_index)
            return fail(r, "table index %d beyond last index", i);
    CN_TRY(rd_kv(r));
    CN_TRY(rd_names(r, &s->svc_names, "service index"));
    CN_TRY(rd_names(r, &s->node_names, "node index"));
    CN_TRY(rd_nodes(r));
    CN_TRY(rd_services(r));
    CN_TRY(rd_checks(r));
    if (version >= 2)
        CN_TRY(rd_sessions(r));
    if (version >= 3)
        CN_TRY(rd_queries(r));
    if (version >= 4) {
        char why[160];
        int rc = state__ixn_decode(s, &r->d, r->clamp, why, sizeof(why));
        if (!rc)
            rc = state__ca_decode(s, &r->d, r->clamp, why, sizeof(why));
        if (rc == CN_ECORRUPT)
            return fail(r, "%s", why);
        CN_TRY(rc);
        CN_TRY(rd_acl(r));
    }
    if (version >= 5) {
        char why[160];
        int rc = state__coord_decode(s, &r->d, r->clamp, why, sizeof(why));
        if (rc == CN_ECORRUPT)
            return fail(r, "%s", why);
        CN_TRY(rc);
    }
    if (version >= 6) {
        char why[160];
        int rc = state__cfg_decode(s, &r->d, r->clamp, why, sizeof(why));
        if (rc == CN_ECORRUPT)
            return fail(r, "%s", why);
        CN_TRY(rc);
    }
    if (r->d.off != r->d.len)
        return fail(r, "%zu trailing bytes", r->d.len - r->d.off);
    return 0;
}

static int restore(struct state *s, const void *data, size_t len, uint64_t at, char *err,
                   size_t errcap);

int state_snapshot_restore(struct state *s, const void *data, size_t len, char *err, size_t errcap)
{
    return restore(s, data, len, 0, err, errcap);
}

int state_snapshot_restore_at(struct state *s, const void *data, size_t len, uint64_t at, char *err,
                              size_t errcap)
{
    if (at <= s->last_index || at > AVL_AUG_MAX) {
        if (err && errcap)
            snprintf(err, errcap, "restore index %" PRIu64 " not after %" PRIu64, at,
                     s->last_index);
        return CN_EINVAL;
    }
    return restore(s, data, len, at, err, errcap);
}

static int restore(struct state *s, const void *data, size_t len, uint64_t at, char *err,
                   size_t errcap)
{
    struct rd r = {.err = err, .errcap = errcap, .clamp = at};
    if (err && errcap)
        err[0] = '\0';
    cn_dec_init(&r.d, data, len);
    if (!data || len < 4 + 1 + 4)
        return fail(&r, "too short (%zu bytes)", len);
    if (memcmp(data, SNAP_MAGIC, 4) != 0)
        return fail(&r, "bad magic");
    const uint8_t *p = data;
    if (cn_get_u32(p + len - 4) != cn_crc32c(0, p, len - 4))
        return fail(&r, "checksum mismatch");
    if (p[4] < 1 || p[4] > SNAP_VERSION)
        return fail(&r, "unsupported version %u", p[4]);
    r.version = p[4];
    cn_dec_init(&r.d, p + 5, len - 9);
    if (!(r.s = state_new()))
        return CN_ENOMEM;
    int rc = decode(&r, p[4]);
    if (rc) {
        state_free(r.s);
        return rc;
    }
    if (at) {
        /* Everything changed at the restore point (Consul bumps its indexes
         * the same way): a blocking query's X-Consul-Index moves forward. */
        r.s->last_index = at;
        for (int i = 0; i < STATE_T__COUNT; i++)
            if (i != STATE_T_EVENTS)
                r.s->tidx[i] = at;
    }
    struct state old = *s;
    *s = *r.s;
    s->cb = old.cb;
    s->cb_arg = old.cb_arg;
    /* The user-event ring is agent memory, not snapshot data: it stays. */
    s->ev = old.ev;
    s->tidx[STATE_T_EVENTS] = old.tidx[STATE_T_EVENTS];
    memset(&old.ev, 0, sizeof(old.ev));
    *r.s = old;
    state_free(r.s);
    return 0;
}
