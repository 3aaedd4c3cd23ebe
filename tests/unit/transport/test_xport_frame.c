/* Unit tests of the pure wire codec: hellos and the incremental frame decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "transport/transport.h"

struct got {
    int n;
    uint8_t type[16];
    size_t len[16];
    char data[16][256];
    int stop_after; /* 0: never */
};

static int collect(void *arg, uint8_t type, const void *p, size_t len)
{
    struct got *g = arg;
    if (g->n < 16) {
        g->type[g->n] = type;
        g->len[g->n] = len;
        memcpy(g->data[g->n], p, len < 256 ? len : 256);
    }
    g->n++;
    return g->stop_after && g->n >= g->stop_after ? 7 : 0;
}

static size_t put_frame(uint8_t *out, uint8_t type, uint8_t flags, const char *s)
{
    size_t n = strlen(s);
    xport_frame_header(out, type, flags, s, (uint32_t)n);
    memcpy(out + XPORT_FRAME_HDR, s, n);
    return XPORT_FRAME_HDR + n;
}

static void test_hello_roundtrip(void **state)
{
    struct xport_hello h = {.version = XPORT_VERSION, .node_id = 42};
    strcpy(h.cluster, "dc1-cluster");
    uint8_t b[XPORT_HELLO_MAX];
    size_t len;
    assert_int_equal(xport_hello_encode(&h, b, sizeof(b), &len), 0);
    assert_memory_equal(b, "CAIRNRPC", 8);
    struct xport_hello g;
    size_t used = 0;
    /* Every prefix asks for more; the whole decodes. */
    for (size_t i = 0; i < len; i++)
        assert_int_equal(xport_hello_decode(b, i, &g, &used, NULL, 0), CN_EAGAIN);
    assert_int_equal(xport_hello_decode(b, len, &g, &used, NULL, 0), 0);
    assert_int_equal(used, len);
    assert_int_equal(g.node_id, 42);
    assert_string_equal(g.cluster, "dc1-cluster");
    /* Trailing bytes (the first frames) are not consumed. */
    assert_int_equal(xport_hello_decode(b, sizeof(b), &g, &used, NULL, 0), 0);
    assert_int_equal(used, len);
}

static void test_hello_encode_rejects(void **state)
{
    struct xport_hello h = {.version = 1, .node_id = 1};
    uint8_t b[XPORT_HELLO_MAX];
    size_t len;
    assert_int_equal(xport_hello_encode(&h, b, sizeof(b), &len), CN_EINVAL); /* empty cluster */
    strcpy(h.cluster, "a b");
    assert_int_equal(xport_hello_encode(&h, b, sizeof(b), &len), CN_EINVAL);
    strcpy(h.cluster, "ok");
    h.node_id = 0;
    assert_int_equal(xport_hello_encode(&h, b, sizeof(b), &len), CN_EINVAL);
    h.node_id = 3;
    assert_int_equal(xport_hello_encode(&h, b, 10, &len), CN_EINVAL);
}

static void test_hello_refusals(void **state)
{
    struct xport_hello h = {.version = XPORT_VERSION, .node_id = 9};
    strcpy(h.cluster, "c");
    uint8_t b[XPORT_HELLO_MAX];
    size_t len, used;
    char err[128];
    struct xport_hello g;
    assert_int_equal(xport_hello_encode(&h, b, sizeof(b), &len), 0);

    /* Another protocol is refused on its first bytes. */
    assert_int_equal(xport_hello_decode("GET", 3, &g, &used, err, sizeof(err)), CN_EPROTO);
    assert_non_null(strstr(err, "bad magic"));

    /* Another version: refused, and the version is reported. */
    uint8_t v[XPORT_HELLO_MAX];
    memcpy(v, b, len);
    v[8] = 1;
    assert_int_equal(xport_hello_decode(v, 10, &g, &used, err, sizeof(err)), CN_EPROTO);
    assert_int_equal(g.version, 1);
    assert_string_equal(err, "protocol version 1, we speak 2");

    /* A flipped byte anywhere after the version fails the checksum. */
    for (size_t i = 10; i < len; i++) {
        memcpy(v, b, len);
        v[i] ^= 0x01;
        int rc = xport_hello_decode(v, len, &g, &used, err, sizeof(err));
        if (i == 18) /* the cluster length: now asks for one more byte */
            assert_true(rc == CN_EAGAIN || rc == CN_ECORRUPT);
        else
            assert_int_equal(rc, CN_ECORRUPT);
    }
}

