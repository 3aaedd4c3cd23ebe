/* gossip/gossip.c: the SWIM + Lifeguard state machine (see gossip.h). */
#include "gossip/gossip.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/mem.h"
#include "gossip/codec.h"
#include "gossip/gossip_int.h"

/* ---- small helpers ----------------------------------------------------------- */

const char *gossip_status_name(enum gossip_status s)
{
    switch (s) {
    case GOSSIP_ALIVE:
        return "alive";
    case GOSSIP_SUSPECT:
        return "suspect";
    case GOSSIP_FAILED:
        return "failed";
    case GOSSIP_LEFT:
        return "left";
    }
    return "none";
}

int gossip_serf_status(enum gossip_status s, bool leaving)
{
    if (leaving && s != GOSSIP_FAILED)
        return 2;
    switch (s) {
    case GOSSIP_ALIVE:
    case GOSSIP_SUSPECT:
        return 1;
    case GOSSIP_LEFT:
        return 3;
    case GOSSIP_FAILED:
        return 4;
    }
    return 0;
}

void gossip_config_default(struct gossip_config *c)
{
    memset(c, 0, sizeof(*c));
    c->probe_interval_ms = 1000;
    c->probe_timeout_ms = 500;
    c->suspicion_mult = 4;
    c->suspicion_max_timeout_mult = 6;
    c->indirect_checks = 3;
    c->gossip_interval_ms = 200;
    c->gossip_nodes = 3;
    c->push_pull_interval_ms = 30000;
    c->awareness_max = 8;
    c->retransmit_mult = 4;
    c->gossip_to_the_dead_ms = 30000;
    c->reap_failed_ms = 72ull * 3600 * 1000;
    c->reap_left_ms = 24ull * 3600 * 1000;
    c->reconnect_interval_ms = 30000;
    c->udp_max = GOSSIP_UDP_MAX;
    c->lifeguard = true;
}

