/* tests/unit/gossip/test_gossip_core.c: the gossip core's rules on a few
 * members wired directly (no loss, 1 ms delivery): join by push/pull,
 * graceful leave, force-leave with prune, the suspicion timeout, LHA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "gossip/codec.h"
#include "gossip/gossip.h"

#define N 4

struct net {
    struct gossip *g[N];
    bool down[N]; /* drops everything to and from it */
    uint64_t now;
    int events[N][8];                     /* per observer, per event type */
    uint64_t failed_at[N], suspect_at[N]; /* about member i, first seen by anyone */
};

static int idx(const char *host)
{
    return host[strlen(host) - 1] - '0';
}

/* Packets in flight: pump() queues what a core sends (never calling into a
 * core between its gossip_ready and gossip_done), deliver_all() hands them
 * over until nothing is left. */
struct pkt {
    int from, to;
    bool stream;
    uint8_t *data;
    size_t len;
};
static struct pkt q[4096];
static size_t qhead, qtail;
/* When set, the cores get a microsecond clock (gossip_clock_us): ticks at
 * now, deliveries hop_us later, so every probe's round trip is hop_us. */
static uint64_t hop_us;
static bool no_coords;
static int plain_member = -1; /* started without coordinates (an older build's view) */
static unsigned trailers_to_plain;

static void pump(struct net *n, int i)
{
    struct gossip_update u;
    while (gossip_ready(n->g[i], &u)) {
        for (size_t k = 0; k < u.nevents; k++) {
            const struct gossip_event *e = &u.events[k];
            n->events[i][e->type]++;
            int who = idx(e->m.host);
            if (e->type == GOSSIP_EV_FAILED && !n->failed_at[who])
                n->failed_at[who] = n->now;
            if (e->type == GOSSIP_EV_SUSPECT && !n->suspect_at[who])
                n->suspect_at[who] = n->now;
        }
        for (size_t k = 0; k < u.nouts; k++) {
            struct gossip_out *o = &u.outs[k];
            int to = idx(o->host);
            if (to < 0 || to >= N || !n->g[to] || n->down[to] || n->down[i])
                continue;
            assert_true(qtail - qhead < 4096);
            if (to == plain_member && !o->stream) {
                struct gossip_pkt pk;
                char why[96];
                assert_int_equal(gossip_pkt_decode(o->data, o->len, false, &pk, why, sizeof(why)),
                                 0);
                size_t off = 0;
                struct gossip_msg m;
                while (gossip_pkt_next(&pk, &off, &m))
                    trailers_to_plain += m.type == GMSG_ACK && m.has_coord;
            }
            struct pkt *p = &q[qtail++ % 4096];
            p->from = i;
            p->to = to;
            p->stream = o->stream;
            p->data = test_malloc(o->len);
            memcpy(p->data, o->data, o->len);
            p->len = o->len;
        }
        gossip_done(n->g[i], &u);
    }
}

static void deliver_all(struct net *n)
{
    for (int i = 0; i < N; i++)
        if (n->g[i])
            pump(n, i);
    while (qhead != qtail) {
        struct pkt p = q[qhead++ % 4096];
        if (!n->down[p.to] && !n->down[p.from]) {
            if (p.stream) {
                struct cn_buf reply = CN_BUF_INIT;
                if (gossip_recv_stream(n->g[p.to], p.data, p.len, &reply, n->now) == 0)
                    gossip_recv_stream(n->g[p.from], reply.p, reply.len, NULL, n->now);
                cn_buf_free(&reply);
                pump(n, p.from);
            } else {
                if (hop_us)
                    gossip_clock_us(n->g[p.to], n->now * 1000 + hop_us);
                gossip_recv(n->g[p.to], p.data, p.len, n->now);
            }
            pump(n, p.to);
        }
        test_free(p.data);
    }
}

static void run(struct net *n, uint64_t until)
{
    while (n->now < until) {
        n->now += 10;
        for (int i = 0; i < N; i++)
            if (n->g[i] && !n->down[i]) {
                if (hop_us)
                    gossip_clock_us(n->g[i], n->now * 1000);
                gossip_tick(n->g[i], n->now);
            }
        deliver_all(n);
    }
}