static void test_decoder_split_any_way(void **state)
{
    uint8_t wire[512];
    size_t n = 0;
    n += put_frame(wire + n, XPORT_RAFT_MSG, 0, "hello");
    n += put_frame(wire + n, XPORT_FORWARD_REQ, 0, "");
    n += put_frame(wire + n, XPORT_RAFT_MSG, 0, "world!");
    for (size_t step = 1; step <= n; step++) {
        struct xport_decoder d;
        struct got g = {0};
        xport_decoder_init(&d, 1024);
        for (size_t off = 0; off < n; off += step) {
            size_t k = n - off < step ? n - off : step;
            assert_int_equal(xport_decoder_feed(&d, wire + off, k, collect, &g, NULL, 0), 0);
        }
        assert_true(xport_decoder_idle(&d));
        assert_int_equal(g.n, 3);
        assert_int_equal(g.type[0], XPORT_RAFT_MSG);
        assert_memory_equal(g.data[0], "hello", 5);
        assert_int_equal(g.len[1], 0);
        assert_int_equal(g.type[1], XPORT_FORWARD_REQ);
        assert_memory_equal(g.data[2], "world!", 6);
        xport_decoder_free(&d);
    }
}

static void test_decoder_fragments(void **state)
{
    uint8_t wire[512];
    size_t n = 0;
    n += put_frame(wire + n, XPORT_RAFT_MSG, XPORT_F_MORE, "abc");
    n += put_frame(wire + n, XPORT_FORWARD_REQ, 0, "small"); /* slips in between */
    n += put_frame(wire + n, XPORT_RAFT_MSG, XPORT_F_MORE, "def");
    n += put_frame(wire + n, XPORT_RAFT_MSG, XPORT_F_LAST, "gh");
    struct xport_decoder d;
    struct got g = {0};
    xport_decoder_init(&d, 1024);
    assert_int_equal(xport_decoder_feed(&d, wire, n - 3, collect, &g, NULL, 0), 0);
    assert_false(xport_decoder_idle(&d)); /* a truncated frame */
    assert_int_equal(xport_decoder_feed(&d, wire + n - 3, 3, collect, &g, NULL, 0), 0);
    assert_true(xport_decoder_idle(&d));
    assert_int_equal(g.n, 2);
    assert_int_equal(g.type[0], XPORT_FORWARD_REQ);
    assert_int_equal(g.type[1], XPORT_RAFT_MSG);
    assert_int_equal(g.len[1], 8);
    assert_memory_equal(g.data[1], "abcdefgh", 8);
    assert_int_equal(d.frames, 4);
    xport_decoder_free(&d);
}

static int feed_err(const uint8_t *wire, size_t n, size_t max, char *err)
{
    struct xport_decoder d;
    struct got g = {0};
    xport_decoder_init(&d, max);
    int rc = xport_decoder_feed(&d, wire, n, collect, &g, err, 160);
    xport_decoder_free(&d);
    assert_int_equal(g.n, rc == 0 ? 1 : 0); /* nothing delivered before an error */
    return rc;
}