static uint64_t rnd(struct gossip *g)
{
    uint64_t x = g->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    g->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t rnd_below(struct gossip *g, uint64_t n)
{
    return n ? rnd(g) % n : 0;
}

static uint64_t hash_name(const char *s)
{
    return gossip__name_hash(s);
}

static uint64_t scale(const struct gossip *g, uint64_t ms)
{
    return g->cfg.lifeguard ? ms * (g->awareness + 1) : ms;
}

static void awareness_delta(struct gossip *g, int d)
{
    if (!g->cfg.lifeguard)
        return;
    int v = (int)g->awareness + d;
    int max = (int)g->cfg.awareness_max - 1;
    g->awareness = (unsigned)(v < 0 ? 0 : v > max ? max : v);
}

/* ---- members ----------------------------------------------------------------- */

/* The event's time in microseconds (gossip_clock_us, else ms * 1000). */
static uint64_t now_us(const struct gossip *g)
{
    return g->cur_us;
}

static void take_clock(struct gossip *g)
{
    g->cur_us = g->now_us_set ? g->now_us : g->now * 1000;
    g->now_us_set = false;
}

/* ---- the member table: records in g->mem, an index by name, extras ---------- */

static size_t ix_home(const struct gossip *g, uint64_t h)
{
    return (size_t)(h ^ (h >> 32)) & (g->nix - 1);
}

static struct gm *find(const struct gossip *g, const char *name)
{
    uint64_t h = hash_name(name);
    for (size_t i = ix_home(g, h);; i = (i + 1) & (g->nix - 1)) {
        uint32_t v = g->ix[i];
        if (!v)
            return NULL;
        struct gm *m = &g->mem[v - 1];
        const struct gident *id = gossip__id(g, m);
        if (id->nhash == h && !strcmp(id->name, name))
            return m;
    }
}

/* The index position that holds slot (which must be there). */
static size_t ix_pos(const struct gossip *g, size_t slot)
{
    uint64_t h = gossip__id(g, &g->mem[slot])->nhash;
    for (size_t i = ix_home(g, h);; i = (i + 1) & (g->nix - 1)) {
        CN_INVARIANT(g->ix[i] != 0);
        if (g->ix[i] == slot + 1)
            return i;
    }
}

static void ix_insert(struct gossip *g, size_t slot)
{
    size_t i = ix_home(g, gossip__id(g, &g->mem[slot])->nhash);
    while (g->ix[i])
        i = (i + 1) & (g->nix - 1);
    g->ix[i] = (uint32_t)(slot + 1);
}

/* Linear probing's deletion: later entries of the run move back. */
static void ix_remove(struct gossip *g, size_t slot)
{
    size_t mask = g->nix - 1, i = ix_pos(g, slot);
    for (size_t j = (i + 1) & mask; g->ix[j]; j = (j + 1) & mask) {
        size_t home = ix_home(g, gossip__id(g, &g->mem[g->ix[j] - 1])->nhash);
        /* j's entry may fill the hole at i unless its home lies in (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            g->ix[i] = g->ix[j];
            i = j;
        }
    }
    g->ix[i] = 0;
}

static int ix_rebuild(struct gossip *g, size_t nix)
{
    uint32_t *v = cn_calloc(nix, sizeof(*v));
    if (!v)
        return CN_ENOMEM;
    cn_free(g->ix);
    g->ix = v;
    g->nix = nix;
    for (size_t i = 0; i < g->n; i++)
        ix_insert(g, i);
    return 0;
}

/* Put record r at slot (its extras and self follow; not the index). */
static void place(struct gossip *g, size_t slot, const struct gm *r)
{
    g->mem[slot] = *r;
    if (r->x)
        g->xs[r->x - 1].slot = (uint32_t)slot;
    if (r->self)
        g->self_slot = slot;
}

struct gmx *gossip__x_get(struct gossip *g, struct gm *m)
{
    if (m->x)
        return &g->xs[m->x - 1];
    uint32_t i = g->xfree;
    if (i) {
        g->xfree = g->xs[i - 1].slot;
    } else {
        if (g->nxs == g->capxs) {
            uint32_t nc = g->capxs ? g->capxs * 2 : 16;
            struct gmx *v = cn_realloc(g->xs, (size_t)nc * sizeof(*v));
            if (!v)
                return NULL;
            g->xs = v;
            g->capxs = nc;
        }
        i = ++g->nxs;
    }
    struct gmx *x = &g->xs[i - 1];
    memset(x, 0, sizeof(*x));
    x->slot = (uint32_t)(m - g->mem);
    m->x = i;
    return x;
}

static void x_free(struct gossip *g, uint32_t i)
{
    struct gmx *x = &g->xs[i - 1];
    g->mem[x->slot].x = 0;
    memset(x, 0, sizeof(*x));
    x->slot = g->xfree;
    g->xfree = i;
}

void gossip__x_gc(struct gossip *g, uint32_t i)
{
    struct gmx *x = &g->xs[i - 1];
    uint8_t st = g->mem[x->slot].state;
    if (!x->susp && !x->bc && !x->coord && st != GOSSIP_FAILED && st != GOSSIP_LEFT)
        x_free(g, i);
}

#define SELF(g) gossip__self(g)

static const char *NAME(const struct gossip *g, const struct gm *m)
{
    return gossip__id(g, m)->name;
}

static const char *HOST(const struct gossip *g, const struct gm *m)
{
    return gossip__id(g, m)->host;
}

static uint16_t PORT(const struct gossip *g, const struct gm *m)
{
    return gossip__id(g, m)->port;
}

/* When m became FAILED or LEFT (now when that is not known: see set_state). */
static uint64_t changed_at(const struct gossip *g, const struct gm *m)
{
    return m->x ? g->xs[m->x - 1].changed : g->now;
}

/* m's identity becomes (its name, host, port, tags). */
static int set_ident(struct gossip *g, struct gm *m, const char *host, uint16_t port,
                     const uint8_t *tags, size_t tags_len)
{
    uint32_t id = gossip__ident_get(g->ids, gossip__id(g, m)->name, host, port, tags, tags_len);
    if (id == GIDENT_NONE)
        return CN_ENOMEM;
    gossip__ident_put(g->ids, m->id);
    m->id = id;
    return 0;
}

static bool ident_differs(const struct gident *id, const char *host, uint16_t port,
                          const uint8_t *tags, size_t tags_len)
{
    return strcmp(host, id->host) || port != id->port || tags_len != id->tags_len ||
           (tags_len && memcmp(tags, id->tags, tags_len));
}

static void count_state(struct gossip *g, uint8_t st, int d)
{
    size_t *c = st == GOSSIP_FAILED ? &g->nfailed : st == GOSSIP_LEFT ? &g->nleft : &g->nalive;
    *c = (size_t)((long)*c + d);
}

static struct gm *add_member(struct gossip *g, const char *name, const char *host, uint16_t port,
                             const uint8_t *tags, size_t tags_len, uint32_t inc)
{
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 16;
        struct gm *v = cn_realloc(g->mem, nc * sizeof(*v));
        if (!v)
            return NULL;
        g->mem = v;
        g->cap = nc;
    }
    if ((g->n + 1) * 4 > g->nix * 3 && ix_rebuild(g, g->nix ? g->nix * 2 : 16))
        return NULL;
    struct gm r = {.inc = inc, .state = GOSSIP_ALIVE};
    r.id = gossip__ident_get(g->ids, name, host, port, tags, tags_len);
    if (r.id == GIDENT_NONE)
        return NULL;
    /* A new member goes to a random place in the probe order (memberlist). */
    size_t at = g->n ? (size_t)rnd_below(g, g->n + 1) : 0;
    if (at != g->n) {
        size_t pos = ix_pos(g, at);
        place(g, g->n, &g->mem[at]);
        g->ix[pos] = (uint32_t)(g->n + 1);
    }
    place(g, at, &r);
    g->n++;
    ix_insert(g, at);
    count_state(g, GOSSIP_ALIVE, 1);
    return &g->mem[at];
}

static void susp_free(struct gossip *g, struct gm *m)
{
    struct gmx *x = gossip__x(g, m);
    struct gsusp *s = x ? x->susp : NULL;
    if (!s)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        g->susps = s->next;
    if (s->next)
        s->next->prev = s->prev;
    x->susp = NULL;
    cn_free(s);
    gossip__x_gc(g, m->x);
}

static void remove_member(struct gossip *g, struct gm *m)
{
    CN_ASSERT(!m->self);
    size_t i = (size_t)(m - g->mem);
    susp_free(g, m);
    gossip__bc_drop(g, m);
    if (g->cc)
        coord_client_forget(g->cc, NAME(g, m));
    if (m->x) {
        cn_free(g->xs[m->x - 1].coord);
        x_free(g, m->x);
    }
    ix_remove(g, i);
    count_state(g, m->state, -1);
    gossip__ident_put(g->ids, m->id);
    size_t last = g->n - 1;
    if (i != last) {
        size_t pos = ix_pos(g, last);
        place(g, i, &g->mem[last]);
        g->ix[pos] = (uint32_t)(i + 1);
    }
    g->n--;
    if (g->probe_at > g->n)
        g->probe_at = g->n;
}

static void set_state(struct gossip *g, struct gm *m, uint8_t st)
{
    if (m->state == st)
        return;
    count_state(g, m->state, -1);
    count_state(g, st, 1);
    m->state = st;
    if (st == GOSSIP_FAILED || st == GOSSIP_LEFT) {
        /* Without memory for the time, it stays "just changed": kept (not
         * reaped) and gossiped to as a member that just failed. */
        struct gmx *x = gossip__x_get(g, m);
        if (x)
            x->changed = g->now;
        uint64_t due = g->now + (st == GOSSIP_FAILED ? g->cfg.reap_failed_ms : g->cfg.reap_left_ms);
        if (due < g->reap_due)
            g->reap_due = due;
    }
    if (st != GOSSIP_SUSPECT)
        susp_free(g, m);
    if (m->x)
        gossip__x_gc(g, m->x);
}

static void view(const struct gossip *g, const struct gm *m, bool leaving, struct gossip_member *v)
{
    const struct gident *id = gossip__id(g, m);
    v->name = id->name;
    v->host = id->host;
    v->port = id->port;
    v->status = (enum gossip_status)m->state;
    v->incarnation = m->inc;
    v->tags = id->tags_len ? id->tags : NULL;
    v->tags_len = id->tags_len;
    v->leaving = m->self && leaving;
}

/* ---- output ------------------------------------------------------------------ */

static void event(struct gossip *g, enum gossip_event_type t, const struct gm *m)
{
    if (g->nevents == g->events_cap) {
        size_t nc = g->events_cap ? g->events_cap * 2 : 8;
        struct gossip_event *v = cn_realloc(g->events, nc * sizeof(*v));
        if (!v)
            return;
        g->events = v;
        g->events_cap = nc;
    }
    size_t nl = strlen(NAME(g, m)), hl = strlen(HOST(g, m));
    char *p = cn_malloc(nl + 1 + hl + 1 + gossip__id(g, m)->tags_len + 1);
    if (!p)
        return;
    struct gossip_event *e = &g->events[g->nevents++];
    e->type = t;
    view(g, m, g->leaving, &e->m);
    memcpy(p, NAME(g, m), nl + 1);
    memcpy(p + nl + 1, HOST(g, m), hl + 1);
    if (gossip__id(g, m)->tags_len)
        memcpy(p + nl + hl + 2, gossip__id(g, m)->tags, gossip__id(g, m)->tags_len);
    e->m.name = p;
    e->m.host = p + nl + 1;
    e->m.tags = gossip__id(g, m)->tags_len ? (const uint8_t *)p + nl + hl + 2 : NULL;
}

static struct gossip_out *new_out(struct gossip *g, const char *host, uint16_t port)
{
    if (g->nouts == g->outs_cap) {
        size_t nc = g->outs_cap ? g->outs_cap * 2 : 8;
        struct gossip_out *v = cn_realloc(g->outs, nc * sizeof(*v));
        if (!v)
            return NULL;
        g->outs = v;
        g->outs_cap = nc;
    }
    struct gossip_out *o = &g->outs[g->nouts];
    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "%s", host);
    o->port = port;
    return o;
}

static int hdr(struct gossip *g, struct cn_buf *b, size_t *count_off)
{
    struct gossip_hdr h;
    snprintf(h.cluster, sizeof(h.cluster), "%s", g->cluster);
    snprintf(h.name, sizeof(h.name), "%s", NAME(g, SELF(g)));
    snprintf(h.host, sizeof(h.host), "%s", HOST(g, SELF(g)));
    h.port = PORT(g, SELF(g));
    return gossip_enc_hdr(b, &h, count_off);
}

/* A datagram to host:port: msgs, then (piggyback) queued updates that fit. */
static void send_pkt_pb(struct gossip *g, const char *host, uint16_t port,
                        const struct gossip_msg *msgs, unsigned n, bool need_bc, bool piggyback)
{
    struct cn_buf b = CN_BUF_INIT;
    size_t count_off;
    if (hdr(g, &b, &count_off))
        goto out;
    for (unsigned i = 0; i < n; i++)
        if (gossip_enc_msg(&b, &msgs[i]))
            goto out;
    unsigned nb = 0;
    if (piggyback && b.len < g->cfg.udp_max)
        nb = gossip__bc_fill(g, &b, g->cfg.udp_max - b.len, GOSSIP_MAX_MSGS - n);
    if (need_bc && !nb)
        goto out;
    if (n + nb == 0)
        goto out;
    b.p[count_off] = (char)(n + nb);
    struct gossip_out *o = new_out(g, host, port);
    if (!o)
        goto out;
    o->data = (uint8_t *)b.p;
    o->len = b.len;
    g->nouts++;
    g->st.packets_sent++;
    g->st.bytes_sent += b.len;
    return;
out:
    cn_buf_free(&b);
}

static void send_pkt(struct gossip *g, const char *host, uint16_t port,
                     const struct gossip_msg *msgs, unsigned n, bool need_bc)
{
    send_pkt_pb(g, host, port, msgs, n, need_bc, true);
}

static void send_one(struct gossip *g, const char *host, uint16_t port,
                     const struct gossip_msg *msg)
{
    send_pkt(g, host, port, msg, 1, false);
}

/* Our whole member list as a push/pull message. */
static int encode_pp(struct gossip *g, struct cn_buf *b, bool join)
{
    size_t count_off, mark;
    CN_TRY(hdr(g, b, &count_off));
    b->p[count_off] = 1;
    CN_TRY(gossip_enc_pp_begin(b, join, (uint32_t)g->n, &mark));
    size_t len0 = b->len;
    for (size_t i = 0; i < g->n; i++) {
        const struct gm *m = &g->mem[i];
        const struct gident *id = gossip__id(g, m);
        if (i == 1) /* the rest at about the first entry's size, in one allocation */
            CN_TRY(cn_buf_reserve(b, (b->len - len0 + 8) * (g->n - 1)));
        CN_TRY(gossip_enc_pp_entry(b, id->name, id->host, id->port, m->inc, m->state, id->tags,
                                   id->tags_len));
    }
    gossip_enc_pp_end(b, mark);
    return 0;
}

static void send_pp(struct gossip *g, const char *host, uint16_t port, bool join, uint64_t token)
{
    struct cn_buf b = CN_BUF_INIT;
    if (encode_pp(g, &b, join)) {
        cn_buf_free(&b);
        return;
    }
    struct gossip_out *o = new_out(g, host, port);
    if (!o) {
        cn_buf_free(&b);
        return;
    }
    o->stream = true;
    o->token = token;
    o->data = (uint8_t *)b.p;
    o->len = b.len;
    g->nouts++;
    g->st.streams_sent++;
    g->st.stream_bytes_sent += b.len;
}

/* ---- updates (memberlist's aliveNode, suspectNode, deadNode) -------------------- */

static void bc_alive(struct gossip *g, struct gm *m)
{
    struct gossip_msg a;
    memset(&a, 0, sizeof(a));
    a.type = GMSG_ALIVE;
    a.inc = m->inc;
    snprintf(a.node, sizeof(a.node), "%s", NAME(g, m));
    snprintf(a.host, sizeof(a.host), "%s", HOST(g, m));
    a.port = PORT(g, m);
    a.tags = gossip__id(g, m)->tags;
    a.tags_len = gossip__id(g, m)->tags_len;
    gossip__bc_queue(g, m, &a);
}

static void bc_sd(struct gossip *g, struct gm *m, uint8_t type, uint32_t inc, const char *from)
{
    struct gossip_msg a;
    memset(&a, 0, sizeof(a));
    a.type = type;
    a.inc = inc;
    snprintf(a.node, sizeof(a.node), "%s", NAME(g, m));
    snprintf(a.from, sizeof(a.from), "%s", from);
    gossip__bc_queue(g, m, &a);
}

/* Someone suspects or declared us dead at incarnation inc: announce a higher
 * one. Having to do so is a sign of our own slowness (LHA). */
static void refute(struct gossip *g, uint32_t inc)
{
    struct gm *s = SELF(g);
    s->inc = (inc > s->inc ? inc : s->inc) + 1;
    g->st.refutes++;
    awareness_delta(g, 1);
    bc_alive(g, s);
}

static void on_alive(struct gossip *g, const char *name, const char *host, uint16_t port,
                     const uint8_t *tags, size_t tags_len, uint32_t inc)
{
    struct gm *m = find(g, name);
    if (!m) {
        m = add_member(g, name, host, port, tags, tags_len, inc);
        if (!m)
            return;
        bc_alive(g, m);
        event(g, GOSSIP_EV_JOIN, m);
        return;
    }
    if (m->self) {
        bool differs = ident_differs(gossip__id(g, m), host, port, tags, tags_len);
        if (!g->leaving && (inc > m->inc || (inc == m->inc && differs)))
            refute(g, inc);
        return;
    }
    if (inc <= m->inc)
        return;
    bool changed = ident_differs(gossip__id(g, m), host, port, tags, tags_len);
    if (changed && set_ident(g, m, host, port, tags, tags_len))
        return;
    m->inc = inc;
    uint8_t old = m->state;
    set_state(g, m, GOSSIP_ALIVE);
    bc_alive(g, m);
    if (old == GOSSIP_FAILED || old == GOSSIP_LEFT)
        event(g, GOSSIP_EV_JOIN, m);
    else if (changed)
        event(g, GOSSIP_EV_UPDATE, m);
}

static uint64_t suspicion_min(const struct gossip *g, size_t n)
{
    double nodes = (double)(n < 1 ? 1 : n);
    double node_scale = log10(nodes);
    if (node_scale < 1.0)
        node_scale = 1.0;
    return (uint64_t)((double)g->cfg.suspicion_mult * node_scale *
                      (double)g->cfg.probe_interval_ms);
}

/* Lifeguard's dynamic suspicion timeout: from max down to min with the log of
 * the independent confirmations (memberlist's suspicion.go). */
static uint64_t susp_timeout(const struct gsusp *s)
{
    if (s->k < 1)
        return s->min;
    double frac = log((double)s->n + 1.0) / log((double)s->k + 1.0);
    double raw = (double)s->max - frac * (double)(s->max - s->min);
    uint64_t t = raw < 0 ? 0 : (uint64_t)floor(raw);
    return t < s->min ? s->min : t;
}

static bool susp_confirm(struct gsusp *s, const char *from)
{
    if (s->n >= s->k)
        return false;
    uint64_t h = hash_name(from);
    for (uint32_t i = 0; i < s->nwho; i++)
        if (s->who[i] == h)
            return false;
    if (s->nwho < sizeof(s->who) / sizeof(s->who[0]))
        s->who[s->nwho++] = h;
    s->n++;
    if (!s->asked) /* once asked, the suspect has its probe timeout to answer */
        s->deadline = s->start + susp_timeout(s);
    return true;
}

/* A suspicion or death of m at an incarnation older than the one we hold
 * it alive at (m may be us): whoever sent it missed m's refutation (its
 * epidemic passed it by), so m's current ALIVE is queued again, as the
 * freshest update: the packet that answers the sender (a last-chance
 * probe's ACK) carries it, and it is gossiped again. */
static void stale_news(struct gossip *g, struct gm *m)
{
    /* about another member, only when asked (a last-chance probe: the
     * packet PINGs us); stale gossip in passing is left to the epidemic */
    if (!g->cfg.lifeguard || g->leaving || m->state != GOSSIP_ALIVE || (!m->self && !g->rx_asked))
        return;
    g->st.reannounces++;
    bc_alive(g, m);
}

static void on_suspect(struct gossip *g, const char *name, uint32_t inc, const char *from)
{
    struct gm *m = find(g, name);
    if (m && inc < m->inc)
        stale_news(g, m);
    if (!m || inc < m->inc)
        return;
    struct gmx *x = gossip__x(g, m);
    if (m->state == GOSSIP_SUSPECT && x && x->susp) {
        if (susp_confirm(x->susp, from))
            bc_sd(g, m, GMSG_SUSPECT, inc, from);
        return;
    }
    if (m->state == GOSSIP_FAILED || m->state == GOSSIP_LEFT)
        return;
    if (m->self) {
        if (!g->leaving)
            refute(g, inc);
        return;
    }
    struct gsusp *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return;
    m->inc = inc;
    set_state(g, m, GOSSIP_SUSPECT);
    bc_sd(g, m, GMSG_SUSPECT, inc, from);
    size_t n = g->n;
    uint32_t k = g->cfg.lifeguard && g->cfg.suspicion_mult > 2 ? g->cfg.suspicion_mult - 2 : 0;
    if (n < 2 || n - 2 < k)
        k = 0;
    x = gossip__x_get(g, m);
    if (!x) {
        cn_free(s);
        return; /* out of memory: suspected without a timer; push/pull or a probe settles it */
    }
    s->x = m->x;
    s->k = k;
    s->start = g->now;
    s->min = suspicion_min(g, n);
    s->max = g->cfg.lifeguard ? s->min * g->cfg.suspicion_max_timeout_mult : s->min;
    s->who[0] = hash_name(from);
    s->nwho = 1;
    s->deadline = s->start + susp_timeout(s);
    s->next = g->susps;
    if (s->next)
        s->next->prev = s;
    g->susps = s;
    x->susp = s;
    g->st.suspects_started++;
    event(g, GOSSIP_EV_SUSPECT, m);
}

static void on_dead(struct gossip *g, const char *name, uint32_t inc, const char *from)
{
    struct gm *m = find(g, name);
    if (m && inc < m->inc && strcmp(name, from))
        stale_news(g, m);
    if (!m || inc < m->inc)
        return;
    bool leave = !strcmp(name, from);
    if (m->state == GOSSIP_LEFT || (m->state == GOSSIP_FAILED && !leave))
        return;
    if (m->self) {
        if (!g->leaving)
            refute(g, inc);
        return;
    }
    m->inc = inc;
    set_state(g, m, leave ? GOSSIP_LEFT : GOSSIP_FAILED);
    bc_sd(g, m, GMSG_DEAD, inc, from);
    event(g, leave ? GOSSIP_EV_LEFT : GOSSIP_EV_FAILED, m);
}

/* memberlist's mergeState: remote FAILED (and SUSPECT) states only start a
 * suspicion here, so that a member wrongly declared dead can still refute. */
static void merge(struct gossip *g, const struct gossip_msg *pp, const char *sender)
{
    size_t off = 0;
    struct gossip_pp_state s;
    while (gossip_pp_next(pp, &off, &s)) {
        switch (s.status) {
        case GOSSIP_ALIVE:
            on_alive(g, s.node, s.host, s.port, s.tags, s.tags_len, s.inc);
            break;
        case GOSSIP_LEFT:
            on_dead(g, s.node, s.inc, s.node);
            break;
        default:
            on_suspect(g, s.node, s.inc, sender);
            break;
        }
    }
}

/* ---- probing ----------------------------------------------------------------- */

static void shuffle(struct gossip *g)
{
    for (size_t i = g->n; i > 1; i--) {
        size_t j = (size_t)rnd_below(g, i);
        struct gm t = g->mem[i - 1];
        g->mem[i - 1] = g->mem[j];
        g->mem[j] = t;
    }
    /* the records moved: their extras, self and the index follow (O(n),
     * once per n probes) */
    for (size_t i = 0; i < g->n; i++)
        place(g, i, &g->mem[i]);
    memset(g->ix, 0, g->nix * sizeof(*g->ix));
    for (size_t i = 0; i < g->n; i++)
        ix_insert(g, i);
}

static bool probeable(const struct gm *m)
{
    return !m->self && (m->state == GOSSIP_ALIVE || m->state == GOSSIP_SUSPECT);
}

static void start_probe(struct gossip *g)
{
    g->next_probe = g->now + scale(g, g->cfg.probe_interval_ms);
    if (g->leaving)
        return;
    struct gm *t = NULL;
    for (size_t tries = 0; tries <= g->n && !t; tries++) {
        if (g->probe_at >= g->n) {
            shuffle(g);
            g->probe_at = 0;
        }
        struct gm *m = &g->mem[g->probe_at++];
        if (probeable(m))
            t = m;
    }
    if (!t)
        return;
    struct gossip_msg msgs[2];
    unsigned n = 0;
    memset(msgs, 0, sizeof(msgs));
    if (g->cfg.lifeguard && t->state == GOSSIP_SUSPECT) {
        /* Buddy system: tell the suspect first. */
        msgs[n].type = GMSG_SUSPECT;
        msgs[n].inc = t->inc;
        snprintf(msgs[n].node, sizeof(msgs[n].node), "%s", NAME(g, t));
        snprintf(msgs[n].from, sizeof(msgs[n].from), "%s", NAME(g, SELF(g)));
        n++;
    }
    msgs[n].type = GMSG_PING;
    msgs[n].seq = ++g->seq;
    snprintf(msgs[n].node, sizeof(msgs[n].node), "%s", NAME(g, t));
    n++;
    g->probe.active = true;
    g->probe.indirect = false;
    snprintf(g->probe.name, sizeof(g->probe.name), "%s", NAME(g, t));
    g->probe.seq = g->seq;
    g->probe.ack_deadline = g->now + scale(g, g->cfg.probe_timeout_ms);
    g->probe.end = g->next_probe;
    g->probe.expected_nacks = g->probe.nacks = 0;
    g->probe.sent_us = now_us(g);
    g->st.probes++;
    send_pkt(g, HOST(g, t), PORT(g, t), msgs, n, false);
}

static void probe_acked(struct gossip *g)
{
    g->probe.active = false;
    awareness_delta(g, -1);
}

/* k distinct random members satisfying ok(), excluding `not` (memberlist's
 * kRandomNodes: at most 3n draws). */
static size_t pick_random(struct gossip *g, size_t k,
                          bool (*ok)(const struct gossip *, const struct gm *),
                          const struct gm * not, struct gm **out)
{
    size_t got = 0;
    for (size_t i = 0; i < 3 * g->n && got < k; i++) {
        struct gm *m = &g->mem[rnd_below(g, g->n)];
        if (m == not || !ok(g, m))
            continue;
        bool dup = false;
        for (size_t j = 0; j < got && !dup; j++)
            dup = out[j] == m;
        if (!dup)
            out[got++] = m;
    }
    return got;
}

static bool ok_alive(const struct gossip *g, const struct gm *m)
{
    (void)g;
    return !m->self && m->state == GOSSIP_ALIVE;
}

static bool ok_gossip(const struct gossip *g, const struct gm *m)
{
    if (m->self)
        return false;
    if (m->state == GOSSIP_ALIVE || m->state == GOSSIP_SUSPECT)
        return true;
    return g->now - changed_at(g, m) < g->cfg.gossip_to_the_dead_ms;
}

static bool ok_failed(const struct gossip *g, const struct gm *m)
{
    (void)g;
    return m->state == GOSSIP_FAILED;
}

static void probe_tick(struct gossip *g)
{
    if (!g->probe.active)
        return;
    struct gm *t = find(g, g->probe.name);
    if (!t || !probeable(t)) {
        g->probe.active = false;
        return;
    }
    if (!g->probe.indirect && g->now >= g->probe.ack_deadline) {
        g->probe.indirect = true;
        struct gm *via[16];
        size_t k = g->cfg.indirect_checks < 16 ? g->cfg.indirect_checks : 16;
        k = pick_random(g, k, ok_alive, t, via);
        struct gossip_msg r;
        memset(&r, 0, sizeof(r));
        r.type = GMSG_PINGREQ;
        r.seq = g->probe.seq;
        snprintf(r.node, sizeof(r.node), "%s", NAME(g, t));
        snprintf(r.host, sizeof(r.host), "%s", HOST(g, t));
        r.port = PORT(g, t);
        r.nack = g->cfg.lifeguard;
        for (size_t i = 0; i < k; i++)
            send_one(g, HOST(g, via[i]), PORT(g, via[i]), &r);
        g->probe.expected_nacks = g->cfg.lifeguard ? (uint32_t)k : 0;
    }
    if (g->probe.indirect && g->now >= g->probe.end) {
        g->probe.active = false;
        g->st.probes_failed++;
        if (g->probe.expected_nacks > 0) {
            if (g->probe.nacks < g->probe.expected_nacks)
                awareness_delta(g, (int)(g->probe.expected_nacks - g->probe.nacks));
        } else {
            awareness_delta(g, 1);
        }
        on_suspect(g, NAME(g, t), t->inc, NAME(g, SELF(g)));
    }
}

static void relay_tick(struct gossip *g)
{
    if (!g->nrelays)
        return;
    for (size_t i = 0; i < GOSSIP_RELAYS; i++) {
        struct grelay *r = &g->relays[i];
        if (!r->used || g->now < r->deadline)
            continue;
        if (r->nack) {
            struct gossip_msg m;
            memset(&m, 0, sizeof(m));
            m.type = GMSG_NACK;
            m.seq = r->seq_in;
            send_one(g, r->host, r->port, &m);
        }
        r->used = false;
        g->nrelays--;
    }
}

/* The suspicion of m, and a PING, to `to` (m itself or a witness). */
static void ask_about(struct gossip *g, const struct gm *m, const struct gm *to)
{
    struct gossip_msg msgs[2];
    memset(msgs, 0, sizeof(msgs));
    msgs[0].type = GMSG_SUSPECT;
    msgs[0].inc = m->inc;
    snprintf(msgs[0].node, sizeof(msgs[0].node), "%s", NAME(g, m));
    snprintf(msgs[0].from, sizeof(msgs[0].from), "%s", NAME(g, SELF(g)));
    msgs[1].type = GMSG_PING;
    msgs[1].seq = ++g->seq; /* its ACK matches nothing: not waited for */
    snprintf(msgs[1].node, sizeof(msgs[1].node), "%s", NAME(g, to));
    /* no piggyback: every member whose timer runs out for a crashed member
     * asks 4 members; the answers carry what matters */
    send_pkt_pb(g, HOST(g, to), PORT(g, to), msgs, 2, false, false);
}

/* Before an expired suspicion declares its member failed (Lifeguard), the
 * suspect and indirect_checks random members (witnesses) are asked once
 * more, directly: a PING carrying the SUSPECT (the buddy system's packet).
 * A live suspect that has not refuted yet refutes now; a suspect that
 * refuted already, or a witness that holds it alive at a newer
 * incarnation, finds the suspicion stale and queues that ALIVE again
 * (stale_news): the ACK's packet carries it, and it ends the suspicion
 * here. The ACKs alone prove nothing (SWIM: only a higher incarnation
 * refutes), so they are not waited for: the member is declared a probe
 * timeout later unless an ALIVE came. Found by the simulator: under many
 * stalls the broadcast queues are saturated, each update is sent only a
 * few times by each member, and a refutation's epidemic can pass a member
 * by while the suspicion (gossiped again with each confirmation) reached
 * it several times; that member then declared failed a live member the
 * rest of the pool held alive (the witnesses cover a suspect that is
 * stalled again at that moment). */
static void last_chance(struct gossip *g, struct gm *m, struct gsusp *s)
{
    s->asked = true;
    /* unscaled: a member slow enough to miss its own deadlines gets its
     * grace from after_stall; this wait is the answer's round trip */
    s->deadline = g->now + g->cfg.probe_timeout_ms;
    g->st.last_chances++;
    struct gm *via[16];
    size_t k = g->cfg.indirect_checks < 16 ? g->cfg.indirect_checks : 16;
    k = pick_random(g, k, ok_alive, m, via);
    ask_about(g, m, m);
    for (size_t i = 0; i < k; i++)
        ask_about(g, m, via[i]);
}

static void susp_tick(struct gossip *g)
{
    struct gsusp *s = g->susps;
    while (s) {
        struct gsusp *nx = s->next;
        if (g->now >= s->deadline) {
            struct gm *m = &g->mem[g->xs[s->x - 1].slot];
            if (g->cfg.lifeguard && !s->asked && !g->leaving)
                last_chance(g, m, s);
            else
                on_dead(g, NAME(g, m), m->inc, NAME(g, SELF(g)));
        }
        s = nx;
    }
}

static void gossip_round(struct gossip *g)
{
    g->next_gossip = g->now + g->cfg.gossip_interval_ms;
    if (!g->nbc)
        return;
    struct gm *to[16];
    size_t k = g->cfg.gossip_nodes < 16 ? g->cfg.gossip_nodes : 16;
    k = pick_random(g, k, ok_gossip, NULL, to);
    for (size_t i = 0; i < k && g->nbc; i++)
        send_pkt(g, HOST(g, to[i]), PORT(g, to[i]), NULL, 0, true);
}

static uint64_t pp_interval(const struct gossip *g)
{
    /* memberlist's pushPullScale: longer past 32 members. */
    uint64_t iv = g->cfg.push_pull_interval_ms;
    if (g->nalive <= 32)
        return iv;
    double mult = ceil(log2((double)g->nalive) - log2(32.0)) + 1.0;
    return (uint64_t)((double)iv * mult);
}

static void reap_tick(struct gossip *g)
{
    g->next_reap = g->now + 1000;
    /* The scan is O(n): only when a member may be due (reap_due is the
     * earliest any FAILED or LEFT member can be; it may be early, never
     * late), and it recomputes reap_due. */
    if ((!g->nfailed && !g->nleft) || g->now < g->reap_due)
        return;
    g->reap_due = UINT64_MAX;
    for (size_t i = 0; i < g->n;) {
        struct gm *m = &g->mem[i];
        if (m->state != GOSSIP_FAILED && m->state != GOSSIP_LEFT) {
            i++;
            continue;
        }
        uint64_t lim = m->state == GOSSIP_FAILED ? g->cfg.reap_failed_ms : g->cfg.reap_left_ms;
        uint64_t at = changed_at(g, m);
        if (g->now - at >= lim) {
            event(g, GOSSIP_EV_REAP, m);
            remove_member(g, m);
            continue; /* mem[i] is another member now */
        }
        if (at + lim < g->reap_due)
            g->reap_due = at + lim;
        i++;
    }
}

/* Lifeguard's point is that a slow member should distrust its own
 * deadlines. The shell ticks us at least every gossip interval; a gap of
 * more than a probe interval means this process was not running (SIGSTOP, a
 * starved CPU, a paused VM), so the timers that expired meanwhile measured
 * our absence, not the others': the probe in flight is dropped (not
 * counted as a failure), each expired suspicion gets a probe timeout of
 * grace to read what arrived meanwhile (a refutation, typically), and the
 * awareness score goes up (a missed deadline). */
static void after_stall(struct gossip *g)
{
    g->st.stalls++;
    awareness_delta(g, 1);
    g->probe.active = false;
    for (struct gsusp *s = g->susps; s; s = s->next)
        if (s->deadline <= g->now)
            s->deadline = g->now + g->cfg.probe_timeout_ms;
    for (size_t i = 0; i < GOSSIP_RELAYS; i++)
        if (g->relays[i].used && g->relays[i].deadline <= g->now)
            g->relays[i].nack = false; /* a nack now would blame the target for us */
}

void gossip_clock_us(struct gossip *g, uint64_t us)
{
    g->now_us = us;
    g->now_us_set = true;
}

void gossip_tick(struct gossip *g, uint64_t now)
{
    if (now > g->now)
        g->now = now;
    take_clock(g);
    if (g->cfg.lifeguard && g->last_tick && g->now - g->last_tick > g->cfg.probe_interval_ms &&
        g->now - g->last_tick > 2ull * g->cfg.gossip_interval_ms)
        after_stall(g);
    g->last_tick = g->now;
    relay_tick(g);
    probe_tick(g);
    if (!g->probe.active && g->now >= g->next_probe)
        start_probe(g);
    susp_tick(g);
    if (g->now >= g->next_gossip)
        gossip_round(g);
    if (g->now >= g->next_pp) {
        g->next_pp = g->now + pp_interval(g);
        struct gm *m;
        if (!g->leaving && pick_random(g, 1, ok_alive, NULL, &m))
            send_pp(g, HOST(g, m), PORT(g, m), false, 0);
    }
    if (g->now >= g->next_reconnect) {
        g->next_reconnect = g->now + g->cfg.reconnect_interval_ms;
        /* Serf's reconnect: with probability failed / alive (self
         * included), so that the pool as a whole tries each failed member
         * about once per interval; every member trying every interval
         * would be n push/pulls of the whole list per interval (at 10,000
         * members, 10,000 x 450 KB every 30 s). No draw when the
         * probability is 1 (as many failed as alive: a partition). */
        struct gm *m;
        if (!g->leaving && g->nfailed &&
            (g->nfailed >= g->nalive || rnd_below(g, g->nalive) < g->nfailed) &&
            pick_random(g, 1, ok_failed, NULL, &m))
            send_pp(g, HOST(g, m), PORT(g, m), false, 0);
    }
    if (g->now >= g->next_reap)
        reap_tick(g);
    gossip__query_tick(g);
}

static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

uint64_t gossip_next_deadline(const struct gossip *g, uint64_t now)
{
    uint64_t d = min64(g->next_gossip, g->next_pp);
    if (g->probe.active)
        d = min64(d, g->probe.indirect ? g->probe.end : g->probe.ack_deadline);
    else
        d = min64(d, g->next_probe);
    if (g->nfailed)
        d = min64(d, g->next_reconnect);
    if (g->nfailed || g->nleft)
        d = min64(d, g->next_reap);
    for (const struct gsusp *s = g->susps; s; s = s->next)
        d = min64(d, s->deadline);
    if (g->nrelays)
        for (size_t i = 0; i < GOSSIP_RELAYS; i++)
            if (g->relays[i].used)
                d = min64(d, g->relays[i].deadline);
    d = gossip__query_deadline(g, d);
    return d < now ? now : d;
}

/* ---- receiving --------------------------------------------------------------- */

static void on_pingreq(struct gossip *g, const struct gossip_hdr *h, const struct gossip_msg *m)
{
    struct grelay *r = NULL;
    for (size_t i = 0; i < GOSSIP_RELAYS && !r; i++)
        if (!g->relays[i].used)
            r = &g->relays[i];
    if (!r)
        return; /* too many at once: the asker counts a missing nack */
    memset(r, 0, sizeof(*r));
    r->used = true;
    r->nack = m->nack;
    r->seq_in = m->seq;
    r->seq_out = ++g->seq;
    r->deadline = g->now + g->cfg.probe_timeout_ms;
    snprintf(r->host, sizeof(r->host), "%s", h->host);
    r->port = h->port;
    g->nrelays++;
    struct gossip_msg p;
    memset(&p, 0, sizeof(p));
    p.type = GMSG_PING;
    p.seq = r->seq_out;
    snprintf(p.node, sizeof(p.node), "%s", m->node);
    send_one(g, m->host, m->port, &p);
}

/* Does m read an ACK's coordinate trailer? */
static bool reads_coord(const struct gossip *g, const struct gm *m)
{
    char v[8];
    return m &&
           gossip_tags_get(gossip__id(g, m)->tags, gossip__id(g, m)->tags_len, GOSSIP_TAG_COORD, v,
                           sizeof(v)) == 0 &&
           !strcmp(v, "1");
}

/* Serf's ping delegate (NotifyPingComplete): the ACK of a direct probe
 * carries the target's coordinate; with the round-trip time it moves ours,
 * and both are cached. An invalid coordinate or time is counted, nothing
 * else. */
static void ping_complete(struct gossip *g, const struct coord *other)
{
    struct gm *t = find(g, g->probe.name);
    uint64_t now = now_us(g);
    if (!t || !g->cc)
        return;
    int64_t rtt_ns = now >= g->probe.sent_us ? (int64_t)(now - g->probe.sent_us) * 1000 : -1;
    int rc = coord_client_update(g->cc, NAME(g, t), other, rtt_ns);
    if (rc) {
        g->st.coord_rejected++;
        return;
    }
    struct gmx *x = gossip__x_get(g, t);
    if (!x || (!x->coord && !(x->coord = cn_malloc(sizeof(*x->coord))))) {
        if (x)
            gossip__x_gc(g, t->x);
        return;
    }
    *x->coord = *other;
    g->st.coord_updates++;
    g->st.coord_resets = coord_client_resets(g->cc);
}

static void on_ack(struct gossip *g, const struct gossip_msg *m)
{
    uint32_t seq = m->seq;
    if (g->probe.active && seq == g->probe.seq) {
        /* memberlist reports a round-trip time only for the direct ACK, not
         * one relayed during the indirect phase */
        if (!g->probe.indirect && m->has_coord)
            ping_complete(g, &m->coord);
        probe_acked(g);
        return;
    }
    for (size_t i = 0; i < GOSSIP_RELAYS; i++) {
        struct grelay *r = &g->relays[i];
        if (r->used && r->seq_out == seq) {
            struct gossip_msg a;
            memset(&a, 0, sizeof(a));
            a.type = GMSG_ACK;
            a.seq = r->seq_in;
            r->used = false;
            g->nrelays--;
            send_one(g, r->host, r->port, &a);
            return;
        }
    }
}

/* ACK a ping. A sender we hold suspect or failed is told so in the same
 * packet (the buddy system's idea, on the answer: a member that was only
 * stalled or cut off refutes as soon as it probes again, instead of at the
 * next push/pull or reconnect). */
static void answer_ping(struct gossip *g, const struct gossip_hdr *h, uint32_t seq)
{
    struct gossip_msg a[2];
    unsigned n = 0;
    memset(a, 0, sizeof(a));
    const struct gm *s = find(g, h->name);
    if (g->cfg.lifeguard && s && !s->self &&
        (s->state == GOSSIP_SUSPECT || s->state == GOSSIP_FAILED)) {
        a[n].type = s->state == GOSSIP_SUSPECT ? GMSG_SUSPECT : GMSG_DEAD;
        a[n].inc = s->inc;
        snprintf(a[n].node, sizeof(a[n].node), "%s", NAME(g, s));
        snprintf(a[n].from, sizeof(a[n].from), "%s", NAME(g, SELF(g)));
        n++;
    }
    a[n].type = GMSG_ACK;
    a[n].seq = seq;
    if (g->cc && reads_coord(g, s)) { /* Serf's AckPayload: our coordinate */
        a[n].has_coord = true;
        a[n].coord = *coord_client_get(g->cc);
    }
    n++;
    send_pkt(g, h->host, h->port, a, n, false);
}

static int check_pkt(struct gossip *g, const void *p, size_t len, bool stream,
                     struct gossip_pkt *pkt)
{
    char err[96];
    if (gossip_pkt_decode(p, len, stream, pkt, err, sizeof(err))) {
        g->st.dropped_malformed++;
        return CN_ECORRUPT;
    }
    if (strcmp(pkt->hdr.cluster, g->cluster)) {
        g->st.dropped_cluster++;
        return CN_EPROTO;
    }
    return 0;
}

int gossip_recv(struct gossip *g, const void *p, size_t len, uint64_t now)
{
    if (now > g->now)
        g->now = now;
    take_clock(g);
    struct gossip_pkt pkt;
    CN_TRY(check_pkt(g, p, len, false, &pkt));
    g->st.packets_recv++;
    g->st.bytes_recv += len;
    size_t off = 0;
    struct gossip_msg m;
    g->rx_asked = false; /* does the packet PING us (stale_news)? */
    while (gossip_pkt_next(&pkt, &off, &m))
        if (m.type == GMSG_PING && !strcmp(m.node, NAME(g, SELF(g))))
            g->rx_asked = true;
    off = 0;
    while (gossip_pkt_next(&pkt, &off, &m)) {
        switch (m.type) {
        case GMSG_PING:
            if (!strcmp(m.node, NAME(g, SELF(g))))
                answer_ping(g, &pkt.hdr, m.seq);
            break;
        case GMSG_PINGREQ:
            on_pingreq(g, &pkt.hdr, &m);
            break;
        case GMSG_ACK:
            on_ack(g, &m);
            break;
        case GMSG_NACK:
            if (g->probe.active && m.seq == g->probe.seq)
                g->probe.nacks++;
            break;
        case GMSG_ALIVE:
            on_alive(g, m.node, m.host, m.port, m.tags, m.tags_len, m.inc);
            break;
        case GMSG_SUSPECT:
            on_suspect(g, m.node, m.inc, m.from);
            break;
        case GMSG_DEAD:
            on_dead(g, m.node, m.inc, m.from);
            break;
        case GMSG_QUERY:
            gossip__on_query(g, &m);
            break;
        case GMSG_QRESP:
        case GMSG_QRELAY:
            gossip__on_qresp(g, &m);
            break;
        default:
            break;
        }
    }
    g->rx_asked = false;
    return 0;
}

int gossip_recv_stream(struct gossip *g, const void *p, size_t len, struct cn_buf *reply,
                       uint64_t now)
{
    if (now > g->now)
        g->now = now;
    take_clock(g);
    struct gossip_pkt pkt;
    CN_TRY(check_pkt(g, p, len, true, &pkt));
    size_t off = 0;
    struct gossip_msg m;
    if (!gossip_pkt_next(&pkt, &off, &m))
        return CN_ECORRUPT;
    if (reply) {
        /* Answer with our state as it was, then take theirs. */
        cn_buf_reset(reply);
        int rc = encode_pp(g, reply, m.join);
        if (rc)
            return rc;
    }
    merge(g, &m, pkt.hdr.name);
    return 0;
}

/* ---- the public API ---------------------------------------------------------- */

/* Our tags: the shell's, plus GOSSIP_TAG_COORD (the ACK trailer's version)
 * when we compute coordinates, so peers only send us trailers we read and
 * we only send them to peers that said they read them (a peer built before
 * coordinates refuses an ACK with a trailer). */
static int self_tags(bool disabled, const uint8_t *tags, size_t len, struct cn_buf *out)
{
    char v[8];
    if (len)
        CN_TRY(cn_buf_append(out, tags, len));
    if (disabled || gossip_tags_get(tags, len, GOSSIP_TAG_COORD, v, sizeof(v)) == 0)
        return 0;
    return gossip_tags_put(out, GOSSIP_TAG_COORD, "1");
}

struct gossip *gossip_new(const struct gossip_config *cfg, uint64_t now)
{
    if (!cfg->name || !*cfg->name || strlen(cfg->name) > GOSSIP_NAME_MAX || !cfg->host ||
        !*cfg->host || strlen(cfg->host) > GOSSIP_HOST_MAX || !cfg->port || !cfg->cluster ||
        !*cfg->cluster || strlen(cfg->cluster) > GOSSIP_CLUSTER_MAX ||
        (cfg->tags_len && gossip_tags_valid(cfg->tags, cfg->tags_len)) || !cfg->probe_interval_ms ||
        !cfg->probe_timeout_ms || !cfg->gossip_interval_ms || !cfg->push_pull_interval_ms ||
        !cfg->awareness_max || !cfg->retransmit_mult || !cfg->reconnect_interval_ms ||
        cfg->udp_max < 256 || cfg->udp_max > 65000)
        return NULL;
    struct gossip *g = cn_calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->cfg = *cfg;
    g->cfg.name = g->cfg.host = g->cfg.cluster = NULL;
    g->cfg.tags = NULL;
    g->cfg.keyring = NULL;
    if (cfg->keyring)
        g->kr = *cfg->keyring;
    snprintf(g->cluster, sizeof(g->cluster), "%s", cfg->cluster);
    g->rng = cfg->rng_seed ? cfg->rng_seed : 0x9E3779B97F4A7C15ull;
    g->now = now;
    g->reap_due = UINT64_MAX;
    g->ids = cfg->idents;
    g->cfg.idents = NULL;
    if (!g->ids) {
        g->own_ids = true;
        if (!(g->ids = gossip_idents_new())) {
            cn_free(g);
            return NULL;
        }
    }
    struct cn_buf tags = CN_BUF_INIT;
    if (self_tags(cfg->disable_coordinates, cfg->tags, cfg->tags_len, &tags)) {
        gossip_free(g);
        return NULL;
    }
    struct gm *self =
        add_member(g, cfg->name, cfg->host, cfg->port, (const uint8_t *)tags.p, tags.len, 1);
    cn_buf_free(&tags);
    if (!self) {
        gossip_free(g);
        return NULL;
    }
    self->self = true;
    g->self_slot = (size_t)(self - g->mem);
    /* query ids of a restarted member differ from its last run's (the seed
     * is, in the shell); not drawn from the PRNG, whose sequence the
     * simulator's scenarios are tuned on */
    g->qseq = (uint32_t)(g->rng ^ (g->rng >> 32));
    if (!cfg->disable_coordinates) {
        struct coord_config cc;
        coord_config_default(&cc);
        if (!(g->cc = coord_client_new(&cc, g->rng ^ UINT64_C(0x5bd1e995)))) {
            gossip_free(g);
            return NULL;
        }
    }
    /* Random stagger of the periodic work (memberlist's triggerFunc). */
    g->next_probe = now + rnd_below(g, cfg->probe_interval_ms);
    g->next_gossip = now + rnd_below(g, cfg->gossip_interval_ms);
    g->next_pp = now + rnd_below(g, cfg->push_pull_interval_ms);
    g->next_reconnect = now + cfg->reconnect_interval_ms;
    g->next_reap = now + 1000;
    event(g, GOSSIP_EV_JOIN, SELF(g));
    return g;
}

static void free_update(struct gossip *g)
{
    for (size_t i = 0; i < g->nouts; i++)
        cn_free(g->outs[i].data);
    for (size_t i = 0; i < g->nevents; i++)
        cn_free((char *)g->events[i].m.name);
    g->nouts = g->nevents = 0;
    gossip__query_free_done(g);
    g->kr_changed = false;
}

void gossip_free(struct gossip *g)
{
    if (!g)
        return;
    free_update(g);
    gossip__query_free_all(g);
    gossip__bc_free_all(g);
    while (g->susps)
        susp_free(g, &g->mem[g->xs[g->susps->x - 1].slot]);
    for (uint32_t i = 0; i < g->nxs; i++)
        cn_free(g->xs[i].coord); /* NULL in free entries */
    for (size_t i = 0; i < g->n; i++)
        gossip__ident_put(g->ids, g->mem[i].id);
    if (g->own_ids)
        gossip_idents_free(g->ids);
    coord_client_free(g->cc);
    cn_free(g->mem);
    cn_free(g->ix);
    cn_free(g->xs);
    cn_free(g->outs);
    cn_free(g->events);
    cn_free(g);
}

int gossip_join(struct gossip *g, const char *host, uint16_t port, uint64_t token)
{
    if (!host || !*host || strlen(host) > GOSSIP_HOST_MAX || !port)
        return CN_EINVAL;
    size_t before = g->nouts;
    send_pp(g, host, port, true, token);
    return g->nouts > before ? 0 : CN_ENOMEM;
}

void gossip_leave(struct gossip *g)
{
    if (g->leaving)
        return;
    g->leaving = true;
    g->probe.active = false;
    struct gm *s = SELF(g);
    set_state(g, s, GOSSIP_LEFT);
    bc_sd(g, s, GMSG_DEAD, s->inc, NAME(g, s));
    event(g, GOSSIP_EV_LEFT, s);
}

bool gossip_leave_sent(const struct gossip *g)
{
    if (!g->leaving)
        return false;
    if (g->nalive == 0 && g->nfailed == 0)
        return true;
    if (g->nalive == 0)
        return true; /* nobody alive to tell */
    const struct gmx *x = gossip__x(g, SELF(g));
    const struct gbc *b = x ? x->bc : NULL;
    return !b || b->transmits >= 3;
}

int gossip_force_leave(struct gossip *g, const char *name, bool prune)
{
    struct gm *m = find(g, name);
    if (!m)
        return CN_ENOTFOUND;
    if (m->self)
        return CN_EINVAL;
    if (m->state != GOSSIP_LEFT) {
        set_state(g, m, GOSSIP_LEFT);
        bc_sd(g, m, GMSG_DEAD, m->inc, NAME(g, m));
        event(g, GOSSIP_EV_LEFT, m);
    }
    if (prune) {
        /* Tell the others first (the update leaves with the member). */
        struct gossip_msg d;
        memset(&d, 0, sizeof(d));
        d.type = GMSG_DEAD;
        d.inc = m->inc;
        snprintf(d.node, sizeof(d.node), "%s", NAME(g, m));
        snprintf(d.from, sizeof(d.from), "%s", NAME(g, m));
        struct gm *to[16];
        size_t k =
            pick_random(g, g->cfg.gossip_nodes < 16 ? g->cfg.gossip_nodes : 16, ok_alive, NULL, to);
        for (size_t i = 0; i < k; i++)
            send_one(g, HOST(g, to[i]), PORT(g, to[i]), &d);
        event(g, GOSSIP_EV_REAP, m);
        remove_member(g, m);
    }
    return 0;
}

int gossip_set_tags(struct gossip *g, const uint8_t *tags, size_t len)
{
    if (len && gossip_tags_valid(tags, len))
        return CN_EINVAL;
    struct gm *s = SELF(g);
    struct cn_buf t = CN_BUF_INIT;
    int rc = self_tags(!g->cc, tags, len, &t);
    if (!rc)
        rc = set_ident(g, s, HOST(g, s), PORT(g, s), (const uint8_t *)t.p, t.len);
    cn_buf_free(&t);
    CN_TRY(rc);
    s->inc++;
    bc_alive(g, s);
    event(g, GOSSIP_EV_UPDATE, s);
    return 0;
}

int gossip_reserve(struct gossip *g, size_t members)
{
    if (members > UINT32_MAX / 2)
        return CN_EINVAL;
    if (members > g->cap) {
        struct gm *v = cn_realloc(g->mem, members * sizeof(*v));
        if (!v)
            return CN_ENOMEM;
        g->mem = v;
        g->cap = members;
    }
    size_t nix = g->nix;
    while (members * 4 > nix * 3)
        nix *= 2;
    return nix != g->nix ? ix_rebuild(g, nix) : 0;
}

void gossip_stagger_push_pull(struct gossip *g)
{
    g->next_pp = g->now + rnd_below(g, pp_interval(g));
}

int gossip_learn(struct gossip *g, const char *name, const char *host, uint16_t port,
                 const uint8_t *tags, size_t tags_len, uint32_t inc)
{
    if (find(g, name))
        return CN_EEXIST;
    return add_member(g, name, host, port, tags, tags_len, inc) ? 0 : CN_ENOMEM;
}

bool gossip_ready(struct gossip *g, struct gossip_update *u)
{
    if (!g->nouts && !g->nevents && !g->nqdone && !g->kr_changed)
        return false;
    u->outs = g->outs;
    u->nouts = g->nouts;
    u->events = g->events;
    u->nevents = g->nevents;
    u->qdone = g->qdone;
    u->nqdone = g->nqdone;
    u->keyring_changed = g->kr_changed;
    return true;
}

void gossip_done(struct gossip *g, struct gossip_update *u)
{
    (void)u;
    free_update(g);
}

int gossip_foreach(const struct gossip *g, gossip_member_cb cb, void *arg)
{
    struct gossip_member v;
    for (size_t i = 0; i < g->n; i++) {
        view(g, &g->mem[i], g->leaving, &v);
        int rc = cb(arg, &v);
        if (rc)
            return rc;
    }
    return 0;
}

int gossip_member_get(const struct gossip *g, const char *name, struct gossip_member *out)
{
    const struct gm *m = find(g, name);
    if (!m)
        return CN_ENOTFOUND;
    view(g, m, g->leaving, out);
    return 0;
}

size_t gossip_num_members(const struct gossip *g)
{
    return g->n;
}

size_t gossip_num_alive(const struct gossip *g)
{
    return g->nalive;
}

void gossip_get_stats(const struct gossip *g, struct gossip_stats *out)
{
    *out = g->st;
    out->awareness = g->awareness;
}

/* ---- for query.c ---------------------------------------------------------------- */

void gossip__send_plain(struct gossip *g, const char *host, uint16_t port,
                        const struct gossip_msg *m)
{
    struct cn_buf b = CN_BUF_INIT;
    size_t count_off;
    struct gossip_out *o;
    if (hdr(g, &b, &count_off) || gossip_enc_msg(&b, m) || !(o = new_out(g, host, port))) {
        cn_buf_free(&b);
        return;
    }
    b.p[count_off] = 1;
    o->data = (uint8_t *)b.p;
    o->len = b.len;
    g->nouts++;
    g->st.packets_sent++;
    g->st.bytes_sent += b.len;
}

size_t gossip__pick_alive(struct gossip *g, size_t k, const struct gm *not_this, struct gm **out)
{
    return pick_random(g, k, ok_alive, not_this, out);
}

struct gm *gossip__find(const struct gossip *g, const char *name)
{
    return find(g, name);
}

uint64_t gossip__hash(const char *s)
{
    return hash_name(s);
}

int gossip_coord_self(const struct gossip *g, struct coord *out)
{
    if (!g->cc)
        return CN_ENOTFOUND;
    *out = *coord_client_get(g->cc);
    return 0;
}

int gossip_coord_get(const struct gossip *g, const char *name, struct coord *out)
{
    const struct gm *m = find(g, name);
    if (!m || !g->cc)
        return CN_ENOTFOUND;
    if (m->self)
        return gossip_coord_self(g, out);
    const struct gmx *x = gossip__x(g, m);
    if (!x || !x->coord)
        return CN_ENOTFOUND;
    *out = *x->coord;
    return 0;
}
