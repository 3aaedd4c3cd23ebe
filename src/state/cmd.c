/* state/cmd.c: command encoders (state_cmd_*) and the field codecs shared by
 * command decoding and snapshots. Layout: docs/format-state.md. Every command
 * starts with its type byte and STATE_CMD_VERSION; strings are u32 length +
 * bytes (base/enc.h), maps are sorted by key. */
#include <stdlib.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

int state__enc_zstr(struct cn_buf *b, const char *s)
{
    if (!s)
        s = "";
    return cn_enc_bytes(b, s, strlen(s) + 1);
}

const char *state__dec_zstr(struct cn_dec *d, size_t *len)
{
    size_t n;
    const uint8_t *p = cn_dec_bytes(d, &n);
    if (!p)
        return NULL;
    if (n == 0 || p[n - 1] != 0 || memchr(p, 0, n - 1)) {
        d->err = CN_ECORRUPT;
        return NULL;
    }
    *len = n - 1;
    return (const char *)p;
}

static int cmp_pair_ptr(const void *a, const void *b)
{
    const struct state_pair *x = *(const struct state_pair *const *)a;
    const struct state_pair *y = *(const struct state_pair *const *)b;
    return strcmp(x->k ? x->k : "", y->k ? y->k : "");
}

/* Maps are written sorted by key; duplicate keys are CN_EINVAL. */
static int enc_map(struct cn_buf *b, const struct state_map *m)
{
    if (m->n > UINT32_MAX || (m->n && !m->items))
        return CN_EINVAL;
    const struct state_pair **v = cn_calloc(m->n ? m->n : 1, sizeof(*v));
    if (!v)
        return CN_ENOMEM;
    for (size_t i = 0; i < m->n; i++)
        v[i] = &m->items[i];
    qsort(v, m->n, sizeof(*v), cmp_pair_ptr);
    int rc = cn_enc_u32(b, (uint32_t)m->n);
    for (size_t i = 0; !rc && i < m->n; i++) {
        if (i && cmp_pair_ptr(&v[i - 1], &v[i]) == 0)
            rc = CN_EINVAL;
        else if (!(rc = cn_enc_str(b, v[i]->k)))
            rc = cn_enc_str(b, v[i]->v);
    }
    cn_free(v);
    return rc;
}

/* Smallest encoded element is 4 bytes: refuse counts the input cannot hold
 * before allocating for them. */
static size_t dec_count(struct cn_dec *d, size_t min_size)
{
    uint32_t n = cn_dec_u32(d);
    if (d->err)
        return 0;
    if (n > (d->len - d->off) / min_size) {
        d->err = CN_ECORRUPT;
        return 0;
    }
    return n;
}

static char *dstr(struct cn_dec *d)
{
    return d->err ? NULL : cn_dec_strdup(d);
}

/* An optional string: "" decodes to NULL (no allocation for an absent field). */
static char *dstr_opt(struct cn_dec *d)
{
    char *v = dstr(d);
    if (v && !*v) {
        cn_free(v);
        v = NULL;
    }
    return v;
}

static void dec_map(struct cn_dec *d, struct state_map *m)
{
    size_t n = dec_count(d, 8);
    if (d->err || n == 0)
        return;
    m->items = cn_calloc(n, sizeof(*m->items));
    if (!m->items) {
        d->err = CN_ENOMEM;
        return;
    }
    for (size_t i = 0; i < n && !d->err; i++) {
        m->items[i].k = dstr(d);
        m->items[i].v = dstr(d);
        m->n = i + 1;
        if (!d->err && i && strcmp(m->items[i - 1].k, m->items[i].k) >= 0)
            d->err = CN_ECORRUPT; /* must be sorted and unique */
    }
}

int state__enc_node(struct cn_buf *b, const struct state_node *n)
{
    CN_TRY(cn_enc_str(b, n->name));
    CN_TRY(cn_enc_str(b, n->id));
    CN_TRY(cn_enc_str(b, n->address));
    CN_TRY(enc_map(b, &n->tagged_addresses));
    return enc_map(b, &n->meta);
}

void state__dec_node(struct cn_dec *d, struct state_node *n)
{
    n->name = dstr(d);
    n->id = dstr(d);
    n->address = dstr(d);
    dec_map(d, &n->tagged_addresses);
    dec_map(d, &n->meta);
}

