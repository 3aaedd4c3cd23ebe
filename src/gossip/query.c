/* gossip/query.c: keyring queries (gossip.h), serf's internal queries for
 * its key manager, in the pure core: the origin gossips a QUERY, every
 * member applies it once to its keyring and answers the origin directly
 * (QRESP), also through `relay` random members (QRELAY) when asked; the
 * origin collects one answer per member until all members alive at the
 * start answered or the timeout passed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "gossip/gossip_int.h"

/* serf's DefaultQueryTimeout: gossip interval x 16 x ceil(log10(n + 1)) */
static uint64_t default_timeout(const struct gossip *g)
{
    double scale = ceil(log10((double)g->nalive + 1.0));
    return (uint64_t)g->cfg.gossip_interval_ms * 16u * (scale >= 1.0 ? (uint64_t)scale : 1u);
}

static uint64_t seen_key(const char *origin, uint32_t id)
{
    return gossip__hash(origin) ^ ((uint64_t)id * 0x9E3779B97F4A7C15ull);
}

static bool seen(const struct gossip *g, uint64_t k)
{
    for (size_t i = 0; i < GOSSIP_QSEEN; i++)
        if (g->qseen[i] == k)
            return true;
    return false;
}

static void remember(struct gossip *g, uint64_t k)
{
    g->qseen[g->qseen_at] = k;
    g->qseen_at = (g->qseen_at + 1) % GOSSIP_QSEEN;
}

static struct gquery *ours(struct gossip *g, uint32_t id)
{
    for (size_t i = 0; i < GOSSIP_QUERIES; i++)
        if (g->queries[i].used && g->queries[i].id == id)
            return &g->queries[i];
    return NULL;
}

static void finish(struct gossip *g, struct gquery *q, bool timed_out)
{
    if (g->nqdone == g->qdone_cap) {
        size_t nc = g->qdone_cap ? g->qdone_cap * 2 : 4;
        struct gossip_query_done *v = cn_realloc(g->qdone, nc * sizeof(*v));
        if (!v)
            return; /* retried on the next tick */
        g->qdone = v;
        g->qdone_cap = nc;
    }
    struct gossip_query_done *d = &g->qdone[g->nqdone++];
    d->token = q->token;
    d->op = q->op;
    d->num_nodes = q->num_nodes;
    d->timed_out = timed_out;
    d->resp = q->resp; /* handed over: freed after gossip_done */
    d->nresp = q->nresp;
    memset(q, 0, sizeof(*q));
    g->nqueries--;
}

/* One answer for one of our queries (a member answers once). */
static void collect(struct gossip *g, struct gquery *q, const struct gossip_qresp *r)
{
    for (size_t i = 0; i < q->nresp; i++)
        if (!strcmp(q->resp[i].name, r->name))
            return;
    if (q->nresp == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 8;
        struct gossip_qresp *v = cn_realloc(q->resp, nc * sizeof(*v));
        if (!v)
            return; /* counted as not answering */
        q->resp = v;
        q->cap = nc;
    }
    q->resp[q->nresp++] = *r;
    if (q->nresp >= q->num_nodes)
        finish(g, q, false);
}

/* Apply an operation to our keyring: serf's handleInstallKey & co. */
static void apply(struct gossip *g, uint8_t op, const uint8_t *key, size_t key_len,
                  struct gossip_qresp *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", gossip__id(g, gossip__self(g))->name);
    if (g->kr.n == 0) {
        snprintf(r->msg, sizeof(r->msg), "%s",
                 op == GOSSIP_QOP_LIST ? "Keyring is empty (encryption not enabled)"
                                       : "No keyring to modify (encryption not enabled)");
        return;
    }
    struct gossip_keyring before = g->kr;
    int rc = 0;
    switch (op) {
    case GOSSIP_QOP_LIST:
        r->keys = g->kr;
        break;
    case GOSSIP_QOP_INSTALL:
        rc = gossip_keyring_add(&g->kr, key, key_len, r->msg, sizeof(r->msg));
        break;
    case GOSSIP_QOP_USE:
        rc = gossip_keyring_use(&g->kr, key, key_len, r->msg, sizeof(r->msg));
        break;
    case GOSSIP_QOP_REMOVE:
        rc = gossip_keyring_remove(&g->kr, key, key_len, r->msg, sizeof(r->msg));
        break;
    default:
        rc = CN_EINVAL;
        snprintf(r->msg, sizeof(r->msg), "unknown keyring operation");
        break;
    }
    r->ok = rc == 0;
    if (!gossip_keyring_equal(&before, &g->kr))
        g->kr_changed = true;
}

static void fill_resp_msg(struct gossip_msg *m, uint8_t type, uint32_t id,
                          const struct gossip_qresp *r, struct cn_buf *keys)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->seq = id;
    snprintf(m->node, sizeof(m->node), "%s", r->name);
    m->ok = r->ok;
    snprintf(m->text, sizeof(m->text), "%s", r->msg);
    for (size_t i = 0; i < r->keys.n && i < GOSSIP_QKEYS_MAX; i++) {
        if (cn_enc_u8(keys, r->keys.keys[i].len) ||
            cn_buf_append(keys, r->keys.keys[i].k, r->keys.keys[i].len))
            break;
        m->nkeys++;
    }
    m->keys = (const uint8_t *)keys->p;
    m->keys_len = keys->len;
}

