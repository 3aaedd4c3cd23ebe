/* tests/unit/gossip/test_gossip_codec.c: the gossip wire codec (strict,
 * canonical), tags, and the encryption key format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "gossip/codec.h"
#include "gossip/net.h"

static void build(struct cn_buf *b, const char *cluster, const struct gossip_msg *msgs, unsigned n)
{
    struct gossip_hdr h = {.port = 8301};
    snprintf(h.cluster, sizeof(h.cluster), "%s", cluster);
    snprintf(h.name, sizeof(h.name), "node-a");
    snprintf(h.host, sizeof(h.host), "10.0.0.2");
    size_t off;
    assert_int_equal(gossip_enc_hdr(b, &h, &off), 0);
    b->p[off] = (char)n;
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(gossip_enc_msg(b, &msgs[i]), 0);
}

static void test_roundtrip_and_strictness(void **state)
{
    (void)state;
    struct cn_buf tags = CN_BUF_INIT;
    assert_int_equal(gossip_tags_put(&tags, "role", "consul"), 0);
    assert_int_equal(gossip_tags_put(&tags, "segment", ""), 0);
    struct gossip_msg m[3];
    memset(m, 0, sizeof(m));
    m[0].type = GMSG_PING;
    m[0].seq = 42;
    snprintf(m[0].node, sizeof(m[0].node), "node-b");
    m[1].type = GMSG_ALIVE;
    m[1].inc = 7;
    snprintf(m[1].node, sizeof(m[1].node), "node-c");
    snprintf(m[1].host, sizeof(m[1].host), "10.0.0.3");
    m[1].port = 8302;
    m[1].tags = (const uint8_t *)tags.p;
    m[1].tags_len = tags.len;
    m[2].type = GMSG_DEAD;
    m[2].inc = 3;
    snprintf(m[2].node, sizeof(m[2].node), "node-d");
    snprintf(m[2].from, sizeof(m[2].from), "node-d");
    struct cn_buf b = CN_BUF_INIT;
    build(&b, "dc1", m, 3);
    assert_int_equal(gossip_msg_size(&m[1]) + gossip_msg_size(&m[0]) + gossip_msg_size(&m[2]),
                     b.len - (3 + 4 + 7 + 9 + 2 + 1));
    struct gossip_pkt pkt;
    char err[128];
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), 0);
    assert_string_equal(pkt.hdr.cluster, "dc1");
    assert_string_equal(pkt.hdr.name, "node-a");
    assert_int_equal(pkt.hdr.port, 8301);
    size_t off = 0;
    struct gossip_msg d;
    assert_int_equal(gossip_pkt_next(&pkt, &off, &d), 1);
    assert_int_equal(d.type, GMSG_PING);
    assert_int_equal(d.seq, 42);
    assert_int_equal(gossip_pkt_next(&pkt, &off, &d), 1);
    assert_int_equal(d.type, GMSG_ALIVE);
    assert_int_equal(d.inc, 7);
    assert_string_equal(d.host, "10.0.0.3");
    char v[32];
    assert_int_equal(gossip_tags_get(d.tags, d.tags_len, "role", v, sizeof(v)), 0);
    assert_string_equal(v, "consul");
    assert_int_equal(gossip_pkt_next(&pkt, &off, &d), 1);
    assert_int_equal(d.type, GMSG_DEAD);
    assert_int_equal(gossip_pkt_next(&pkt, &off, &d), 0);

    /* every proper prefix is refused, with a reason */
    for (size_t n = 0; n < b.len; n++) {
        err[0] = '\0';
        assert_int_equal(gossip_pkt_decode(b.p, n, false, &pkt, err, sizeof(err)), CN_ECORRUPT);
        assert_true(err[0]);
    }
    /* a trailing byte, a datagram sent as a stream, another version */
    assert_int_equal(cn_buf_putc(&b, 0), 0);
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), CN_ECORRUPT);
    assert_string_equal(err, "trailing bytes");
    b.len--;
    assert_int_equal(gossip_pkt_decode(b.p, b.len, true, &pkt, err, sizeof(err)), CN_ECORRUPT);
    b.p[2] = 2;
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), CN_ECORRUPT);
    assert_string_equal(err, "unsupported gossip version 2");
    cn_buf_free(&b);
    cn_buf_free(&tags);
}

/* The ACK's optional coordinate trailer: present or absent, both decode; a
 * trailer of another length, version or dimensionality refuses the packet;
 * a NaN travels (the receiver refuses it, not the codec). */