int state__enc_service(struct cn_buf *b, const struct state_service *v)
{
    if ((v->ntags && !v->tags) || (v->ntaddrs && !v->taddrs) || v->ntags > UINT32_MAX ||
        v->ntaddrs > UINT32_MAX)
        return CN_EINVAL;
    CN_TRY(cn_enc_str(b, v->id));
    CN_TRY(cn_enc_str(b, v->service));
    CN_TRY(cn_enc_str(b, v->kind));
    CN_TRY(cn_enc_u32(b, (uint32_t)v->ntags));
    for (size_t i = 0; i < v->ntags; i++)
        CN_TRY(cn_enc_str(b, v->tags[i]));
    CN_TRY(cn_enc_str(b, v->address));
    CN_TRY(cn_enc_u32(b, (uint32_t)v->port));
    CN_TRY(enc_map(b, &v->meta));
    CN_TRY(cn_enc_u32(b, (uint32_t)v->ntaddrs));
    for (size_t i = 0; i < v->ntaddrs; i++) {
        CN_TRY(cn_enc_str(b, v->taddrs[i].name));
        CN_TRY(cn_enc_str(b, v->taddrs[i].address));
        CN_TRY(cn_enc_u32(b, (uint32_t)v->taddrs[i].port));
    }
    CN_TRY(cn_enc_u32(b, (uint32_t)v->weight_passing));
    CN_TRY(cn_enc_u32(b, (uint32_t)v->weight_warning));
    CN_TRY(cn_enc_u8(b, v->enable_tag_override ? 1 : 0));
    /* Command version 3 / snapshot version 5: Connect. */
    const struct state_proxy *p = &v->proxy;
    if ((p->nups && !p->ups) || p->nups > UINT32_MAX)
        return CN_EINVAL;
    CN_TRY(cn_enc_u8(b, v->connect_native ? 1 : 0));
    CN_TRY(cn_enc_str(b, p->dest_name));
    CN_TRY(cn_enc_str(b, p->dest_id));
    CN_TRY(cn_enc_str(b, p->local_address));
    CN_TRY(cn_enc_u32(b, (uint32_t)p->local_port));
    CN_TRY(cn_enc_str(b, p->config));
    CN_TRY(cn_enc_u32(b, (uint32_t)p->nups));
    for (size_t i = 0; i < p->nups; i++) {
        const struct state_upstream *u = &p->ups[i];
        CN_TRY(cn_enc_str(b, u->dest_type));
        CN_TRY(cn_enc_str(b, u->dest_name));
        CN_TRY(cn_enc_str(b, u->datacenter));
        CN_TRY(cn_enc_str(b, u->local_bind_address));
        CN_TRY(cn_enc_u32(b, (uint32_t)u->local_bind_port));
        CN_TRY(cn_enc_str(b, u->config)); /* command version 4 / snapshot version 7 */
    }
    return 0;
}

static bool dec_bool(struct cn_dec *d)
{
    uint8_t v = cn_dec_u8(d);
    if (v > 1 && !d->err)
        d->err = CN_ECORRUPT;
    return v == 1;
}

void state__dec_service(struct cn_dec *d, struct state_service *v, int level)
{
    v->id = dstr(d);
    v->service = dstr(d);
    v->kind = dstr(d);
    size_t n = dec_count(d, 4);
    if (!d->err && n) {
        if (!(v->tags = cn_calloc(n, sizeof(char *))))
            d->err = CN_ENOMEM;
        for (size_t i = 0; i < n && !d->err; i++) {
            v->tags[i] = dstr(d);
            v->ntags = i + 1;
        }
    }
    v->address = dstr(d);
    v->port = (int)(int32_t)cn_dec_u32(d);
    dec_map(d, &v->meta);
    n = dec_count(d, 12);
    if (!d->err && n) {
        if (!(v->taddrs = cn_calloc(n, sizeof(*v->taddrs))))
            d->err = CN_ENOMEM;
        for (size_t i = 0; i < n && !d->err; i++) {
            v->taddrs[i].name = dstr(d);
            v->taddrs[i].address = dstr(d);
            v->taddrs[i].port = (int)(int32_t)cn_dec_u32(d);
            v->ntaddrs = i + 1;
        }
    }
    v->weight_passing = (int)(int32_t)cn_dec_u32(d);
    v->weight_warning = (int)(int32_t)cn_dec_u32(d);
    v->enable_tag_override = dec_bool(d);
    if (level < STATE_SVC_MESH)
        return;
    struct state_proxy *p = &v->proxy;
    v->connect_native = dec_bool(d);
    p->dest_name = dstr(d);
    p->dest_id = dstr(d);
    p->local_address = dstr(d);
    p->local_port = (int)(int32_t)cn_dec_u32(d);
    p->config = dstr(d);
    n = dec_count(d, 20);
    if (!d->err && n) {
        if (!(p->ups = cn_calloc(n, sizeof(*p->ups))))
            d->err = CN_ENOMEM;
        for (size_t i = 0; i < n && !d->err; i++) {
            struct state_upstream *u = &p->ups[i];
            p->nups = i + 1;
            u->dest_type = dstr(d);
            u->dest_name = dstr(d);
            u->datacenter = dstr(d);
            u->local_bind_address = dstr(d);
            u->local_bind_port = (int)(int32_t)cn_dec_u32(d);
            u->config = level >= STATE_SVC_UPSTREAM_CONFIG ? dstr(d) : NULL;
        }
    }
}

