/* tests/sim/gossip_sim.c: cairn-gossip-sim, a deterministic simulator of the
 * gossip core (src/gossip/gossip.h): N members in virtual time, a seeded
 * RNG, packet loss, delay, partitions, members that stall (stop processing;
 * what arrives meanwhile is handled when they resume, as a CPU-starved
 * process would) and crashes. Streams (push/pull over TCP) are not lost but
 * wait for a stalled receiver, and fail to a crashed one.
 *
 *   cairn-gossip-sim --scenario NAME|all         the ctest scenarios (asserting)
 *   cairn-gossip-sim --bench [options]           figures (bench/gossip.sh)
 *     --nodes N --seconds S --loss P --stall P --crash K --seed X --no-lifeguard
 *     --rows LOSS:STALL,... --parallel --udp-max BYTES
 *     --trace (each false positive: who declared it, both members' last
 *     stall, the incarnations, how many members still hold an older one)
 *     --watch OBS:SUBJ (every message about SUBJ that OBS sends or receives)
 *
 * Bench output: time to first suspicion and to "every live member marked it
 * failed" for each crashed member (median, p99), false positives (a member
 * that never crashed marked failed by someone) per member-hour, and bytes
 * sent per member per second (UDP + TCP). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "base/mem.h"
#include "gossip/codec.h"
#include "gossip/gossip.h"
#include "gossip/keyring.h"

/* ---- the world ------------------------------------------------------------- */

enum ev_kind { EV_WAKE, EV_UDP, EV_STREAM_REQ, EV_STREAM_REPLY };

struct ev {
    uint64_t at;
    uint64_t order;
    enum ev_kind kind;
    uint32_t to, from;
    uint64_t gen; /* EV_WAKE: the node's wake generation */
    uint8_t *data;
    size_t len;
};

struct node {
    struct gossip *g;
    bool crashed;
    uint64_t stalled_until;
    uint64_t stall_start;
    uint64_t refutes, last_refute_at, first_refute_after_stall;
    uint64_t wake_gen, wake_at;
    struct ev *held; /* arrived while stalled */
    size_t nheld, capheld;
    int group;           /* partition */
    uint32_t *failed_by; /* unused */
};

struct track {              /* per subject member */
    uint64_t crashed_at;    /* 0: not crashed */
    uint64_t first_suspect; /* after the crash */
    uint64_t all_failed;    /* every live member marks it failed */
    uint32_t nfailed;       /* observers that have it failed now */
    uint32_t tag_seen;      /* observers that saw the dissemination update */
    bool fp_open;           /* a false-positive episode is open */
};

struct world {
    struct node *nodes;
    struct gossip_idents *ids; /* shared by every member's core: each name once */
    struct track *tr;
    uint32_t n, nlive;
    uint64_t now;
    uint64_t rng;
    double loss;
    uint32_t delay_min, delay_jitter;
    uint32_t *lat; /* NULL, or n x n one-way delays (ms) added to delay_min */
    struct ev *heap;
    size_t nheap, capheap;
    uint64_t order;
    bool lifeguard;
    /* figures */
    uint64_t fp_events, fp_episodes;
    uint64_t tag_target_inc;
    uint32_t tag_subject;
    uint64_t tag_all_at;
    bool trace;
    /* encryption, modelled: a packet carries its sender's primary key (or
     * none) and is dropped unless the receiver holds that key (the shell's
     * AES-GCM open with every key of the ring, net.c) */
    bool crypto;
    uint64_t drop_key;
    uint32_t fp_ignore; /* a member whose failure is expected (UINT32_MAX: none) */
    /* the last finished keyring query */
    bool qdone;
    uint64_t q_started, q_slowest; /* virtual ms: the slowest query so far */
    struct gossip_query_done last;
    size_t last_ok, last_err;
    struct gossip_qresp last_resp[64];
};