static bool resp_of(const struct gossip_msg *m, struct gossip_qresp *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", m->node);
    r->ok = m->ok;
    snprintf(r->msg, sizeof(r->msg), "%s", m->text);
    size_t off = 0;
    for (unsigned i = 0; i < m->nkeys; i++) {
        uint8_t l = m->keys[off];
        char err[64];
        if (gossip_keyring_add(&r->keys, m->keys + off + 1, l, err, sizeof(err)))
            return false;
        off += 1u + l;
    }
    return true;
}

/* A QUERY heard (or started by us): apply once, gossip it on, answer. */
void gossip__on_query(struct gossip *g, const struct gossip_msg *m)
{
    uint64_t k = seen_key(m->node, m->seq);
    if (seen(g, k))
        return;
    remember(g, k);
    struct gossip_qresp r;
    apply(g, m->op, m->key, m->key_len, &r);
    if (!strcmp(m->node, gossip__id(g, gossip__self(g))->name)) {
        struct gquery *q = ours(g, m->seq);
        if (q)
            collect(g, q, &r);
        return;
    }
    /* serf rebroadcasts every query it has not seen, for as long as its
     * origin waits for answers (our estimate of it: serf's default) */
    gossip__bc_queue_free(g, m, g->now + default_timeout(g));
    struct cn_buf keys = CN_BUF_INIT;
    struct gossip_msg a;
    fill_resp_msg(&a, GMSG_QRESP, m->seq, &r, &keys);
    gossip__send_plain(g, m->host, m->port, &a);
    if (m->relay) {
        struct gm *via[5];
        struct gm *origin = gossip__find(g, m->node);
        size_t n = gossip__pick_alive(g, m->relay, origin, via);
        a.type = GMSG_QRELAY;
        snprintf(a.host, sizeof(a.host), "%s", m->host);
        a.port = m->port;
        for (size_t i = 0; i < n; i++)
            gossip__send_plain(g, gossip__id(g, via[i])->host, gossip__id(g, via[i])->port, &a);
    }
    cn_buf_free(&keys);
}

void gossip__on_qresp(struct gossip *g, const struct gossip_msg *m)
{
    if (m->type == GMSG_QRELAY) {
        /* pass it on to the origin as a plain answer */
        struct gossip_msg a = *m;
        a.type = GMSG_QRESP;
        char host[GOSSIP_HOST_MAX + 1];
        snprintf(host, sizeof(host), "%s", m->host);
        a.host[0] = '\0';
        a.port = 0;
        gossip__send_plain(g, host, m->port, &a);
        return;
    }
    struct gquery *q = ours(g, m->seq);
    if (!q)
        return; /* late, or not ours */
    struct gossip_qresp r;
    if (resp_of(m, &r))
        collect(g, q, &r);
}

int gossip_query(struct gossip *g, uint8_t op, const uint8_t *key, size_t key_len, unsigned relay,
                 uint64_t timeout_ms, uint64_t token)
{
    if (op < GOSSIP_QOP_LIST || op > GOSSIP_QOP_REMOVE || relay > 5 ||
        (op == GOSSIP_QOP_LIST ? key_len != 0 : !gossip_key_len_ok(key_len)))
        return CN_EINVAL;
    struct gquery *q = NULL;
    for (size_t i = 0; i < GOSSIP_QUERIES && !q; i++)
        if (!g->queries[i].used)
            q = &g->queries[i];
    if (!q)
        return CN_EAGAIN;
    if (!timeout_ms)
        timeout_ms = default_timeout(g);
    memset(q, 0, sizeof(*q));
    q->used = true;
    q->op = op;
    q->id = ++g->qseq;
    q->token = token;
    q->deadline = g->now + timeout_ms;
    q->num_nodes = g->nalive;
    g->nqueries++;
    struct gossip_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GMSG_QUERY;
    m.seq = q->id;
    snprintf(m.node, sizeof(m.node), "%s", gossip__id(g, gossip__self(g))->name);
    snprintf(m.host, sizeof(m.host), "%s", gossip__id(g, gossip__self(g))->host);
    m.port = gossip__id(g, gossip__self(g))->port;
    m.relay = (uint8_t)relay;
    m.op = op;
    m.key_len = (uint8_t)key_len;
    if (key_len)
        memcpy(m.key, key, key_len);
    gossip__bc_queue_free(g, &m, q->deadline);
    gossip__on_query(g, &m); /* ourselves first (may finish a pool of one) */
    return 0;
}

void gossip__query_tick(struct gossip *g)
{
    gossip__bc_expire(g);
    if (!g->nqueries)
        return;
    for (size_t i = 0; i < GOSSIP_QUERIES; i++)
        if (g->queries[i].used && g->now >= g->queries[i].deadline)
            finish(g, &g->queries[i], true);
}

uint64_t gossip__query_deadline(const struct gossip *g, uint64_t d)
{
    if (!g->nqueries)
        return d;
    for (size_t i = 0; i < GOSSIP_QUERIES; i++)
        if (g->queries[i].used && g->queries[i].deadline < d)
            d = g->queries[i].deadline;
    return d;
}

void gossip__query_free_done(struct gossip *g)
{
    for (size_t i = 0; i < g->nqdone; i++)
        cn_free(g->qdone[i].resp);
    g->nqdone = 0;
}

void gossip__query_free_all(struct gossip *g)
{
    gossip__query_free_done(g);
    for (size_t i = 0; i < GOSSIP_QUERIES; i++)
        if (g->queries[i].used)
            cn_free(g->queries[i].resp);
    cn_free(g->qdone);
}

const struct gossip_keyring *gossip_get_keyring(const struct gossip *g)
{
    return &g->kr;
}