static int enc_strs(struct cn_buf *b, char *const *v, size_t n);
static void dec_strs(struct cn_dec *d, char ***v, size_t *nv);

int state__enc_check(struct cn_buf *b, const struct state_check *c)
{
    CN_TRY(cn_enc_str(b, c->check_id));
    CN_TRY(cn_enc_str(b, c->name));
    CN_TRY(cn_enc_str(b, c->status));
    CN_TRY(cn_enc_str(b, c->notes));
    CN_TRY(cn_enc_str(b, c->output));
    CN_TRY(cn_enc_str(b, c->service_id));
    CN_TRY(cn_enc_str(b, c->service_name));
    CN_TRY(cn_enc_str(b, c->type));
    CN_TRY(cn_enc_u64(b, (uint64_t)c->interval_ns));
    CN_TRY(cn_enc_u64(b, (uint64_t)c->timeout_ns));
    CN_TRY(cn_enc_u64(b, (uint64_t)c->ttl_ns));
    CN_TRY(cn_enc_u64(b, (uint64_t)c->deregister_after_ns));
    CN_TRY(cn_enc_str(b, c->http));
    CN_TRY(cn_enc_str(b, c->method));
    CN_TRY(cn_enc_str(b, c->tcp));
    CN_TRY(cn_enc_str(b, c->header_json));
    CN_TRY(cn_enc_str(b, c->body));
    CN_TRY(cn_enc_u8(b, c->tls_skip_verify ? 1 : 0));
    /* Command version 2 / snapshot version 3: the agent-only definition,
     * so a restarted agent runs exactly the checks it had. */
    CN_TRY(cn_enc_u32(b, (uint32_t)(int32_t)c->success_before_passing));
    CN_TRY(cn_enc_u32(b, (uint32_t)(int32_t)c->failures_before_warning));
    CN_TRY(cn_enc_u32(b, (uint32_t)(int32_t)c->failures_before_critical));
    CN_TRY(cn_enc_str(b, c->tls_server_name ? c->tls_server_name : ""));
    CN_TRY(cn_enc_str(b, c->udp ? c->udp : ""));
    CN_TRY(cn_enc_str(b, c->grpc ? c->grpc : ""));
    CN_TRY(cn_enc_u8(b, c->grpc_use_tls ? 1 : 0));
    CN_TRY(cn_enc_str(b, c->alias_node ? c->alias_node : ""));
    CN_TRY(cn_enc_str(b, c->alias_service ? c->alias_service : ""));
    CN_TRY(enc_strs(b, c->args, c->nargs));
    CN_TRY(cn_enc_str(b, c->h2ping ? c->h2ping : ""));
    return cn_enc_u8(b, c->h2ping_use_tls ? 1 : 0);
}

void state__dec_check(struct cn_dec *d, struct state_check *c, bool ext)
{
    c->check_id = dstr(d);
    c->name = dstr(d);
    c->status = dstr(d);
    c->notes = dstr(d);
    c->output = dstr(d);
    c->service_id = dstr(d);
    c->service_name = dstr(d);
    c->type = dstr(d);
    c->interval_ns = (int64_t)cn_dec_u64(d);
    c->timeout_ns = (int64_t)cn_dec_u64(d);
    c->ttl_ns = (int64_t)cn_dec_u64(d);
    c->deregister_after_ns = (int64_t)cn_dec_u64(d);
    c->http = dstr(d);
    c->method = dstr(d);
    c->tcp = dstr(d);
    c->header_json = dstr(d);
    c->body = dstr(d);
    c->tls_skip_verify = dec_bool(d);
    if (!ext)
        return; /* command version 1, snapshot versions 1-2: not carried */
    c->success_before_passing = (int)(int32_t)cn_dec_u32(d);
    c->failures_before_warning = (int)(int32_t)cn_dec_u32(d);
    c->failures_before_critical = (int)(int32_t)cn_dec_u32(d);
    if (!d->err && (c->success_before_passing < 0 || c->failures_before_warning < 0 ||
                    c->failures_before_critical < 0))
        d->err = CN_ECORRUPT;
    c->tls_server_name = dstr_opt(d);
    c->udp = dstr_opt(d);
    c->grpc = dstr_opt(d);
    c->grpc_use_tls = dec_bool(d);
    c->alias_node = dstr_opt(d);
    c->alias_service = dstr_opt(d);
    dec_strs(d, &c->args, &c->nargs);
    c->h2ping = dstr_opt(d);
    c->h2ping_use_tls = dec_bool(d);
}