static void test_decoder_errors(void **state)
{
    uint8_t wire[512];
    char err[160];
    size_t n = put_frame(wire, XPORT_RAFT_MSG, 0, "payload");

    /* Bad CRC: payload byte flipped, then the type byte. */
    wire[XPORT_FRAME_HDR + 2] ^= 0x20;
    assert_int_equal(feed_err(wire, n, 1024, err), CN_ECORRUPT);
    assert_non_null(strstr(err, "checksum"));
    wire[XPORT_FRAME_HDR + 2] ^= 0x20;
    wire[4] = XPORT_FORWARD_REQ;
    assert_int_equal(feed_err(wire, n, 1024, err), CN_ECORRUPT);

    /* Oversized: refused on the header alone, before any payload arrives. */
    n = put_frame(wire, XPORT_RAFT_MSG, 0, "");
    cn_put_u32(wire, 0xfffffff0u);
    assert_int_equal(feed_err(wire, XPORT_FRAME_HDR, 1024, err), CN_ETOOBIG);
    assert_non_null(strstr(err, "limit"));
    n = put_frame(wire, XPORT_RAFT_MSG, 0, "0123456789");
    assert_int_equal(feed_err(wire, n, 9, err), CN_ETOOBIG);
    assert_int_equal(feed_err(wire, n, 10, err), 0);

    /* Unknown types, bad fragment sequences. */
    n = put_frame(wire, 0, 0, "x");
    assert_int_equal(feed_err(wire, n, 1024, err), CN_EPROTO);
    n = put_frame(wire, 9, 0, "x");
    assert_int_equal(feed_err(wire, n, 1024, err), CN_EPROTO);
    n = put_frame(wire, XPORT_TYPE__MAX + 1, 0, "");
    assert_int_equal(feed_err(wire, n, 1024, err), CN_EPROTO);
    assert_non_null(strstr(err, "unknown frame type 9"));
    n = put_frame(wire, XPORT_RAFT_MSG, XPORT_F_LAST, "x");
    assert_int_equal(feed_err(wire, n, 1024, err), CN_EPROTO);
    n = put_frame(wire, XPORT_RAFT_MSG, XPORT_F_LAST | XPORT_F_MORE, "x");
    assert_int_equal(feed_err(wire, n, 1024, err), CN_EPROTO);
    n = put_frame(wire, XPORT_RAFT_MSG, XPORT_F_MORE, "x");
    n += put_frame(wire + n, XPORT_FORWARD_RESP, XPORT_F_LAST, "y");
    assert_int_equal(feed_err(wire, n, 1024, err), CN_EPROTO);

    /* A reassembled message over the limit, though each fragment is under. */
    n = put_frame(wire, XPORT_RAFT_MSG, XPORT_F_MORE, "0123456");
    n += put_frame(wire + n, XPORT_RAFT_MSG, XPORT_F_LAST, "0123456");
    assert_int_equal(feed_err(wire, n, 10, err), CN_ETOOBIG);
    assert_int_equal(feed_err(wire, n, 14, err), 0);
}

/* A KEEPALIVE is an ordinary frame to the codec (9 bytes, empty): the
 * transport, not the decoder, keeps it from the application. */
static void test_decoder_keepalive(void **state)
{
    uint8_t wire[64];
    size_t n = put_frame(wire, XPORT_KEEPALIVE, 0, "");
    assert_int_equal(n, XPORT_FRAME_HDR);
    n += put_frame(wire + n, XPORT_RAFT_MSG, 0, "m");
    n += put_frame(wire + n, XPORT_KEEPALIVE, 0, "");
    struct xport_decoder d;
    struct got g = {0};
    xport_decoder_init(&d, 1024);
    assert_int_equal(xport_decoder_feed(&d, wire, n, collect, &g, NULL, 0), 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.type[0], XPORT_KEEPALIVE);
    assert_int_equal(g.len[0], 0);
    assert_int_equal(g.type[1], XPORT_RAFT_MSG);
    assert_int_equal(g.type[2], XPORT_KEEPALIVE);
    assert_true(xport_decoder_idle(&d));
    xport_decoder_free(&d);
}

static void test_decoder_stop_and_oom(void **state)
{
    uint8_t wire[512];
    size_t n = 0;
    n += put_frame(wire + n, XPORT_RAFT_MSG, 0, "one");
    n += put_frame(wire + n, XPORT_RAFT_MSG, 0, "two");
    struct xport_decoder d;
    struct got g = {.stop_after = 1};
    xport_decoder_init(&d, 1024);
    assert_int_equal(xport_decoder_feed(&d, wire, n, collect, &g, NULL, 0), 7);
    assert_int_equal(g.n, 1);
    xport_decoder_free(&d);

    /* A split payload needs a buffer: without memory, CN_ENOMEM, no crash. */
    g = (struct got){0};
    xport_decoder_init(&d, 1024);
    cn_mem_fail_after(0);
    assert_int_equal(xport_decoder_feed(&d, wire, 10, collect, &g, NULL, 0), CN_ENOMEM);
    cn_mem_fail_after(-1);
    xport_decoder_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_roundtrip),      cmocka_unit_test(test_hello_encode_rejects),
        cmocka_unit_test(test_hello_refusals),       cmocka_unit_test(test_decoder_split_any_way),
        cmocka_unit_test(test_decoder_fragments),    cmocka_unit_test(test_decoder_errors),
        cmocka_unit_test(test_decoder_stop_and_oom), cmocka_unit_test(test_decoder_keepalive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