static void start(struct net *n, int count, bool lifeguard)
{
    memset(n, 0, sizeof(*n));
    for (int i = 0; i < count; i++) {
        char name[16], host[16];
        snprintf(name, sizeof(name), "m%d", i);
        snprintf(host, sizeof(host), "10.0.0.%d", i);
        struct gossip_config c;
        gossip_config_default(&c);
        c.name = name;
        c.host = host;
        c.port = 8301;
        c.cluster = "dc1";
        c.rng_seed = (uint64_t)i + 11;
        c.lifeguard = lifeguard;
        c.disable_coordinates = no_coords || i == plain_member;
        n->g[i] = gossip_new(&c, 0);
        assert_non_null(n->g[i]);
    }
    deliver_all(n);
    for (int i = 1; i < count; i++) {
        assert_int_equal(gossip_join(n->g[i], "10.0.0.0", 8301, 1), 0);
        deliver_all(n);
    }
    run(n, 3000);
    for (int i = 0; i < count; i++)
        assert_int_equal(gossip_num_alive(n->g[i]), (size_t)count);
}

static void stop(struct net *n)
{
    for (int i = 0; i < N; i++)
        gossip_free(n->g[i]);
}

static void test_join_leave(void **state)
{
    (void)state;
    struct net n;
    start(&n, 3, true);
    assert_true(n.events[0][GOSSIP_EV_JOIN] >= 3); /* itself, m1, m2 */
    gossip_leave(n.g[2]);
    deliver_all(&n);
    run(&n, n.now + 2000);
    assert_true(gossip_leave_sent(n.g[2]));
    struct gossip_member m;
    assert_int_equal(gossip_member_get(n.g[0], "m2", &m), 0);
    assert_int_equal(m.status, GOSSIP_LEFT);
    assert_int_equal(gossip_serf_status(m.status, false), 3);
    assert_int_equal(n.events[0][GOSSIP_EV_LEFT], 1);
    assert_int_equal(n.events[0][GOSSIP_EV_FAILED], 0);
    stop(&n);
}

static void test_failure_and_force_leave_prune(void **state)
{
    (void)state;
    struct net n;
    start(&n, 3, true);
    uint64_t t0 = n.now;
    n.down[2] = true;
    run(&n, t0 + 30000);
    struct gossip_member m;
    assert_int_equal(gossip_member_get(n.g[0], "m2", &m), 0);
    assert_int_equal(m.status, GOSSIP_FAILED);
    assert_int_equal(gossip_serf_status(m.status, false), 4);
    /* 3 members: k = 0 confirmations expected, so the timeout is the minimum,
     * suspicion_mult * max(1, log10(3)) * probe interval = 4 s, then the
     * last chance: one probe timeout (500 ms) for an answer from the suspect
     * or a witness */
    uint64_t susp = n.failed_at[2] - n.suspect_at[2];
    struct gossip_stats st;
    gossip_get_stats(n.g[0], &st);
    assert_true(st.last_chances >= 1);
    assert_true(susp >= 4500 && susp <= 4600);
    assert_int_equal(gossip_force_leave(n.g[0], "m2", true), 0);
    assert_int_equal(gossip_member_get(n.g[0], "m2", &m), CN_ENOTFOUND);
    assert_int_equal(gossip_force_leave(n.g[0], "m0", false), CN_EINVAL);
    assert_int_equal(gossip_force_leave(n.g[0], "nobody", false), CN_ENOTFOUND);
    deliver_all(&n);
    assert_int_equal(n.events[0][GOSSIP_EV_REAP], 1);
    stop(&n);
}