static int enc_strs(struct cn_buf *b, char *const *v, size_t n)
{
    if (n > UINT32_MAX || (n && !v))
        return CN_EINVAL;
    CN_TRY(cn_enc_u32(b, (uint32_t)n));
    for (size_t i = 0; i < n; i++)
        CN_TRY(cn_enc_str(b, v[i]));
    return 0;
}

static void dec_strs(struct cn_dec *d, char ***v, size_t *nv)
{
    size_t n = dec_count(d, 4);
    if (d->err || !n)
        return;
    if (!(*v = cn_calloc(n, sizeof(char *)))) {
        d->err = CN_ENOMEM;
        return;
    }
    for (size_t i = 0; i < n && !d->err; i++) {
        (*v)[i] = dstr(d);
        *nv = i + 1;
    }
}

int state__enc_session(struct cn_buf *b, const struct state_session *v)
{
    CN_TRY(cn_enc_str(b, v->id));
    CN_TRY(cn_enc_str(b, v->name));
    CN_TRY(cn_enc_str(b, v->node));
    CN_TRY(cn_enc_str(b, v->behavior));
    CN_TRY(cn_enc_str(b, v->ttl));
    CN_TRY(cn_enc_u64(b, (uint64_t)v->ttl_ns));
    CN_TRY(cn_enc_u64(b, (uint64_t)v->lock_delay_ns));
    CN_TRY(enc_strs(b, v->node_checks, v->n_node_checks));
    return enc_strs(b, v->service_checks, v->n_service_checks);
}

void state__dec_session(struct cn_dec *d, struct state_session *v)
{
    v->id = dstr(d);
    v->name = dstr(d);
    v->node = dstr(d);
    v->behavior = dstr(d);
    v->ttl = dstr(d);
    v->ttl_ns = (int64_t)cn_dec_u64(d);
    v->lock_delay_ns = (int64_t)cn_dec_u64(d);
    dec_strs(d, &v->node_checks, &v->n_node_checks);
    dec_strs(d, &v->service_checks, &v->n_service_checks);
}

/* ---- encoders ------------------------------------------------------------ */

static int begin(struct cn_buf *out, enum state_cmd_type t)
{
    CN_TRY(cn_enc_u8(out, (uint8_t)t));
    return cn_enc_u8(out, STATE_CMD_VERSION);
}

/* Encoders leave `out` as it was on error. */
static int finish(struct cn_buf *out, size_t len0, int rc)
{
    if (rc)
        out->len = len0;
    return rc;
}

static int enc_txn(struct cn_buf *out, const struct state_kv_op *ops, size_t nops)
{
    CN_TRY(begin(out, STATE_CMD_KV_TXN));
    CN_TRY(cn_enc_u32(out, (uint32_t)nops));
    for (size_t i = 0; i < nops; i++) {
        const struct state_kv_op *op = &ops[i];
        if ((unsigned)op->verb >= STATE_KV__COUNT || !op->key || (op->value_len && !op->value))
            return CN_EINVAL;
        if (strlen(op->key) > UINT32_MAX - 1 || op->value_len > UINT32_MAX)
            return CN_ETOOBIG;
        CN_TRY(cn_enc_u8(out, (uint8_t)op->verb));
        CN_TRY(state__enc_zstr(out, op->key));
        CN_TRY(cn_enc_bytes(out, op->value, op->value_len));
        CN_TRY(cn_enc_u64(out, op->flags));
        CN_TRY(cn_enc_u64(out, op->index));
        CN_TRY(cn_enc_u8(out, op->session ? 1 : 0));
        CN_TRY(state__enc_zstr(out, op->session));
    }
    return 0;
}

int state_cmd_kv_txn(struct cn_buf *out, const struct state_kv_op *ops, size_t nops)
{
    if (nops == 0 || nops > STATE_TXN_MAX_OPS || !ops)
        return CN_EINVAL;
    size_t len0 = out->len;
    return finish(out, len0, enc_txn(out, ops, nops));
}