static void test_ack_coordinate_trailer(void **state)
{
    (void)state;
    struct gossip_msg m[2];
    memset(m, 0, sizeof(m));
    m[0].type = GMSG_ACK;
    m[0].seq = 9;
    m[1].type = GMSG_ACK;
    m[1].seq = 10;
    m[1].has_coord = true;
    for (int i = 0; i < COORD_DIM; i++)
        m[1].coord.vec[i] = 0.001 * i;
    m[1].coord.error = 0.4;
    m[1].coord.adjustment = -0.00002;
    m[1].coord.height = __builtin_nan("");
    assert_int_equal(gossip_msg_size(&m[0]), 3 + 4);
    assert_int_equal(gossip_msg_size(&m[1]), 3 + 4 + COORD_WIRE_LEN);
    struct cn_buf b = CN_BUF_INIT;
    build(&b, "dc1", m, 2);
    struct gossip_pkt pkt;
    char err[128];
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), 0);
    size_t off = 0;
    struct gossip_msg d;
    assert_int_equal(gossip_pkt_next(&pkt, &off, &d), 1);
    assert_int_equal(d.seq, 9);
    assert_false(d.has_coord);
    assert_int_equal(gossip_pkt_next(&pkt, &off, &d), 1);
    assert_int_equal(d.seq, 10);
    assert_true(d.has_coord);
    assert_memory_equal(&d.coord, &m[1].coord, sizeof(d.coord));
    /* canonical: re-encoding gives the same bytes */
    struct cn_buf again = CN_BUF_INIT;
    build(&again, "dc1", m, 2);
    assert_memory_equal(again.p, b.p, b.len);
    cn_buf_free(&again);
    /* the trailer's version byte, then its dimensionality byte */
    size_t tr = b.len - COORD_WIRE_LEN;
    b.p[tr] = 2;
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), CN_ECORRUPT);
    assert_string_equal(err, "bad ack coordinate");
    b.p[tr] = COORD_WIRE_VERSION;
    b.p[tr + 1] = 4;
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), CN_ECORRUPT);
    cn_buf_free(&b);
    /* a short trailer (one byte after the seq) */
    struct gossip_msg one;
    memset(&one, 0, sizeof(one));
    one.type = GMSG_NACK;
    one.seq = 1;
    build(&b, "dc1", &one, 1);
    b.p[b.len - 7] = GMSG_ACK;
    b.p[b.len - 6] = 5;
    assert_int_equal(cn_buf_putc(&b, 1), 0);
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), CN_ECORRUPT);
    assert_string_equal(err, "bad ack coordinate");
    cn_buf_free(&b);
}

static void test_other_cluster_refused(void **state)
{
    (void)state;
    struct gossip_config c;
    gossip_config_default(&c);
    c.name = "me";
    c.host = "10.0.0.1";
    c.port = 8301;
    c.cluster = "dc1";
    struct gossip *g = gossip_new(&c, 0);
    assert_non_null(g);
    struct gossip_msg m;
    memset(&m, 0, sizeof(m));
    m.type = GMSG_ALIVE;
    m.inc = 1;
    snprintf(m.node, sizeof(m.node), "intruder");
    snprintf(m.host, sizeof(m.host), "10.9.9.9");
    m.port = 8301;
    struct cn_buf b = CN_BUF_INIT;
    build(&b, "dc2", &m, 1);
    assert_int_equal(gossip_recv(g, b.p, b.len, 1), CN_EPROTO);
    assert_int_equal(gossip_num_members(g), 1);
    assert_int_equal(gossip_recv(g, "garbage", 7, 1), CN_ECORRUPT);
    struct gossip_stats st;
    gossip_get_stats(g, &st);
    assert_int_equal(st.dropped_cluster, 1);
    assert_int_equal(st.dropped_malformed, 1);
    cn_buf_reset(&b);
    build(&b, "dc1", &m, 1);
    assert_int_equal(gossip_recv(g, b.p, b.len, 2), 0);
    assert_int_equal(gossip_num_members(g), 2);
    cn_buf_free(&b);
    gossip_free(g);
}

static void test_tags(void **state)
{
    (void)state;
    struct cn_buf t = CN_BUF_INIT;
    assert_int_equal(gossip_tags_put(&t, "a", "1"), 0);
    assert_int_equal(gossip_tags_put(&t, "a", "2"), CN_EINVAL); /* unique keys */
    assert_int_equal(gossip_tags_put(&t, "", "2"), CN_EINVAL);
    char big[256];
    memset(big, 'x', 255);
    big[255] = '\0';
    assert_int_equal(gossip_tags_put(&t, "b", big), 0);
    assert_int_equal(gossip_tags_put(&t, "c", big), CN_ETOOBIG); /* 512 bytes in all */
    assert_int_equal(gossip_tags_valid((const uint8_t *)t.p, t.len), 0);
    const uint8_t bad[] = {1, 'k', 5, 'v'}; /* value runs past the end */
    assert_int_not_equal(gossip_tags_valid(bad, sizeof(bad)), 0);
    cn_buf_free(&t);
}

static void test_keys(void **state)
{
    (void)state;
    uint8_t k[32];
    size_t n = 0;
    char gen[64];
    assert_int_equal(gossip_key_generate(gen), 0);
    assert_int_equal(strlen(gen), 44);
    assert_int_equal(gossip_key_decode(gen, k, &n), 0);
    assert_int_equal(n, 32);
    assert_int_equal(gossip_key_decode("AAAAAAAAAAAAAAAAAAAAAA==", k, &n), 0); /* 16 bytes */
    assert_int_equal(n, 16);
    assert_int_equal(gossip_key_decode("AAAA", k, &n), CN_EINVAL);
    assert_int_equal(gossip_key_decode("not base64 at all!!!", k, &n), CN_EINVAL);
    assert_int_equal(gossip_key_decode("", k, &n), CN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_strictness),
        cmocka_unit_test(test_ack_coordinate_trailer),
        cmocka_unit_test(test_other_cluster_refused),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