static void test_refute_after_stall(void **state)
{
    (void)state;
    struct net n;
    start(&n, 3, true);
    /* m1 unreachable long enough to be failed, then back: it learns of it
     * (the ack to its next probe says so) and refutes with a higher
     * incarnation; everyone has it alive again. */
    n.down[1] = true;
    run(&n, n.now + 20000);
    struct gossip_member m;
    assert_int_equal(gossip_member_get(n.g[0], "m1", &m), 0);
    assert_int_equal(m.status, GOSSIP_FAILED);
    uint32_t inc = m.incarnation;
    n.down[1] = false;
    run(&n, n.now + 5000);
    assert_int_equal(gossip_member_get(n.g[0], "m1", &m), 0);
    assert_int_equal(m.status, GOSSIP_ALIVE);
    assert_true(m.incarnation > inc);
    assert_int_equal(gossip_member_get(n.g[2], "m1", &m), 0);
    assert_int_equal(m.status, GOSSIP_ALIVE);
    struct gossip_stats st;
    gossip_get_stats(n.g[1], &st);
    assert_true(st.refutes >= 1);
    stop(&n);
}

static void test_local_health_awareness(void **state)
{
    (void)state;
    struct net n;
    start(&n, 2, true);
    /* m0 alone: every probe of m1 fails with no member to ask for an
     * indirect probe, so its awareness rises (and its probing slows). */
    n.down[1] = true;
    run(&n, n.now + 6000);
    struct gossip_stats st;
    gossip_get_stats(n.g[0], &st);
    assert_true(st.awareness >= 1);
    assert_true(st.probes_failed >= 1);
    stop(&n);
    /* Without Lifeguard the score never moves. */
    start(&n, 2, false);
    n.down[1] = true;
    run(&n, n.now + 6000);
    gossip_get_stats(n.g[0], &st);
    assert_int_equal(st.awareness, 0);
    stop(&n);
}

/* Serf's ping delegate: each direct probe's round trip (3 ms here: the
 * ACK arrives hop_us after the tick that sent the PING) moves the prober's
 * coordinate and caches the target's from its ACK; after a minute every
 * pair is estimated within 5% of 3 ms. Disabled: none at all. */