static uint64_t wrnd(struct world *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static double wfrac(struct world *w)
{
    return (double)(wrnd(w) >> 11) / 9007199254740992.0;
}

static void heap_push(struct world *w, struct ev e)
{
    if (w->nheap == w->capheap) {
        w->capheap = w->capheap ? w->capheap * 2 : 1024;
        w->heap = realloc(w->heap, w->capheap * sizeof(*w->heap));
        if (!w->heap)
            abort();
    }
    e.order = w->order++;
    size_t i = w->nheap++;
    while (i) {
        size_t p = (i - 1) / 2;
        struct ev *pe = &w->heap[p];
        if (pe->at < e.at || (pe->at == e.at && pe->order < e.order))
            break;
        w->heap[i] = *pe;
        i = p;
    }
    w->heap[i] = e;
}

static struct ev heap_pop(struct world *w)
{
    struct ev top = w->heap[0];
    struct ev last = w->heap[--w->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->nheap)
            break;
        if (c + 1 < w->nheap &&
            (w->heap[c + 1].at < w->heap[c].at ||
             (w->heap[c + 1].at == w->heap[c].at && w->heap[c + 1].order < w->heap[c].order)))
            c++;
        if (last.at < w->heap[c].at || (last.at == w->heap[c].at && last.order < w->heap[c].order))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    w->heap[i] = last;
    return top;
}

static uint32_t host_index(const char *host)
{
    /* hosts are "10.<a>.<b>.<c>" with index = a*65536 + b*256 + c */
    unsigned a = 0, b = 0, c = 0;
    if (sscanf(host, "10.%u.%u.%u", &a, &b, &c) != 3)
        return UINT32_MAX;
    return a * 65536 + b * 256 + c;
}

static void host_of(uint32_t i, char *out, size_t cap)
{
    snprintf(out, cap, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

static void schedule_wake(struct world *w, uint32_t i)
{
    struct node *nd = &w->nodes[i];
    if (nd->crashed)
        return;
    uint64_t at = gossip_next_deadline(nd->g, w->now);
    if (nd->stalled_until > at)
        at = nd->stalled_until;
    if (nd->wake_gen && nd->wake_at == at)
        return;
    nd->wake_gen++;
    nd->wake_at = at;
    heap_push(w, (struct ev){.at = at, .kind = EV_WAKE, .to = i, .gen = nd->wake_gen});
}

static bool reachable(struct world *w, uint32_t a, uint32_t b)
{
    return w->nodes[a].group == w->nodes[b].group;
}

static uint32_t self_inc(struct world *w, uint32_t i)
{
    char name[32];
    snprintf(name, sizeof(name), "node-%u", i);
    struct gossip_member m;
    return gossip_member_get(w->nodes[i].g, name, &m) ? 0 : m.incarnation;
}

static void on_event(struct world *w, uint32_t obs, const struct gossip_event *e)
{
    uint32_t subj = host_index(e->m.host);
    if (subj >= w->n || subj == obs || obs == w->fp_ignore)
        return;
    struct track *t = &w->tr[subj];
    switch (e->type) {
    case GOSSIP_EV_SUSPECT:
        if (t->crashed_at && !t->first_suspect)
            t->first_suspect = w->now;
        break;
    case GOSSIP_EV_FAILED:
        t->nfailed++;
        if (!t->crashed_at && subj != w->fp_ignore) {
            w->fp_events++;
            if (!t->fp_open) {
                t->fp_open = true;
                w->fp_episodes++;
                if (w->trace)
                    fprintf(stderr,
                            "t=%" PRIu64 " FALSE POSITIVE: %u marked failed by %u (stalled until "
                            "%" PRIu64 " from %" PRIu64 "; observer stalled until %" PRIu64
                            " from %" PRIu64 ") subj inc now %u, observer's inc %u\n",
                            w->now, subj, obs, w->nodes[subj].stalled_until,
                            w->nodes[subj].stall_start, w->nodes[obs].stalled_until,
                            w->nodes[obs].stall_start, self_inc(w, subj), e->m.incarnation);
                if (w->trace) {
                    uint32_t stale = 0, cur = self_inc(w, subj);
                    char nm[32];
                    snprintf(nm, sizeof(nm), "node-%u", subj);
                    for (uint32_t j = 0; j < w->n; j++) {
                        struct gossip_member m;
                        if (j != subj && !w->nodes[j].crashed &&
                            !gossip_member_get(w->nodes[j].g, nm, &m) && m.incarnation < cur)
                            stale++;
                    }
                    fprintf(stderr,
                            "   subject refuted last at %" PRIu64 " (%" PRIu64
                            " refutes); %u members still hold an older incarnation\n",
                            w->nodes[subj].last_refute_at, w->nodes[subj].refutes, stale);
                }
            }
        }
        if (t->crashed_at && !t->all_failed && t->nfailed >= w->nlive)
            t->all_failed = w->now;
        break;
    case GOSSIP_EV_JOIN:
    case GOSSIP_EV_UPDATE:
        if (e->type == GOSSIP_EV_JOIN && t->nfailed) {
            /* a failed member back (joins only follow failed/left or new) */
            t->nfailed--;
            if (!t->nfailed)
                t->fp_open = false;
        }
        if (w->tag_target_inc && subj == w->tag_subject && e->m.incarnation >= w->tag_target_inc) {
            t->tag_seen++;
            if (t->tag_seen >= w->nlive - 1 && !w->tag_all_at)
                w->tag_all_at = w->now;
        }
        break;
    default:
        break;
    }
}

/* A copy of p as it goes on the wire: with crypto, u8 key length, the
 * sender's primary key, then the packet. */
static uint8_t *seal(struct world *w, const struct gossip *g, const void *p, size_t len,
                     size_t *out_len)
{
    const struct gossip_keyring *kr = gossip_get_keyring(g);
    size_t kl = w->crypto && kr->n ? kr->keys[0].len : 0;
    size_t hl = w->crypto ? 1 + kl : 0;
    uint8_t *d = malloc(hl + len);
    if (!d)
        abort();
    if (w->crypto) {
        d[0] = (uint8_t)kl;
        if (kl)
            memcpy(d + 1, kr->keys[0].k, kl);
    }
    memcpy(d + hl, p, len);
    *out_len = hl + len;
    return d;
}

/* The packet inside, or NULL when the receiver cannot open it (counted). */
static const uint8_t *unseal(struct world *w, const struct gossip *g, const uint8_t *p, size_t len,
                             size_t *out_len)
{
    if (!w->crypto) {
        *out_len = len;
        return p;
    }
    const struct gossip_keyring *kr = gossip_get_keyring(g);
    size_t kl = p[0];
    bool ok = kl ? gossip_keyring_find(kr, p + 1, kl) >= 0 : kr->n == 0;
    if (!ok) {
        w->drop_key++;
        return NULL;
    }
    *out_len = len - 1 - kl;
    return p + 1 + kl;
}

static void watch_pkt(struct world *w, const char *what, uint32_t from, uint32_t to,
                      const uint8_t *p, size_t len);

static void drain(struct world *w, uint32_t i)
{
    struct node *nd = &w->nodes[i];
    struct gossip_update u;
    if (w->trace) {
        struct gossip_stats st;
        gossip_get_stats(nd->g, &st);
        if (st.refutes != nd->refutes) {
            nd->refutes = st.refutes;
            nd->last_refute_at = w->now;
        }
    }
    while (gossip_ready(nd->g, &u)) {
        for (size_t k = 0; k < u.nevents; k++)
            on_event(w, i, &u.events[k]);
        for (size_t k = 0; k < u.nqdone; k++) {
            w->qdone = true;
            if (w->now - w->q_started > w->q_slowest)
                w->q_slowest = w->now - w->q_started;
            w->last = u.qdone[k];
            w->last.resp = NULL;
            w->last_ok = w->last_err = 0;
            for (size_t r = 0; r < u.qdone[k].nresp; r++) {
                if (r < 64)
                    w->last_resp[r] = u.qdone[k].resp[r];
                if (u.qdone[k].resp[r].ok)
                    w->last_ok++;
                else
                    w->last_err++;
            }
        }
        for (size_t k = 0; k < u.nouts; k++) {
            struct gossip_out *o = &u.outs[k];
            uint32_t to = host_index(o->host);
            if (to >= w->n)
                continue;
            if (!o->stream && wfrac(w) < w->loss) {
                if (!o->stream)
                    watch_pkt(w, "lost", i, to, o->data, o->len);
                continue;
            }
            if (!o->stream)
                watch_pkt(w, "sent", i, to, o->data, o->len);
            if (!reachable(w, i, to))
                continue;
            size_t len = 0;
            uint8_t *d = seal(w, nd->g, o->data, o->len, &len);
            uint64_t delay = w->delay_min + (w->delay_jitter ? wrnd(w) % w->delay_jitter : 0);
            if (w->lat)
                delay += w->lat[(size_t)i * w->n + to];
            heap_push(w, (struct ev){.at = w->now + delay,
                                     .kind = o->stream ? EV_STREAM_REQ : EV_UDP,
                                     .to = to,
                                     .from = i,
                                     .data = d,
                                     .len = len});
        }
        gossip_done(nd->g, &u);
    }
}

/* --watch OBS:SUBJ (-1: off) */
static long wobs = -1, wsubj = -1;

/* --watch: the messages about wsubj in a datagram to or from wobs */
static void watch_pkt(struct world *w, const char *what, uint32_t from, uint32_t to,
                      const uint8_t *p, size_t len)
{
    if (wobs < 0 || (from != (uint32_t)wobs && to != (uint32_t)wobs))
        return;
    struct gossip_pkt pkt;
    char err[96];
    if (gossip_pkt_decode(p, len, false, &pkt, err, sizeof(err)))
        return;
    char nm[32];
    snprintf(nm, sizeof(nm), "node-%ld", wsubj);
    size_t off = 0;
    struct gossip_msg m;
    unsigned nmsg = 0;
    while (gossip_pkt_next(&pkt, &off, &m)) {
        nmsg++;
        if (strcmp(m.node, nm))
            continue;
        fprintf(stderr, "W t=%" PRIu64 " %s %u->%u type=%d inc=%u from=%s\n", w->now, what, from,
                to, m.type, m.inc, m.from);
    }
    if (from == (uint32_t)wobs && !strcmp(what, "sent"))
        fprintf(stderr, "W t=%" PRIu64 " obs sent to %u %u msgs\n", w->now, to, nmsg);
}

static void deliver(struct world *w, struct ev *e)
{
    struct node *nd = &w->nodes[e->to];
    if (e->kind == EV_UDP && !nd->crashed)
        watch_pkt(w, "recv", e->from, e->to, e->data, e->len);
    if (nd->crashed) {
        free(e->data);
        return;
    }
    size_t plen = 0;
    const uint8_t *pkt = unseal(w, nd->g, e->data, e->len, &plen);
    if (!pkt) {
        /* not for us: dropped (a stream's requester sees no answer) */
    } else if (e->kind == EV_UDP) {
        gossip_recv(nd->g, pkt, plen, w->now);
    } else if (e->kind == EV_STREAM_REQ) {
        struct cn_buf reply = CN_BUF_INIT;
        if (gossip_recv_stream(nd->g, pkt, plen, &reply, w->now) == 0 && reply.len &&
            !w->nodes[e->from].crashed && reachable(w, e->to, e->from)) {
            size_t dl = 0;
            uint8_t *d = seal(w, nd->g, reply.p, reply.len, &dl);
            heap_push(w, (struct ev){.at = w->now + w->delay_min,
                                     .kind = EV_STREAM_REPLY,
                                     .to = e->from,
                                     .from = e->to,
                                     .data = d,
                                     .len = dl});
        }
        cn_buf_free(&reply);
    } else {
        gossip_recv_stream(nd->g, pkt, plen, NULL, w->now);
    }
    free(e->data);
    drain(w, e->to);
    schedule_wake(w, e->to);
}

static void step(struct world *w, struct ev e)
{
    w->now = e.at;
    struct node *nd = &w->nodes[e.to];
    if (e.kind == EV_WAKE) {
        if (e.gen != nd->wake_gen || nd->crashed)
            return;
        nd->wake_gen = 0; /* none pending */
        if (nd->stalled_until > w->now) {
            schedule_wake(w, e.to);
            return;
        }
        /* Resuming: the timers that expired meanwhile fire before the
         * socket is read (the slow prober of the Lifeguard paper: its probe
         * times out although the ack is waiting), then what arrived. */
        if (wobs == (long)e.to && nd->nheld)
            fprintf(stderr, "W t=%" PRIu64 " obs resumes (stalled from %" PRIu64 "), %zu held\n",
                    w->now, nd->stall_start, nd->nheld);
        gossip_tick(nd->g, w->now);
        drain(w, e.to);
        for (size_t k = 0; k < nd->nheld; k++)
            deliver(w, &nd->held[k]);
        nd->nheld = 0;
        schedule_wake(w, e.to);
        return;
    }
    if (nd->crashed) {
        free(e.data);
        return;
    }
    if (nd->stalled_until > w->now) {
        if (nd->nheld == nd->capheld) {
            nd->capheld = nd->capheld ? nd->capheld * 2 : 64;
            nd->held = realloc(nd->held, nd->capheld * sizeof(*nd->held));
            if (!nd->held)
                abort();
        }
        nd->held[nd->nheld++] = e;
        return;
    }
    deliver(w, &e);
}

static void run_until(struct world *w, uint64_t until)
{
    while (w->nheap && w->heap[0].at <= until)
        step(w, heap_pop(w));
    if (w->now < until)
        w->now = until;
}

/* A scenario's push/pull interval and datagram size (0: memberlist's
 * defaults), read by world_init_kr. */
static uint32_t sim_push_pull_ms, sim_udp_max;

static void world_init_kr(struct world *w, uint32_t n, uint64_t seed, bool lifeguard, double loss,
                          bool full_view, const struct gossip_keyring *kr)
{
    memset(w, 0, sizeof(*w));
    w->fp_ignore = UINT32_MAX;
    w->crypto = kr != NULL;
    w->n = w->nlive = n;
    w->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    w->loss = loss;
    w->delay_min = 1;
    w->delay_jitter = 5;
    w->lifeguard = lifeguard;
    w->nodes = calloc(n, sizeof(*w->nodes));
    w->tr = calloc(n, sizeof(*w->tr));
    w->ids = gossip_idents_new();
    if (!w->nodes || !w->tr || !w->ids)
        abort();
    for (uint32_t i = 0; i < n; i++) {
        char name[32], host[32];
        snprintf(name, sizeof(name), "node-%u", i);
        host_of(i, host, sizeof(host));
        struct gossip_config c;
        gossip_config_default(&c);
        c.name = name;
        c.host = host;
        c.port = 8301;
        c.cluster = "dc1";
        c.rng_seed = wrnd(w);
        c.lifeguard = lifeguard;
        c.reap_failed_ms = 3600ull * 1000 * 1000; /* never, within a run */
        if (sim_push_pull_ms)
            c.push_pull_interval_ms = sim_push_pull_ms;
        if (sim_udp_max)
            c.udp_max = sim_udp_max;
        c.keyring = kr;
        c.idents = w->ids;
        w->nodes[i].g = gossip_new(&c, 0);
        if (!w->nodes[i].g)
            abort();
    }
    if (full_view) {
        /* what each member's ALIVE would say: it reads coordinate trailers */
        struct cn_buf tags = CN_BUF_INIT;
        if (gossip_tags_put(&tags, GOSSIP_TAG_COORD, "1"))
            abort();
        char(*names)[16] = malloc((size_t)n * sizeof(*names));
        char(*hosts)[16] = malloc((size_t)n * sizeof(*hosts));
        if (!names || !hosts)
            abort();
        for (uint32_t j = 0; j < n; j++) {
            snprintf(names[j], sizeof(names[j]), "node-%u", j);
            host_of(j, hosts[j], sizeof(hosts[j]));
        }
        for (uint32_t i = 0; i < n; i++) {
            if (gossip_reserve(w->nodes[i].g, n))
                abort();
            for (uint32_t j = 0; j < n; j++) {
                if (i == j)
                    continue;
                if (gossip_learn(w->nodes[i].g, names[j], hosts[j], 8301, (const uint8_t *)tags.p,
                                 tags.len, 1))
                    abort();
            }
        }
        free(names);
        free(hosts);
        cn_buf_free(&tags);
    }
    for (uint32_t i = 0; i < n; i++) {
        drain(w, i); /* the self-join events */
        schedule_wake(w, i);
    }
}

static void world_init(struct world *w, uint32_t n, uint64_t seed, bool lifeguard, double loss,
                       bool full_view)
{
    world_init_kr(w, n, seed, lifeguard, loss, full_view, NULL);
}

static void world_free(struct world *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        gossip_free(w->nodes[i].g);
        for (size_t k = 0; k < w->nodes[i].nheld; k++)
            free(w->nodes[i].held[k].data);
        free(w->nodes[i].held);
    }
    for (size_t k = 0; k < w->nheap; k++)
        free(w->heap[k].data);
    free(w->heap);
    gossip_idents_free(w->ids); /* after every core that used it */
    free(w->nodes);
    free(w->tr);
    free(w->lat);
}

static void crash(struct world *w, uint32_t i)
{
    if (w->nodes[i].crashed)
        return;
    w->nodes[i].crashed = true;
    w->tr[i].crashed_at = w->now ? w->now : 1;
    w->nlive--;
}

static void stall(struct world *w, uint32_t i, uint64_t ms)
{
    w->nodes[i].stalled_until = w->now + ms;
    w->nodes[i].stall_start = w->now;
}

static enum gossip_status status_at(struct world *w, uint32_t obs, uint32_t subj)
{
    char name[32];
    snprintf(name, sizeof(name), "node-%u", subj);
    struct gossip_member m;
    if (gossip_member_get(w->nodes[obs].g, name, &m))
        return 0;
    return m.status;
}

/* Wall-clock seconds (the harness's own cost, printed beside the figures). */
static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- scenarios --------------------------------------------------------------- */

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(why, whycap, __VA_ARGS__);                                                    \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

/* 20 members, no loss, 120 s: nobody is ever marked failed. */
static bool sc_no_false_failures(char *why, size_t whycap)
{
    struct world w;
    world_init(&w, 20, 1, true, 0.0, true);
    run_until(&w, 120000);
    uint64_t fp = w.fp_events;
    world_free(&w);
    CHECK(fp == 0, "%" PRIu64 " failure events without any fault", fp);
    return true;
}

/* Members join through one seed member (push/pull) and all converge. */
static bool sc_join_converges(char *why, size_t whycap)
{
    struct world w;
    world_init(&w, 16, 2, true, 0.0, false);
    for (uint32_t i = 1; i < w.n; i++) {
        gossip_join(w.nodes[i].g, "10.0.0.0", 8301, i);
        drain(&w, i);
        schedule_wake(&w, i);
    }
    run_until(&w, 10000);
    bool ok = true;
    for (uint32_t i = 0; i < w.n && ok; i++)
        ok = gossip_num_alive(w.nodes[i].g) == w.n;
    uint64_t fp = w.fp_events;
    world_free(&w);
    CHECK(ok, "not every member knows every other after 10 s");
    CHECK(fp == 0, "%" PRIu64 " failure events", fp);
    return true;
}

/* 30 members, 3 crash: each is marked failed by every live member within the
 * bound (a probe round, the max suspicion timeout, dissemination). */
static bool sc_crash_detected(char *why, size_t whycap)
{
    struct world w;
    world_init(&w, 30, 3, true, 0.0, true);
    run_until(&w, 5000);
    crash(&w, 3);
    crash(&w, 17);
    crash(&w, 29);
    uint64_t t0 = w.now;
    run_until(&w, t0 + 60000);
    uint32_t ids[3] = {3, 17, 29};
    for (int k = 0; k < 3; k++) {
        struct track *t = &w.tr[ids[k]];
        uint64_t all = t->all_failed, first = t->first_suspect;
        uint64_t fp = w.fp_events;
        if (!all) {
            world_free(&w);
            CHECK(false, "node-%u not marked failed by every live member within 60 s", ids[k]);
        }
        /* suspicion min for 30 members: 4 * log10(30) * 1 s = 5.9 s; max 35 s */
        if (all - t0 > 45000 || first - t0 > 10000 || fp) {
            world_free(&w);
            CHECK(false,
                  "node-%u: first suspicion after %" PRIu64 " ms, all failed after %" PRIu64
                  " ms, %" PRIu64 " false positives",
                  ids[k], first - t0, all - t0, fp);
        }
    }
    world_free(&w);
    return true;
}

/* An update reaches every member within O(log n) gossip rounds. */
static bool sc_dissemination(char *why, size_t whycap)
{
    struct world w;
    world_init(&w, 128, 4, true, 0.0, true);
    run_until(&w, 3000);
    struct cn_buf tags = CN_BUF_INIT;
    gossip_tags_put(&tags, "build", "2");
    w.tag_subject = 5;
    struct gossip_member me;
    gossip_member_get(w.nodes[5].g, "node-5", &me);
    w.tag_target_inc = me.incarnation + 1;
    gossip_set_tags(w.nodes[5].g, (const uint8_t *)tags.p, tags.len);
    cn_buf_free(&tags);
    uint64_t t0 = w.now;
    drain(&w, 5);
    schedule_wake(&w, 5);
    run_until(&w, t0 + 20000);
    uint64_t at = w.tag_all_at;
    world_free(&w);
    CHECK(at, "the update did not reach every member in 20 s");
    double rounds = (double)(at - t0) / 200.0;
    /* log2(128) = 7; fanout 3 plus piggybacking: a few log rounds at most */
    CHECK(rounds <= 3.0 * 7, "took %.1f gossip rounds (> 3 log2 n)", rounds);
    printf("    dissemination to 128 members: %" PRIu64 " ms (%.1f rounds)\n", at - t0, rounds);
    return true;
}

/* A false suspicion is refuted: the suspect sees it (buddy system or gossip)
 * and announces a higher incarnation; nobody marks it failed. */
static bool sc_refutation(char *why, size_t whycap)
{
    struct world w;
    world_init(&w, 10, 5, true, 0.0, true);
    run_until(&w, 3000);
    /* node-1 wrongly suspects node-2 (as a slow prober would) */
    struct gossip_member m;
    gossip_member_get(w.nodes[1].g, "node-2", &m);
    uint32_t inc0 = m.incarnation;
    /* A SUSPECT about node-2 "from node-5", handed to node-1 (as a slow
     * prober's would arrive). */
    struct cn_buf pkt = CN_BUF_INIT;
    struct gossip_hdr h = {.port = 8301};
    snprintf(h.cluster, sizeof(h.cluster), "dc1");
    snprintf(h.name, sizeof(h.name), "node-5");
    host_of(5, h.host, sizeof(h.host));
    size_t count_off;
    struct gossip_msg sm = {.type = GMSG_SUSPECT, .inc = inc0};
    snprintf(sm.node, sizeof(sm.node), "node-2");
    snprintf(sm.from, sizeof(sm.from), "node-5");
    if (gossip_enc_hdr(&pkt, &h, &count_off) || gossip_enc_msg(&pkt, &sm))
        abort();
    pkt.p[count_off] = 1;
    int rc = gossip_recv(w.nodes[1].g, pkt.p, pkt.len, w.now);
    cn_buf_free(&pkt);
    enum gossip_status st1 = status_at(&w, 1, 2);
    drain(&w, 1);
    schedule_wake(&w, 1);
    CHECK(rc == 0 && st1 == GOSSIP_SUSPECT, "the forged suspicion was not taken (rc %d)", rc);
    run_until(&w, w.now + 30000);
    bool alive_everywhere = true;
    for (uint32_t i = 0; i < w.n; i++)
        if (i != 2 && status_at(&w, i, 2) != GOSSIP_ALIVE)
            alive_everywhere = false;
    gossip_member_get(w.nodes[2].g, "node-2", &m);
    uint32_t inc1 = m.incarnation;
    struct gossip_stats st;
    gossip_get_stats(w.nodes[2].g, &st);
    uint64_t fp = w.fp_events;
    world_free(&w);
    CHECK(st.refutes > 0 && inc1 > inc0, "node-2 never refuted (refutes %" PRIu64 ")", st.refutes);
    CHECK(alive_everywhere, "node-2 not alive everywhere after refuting");
    CHECK(fp == 0, "%" PRIu64 " failure events", fp);
    return true;
}

/* Stalled members: members of 24 stall for 1-5 s (each second a member
 * not stalled in the last 10 s stalls with probability 1/30), 5% loss,
 * 5 minutes. With Lifeguard no healthy member is marked
 * failed; plain SWIM (printed, not asserted) marks some: a resumed member's
 * suspicion timers fire before it reads the refutations that arrived. */
static uint64_t stalled_run(bool lifeguard)
{
    struct world w;
    world_init(&w, 24, 6, lifeguard, 0.05, true);
    run_until(&w, 3000);
    for (uint64_t t = 3000; t < 303000; t += 1000) {
        for (uint32_t i = 0; i < w.n; i++)
            if (w.nodes[i].stalled_until + 10000 <= t && wfrac(&w) < 0.10 / 3.0)
                stall(&w, i, 1000 + wrnd(&w) % 4001);
        run_until(&w, t + 1000);
    }
    run_until(&w, w.now + 20000);
    uint64_t fp = w.fp_events;
    world_free(&w);
    return fp;
}

/* Stalls that saturate the broadcast queues: 300 members, 1% loss, for 22
 * s each second a member not stalled in the last 10 s stalls for 1-5 s with
 * probability 1/10, datagrams of 400 bytes (so that the updates of the
 * stalls outrun what each member can send, as 1% of 10,000 members
 * stalling do with 1,400-byte datagrams). Each stall's suspicion is
 * gossiped again with every confirmation, its refutation once: before the
 * last-chance probe (gossip.h), a refutation's epidemic passed a member by
 * every few seconds and that member declared a live member failed (4
 * members in this run, 22 s of stalls). With Lifeguard none may. */
static bool sc_stall_storm(char *why, size_t whycap)
{
    struct world w;
    sim_udp_max = 400;
    world_init(&w, 300, 7, true, 0.01, true);
    sim_udp_max = 0;
    w.trace = getenv("SIM_TRACE") != NULL;
    run_until(&w, 3000);
    for (uint64_t t = 3000; t < 25000; t += 1000) {
        for (uint32_t i = 0; i < w.n; i++)
            if (w.nodes[i].stalled_until + 10000 <= t && wfrac(&w) < 0.30 / 3.0)
                stall(&w, i, 1000 + wrnd(&w) % 4001);
        run_until(&w, t + 1000);
    }
    run_until(&w, w.now + 6000);
    uint64_t fp = w.fp_episodes, lc = 0, re = 0, refutes = 0;
    for (uint32_t i = 0; i < w.n; i++) {
        struct gossip_stats st;
        gossip_get_stats(w.nodes[i].g, &st);
        lc += st.last_chances;
        re += st.reannounces;
        refutes += st.refutes;
    }
    world_free(&w);
    printf("    stall storm, 300 members: %" PRIu64 " refutations, %" PRIu64
           " last-chance probes, %" PRIu64 " stale suspicions answered, %" PRIu64
           " members wrongly marked failed\n",
           refutes, lc, re, fp);
    CHECK(refutes > 100, "only %" PRIu64 " refutations: the stalls did not load the pool", refutes);
    CHECK(fp == 0, "%" PRIu64 " members wrongly marked failed (Lifeguard on)", fp);
    return true;
}

static bool sc_stalled_prober(char *why, size_t whycap)
{
    uint64_t on = stalled_run(true), off = stalled_run(false);
    printf("    stalled members: %" PRIu64 " false failure events with Lifeguard, %" PRIu64
           " without\n",
           on, off);
    CHECK(on == 0, "%" PRIu64 " false failure events with stalled members (Lifeguard on)", on);
    return true;
}

/* A partition heals: both sides mark the other failed, then alive again
 * (reconnect and push/pull), and a restarted member rejoins. */
static bool sc_partition_heals(char *why, size_t whycap)
{
    struct world w;
    world_init(&w, 12, 7, true, 0.0, true);
    run_until(&w, 3000);
    for (uint32_t i = 0; i < 4; i++)
        w.nodes[i].group = 1;
    run_until(&w, w.now + 60000);
    enum gossip_status mid = status_at(&w, 10, 1);
    for (uint32_t i = 0; i < 4; i++)
        w.nodes[i].group = 0;
    run_until(&w, w.now + 90000);
    bool all_alive = true;
    for (uint32_t i = 0; i < w.n; i++)
        for (uint32_t j = 0; j < w.n; j++)
            if (i != j && status_at(&w, i, j) != GOSSIP_ALIVE)
                all_alive = false;
    world_free(&w);
    CHECK(mid == GOSSIP_FAILED, "node-1 is %s on the other side during the partition",
          gossip_status_name(mid));
    CHECK(all_alive, "not every member alive everywhere 90 s after the partition healed");
    return true;
}

static struct gossip_key test_key(uint8_t fill)
{
    struct gossip_key k;
    memset(&k, 0, sizeof(k));
    k.len = 32;
    for (size_t i = 0; i < 32; i++)
        k.k[i] = (uint8_t)(fill + i);
    return k;
}

/* A keyring query from member `from`, run until it finishes (30 s at most). */
static bool run_query(struct world *w, uint32_t from, uint8_t op, const struct gossip_key *k,
                      unsigned relay)
{
    w->qdone = false;
    w->q_started = w->now;
    if (gossip_query(w->nodes[from].g, op, k ? k->k : NULL, k ? k->len : 0, relay, 0, 7))
        return false;
    drain(w, from);
    schedule_wake(w, from);
    uint64_t until = w->now + 30000;
    while (!w->qdone && w->now < until)
        run_until(w, w->now + 50);
    return w->qdone;
}

/* Every member in [0, n) holds exactly these keys, primary first. */
static bool keys_are(struct world *w, uint32_t n, const struct gossip_key *k, size_t nk)
{
    struct gossip_keyring want;
    memset(&want, 0, sizeof(want));
    for (size_t i = 0; i < nk; i++)
        want.keys[want.n++] = k[i];
    for (uint32_t i = 0; i < n; i++)
        if (!gossip_keyring_equal(gossip_get_keyring(w->nodes[i].g), &want))
            return false;
    return true;
}

/* Key rotation as Consul's runbook does it (keyring -install, -use, -remove)
 * over 12 members with 5% loss, answers relayed through 2 members: every
 * step is answered by every live member and no live member loses contact
 * with another. Member 11 is cut off (partitioned) during the rotation: it
 * still holds only the removed key, and when the partition heals nobody can
 * read it, nor it anyone: it stays failed on both sides. Removing the
 * primary is refused everywhere with memberlist's text. */
static bool sc_key_rotation(char *why, size_t whycap)
{
    struct gossip_key a = test_key(1), b = test_key(100);
    struct gossip_keyring kr;
    memset(&kr, 0, sizeof(kr));
    kr.keys[kr.n++] = a;
    struct world w;
    uint64_t seed = getenv("SIM_SEED") ? (uint64_t)atoll(getenv("SIM_SEED")) : 11;
    world_init_kr(&w, 12, seed, true, 0.05, true, &kr);
    w.fp_ignore = 11;
    run_until(&w, 5000);
    w.nodes[11].group = 1;
    run_until(&w, w.now + 60000);
    bool ok = true;
    char step[64] = "";
#define STEP(name, op, key, nk, ...)                                                               \
    do {                                                                                           \
        snprintf(step, sizeof(step), "%s", name);                                                  \
        struct gossip_key want_[] = {__VA_ARGS__};                                                 \
        ok = run_query(&w, 0, op, key, 2) && !w.last.timed_out && w.last.num_nodes == 11 &&        \
             w.last.nresp == 11 && w.last_ok == 11 && keys_are(&w, 11, want_, nk);                 \
    } while (0)
    STEP("install", GOSSIP_QOP_INSTALL, &b, 2, a, b);
    if (ok)
        STEP("use", GOSSIP_QOP_USE, &b, 2, b, a);
    if (ok)
        STEP("remove", GOSSIP_QOP_REMOVE, &a, 1, b);
    if (ok)
        STEP("list", GOSSIP_QOP_LIST, NULL, 1, b);
#undef STEP
    bool list_ok = true;
    for (size_t i = 0; ok && i < w.last.nresp && i < 64; i++)
        list_ok = list_ok && w.last_resp[i].keys.n == 1 &&
                  gossip_keyring_find(&w.last_resp[i].keys, b.k, b.len) == 0;
    size_t nresp = w.last.nresp, nok = w.last_ok;
    bool timed_out = w.last.timed_out;
    bool refused = run_query(&w, 3, GOSSIP_QOP_REMOVE, &b, 2) && w.last_err == 11 &&
                   !strcmp(w.last_resp[0].msg, "Removing the primary key is not allowed");
    run_until(&w, w.now + 30000);
    uint64_t fp = w.fp_events;
    bool old_only = gossip_keyring_find(gossip_get_keyring(w.nodes[11].g), a.k, a.len) == 0 &&
                    gossip_get_keyring(w.nodes[11].g)->n == 1;
    w.nodes[11].group = 0;
    uint64_t drops0 = w.drop_key;
    run_until(&w, w.now + 90000);
    bool cut_off = true;
    for (uint32_t i = 0; i < 11; i++)
        if (status_at(&w, i, 11) != GOSSIP_FAILED || status_at(&w, 11, i) != GOSSIP_FAILED)
            cut_off = false;
    uint64_t drops = w.drop_key - drops0;
    uint64_t slowest = w.q_slowest;
    uint64_t fp2 = w.fp_events;
    world_free(&w);
    CHECK(ok, "step %s: %zu answers of %zu (%zu ok)%s, or the keyrings differ", step, nresp,
          (size_t)11, nok, timed_out ? ", timed out" : "");
    CHECK(list_ok, "a member listed other keys than the new one");
    CHECK(refused, "removing the primary key was not refused by every member");
    CHECK(fp == 0 && fp2 == 0, "%" PRIu64 " failure events among the members holding the keys",
          fp + fp2);
    CHECK(old_only, "the partitioned member's keyring changed");
    CHECK(cut_off && drops > 0,
          "the member holding only the removed key was not cut off (%" PRIu64 " drops)", drops);
    printf("    rotation over 12 members, 5%% loss: every step answered by 11/11, the slowest in "
           "%" PRIu64 " ms (virtual); %" PRIu64 " packets of the cut-off member dropped\n",
           slowest, drops);
    return true;
}

/* Network coordinates (Serf's Vivaldi, fed by the probes' round trips):
 * 16 members on a 60 ms x 60 ms plane, each with a 1-4 ms access link
 * (height), one-way delay = half the round trip, 1 ms of jitter. After
 * 180 s of probing, the estimated RTT between any two members (their own
 * coordinates) is within 8% of the true one for the median pair and
 * within 20% for the 90th percentile (seen: 2.2%, 6.2%); every member holds a cached
 * coordinate for the members it probed. */
static bool sc_coordinates_converge(char *why, size_t whycap)
{
    struct world w;
    enum { NC = 16 };
    world_init(&w, NC, 11, true, 0.0, true);
    w.delay_min = 0;
    w.delay_jitter = 2;
    double x[NC], y[NC], h[NC], truth[NC][NC];
    for (uint32_t i = 0; i < NC; i++) {
        x[i] = wfrac(&w) * 60;
        y[i] = wfrac(&w) * 60;
        h[i] = 1 + wfrac(&w) * 3;
    }
    w.lat = calloc((size_t)NC * NC, sizeof(*w.lat));
    if (!w.lat)
        abort();
    for (uint32_t i = 0; i < NC; i++)
        for (uint32_t j = 0; j < NC; j++) {
            double rtt = i == j ? 0 : hypot(x[i] - x[j], y[i] - y[j]) + h[i] + h[j];
            w.lat[i * NC + j] = (uint32_t)(rtt / 2 + 0.5);
        }
    /* the true round trip: both one-way delays plus the mean jitter (0.5 ms)
     * each way */
    for (uint32_t i = 0; i < NC; i++)
        for (uint32_t j = 0; j < NC; j++)
            truth[i][j] = (double)(w.lat[i * NC + j] + w.lat[j * NC + i]) + 1.0;
    run_until(&w, 180000);
    double errs[NC * NC];
    size_t n = 0;
    uint32_t cached = 0;
    for (uint32_t i = 0; i < NC; i++) {
        struct coord ci, cj;
        if (gossip_coord_self(w.nodes[i].g, &ci))
            break;
        for (uint32_t j = 0; j < NC; j++) {
            char name[32];
            snprintf(name, sizeof(name), "node-%u", j);
            struct coord seen;
            if (j != i && gossip_coord_get(w.nodes[i].g, name, &seen) == 0)
                cached++;
            if (j <= i || gossip_coord_self(w.nodes[j].g, &cj))
                continue;
            double est = coord_distance(&ci, &cj) * 1000.0;
            errs[n++] = fabs(est - truth[i][j]) / truth[i][j];
        }
    }
    struct gossip_stats st;
    gossip_get_stats(w.nodes[0].g, &st);
    world_free(&w);
    CHECK(n == NC * (NC - 1) / 2, "coordinates missing (%zu pairs)", n);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && errs[j - 1] > errs[j]; j--) {
            double t = errs[j];
            errs[j] = errs[j - 1];
            errs[j - 1] = t;
        }
    printf("coordinates: %zu pairs, relative RTT error median %.3f p90 %.3f max %.3f; "
           "node-0: %" PRIu64 " updates, %" PRIu64 " rejected\n",
           n, errs[n / 2], errs[n * 9 / 10], errs[n - 1], st.coord_updates, st.coord_rejected);
    CHECK(errs[n / 2] < 0.08, "median relative RTT error %.3f", errs[n / 2]);
    CHECK(errs[n * 9 / 10] < 0.20, "p90 relative RTT error %.3f", errs[n * 9 / 10]);
    CHECK(cached >= NC * (NC - 1) * 9 / 10, "only %u cached coordinates", cached);
    CHECK(st.coord_updates >= 150 && st.coord_rejected == 0,
          "node-0: %" PRIu64 " coordinate updates, %" PRIu64 " rejected", st.coord_updates,
          st.coord_rejected);
    return true;
}

/* At scale: 1,000 members, each holding the whole member list (a million
 * member entries, 16 bytes each plus the index), 1% loss. An update
 * reaches every member within O(log n) gossip rounds, nobody is marked
 * failed while it answers, and a crashed member is marked failed by all 998
 * live members within the bound. Push/pull is put past the run: what is
 * tested is probing and dissemination, and the first push/pull of 1,000
 * members (a million merged entries) would cost most of the wall time
 * (bench/gossip.sh runs it). A few seconds of wall time. */
static bool sc_scale_1000(char *why, size_t whycap)
{
    struct world w;
    double t_start = wall_s();
    sim_push_pull_ms = 600000;
    world_init(&w, 1000, 11, true, 0.01, true);
    sim_push_pull_ms = 0;
    double t_built = wall_s();
    run_until(&w, 3000);
    struct cn_buf tags = CN_BUF_INIT;
    gossip_tags_put(&tags, "build", "2");
    w.tag_subject = 7;
    struct gossip_member me;
    gossip_member_get(w.nodes[7].g, "node-7", &me);
    w.tag_target_inc = me.incarnation + 1;
    gossip_set_tags(w.nodes[7].g, (const uint8_t *)tags.p, tags.len);
    cn_buf_free(&tags);
    uint64_t t0 = w.now;
    drain(&w, 7);
    schedule_wake(&w, 7);
    run_until(&w, t0 + 8000);
    uint64_t tag_at = w.tag_all_at;
    crash(&w, 500);
    uint64_t t1 = w.now;
    run_until(&w, t1 + 25000);
    struct track t = w.tr[500];
    uint64_t fp = w.fp_events;
    size_t members = gossip_num_members(w.nodes[999].g);
    world_free(&w);
    printf("    1,000 members: built in %.1f s, 36 simulated s in %.1f s (wall); update at all in "
           "%" PRIu64 " ms; crash: first suspicion %" PRIu64 " ms, all live marked failed %" PRIu64
           " ms\n",
           t_built - t_start, wall_s() - t_built, tag_at ? tag_at - t0 : 0,
           t.first_suspect ? t.first_suspect - t1 : 0, t.all_failed ? t.all_failed - t1 : 0);
    CHECK(members == 1000, "node-999 knows %zu members", members);
    /* log2(1000) ~ 10: three times that many 200 ms rounds at most */
    CHECK(tag_at && tag_at - t0 <= 30 * 200, "the update took %" PRIu64 " ms to reach everyone",
          tag_at ? tag_at - t0 : 0);
    CHECK(fp == 0, "%" PRIu64 " members wrongly marked failed", fp);
    CHECK(t.first_suspect && t.first_suspect - t1 <= 5000, "no suspicion within 5 s");
    /* suspicion min 4 * log10(1000) * 1 s = 12 s, shrinking from 72 s with
     * confirmations (many at this size), plus the spread of DEAD */
    CHECK(t.all_failed && t.all_failed - t1 <= 25000,
          "not every live member marked the crashed one failed within 25 s");
    return true;
}

struct scenario {
    const char *name;
    bool (*fn)(char *why, size_t whycap);
};

static const struct scenario scenarios[] = {
    {"no_false_failures", sc_no_false_failures},
    {"join_converges", sc_join_converges},
    {"crash_detected", sc_crash_detected},
    {"dissemination", sc_dissemination},
    {"refutation", sc_refutation},
    {"stalled_prober", sc_stalled_prober},
    {"stall_storm", sc_stall_storm},
    {"partition_heals", sc_partition_heals},
    {"key_rotation", sc_key_rotation},
    {"coordinates_converge", sc_coordinates_converge},
    {"scale_1000", sc_scale_1000},
};

/* ---- bench --------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)ceil(p * (double)n) - 1;
    return v[i < n ? i : n - 1];
}

/* One row of figures from a built world (which it consumes); build_s: what
 * building it cost, t0: when this row started (wall clock). */
static void bench_row(struct world *wp, uint32_t seconds, double loss, double stall_frac,
                      uint32_t ncrash, uint64_t seed, bool lifeguard, double build_s, double t0)
{
    struct world w = *wp;
    uint32_t n = w.n;
    w.loss = loss;
    uint64_t warm = 5000, end = warm + (uint64_t)seconds * 1000;
    run_until(&w, warm);
    uint64_t bytes0 = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct gossip_stats st;
        gossip_get_stats(w.nodes[i].g, &st);
        bytes0 += st.bytes_sent + st.stream_bytes_sent;
    }
    /* crashes spread over the first half; stalls: each second, each member
     * not stalled in the last 10 s stalls with probability stall_frac / 3
     * for 1-5 s (one stretch without an answer never exceeds 5 s: a longer
     * one may rightly be declared failed) */
    uint64_t *crash_at = calloc(ncrash ? ncrash : 1, sizeof(uint64_t));
    for (uint32_t k = 0; k < ncrash; k++)
        crash_at[k] = warm + (uint64_t)k * (seconds * 500ull / (ncrash ? ncrash : 1));
    uint32_t next_crash = 0, crashed_ids[4096];
    uint64_t member_ms = 0;
    for (uint64_t t = warm; t < end; t += 1000) {
        while (next_crash < ncrash && crash_at[next_crash] <= t) {
            uint32_t who;
            do
                who = (uint32_t)(wrnd(&w) % n);
            while (w.nodes[who].crashed);
            crash(&w, who);
            crashed_ids[next_crash++] = who;
        }
        if (stall_frac > 0)
            for (uint32_t i = 0; i < n; i++)
                if (!w.nodes[i].crashed && w.nodes[i].stalled_until + 10000 <= t &&
                    wfrac(&w) < stall_frac / 3.0)
                    stall(&w, i, 1000 + wrnd(&w) % 4001);
        run_until(&w, t + 1000);
        member_ms += (uint64_t)w.nlive * 1000;
    }
    uint64_t bytes1 = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct gossip_stats st;
        gossip_get_stats(w.nodes[i].g, &st);
        bytes1 += st.bytes_sent + st.stream_bytes_sent;
    }
    uint64_t first[4096], all[4096];
    size_t nf = 0, na = 0, undetected = 0;
    for (uint32_t k = 0; k < next_crash; k++) {
        struct track *t = &w.tr[crashed_ids[k]];
        if (t->first_suspect)
            first[nf++] = t->first_suspect - t->crashed_at;
        if (t->all_failed)
            all[na++] = t->all_failed - t->crashed_at;
        else
            undetected++;
    }
    qsort(first, nf, sizeof(uint64_t), cmp_u64);
    qsort(all, na, sizeof(uint64_t), cmp_u64);
    double hours = (double)member_ms / 3.6e6;
    printf("n=%u seconds=%u loss=%.3f stall=%.3f lifeguard=%s seed=%" PRIu64 "\n", n, seconds, loss,
           stall_frac, lifeguard ? "on" : "off", seed);
    printf("  crashed %u: first suspicion median %" PRIu64 " ms p99 %" PRIu64
           " ms; all live members marked failed median %" PRIu64 " ms p99 %" PRIu64
           " ms (%zu not within the run)\n",
           next_crash, pct(first, nf, 0.5), pct(first, nf, 0.99), pct(all, na, 0.5),
           pct(all, na, 0.99), undetected);
    printf("  false positives: %" PRIu64 " members wrongly marked failed (%" PRIu64
           " observer events) in %.2f member-hours = %.3f per member-hour\n",
           w.fp_episodes, w.fp_events, hours, hours > 0 ? (double)w.fp_episodes / hours : 0.0);
    printf("  bytes sent per member per second: %.0f\n",
           (double)(bytes1 - bytes0) / ((double)n * seconds));
    /* the same as a markdown table row (bench/gossip.sh collects them) */
    char stall_s[16];
    if (stall_frac > 0)
        snprintf(stall_s, sizeof(stall_s), "%g%%", stall_frac * 100);
    else
        snprintf(stall_s, sizeof(stall_s), "none");
    printf("  table: | %u | %g%% | %s | %s | %.1f / %.1f s | %.1f / %.1f s | %.3f (%" PRIu64
           ") | %.0f |%s\n",
           n, loss * 100, stall_s, lifeguard ? "on" : "off", (double)pct(first, nf, 0.5) / 1000,
           (double)pct(first, nf, 0.99) / 1000, (double)pct(all, na, 0.5) / 1000,
           (double)pct(all, na, 0.99) / 1000, hours > 0 ? (double)w.fp_episodes / hours : 0.0,
           w.fp_episodes, (double)(bytes1 - bytes0) / ((double)n * seconds),
           undetected ? " (some crashes not all-failed within the run)" : "");
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  harness: %u x %u member entries built in %.1f s, %u+5 simulated s run in %.1f s "
           "(wall), max RSS %.0f MiB\n",
           n, n, build_s, seconds, wall_s() - t0, (double)ru.ru_maxrss / 1024.0);
    free(crash_at);
    world_free(&w);
}

