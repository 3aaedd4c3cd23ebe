/* tests/sim/gossip_wan_sim.c: cairn-gossip-wan-sim, the WAN gossip pool in
 * virtual time: the servers of D datacenters (S each) running the gossip core
 * (src/gossip/gossip.h) with the WAN profile the agent gives its WAN pool
 * (agent/wan.c, the gossip_wan defaults of agent/config.c: memberlist's
 * DefaultWANConfig), the tags a server announces there (wan.c build_tags)
 * and node names NODE.DC, over a network with datacenter-to-datacenter
 * delays. It measures what the issue asks for: WAN gossip bytes sent per
 * server per second (UDP probes and gossip, TCP push/pull), beside the same
 * pool run with the LAN profile as the peer in the same run.
 *
 * A separate program from cairn-gossip-sim (gossip_sim.c): it uses only the
 * gossip core's public interface and a small event loop of its own.
 *
 *   cairn-gossip-wan-sim                        figures: 3 and 10 datacenters
 *   cairn-gossip-wan-sim --dcs D [--servers S] [--seconds T] [--loss P] [--seed X]
 *   cairn-gossip-wan-sim --check                the ctest: 3 and 10 datacenters
 *                                               for 10 virtual minutes, 1% loss,
 *                                               no server ever marked failed
 *
 * Network: datacenter k sits at a seeded random point of a 150 x 150 ms
 * plane; a datagram between two datacenters takes half their distance plus
 * 1 ms (one-way; round trips 2-210 ms), inside one 1 ms, plus 0-1 ms of
 * jitter; `loss` drops UDP datagrams (TCP streams arrive). Exit status: 0,
 * 1 when a check failed, 64 usage. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/version.h"
#include "gossip/gossip.h"

#define MAX_MEMBERS 1024

enum wev_kind { W_WAKE, W_UDP, W_STREAM_REQ, W_STREAM_REPLY };

struct wev {
    uint64_t at, order;
    enum wev_kind kind;
    uint32_t to, from;
    uint64_t gen;
    uint8_t *data;
    size_t len;
};

struct wnode {
    struct gossip *g;
    uint32_t dc;
    uint64_t wake_gen, wake_at;
};

struct wworld {
    struct wnode *n;
    uint32_t count, ndcs;
    double *dcx, *dcy;
    uint64_t now, order, rng;
    double loss;
    struct wev *heap;
    size_t nheap, capheap;
    uint64_t failed_events, suspect_events;
};

static uint64_t rnd(struct wworld *w)
{
    /* splitmix64 */
    uint64_t z = (w->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double frac(struct wworld *w)
{
    return (double)(rnd(w) >> 11) / 9007199254740992.0;
}

static bool before(const struct wev *a, const struct wev *b)
{
    return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void push(struct wworld *w, struct wev e)
{
    if (w->nheap == w->capheap) {
        w->capheap = w->capheap ? w->capheap * 2 : 1024;
        w->heap = realloc(w->heap, w->capheap * sizeof(*w->heap));
        if (!w->heap)
            abort();
    }
    e.order = w->order++;
    size_t i = w->nheap++;
    while (i && before(&e, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = e;
}

static struct wev pop(struct wworld *w)
{
    struct wev top = w->heap[0], last = w->heap[--w->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->nheap)
            break;
        if (c + 1 < w->nheap && before(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (before(&last, &w->heap[c]))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    w->heap[i] = last;
    return top;
}

static void host_of(uint32_t i, char *out, size_t cap)
{
    snprintf(out, cap, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

static uint32_t host_index(const char *host)
{
    unsigned a = 0, b = 0, c = 0;
    if (sscanf(host, "10.%u.%u.%u", &a, &b, &c) != 3)
        return UINT32_MAX;
    return a * 65536 + b * 256 + c;
}

/* One-way delay in ms between members i and j. */
static uint64_t delay_ms(struct wworld *w, uint32_t i, uint32_t j)
{
    uint32_t a = w->n[i].dc, b = w->n[j].dc;
    double d = 1.0;
    if (a != b)
        d += hypot(w->dcx[a] - w->dcx[b], w->dcy[a] - w->dcy[b]) / 2.0;
    return (uint64_t)llround(d) + rnd(w) % 2;
}

static void wake(struct wworld *w, uint32_t i)
{
    struct wnode *nd = &w->n[i];
    uint64_t at = gossip_next_deadline(nd->g, w->now);
    if (nd->wake_gen && nd->wake_at == at)
        return;
    nd->wake_gen++;
    nd->wake_at = at;
    push(w, (struct wev){.at = at, .kind = W_WAKE, .to = i, .gen = nd->wake_gen});
}

static uint8_t *copy(const void *p, size_t len)
{
    uint8_t *d = malloc(len ? len : 1);
    if (!d)
        abort();
    memcpy(d, p, len);
    return d;
}

static void drain(struct wworld *w, uint32_t i)
{
    struct gossip_update u;
    while (gossip_ready(w->n[i].g, &u)) {
        for (size_t k = 0; k < u.nevents; k++) {
            if (u.events[k].type == GOSSIP_EV_FAILED)
                w->failed_events++;
            else if (u.events[k].type == GOSSIP_EV_SUSPECT)
                w->suspect_events++;
        }
        for (size_t k = 0; k < u.nouts; k++) {
            const struct gossip_out *o = &u.outs[k];
            uint32_t to = host_index(o->host);
            if (to >= w->count || (!o->stream && frac(w) < w->loss))
                continue;
            push(w, (struct wev){.at = w->now + delay_ms(w, i, to),
                                 .kind = o->stream ? W_STREAM_REQ : W_UDP,
                                 .to = to,
                                 .from = i,
                                 .data = copy(o->data, o->len),
                                 .len = o->len});
        }
        gossip_done(w->n[i].g, &u);
    }
}

static void step(struct wworld *w, struct wev e)
{
    w->now = e.at;
    struct gossip *g = w->n[e.to].g;
    if (e.kind == W_WAKE) {
        if (e.gen != w->n[e.to].wake_gen)
            return;
        w->n[e.to].wake_gen = 0;
        gossip_tick(g, w->now);
    } else if (e.kind == W_UDP) {
        gossip_recv(g, e.data, e.len, w->now);
    } else if (e.kind == W_STREAM_REQ) {
        struct cn_buf reply = CN_BUF_INIT;
        if (gossip_recv_stream(g, e.data, e.len, &reply, w->now) == 0 && reply.len)
            push(w, (struct wev){.at = w->now + delay_ms(w, e.to, e.from),
                                 .kind = W_STREAM_REPLY,
                                 .to = e.from,
                                 .from = e.to,
                                 .data = copy(reply.p, reply.len),
                                 .len = reply.len});
        cn_buf_free(&reply);
    } else {
        gossip_recv_stream(g, e.data, e.len, NULL, w->now);
    }
    free(e.data);
    drain(w, e.to);
    wake(w, e.to);
}

static void run_until(struct wworld *w, uint64_t until)
{
    while (w->nheap && w->heap[0].at <= until)
        step(w, pop(w));
    w->now = until;
}

/* The WAN pool's timing as the agent sets it (agent/wan.c agent_wan_start,
 * gossip_wan defaults in agent/config.c): memberlist's DefaultWANConfig. */
static void wan_profile(struct gossip_config *c)
{
    gossip_config_default(c);
    c->probe_interval_ms = 5000;
    c->probe_timeout_ms = 3000;
    c->suspicion_mult = 6;
    c->gossip_interval_ms = 500;
    c->gossip_nodes = 4;
    c->retransmit_mult = 4;
    c->push_pull_interval_ms = 60000;
    c->gossip_to_the_dead_ms = 60000;
}

/* The tags a server announces in the WAN pool (agent/wan.c build_tags), the
 * coordinate tag the core adds to its own. */
static void server_tags(struct cn_buf *t, uint32_t dc, uint32_t i)
{
    char dcname[16], id[40], build[64];
    snprintf(dcname, sizeof(dcname), "dc%u", dc + 1);
    snprintf(id, sizeof(id), "%08x-0000-4000-8000-%012x", i * 2654435761u, i);
    snprintf(build, sizeof(build), "%s:cairn-%s", CN_CONSUL_API_VERSION, CAIRN_VERSION);
    int rc = gossip_tags_put(t, "role", "consul");
    rc = rc ? rc : gossip_tags_put(t, "dc", dcname);
    rc = rc ? rc : gossip_tags_put(t, "port", "8300");
    rc = rc ? rc : gossip_tags_put(t, "id", id);
    rc = rc ? rc : gossip_tags_put(t, "segment", "");
    rc = rc ? rc : gossip_tags_put(t, "raft_vsn", "3");
    rc = rc ? rc : gossip_tags_put(t, "vsn", "2");
    rc = rc ? rc : gossip_tags_put(t, "vsn_min", "2");
    rc = rc ? rc : gossip_tags_put(t, "vsn_max", "3");
    rc = rc ? rc : gossip_tags_put(t, "build", build);
    rc = rc ? rc : gossip_tags_put(t, GOSSIP_TAG_COORD, "1");
    if (rc)
        abort();
}

static void member_name(uint32_t i, uint32_t servers, char *out, size_t cap)
{
    snprintf(out, cap, "server-%u.dc%u", i % servers + 1, i / servers + 1);
}

struct result {
    double bytes_per_s, udp_per_s, tcp_per_s, packets_per_s;
    uint64_t failed_events, suspect_events;
    bool all_alive;
};

static void run(uint32_t ndcs, uint32_t servers, bool wan, uint32_t seconds, double loss,
                uint64_t seed, struct result *res)
{
    struct wworld w;
    memset(&w, 0, sizeof(w));
    w.ndcs = ndcs;
    w.count = ndcs * servers;
    w.loss = loss;
    w.rng = seed;
    w.n = calloc(w.count, sizeof(*w.n));
    w.dcx = calloc(ndcs, sizeof(double));
    w.dcy = calloc(ndcs, sizeof(double));
    struct cn_buf *tags = calloc(w.count, sizeof(*tags));
    if (!w.n || !w.dcx || !w.dcy || !tags)
        abort();
    for (uint32_t d = 0; d < ndcs; d++) {
        w.dcx[d] = frac(&w) * 150.0;
        w.dcy[d] = frac(&w) * 150.0;
    }
    char name[64], host[32];
    for (uint32_t i = 0; i < w.count; i++) {
        w.n[i].dc = i / servers;
        server_tags(&tags[i], w.n[i].dc, i);
        struct gossip_config c;
        if (wan)
            wan_profile(&c);
        else
            gossip_config_default(&c);
        member_name(i, servers, name, sizeof(name));
        host_of(i, host, sizeof(host));
        c.name = name;
        c.host = host;
        c.port = 8302;
        c.cluster = "wan:";
        c.tags = (const uint8_t *)tags[i].p;
        c.tags_len = tags[i].len;
        c.rng_seed = rnd(&w);
        c.reap_failed_ms = 3600ull * 1000 * 1000;
        w.n[i].g = gossip_new(&c, 0);
        if (!w.n[i].g)
            abort();
    }
    /* Every server knows the whole pool (as after the joins). */
    for (uint32_t i = 0; i < w.count; i++)
        for (uint32_t j = 0; j < w.count; j++) {
            if (i == j)
                continue;
            member_name(j, servers, name, sizeof(name));
            host_of(j, host, sizeof(host));
            if (gossip_learn(w.n[i].g, name, host, 8302, (const uint8_t *)tags[j].p, tags[j].len,
                             1))
                abort();
        }
    for (uint32_t i = 0; i < w.count; i++) {
        drain(&w, i);
        wake(&w, i);
    }
    /* Warm up past the first push/pull round, then measure. */
    uint64_t warm = 120000, end = warm + (uint64_t)seconds * 1000;
    run_until(&w, warm);
    struct gossip_stats s0 = {0}, s1 = {0}, st;
    for (uint32_t i = 0; i < w.count; i++) {
        gossip_get_stats(w.n[i].g, &st);
        s0.bytes_sent += st.bytes_sent;
        s0.stream_bytes_sent += st.stream_bytes_sent;
        s0.packets_sent += st.packets_sent;
    }
    run_until(&w, end);
    res->all_alive = true;
    for (uint32_t i = 0; i < w.count; i++) {
        gossip_get_stats(w.n[i].g, &st);
        s1.bytes_sent += st.bytes_sent;
        s1.stream_bytes_sent += st.stream_bytes_sent;
        s1.packets_sent += st.packets_sent;
        if (gossip_num_alive(w.n[i].g) != w.count)
            res->all_alive = false;
    }
    double denom = (double)w.count * seconds;
    res->udp_per_s = (double)(s1.bytes_sent - s0.bytes_sent) / denom;
    res->tcp_per_s = (double)(s1.stream_bytes_sent - s0.stream_bytes_sent) / denom;
    res->bytes_per_s = res->udp_per_s + res->tcp_per_s;
    res->packets_per_s = (double)(s1.packets_sent - s0.packets_sent) / denom;
    res->failed_events = w.failed_events;
    res->suspect_events = w.suspect_events;
    for (uint32_t i = 0; i < w.count; i++) {
        gossip_free(w.n[i].g);
        cn_buf_free(&tags[i]);
    }
    while (w.nheap)
        free(pop(&w).data);
    free(w.heap);
    free(tags);
    free(w.n);
    free(w.dcx);
    free(w.dcy);
}

static void print_row(uint32_t ndcs, uint32_t servers, const char *profile, const struct result *r)
{
    printf("  %3u dcs x %u = %3u servers  %-4s  %8.1f B/s  (UDP %7.1f, TCP push/pull %7.1f)  "
           "%5.2f packets/s  suspect events %" PRIu64 ", failed events %" PRIu64 "\n",
           ndcs, servers, ndcs * servers, profile, r->bytes_per_s, r->udp_per_s, r->tcp_per_s,
           r->packets_per_s, r->suspect_events, r->failed_events);
}

static bool parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v == 0 || v > 1000)
        return false;
    *out = (uint32_t)v;
    return true;
}

int main(int argc, char **argv)
{
    uint32_t dcs = 0, servers = 3, seconds = 600;
    double loss = 0.0;
    uint64_t seed = 1;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(a, "--check"))
            check = true;
        else if (!strcmp(a, "--dcs") && v)
            ok = parse_u32(argv[++i], &dcs);
        else if (!strcmp(a, "--servers") && v)
            ok = parse_u32(argv[++i], &servers);
        else if (!strcmp(a, "--seconds") && v)
            ok = parse_u32(argv[++i], &seconds);
        else if (!strcmp(a, "--loss") && v) {
            char *end;
            loss = strtod(argv[++i], &end);
            ok = *end == 0 && loss >= 0 && loss < 1;
        } else if (!strcmp(a, "--seed") && v) {
            char *end;
            seed = strtoull(argv[++i], &end, 10);
            ok = *end == 0;
        } else
            ok = false;
        if (!ok || (dcs && dcs * servers > MAX_MEMBERS)) {
            fprintf(stderr, "usage: cairn-gossip-wan-sim [--check] [--dcs D] [--servers S] "
                            "[--seconds T] [--loss P] [--seed X]\n");
            return 64;
        }
    }
    if (check)
        loss = loss > 0 ? loss : 0.01;
    uint32_t list[2] = {3, 10};
    size_t nlist = dcs ? 1 : 2;
    if (dcs)
        list[0] = dcs;
    printf("WAN gossip pool, virtual time: %u s measured after 120 s, loss %.3f, seed %" PRIu64
           "; bytes sent per server per second\n",
           seconds, loss, seed);
    int failed = 0;
    for (size_t k = 0; k < nlist; k++) {
        struct result rw, rl;
        run(list[k], servers, true, seconds, loss, seed, &rw);
        print_row(list[k], servers, "WAN", &rw);
        if (!check) {
            run(list[k], servers, false, seconds, loss, seed, &rl);
            print_row(list[k], servers, "LAN", &rl);
            printf("      WAN / LAN bytes: %.2f\n", rw.bytes_per_s / rl.bytes_per_s);
        }
        if (check && (rw.failed_events || !rw.all_alive || rw.bytes_per_s <= 0)) {
            printf("FAIL: %u datacenters: %" PRIu64 " failed events, all alive %s\n", list[k],
                   rw.failed_events, rw.all_alive ? "yes" : "no");
            failed = 1;
        }
    }
    return failed;
}