static void test_coordinates_from_probes(void **state)
{
    (void)state;
    struct net n;
    hop_us = 3000;
    start(&n, 3, true);
    run(&n, 60000);
    struct coord c[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(gossip_coord_self(n.g[i], &c[i]), 0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            if (i == j)
                continue;
            double ms = coord_distance(&c[i], &c[j]) * 1000.0;
            assert_true(ms > 2.85 && ms < 3.15); /* seen: 2.997-3.005 */
            char name[8];
            snprintf(name, sizeof(name), "m%d", j);
            struct coord seen;
            assert_int_equal(gossip_coord_get(n.g[i], name, &seen), 0);
            assert_true(coord_valid(&seen));
        }
    struct gossip_stats st;
    gossip_get_stats(n.g[0], &st);
    assert_true(st.coord_updates >= 40);
    assert_int_equal(st.coord_rejected, 0);
    assert_int_equal(st.coord_resets, 0);
    assert_int_equal(gossip_coord_get(n.g[0], "nobody", &c[0]), CN_ENOTFOUND);
    stop(&n);
    hop_us = 0;

    no_coords = true;
    start(&n, 2, true);
    run(&n, 10000);
    assert_int_equal(gossip_coord_self(n.g[0], &c[0]), CN_ENOTFOUND);
    assert_int_equal(gossip_coord_get(n.g[0], "m1", &c[0]), CN_ENOTFOUND);
    gossip_get_stats(n.g[0], &st);
    assert_int_equal(st.coord_updates, 0);
    stop(&n);
    no_coords = false;

    /* a mixed pool: m1 computes none, so it does not carry the tag, and no
     * ACK to it has a trailer (a member built before coordinates would
     * refuse the packet); m0 and m2 still exchange theirs */
    plain_member = 1;
    trailers_to_plain = 0;
    hop_us = 3000;
    start(&n, 3, true);
    run(&n, 20000);
    hop_us = 0;
    assert_int_equal(trailers_to_plain, 0);
    assert_int_equal(gossip_coord_get(n.g[0], "m1", &c[0]), CN_ENOTFOUND);
    assert_int_equal(gossip_coord_get(n.g[0], "m2", &c[0]), 0);
    struct gossip_member me;
    assert_int_equal(gossip_member_get(n.g[0], "m0", &me), 0);
    char v[8];
    assert_int_equal(gossip_tags_get(me.tags, me.tags_len, GOSSIP_TAG_COORD, v, sizeof(v)), 0);
    assert_int_equal(gossip_member_get(n.g[0], "m1", &me), 0);
    assert_int_equal(gossip_tags_get(me.tags, me.tags_len, GOSSIP_TAG_COORD, v, sizeof(v)),
                     CN_ENOTFOUND);
    stop(&n);
    plain_member = -1;
}

static void test_config_refused(void **state)
{
    (void)state;
    struct gossip_config c;
    gossip_config_default(&c);
    c.name = "x";
    c.host = "10.0.0.1";
    c.port = 0; /* no port */
    c.cluster = "dc1";
    assert_null(gossip_new(&c, 0));
    c.port = 1;
    c.probe_interval_ms = 0;
    assert_null(gossip_new(&c, 0));
}

/* Drain a core's update, counting its events by type. */
static void drain_count(struct gossip *g, int *ev)
{
    struct gossip_update u;
    while (gossip_ready(g, &u)) {
        for (size_t k = 0; k < u.nevents; k++)
            ev[u.events[k].type]++;
        gossip_done(g, &u);
    }
}

static struct gossip *table_core(const char *name, struct gossip_idents *ids)
{
    struct gossip_config c;
    gossip_config_default(&c);
    c.name = name;
    c.host = "10.0.0.1";
    c.port = 8301;
    c.cluster = "dc1";
    c.rng_seed = 42;
    c.reap_left_ms = 5000;
    c.idents = ids;
    return gossip_new(&c, 0);
}

/* ---- the last chance, on single cores fed by hand ---- */

/* A datagram from `from` (10.0.0.<from's last digit>) holding msgs. */
static void feed(struct gossip *g, const char *from, const struct gossip_msg *msgs, unsigned n,
                 uint64_t now)
{
    struct cn_buf b = CN_BUF_INIT;
    struct gossip_hdr h = {.port = 8301};
    snprintf(h.cluster, sizeof(h.cluster), "dc1");
    snprintf(h.name, sizeof(h.name), "%s", from);
    snprintf(h.host, sizeof(h.host), "10.0.0.%c", from[strlen(from) - 1]);
    size_t count_off;
    assert_int_equal(gossip_enc_hdr(&b, &h, &count_off), 0);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(gossip_enc_msg(&b, &msgs[i]), 0);
    b.p[count_off] = (char)n;
    assert_int_equal(gossip_recv(g, b.p, b.len, now), 0);
    cn_buf_free(&b);
}

static struct gossip_msg sd_msg(uint8_t type, const char *node, uint32_t inc, const char *from)
{
    struct gossip_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.inc = inc;
    snprintf(m.node, sizeof(m.node), "%s", node);
    snprintf(m.from, sizeof(m.from), "%s", from);
    return m;
}

/* What a core sent since the last call: per destination host's last digit,
 * whether a datagram held a PING carrying the SUSPECT of `about` (asks[]),
 * and the highest incarnation of an ALIVE about `about` (alive_inc[]);
 * events counted into ev. */
struct sent {
    int asks[10];
    uint32_t alive_inc[10];
    int ev[8];
};

static void collect(struct gossip *g, const char *about, struct sent *out)
{
    struct gossip_update u;
    struct {
        char from[8];
        uint32_t seq;
    } acks[64];
    size_t nacks = 0;
    while (gossip_ready(g, &u)) {
        for (size_t k = 0; k < u.nevents; k++)
            out->ev[u.events[k].type]++;
        for (size_t k = 0; k < u.nouts; k++) {
            const struct gossip_out *o = &u.outs[k];
            struct gossip_pkt pkt;
            char err[96];
            if (o->stream || gossip_pkt_decode(o->data, o->len, false, &pkt, err, sizeof(err)))
                continue;
            int to = idx(o->host);
            bool susp = false, ping = false;
            size_t off = 0;
            struct gossip_msg m;
            while (gossip_pkt_next(&pkt, &off, &m)) {
                if (m.type == GMSG_SUSPECT && !strcmp(m.node, about))
                    susp = true;
                if (m.type == GMSG_PING) {
                    ping = true;
                    /* every member but the suspect m2 answers */
                    if (strcmp(m.node, "m2") && nacks < 64) {
                        snprintf(acks[nacks].from, sizeof(acks[nacks].from), "%s", m.node);
                        acks[nacks++].seq = m.seq;
                    }
                }
                if (m.type == GMSG_ALIVE && !strcmp(m.node, about) && m.inc > out->alive_inc[to])
                    out->alive_inc[to] = m.inc;
            }
            if (susp && ping)
                out->asks[to]++;
        }
        gossip_done(g, &u);
    }
    for (size_t i = 0; i < nacks; i++) {
        struct gossip_msg a;
        memset(&a, 0, sizeof(a));
        a.type = GMSG_ACK;
        a.seq = acks[i].seq;
        feed(g, acks[i].from, &a, 1, 0);
    }
    if (nacks)
        collect(g, about, out);
}

static struct gossip *lc_core(const char *name, char digit)
{
    char host[16];
    snprintf(host, sizeof(host), "10.0.0.%c", digit);
    struct gossip_config c;
    gossip_config_default(&c);
    c.name = name;
    c.host = host;
    c.port = 8301;
    c.cluster = "dc1";
    c.rng_seed = 7;
    c.disable_coordinates = true;
    struct gossip *g = gossip_new(&c, 0);
    assert_non_null(g);
    const char *names[] = {"m1", "m2", "m3", "m4"};
    for (int i = 0; i < 4; i++)
        if (strcmp(names[i], name)) {
            snprintf(host, sizeof(host), "10.0.0.%d", i + 1);
            assert_int_equal(gossip_learn(g, names[i], host, 8301, NULL, 0, 1), 0);
        }
    return g;
}

/* m1 holds m2 suspect (k = 2 confirmations: the 4 s minimum) and missed
 * its refutation. When the timer runs out m1 does not declare yet: it asks
 * m2 and 3 witnesses (a PING carrying the SUSPECT); an ALIVE of a newer
 * incarnation within the probe timeout ends the suspicion (no FAILED ever);
 * without one, m2 is declared a probe timeout (500 ms) after the deadline. */
static void test_last_chance(void **state)
{
    (void)state;
    for (int answered = 0; answered < 2; answered++) {
        struct gossip *a = lc_core("m1", '1');
        struct sent s;
        memset(&s, 0, sizeof(s));
        collect(a, "m2", &s);
        struct gossip_msg m[3] = {sd_msg(GMSG_SUSPECT, "m2", 1, "m3"),
                                  sd_msg(GMSG_SUSPECT, "m2", 1, "m4"),
                                  sd_msg(GMSG_SUSPECT, "m2", 1, "m9")};
        feed(a, "m3", m, 3, 1000);
        uint64_t now = 1000;
        for (; now < 1000 + 4000; now += 100) {
            gossip_tick(a, now);
            collect(a, "m2", &s);
        }
        memset(&s, 0, sizeof(s));
        collect(a, "m2", &s);
        assert_int_equal(s.ev[GOSSIP_EV_FAILED], 0);
        memset(&s, 0, sizeof(s)); /* (the buddy system's probes of m2 until now) */
        gossip_tick(a, now);      /* the deadline: the last chance */
        collect(a, "m2", &s);
        struct gossip_stats st;
        gossip_get_stats(a, &st);
        assert_int_equal(st.last_chances, 1);
        assert_int_equal(s.ev[GOSSIP_EV_FAILED], 0);
        assert_true(s.asks[2] >= 1);                /* the suspect */
        assert_int_equal(s.asks[3] + s.asks[4], 2); /* the witnesses: m3, m4 */
        struct gossip_member mb;
        assert_int_equal(gossip_member_get(a, "m2", &mb), 0);
        assert_int_equal(mb.status, GOSSIP_SUSPECT);
        if (answered) {
            struct gossip_msg al;
            memset(&al, 0, sizeof(al));
            al.type = GMSG_ALIVE;
            al.inc = 2;
            snprintf(al.node, sizeof(al.node), "m2");
            snprintf(al.host, sizeof(al.host), "10.0.0.2");
            al.port = 8301;
            feed(a, "m3", &al, 1, now + 50);
        }
        for (uint64_t end = now + 2000; now < end; now += 100) {
            gossip_tick(a, now);
            collect(a, "m2", &s);
        }
        assert_int_equal(gossip_member_get(a, "m2", &mb), 0);
        if (answered) {
            assert_int_equal(s.ev[GOSSIP_EV_FAILED], 0);
            assert_int_equal(mb.status, GOSSIP_ALIVE);
            assert_int_equal(mb.incarnation, 2);
        } else {
            assert_int_equal(s.ev[GOSSIP_EV_FAILED], 1);
            assert_int_equal(mb.status, GOSSIP_FAILED);
        }
        gossip_free(a);
    }
}

/* The other side: m2 refuted (incarnation 2); a last-chance PING carrying
 * the stale SUSPECT at 1 is answered with an ACK whose datagram carries
 * ALIVE at 2, without a new refutation. A witness (m3) that holds m2 alive
 * at 2 answers the same; one that holds it at 1 does not. */
static void test_stale_suspicion_answered(void **state)
{
    (void)state;
    struct gossip *b = lc_core("m2", '2');
    struct sent s;
    memset(&s, 0, sizeof(s));
    collect(b, "m2", &s);
    struct gossip_msg su = sd_msg(GMSG_SUSPECT, "m2", 1, "m3");
    feed(b, "m3", &su, 1, 100); /* refutes: incarnation 2 */
    collect(b, "m2", &s);
    struct gossip_stats st;
    gossip_get_stats(b, &st);
    assert_int_equal(st.refutes, 1);
    struct gossip_msg ask[2] = {sd_msg(GMSG_SUSPECT, "m2", 1, "m1"), {0}};
    ask[1].type = GMSG_PING;
    ask[1].seq = 77;
    snprintf(ask[1].node, sizeof(ask[1].node), "m2");
    memset(&s, 0, sizeof(s));
    feed(b, "m1", ask, 2, 200);
    collect(b, "m2", &s);
    gossip_get_stats(b, &st);
    assert_int_equal(st.refutes, 1);
    assert_true(st.reannounces >= 1);
    assert_int_equal(s.alive_inc[1], 2); /* in the ACK's datagram to m1 */

    /* witnesses */
    struct gossip *w = lc_core("m3", '3');
    collect(w, "m2", &s);
    snprintf(ask[1].node, sizeof(ask[1].node), "m3");
    memset(&s, 0, sizeof(s));
    feed(w, "m1", ask, 2, 100); /* m3 holds m2 at 1: a suspicion, no ALIVE */
    collect(w, "m2", &s);
    assert_int_equal(s.alive_inc[1], 0);
    struct gossip_msg al;
    memset(&al, 0, sizeof(al));
    al.type = GMSG_ALIVE;
    al.inc = 2;
    snprintf(al.node, sizeof(al.node), "m2");
    snprintf(al.host, sizeof(al.host), "10.0.0.2");
    al.port = 8301;
    feed(w, "m2", &al, 1, 150);
    collect(w, "m2", &s);
    memset(&s, 0, sizeof(s));
    feed(w, "m4", ask, 2, 200); /* now stale for m3: answered with ALIVE at 2 */
    collect(w, "m2", &s);
    assert_int_equal(s.alive_inc[4], 2);
    /* stale gossip that does not ask (no PING to m3) is left alone */
    gossip_get_stats(w, &st);
    uint64_t re = st.reannounces;
    feed(w, "m4", ask, 1, 300);
    gossip_get_stats(w, &st);
    assert_int_equal(st.reannounces, re);
    gossip_free(b);
    gossip_free(w);
}

/* The member table at a size where the index wraps and collides: two cores
 * sharing one identity table learn 3,000 members, one prunes every third;
 * every member is still found with its own address, the pruned ones are
 * not, identities are shared (one per member) and freed with their last
 * holder; a changed tag is a new identity; a LEFT member is reaped when due. */
static void test_member_table(void **state)
{
    (void)state;
    struct gossip_idents *ids = gossip_idents_new();
    assert_non_null(ids);
    struct gossip *a = table_core("a", ids), *b = table_core("b", ids);
    assert_non_null(a);
    assert_non_null(b);
    int ev[8] = {0};
    enum { M = 3000 };
    char name[32], host[32];
    for (int i = 0; i < M; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        snprintf(host, sizeof(host), "10.1.%d.%d", i / 250, i % 250);
        assert_int_equal(gossip_learn(a, name, host, (uint16_t)(1000 + i), NULL, 0, 1), 0);
        assert_int_equal(gossip_learn(b, name, host, (uint16_t)(1000 + i), NULL, 0, 1), 0);
    }
    assert_int_equal(gossip_learn(a, "n7", "10.9.9.9", 1, NULL, 0, 1), CN_EEXIST);
    assert_int_equal(gossip_num_members(a), M + 1);
    assert_int_equal(gossip_idents_count(ids), M + 2); /* the members, a and b */
    for (int i = 0; i < M; i += 3) {
        snprintf(name, sizeof(name), "n%d", i);
        assert_int_equal(gossip_force_leave(a, name, true), 0);
    }
    drain_count(a, ev);
    assert_int_equal(ev[GOSSIP_EV_REAP], M / 3);
    assert_int_equal(gossip_num_members(a), M + 1 - M / 3);
    assert_int_equal(gossip_idents_count(ids), M + 2); /* b still holds them all */
    for (int i = 0; i < M; i++) {
        struct gossip_member m;
        snprintf(name, sizeof(name), "n%d", i);
        snprintf(host, sizeof(host), "10.1.%d.%d", i / 250, i % 250);
        int rc = gossip_member_get(a, name, &m);
        if (i % 3 == 0) {
            assert_int_equal(rc, CN_ENOTFOUND);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(m.name, name);
        assert_string_equal(m.host, host);
        assert_int_equal(m.port, 1000 + i);
        assert_int_equal(m.status, GOSSIP_ALIVE);
        assert_int_equal(gossip_member_get(b, name, &m), 0);
    }
    /* b's tags change: a new identity, the old one freed (nobody else held it) */
    struct cn_buf t = CN_BUF_INIT;
    assert_int_equal(gossip_tags_put(&t, "build", "2"), 0);
    size_t before = gossip_idents_count(ids);
    assert_int_equal(gossip_set_tags(b, (const uint8_t *)t.p, t.len), 0);
    cn_buf_free(&t);
    assert_int_equal(gossip_idents_count(ids), before);
    struct gossip_member me;
    assert_int_equal(gossip_member_get(b, "b", &me), 0);
    char v[8];
    assert_int_equal(gossip_tags_get(me.tags, me.tags_len, "build", v, sizeof(v)), 0);
    assert_string_equal(v, "2");
    /* reaping: a LEFT member goes once reap_left_ms (5 s) passed, not before */
    memset(ev, 0, sizeof(ev));
    gossip_tick(b, 1000);
    assert_int_equal(gossip_force_leave(b, "n1", false), 0);
    for (uint64_t now = 1100; now <= 5900; now += 100)
        gossip_tick(b, now);
    drain_count(b, ev);
    assert_int_equal(ev[GOSSIP_EV_REAP], 0);
    for (uint64_t now = 6000; now <= 7100; now += 100)
        gossip_tick(b, now);
    drain_count(b, ev);
    assert_int_equal(ev[GOSSIP_EV_REAP], 1);
    struct gossip_member m;
    assert_int_equal(gossip_member_get(b, "n1", &m), CN_ENOTFOUND);
    assert_int_equal(gossip_member_get(b, "n2", &m), 0);
    gossip_free(a);
    /* left: b's own members (all but the reaped n1) and b itself */
    assert_int_equal(gossip_idents_count(ids), (M - 1) + 1);
    gossip_free(b);
    assert_int_equal(gossip_idents_count(ids), 0);
    gossip_idents_free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_leave),
        cmocka_unit_test(test_failure_and_force_leave_prune),
        cmocka_unit_test(test_refute_after_stall),
        cmocka_unit_test(test_local_health_awareness),
        cmocka_unit_test(test_coordinates_from_probes),
        cmocka_unit_test(test_config_refused),
        cmocka_unit_test(test_member_table),
        cmocka_unit_test(test_last_chance),
        cmocka_unit_test(test_stale_suspicion_answered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