static int enc_register(struct cn_buf *out, const struct state_register *r)
{
    if (r->nchecks > UINT32_MAX || (r->nchecks && !r->checks))
        return CN_EINVAL;
    CN_TRY(begin(out, STATE_CMD_REGISTER));
    CN_TRY(state__enc_node(out, &r->node));
    CN_TRY(cn_enc_u8(out, r->skip_node_update ? 1 : 0));
    CN_TRY(cn_enc_u8(out, r->service ? 1 : 0));
    if (r->service)
        CN_TRY(state__enc_service(out, r->service));
    CN_TRY(cn_enc_u32(out, (uint32_t)r->nchecks));
    for (size_t i = 0; i < r->nchecks; i++)
        CN_TRY(state__enc_check(out, &r->checks[i]));
    return 0;
}

int state_cmd_register(struct cn_buf *out, const struct state_register *r)
{
    size_t len0 = out->len;
    return finish(out, len0, enc_register(out, r));
}

static int enc_dereg(struct cn_buf *out, const char *node, const char *sid, const char *cid)
{
    CN_TRY(begin(out, STATE_CMD_DEREGISTER));
    CN_TRY(cn_enc_str(out, node));
    CN_TRY(cn_enc_u8(out, sid ? 1 : 0));
    CN_TRY(cn_enc_str(out, sid));
    CN_TRY(cn_enc_u8(out, cid ? 1 : 0));
    return cn_enc_str(out, cid);
}

int state_cmd_deregister(struct cn_buf *out, const char *node, const char *service_id,
                         const char *check_id)
{
    if (!node)
        return CN_EINVAL;
    size_t len0 = out->len;
    return finish(out, len0, enc_dereg(out, node, service_id, check_id));
}

static int enc_status(struct cn_buf *out, const char *node, const char *cid, const char *status,
                      const char *output)
{
    CN_TRY(begin(out, STATE_CMD_CHECK_STATUS));
    CN_TRY(cn_enc_str(out, node));
    CN_TRY(cn_enc_str(out, cid));
    CN_TRY(cn_enc_str(out, status));
    return cn_enc_str(out, output);
}

int state_cmd_check_status(struct cn_buf *out, const char *node, const char *check_id,
                           const char *status, const char *output)
{
    if (!node || !check_id || !status)
        return CN_EINVAL;
    size_t len0 = out->len;
    return finish(out, len0, enc_status(out, node, check_id, status, output));
}

int state_cmd_noop(struct cn_buf *out)
{
    size_t len0 = out->len;
    return finish(out, len0, begin(out, STATE_CMD_NOOP));
}

static int enc_reap(struct cn_buf *out, uint64_t index)
{
    CN_TRY(begin(out, STATE_CMD_KV_REAP));
    return cn_enc_u64(out, index);
}

int state_cmd_kv_reap(struct cn_buf *out, uint64_t index)
{
    size_t len0 = out->len;
    return finish(out, len0, enc_reap(out, index));
}

static int enc_sess_create(struct cn_buf *out, const struct state_session *v)
{
    CN_TRY(begin(out, STATE_CMD_SESSION_CREATE));
    return state__enc_session(out, v);
}

int state_cmd_session_create(struct cn_buf *out, const struct state_session *v)
{
    if (!v || !v->id || !*v->id || strlen(v->id) > STATE_SESSION_ID_MAX)
        return CN_EINVAL;
    size_t len0 = out->len;
    return finish(out, len0, enc_sess_create(out, v));
}

static int enc_sess_id(struct cn_buf *out, enum state_cmd_type t, const char *id)
{
    CN_TRY(begin(out, t));
    return state__enc_zstr(out, id);
}

int state_cmd_session_destroy(struct cn_buf *out, const char *id)
{
    if (!id)
        return CN_EINVAL;
    size_t len0 = out->len;
    return finish(out, len0, enc_sess_id(out, STATE_CMD_SESSION_DESTROY, id));
}

int state_cmd_session_renew(struct cn_buf *out, const char *id)
{
    if (!id)
        return CN_EINVAL;
    size_t len0 = out->len;
    return finish(out, len0, enc_sess_id(out, STATE_CMD_SESSION_RENEW, id));
}

int state_cmd_type(const void *cmd, size_t len)
{
    if (!cmd || len < 1)
        return -1;
    uint8_t t = *(const uint8_t *)cmd;
    return t <= STATE_CMD_INTENTION_ENTRY ? (int)t : -1;
}
