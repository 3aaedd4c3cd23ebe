/* The routing table of other datacenters (agent/wan_table.c): which WAN
 * members are servers of which datacenter, the alive ones per datacenter,
 * and the one order datacenters are listed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/wan_table.h"
#include "base/buf.h"
#include "base/err.h"

struct mem {
    struct cn_buf tags;
    struct gossip_member m;
};

static void mk(struct mem *x, const char *name, const char *host, const char *role, const char *dc,
               const char *port, enum gossip_status st)
{
    x->tags = (struct cn_buf)CN_BUF_INIT;
    if (role)
        assert_int_equal(gossip_tags_put(&x->tags, "role", role), 0);
    if (dc)
        assert_int_equal(gossip_tags_put(&x->tags, "dc", dc), 0);
    if (port)
        assert_int_equal(gossip_tags_put(&x->tags, "port", port), 0);
    x->m = (struct gossip_member){.name = name,
                                  .host = host,
                                  .port = 8302,
                                  .status = st,
                                  .tags = (const uint8_t *)x->tags.p,
                                  .tags_len = x->tags.len};
}

static void test_server_of(void **state)
{
    (void)state;
    struct mem x;
    struct wan_server s;
    mk(&x, "s1.dc2", "10.0.0.1", "consul", "dc2", "8300", GOSSIP_ALIVE);
    assert_int_equal(wan_server_of(&x.m, &s), 0);
    assert_string_equal(s.node, "s1");
    assert_string_equal(s.dc, "dc2");
    assert_string_equal(s.addr, "10.0.0.1:8300");
    assert_true(s.alive);
    assert_false(s.left);
    cn_buf_free(&x.tags);
    /* a node name holding dots: only the last ".dc" is the datacenter */
    mk(&x, "web.example.dc2", "::1", "consul", "dc2", "8300", GOSSIP_SUSPECT);
    assert_int_equal(wan_server_of(&x.m, &s), 0);
    assert_string_equal(s.node, "web.example");
    assert_string_equal(s.addr, "[::1]:8300");
    assert_true(s.alive); /* Serf shows a suspect alive */
    cn_buf_free(&x.tags);
    mk(&x, "s1.dc2", "10.0.0.1", "consul", "dc2", "8300", GOSSIP_FAILED);
    assert_int_equal(wan_server_of(&x.m, &s), 0);
    assert_false(s.alive);
    assert_false(s.left);
    cn_buf_free(&x.tags);
    mk(&x, "s1.dc2", "10.0.0.1", "consul", "dc2", "8300", GOSSIP_LEFT);
    assert_int_equal(wan_server_of(&x.m, &s), 0);
    assert_true(s.left);
    cn_buf_free(&x.tags);
}