#define BENCH_ROWS 8

/* Build the world once; run each (loss, stall) row on it. Several rows run
 * one after the other in forked children, each on a copy-on-write image of
 * the same built world (at 10,000 members building the 10^8 entries is
 * half the cost of a row): a row's figures are those of a single-row run
 * with the same seed. */
static int bench(uint32_t n, uint32_t seconds, const double *loss, const double *stall,
                 size_t nrows, bool parallel, uint32_t ncrash, uint64_t seed, bool lifeguard,
                 bool trace)
{
    struct world w;
    double t_start = wall_s();
    world_init(&w, n, seed, lifeguard, loss[0], true);
    /* a pool that has been running: push/pull phases spread over the scaled
     * interval (not every member's first exchange in the same 30 s) */
    for (uint32_t i = 0; i < n; i++) {
        gossip_stagger_push_pull(w.nodes[i].g);
        schedule_wake(&w, i);
    }
    double t_built = wall_s();
    w.trace = trace;
    if (nrows == 1) {
        bench_row(&w, seconds, loss[0], stall[0], ncrash, seed, lifeguard, t_built - t_start,
                  t_built);
        return 0;
    }
    /* one after the other, or (--parallel) all at once: each child prints
     * its row in one write when it ends */
    int rc = 0;
    size_t running = 0;
    for (size_t r = 0; r < nrows; r++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            rc = 1;
            break;
        }
        if (pid == 0) {
            bench_row(&w, seconds, loss[r], stall[r], ncrash, seed, lifeguard, t_built - t_start,
                      wall_s());
            fflush(stdout);
            _exit(0);
        }
        running++;
        while (running && (!parallel || r + 1 == nrows)) {
            int st = 0;
            if (wait(&st) < 0)
                break;
            running--;
            if (!WIFEXITED(st) || WEXITSTATUS(st))
                rc = 1;
        }
    }
    world_free(&w);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--scenario")) {
        int failed = 0, ran = 0;
        for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
            if (strcmp(argv[2], "all") && strcmp(argv[2], scenarios[i].name))
                continue;
            ran++;
            char why[512] = "";
            bool ok = scenarios[i].fn(why, sizeof(why));
            printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", scenarios[i].name, ok ? "" : ": ", why);
            failed += !ok;
        }
        if (!ran) {
            fprintf(stderr, "unknown scenario %s\n", argv[2]);
            return 64;
        }
        return failed ? 1 : 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "--bench")) {
        uint32_t n = 100, seconds = 300, ncrash = 10;
        double loss = 0, stallf = 0;
        uint64_t seed = 1;
        bool lg = true, trace = false;
        double rloss[BENCH_ROWS], rstall[BENCH_ROWS];
        size_t nrows = 0;
        bool parallel = false;
        for (int i = 2; i < argc; i++) {
            const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
            if (!strcmp(a, "--nodes"))
                n = (uint32_t)atoi(v), i++;
            else if (!strcmp(a, "--seconds"))
                seconds = (uint32_t)atoi(v), i++;
            else if (!strcmp(a, "--loss"))
                loss = atof(v), i++;
            else if (!strcmp(a, "--stall"))
                stallf = atof(v), i++;
            else if (!strcmp(a, "--udp-max"))
                sim_udp_max = (uint32_t)atoi(v), i++;
            else if (!strcmp(a, "--crash"))
                ncrash = (uint32_t)atoi(v), i++;
            else if (!strcmp(a, "--seed"))
                seed = (uint64_t)atoll(v), i++;
            else if (!strcmp(a, "--rows")) {
                /* LOSS:STALL[,LOSS:STALL...]: one built world, a row each */
                for (const char *p = v; *p && nrows < BENCH_ROWS;) {
                    char *e1, *e2;
                    rloss[nrows] = strtod(p, &e1);
                    if (*e1 != ':') {
                        fprintf(stderr, "bad --rows %s\n", v);
                        return 64;
                    }
                    rstall[nrows++] = strtod(e1 + 1, &e2);
                    p = *e2 == ',' ? e2 + 1 : e2;
                    if (*e2 && *e2 != ',') {
                        fprintf(stderr, "bad --rows %s\n", v);
                        return 64;
                    }
                }
                i++;
            } else if (!strcmp(a, "--parallel"))
                parallel = true;
            else if (!strcmp(a, "--no-lifeguard"))
                lg = false;
            else if (!strcmp(a, "--trace"))
                trace = true;
            else if (!strcmp(a, "--watch")) {
                /* OBS:SUBJ: print every message about member SUBJ that
                 * member OBS sends, receives or loses */
                if (sscanf(v, "%ld:%ld", &wobs, &wsubj) != 2) {
                    fprintf(stderr, "bad --watch %s\n", v);
                    return 64;
                }
                i++;
            } else {
                fprintf(stderr, "unknown option %s\n", a);
                return 64;
            }
        }
        if (n < 2 || n > 20000 || ncrash >= n || ncrash > 4096) {
            fprintf(stderr, "bad --nodes/--crash\n");
            return 64;
        }
        if (!nrows) {
            rloss[0] = loss;
            rstall[0] = stallf;
            nrows = 1;
        }
        return bench(n, seconds, rloss, rstall, nrows, parallel, ncrash, seed, lg, trace);
    }
    fprintf(stderr, "usage: cairn-gossip-sim --scenario NAME|all\n"
                    "       cairn-gossip-sim --bench [--nodes N] [--seconds S] [--loss P] "
                    "[--stall P] [--crash K] [--seed X] [--no-lifeguard]\n"
                    "         [--udp-max BYTES] [--trace] [--watch OBS:SUBJ]\n"
                    "         [--rows LOSS:STALL,...] [--parallel]   (one built world, a row "
                    "each; rows at once)\n");
    return 64;
}