static void test_server_of_refuses(void **state)
{
    (void)state;
    struct {
        const char *name, *role, *dc, *port;
    } bad[] = {
        {"s1.dc2", "node", "dc2", "8300"},  /* a client agent's role */
        {"s1.dc2", NULL, "dc2", "8300"},    /* no role */
        {"s1.dc2", "consul", NULL, "8300"}, /* no dc */
        {"s1.dc2", "consul", "", "8300"},   /* empty dc */
        {"s1.dc2", "consul", "dc2", NULL},  /* no port */
        {"s1.dc2", "consul", "dc2", "0"},   /* port out of range */
        {"s1.dc2", "consul", "dc2", "65536"}, {"s1.dc2", "consul", "dc2", "83x"},
        {"s1.dc3", "consul", "dc2", "8300"}, /* name and tag disagree */
        {"s1dc2", "consul", "dc2", "8300"},  /* no dot */
        {".dc2", "consul", "dc2", "8300"},   /* empty node */
        {"dc2", "consul", "dc2", "8300"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mem x;
        struct wan_server s;
        mk(&x, bad[i].name, "10.0.0.1", bad[i].role, bad[i].dc, bad[i].port, GOSSIP_ALIVE);
        assert_int_equal(wan_server_of(&x.m, &s), CN_EINVAL);
        cn_buf_free(&x.tags);
    }
}

/* The flood joiner's choice: alive servers of our datacenter that tag a
 * WAN port, as NODE.DC at their LAN address with that port. */
static void test_flood_target(void **state)
{
    (void)state;
    struct {
        const char *role, *dc, *wport;
        enum gossip_status st;
        int rc;
    } cases[] = {
        {"consul", "dc1", "8302", GOSSIP_ALIVE, 0},
        {"consul", "dc1", "8302", GOSSIP_SUSPECT, 0},
        {"consul", "dc1", "8302", GOSSIP_FAILED, CN_EINVAL},
        {"consul", "dc1", "8302", GOSSIP_LEFT, CN_EINVAL},
        {"node", "dc1", "8302", GOSSIP_ALIVE, CN_EINVAL},   /* a client agent */
        {"consul", "dc2", "8302", GOSSIP_ALIVE, CN_EINVAL}, /* another datacenter */
        {"consul", "dc1", NULL, GOSSIP_ALIVE, CN_EINVAL},   /* no WAN pool */
        {"consul", "dc1", "0", GOSSIP_ALIVE, CN_EINVAL},
        {"consul", "dc1", "70000", GOSSIP_ALIVE, CN_EINVAL},
        {"consul", "dc1", "83x", GOSSIP_ALIVE, CN_EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mem x;
        mk(&x, "s2", "10.0.0.2", cases[i].role, cases[i].dc, "8300", cases[i].st);
        if (cases[i].wport) {
            assert_int_equal(gossip_tags_put(&x.tags, "wan_join_port", cases[i].wport), 0);
            x.m.tags = (const uint8_t *)x.tags.p;
            x.m.tags_len = x.tags.len;
        }
        char name[80], addr[80];
        assert_int_equal(wan_flood_target(&x.m, "dc1", name, sizeof(name), addr, sizeof(addr)),
                         cases[i].rc);
        if (cases[i].rc == 0) {
            assert_string_equal(name, "s2.dc1");
            assert_string_equal(addr, "10.0.0.2:8302");
        }
        cn_buf_free(&x.tags);
    }
    struct mem x;
    mk(&x, "s3", "fd00::3", "consul", "dc1", "8300", GOSSIP_ALIVE);
    assert_int_equal(gossip_tags_put(&x.tags, "wan_join_port", "9302"), 0);
    x.m.tags = (const uint8_t *)x.tags.p;
    x.m.tags_len = x.tags.len;
    char name[80], addr[80];
    assert_int_equal(wan_flood_target(&x.m, "dc1", name, sizeof(name), addr, sizeof(addr)), 0);
    assert_string_equal(addr, "[fd00::3]:9302");
    assert_int_equal(wan_flood_target(&x.m, "dc1", name, 4, addr, sizeof(addr)), CN_EINVAL);
    cn_buf_free(&x.tags);
}

static struct wan_server sv(const char *node, const char *dc, const char *addr, bool alive,
                            bool left)
{
    struct wan_server s;
    memset(&s, 0, sizeof(s));
    snprintf(s.node, sizeof(s.node), "%s", node);
    snprintf(s.dc, sizeof(s.dc), "%s", dc);
    snprintf(s.addr, sizeof(s.addr), "%s", addr);
    s.alive = alive;
    s.left = left;
    s.rtt_s = -1;
    return s;
}

static void test_datacenters_order(void **state)
{
    (void)state;
    struct wan_server t[] = {
        sv("a", "dc3", "10.0.3.1:8300", true, false),
        sv("b", "dc2", "10.0.2.1:8300", false, false), /* failed: still known */
        sv("c", "dc1", "10.0.1.1:8300", true, false),
        sv("d", "dc2", "10.0.2.2:8300", true, false),
        sv("e", "dc0", "10.0.0.1:8300", false, true), /* left: forgotten */
        sv("f", "aaa", "10.0.9.1:8300", true, false),
    };
    char out[8][WAN_DC_MAX];
    size_t n = wan_datacenters(t, 6, "dc2", out, 8);
    assert_int_equal(n, 4);
    assert_string_equal(out[0], "dc2"); /* local first */
    assert_string_equal(out[1], "aaa"); /* then by name */
    assert_string_equal(out[2], "dc1");
    assert_string_equal(out[3], "dc3");
    /* the count past the capacity */
    assert_int_equal(wan_datacenters(t, 6, "dc2", out, 2), 4);
    assert_string_equal(out[1], "aaa");
    /* no member at all (WAN pool just started): the local one */
    assert_int_equal(wan_datacenters(NULL, 0, "dc9", out, 8), 1);
    assert_string_equal(out[0], "dc9");
    assert_true(wan_dc_known(t, 6, "dc3"));
    assert_false(wan_dc_known(t, 6, "dc0"));
    assert_false(wan_dc_known(t, 6, "nope"));
}

/* With WAN coordinates: by the median round trip to each datacenter's
 * servers (Consul's GetDatacentersByDistance), unknown ones last, ties by
 * name; the local one first whatever its distance. */
static void test_datacenters_by_rtt(void **state)
{
    (void)state;
    struct wan_server t[] = {
        sv("a1", "far", "10.0.1.1:8300", true, false),
        sv("a2", "far", "10.0.1.2:8300", true, false),
        sv("a3", "far", "10.0.1.3:8300", true, false),
        sv("b1", "near", "10.0.2.1:8300", true, false),
        sv("b2", "near", "10.0.2.2:8300", true, false),
        sv("c1", "dark", "10.0.3.1:8300", true, false),
        sv("d1", "mid", "10.0.4.1:8300", true, false),
        sv("d2", "mid", "10.0.4.2:8300", false, true),
        sv("e1", "dc1", "10.0.5.1:8300", true, false),
        sv("f1", "bmid", "10.0.6.1:8300", true, false),
    };
    /* far: 0.010, 0.200, 0.300 -> median 0.200 (one close server does not make it near) */
    t[0].rtt_s = 0.010, t[1].rtt_s = 0.200, t[2].rtt_s = 0.300;
    /* near: 0.020, 0.040 -> the element at n/2: 0.040 */
    t[3].rtt_s = 0.020, t[4].rtt_s = 0.040;
    /* dark: no coordinate known. mid: 0.100 (the left server's 0.001 ignored) */
    t[6].rtt_s = 0.100, t[7].rtt_s = 0.001;
    t[8].rtt_s = 0.500; /* the local datacenter: first anyway */
    t[9].rtt_s = 0.100; /* bmid ties with mid: by name */
    char out[8][WAN_DC_MAX];
    size_t n = wan_datacenters(t, 10, "dc1", out, 8);
    assert_int_equal(n, 6);
    const char *want[] = {"dc1", "near", "bmid", "mid", "far", "dark"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(out[i], want[i]);
}

static void test_dc_servers(void **state)
{
    (void)state;
    struct wan_server t[] = {
        sv("b", "dc2", "10.0.2.9:8300", true, false),
        sv("a", "dc2", "10.0.2.1:8300", true, false),
        sv("x", "dc2", "10.0.2.5:8300", false, false), /* failed */
        sv("c", "dc3", "10.0.3.1:8300", true, false),
    };
    const char *a[4];
    size_t n = wan_dc_servers(t, 4, "dc2", a, 4);
    assert_int_equal(n, 2);
    assert_string_equal(a[0], "10.0.2.1:8300");
    assert_string_equal(a[1], "10.0.2.9:8300");
    assert_int_equal(wan_dc_servers(t, 4, "dc2", a, 1), 2);
    assert_int_equal(wan_dc_servers(t, 4, "dc4", a, 4), 0);
    t[3].alive = false;
    assert_int_equal(wan_dc_servers(t, 4, "dc3", a, 4), 0); /* known, none alive */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_of),         cmocka_unit_test(test_server_of_refuses),
        cmocka_unit_test(test_datacenters_order), cmocka_unit_test(test_datacenters_by_rtt),
        cmocka_unit_test(test_dc_servers),        cmocka_unit_test(test_flood_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
