/* tests/unit/gossip/test_gossip_keyring.c: the keyring (memberlist's
 * semantics and texts), its file (serf/local.keyring: parse, encode, write,
 * load), the encryption layer trying every key of the ring and the
 * verify_incoming rule, the query messages of the codec, and a keyring
 * query in a pool of three cores with direct delivery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "gossip/codec.h"
#include "gossip/crypt.h"
#include "gossip/gossip.h"
#include "gossip/keyfile.h"
#include "gossip/keyring.h"

static struct gossip_key mk(uint8_t fill, uint8_t len)
{
    struct gossip_key k;
    memset(&k, 0, sizeof(k));
    k.len = len;
    memset(k.k, fill, len);
    return k;
}

static void test_semantics(void **state)
{
    (void)state;
    struct gossip_keyring kr;
    memset(&kr, 0, sizeof(kr));
    struct gossip_key a = mk(1, 32), b = mk(2, 16), c = mk(3, 24);
    char err[128] = "";
    uint8_t bad[10] = {0};
    assert_int_equal(gossip_keyring_add(&kr, bad, sizeof(bad), err, sizeof(err)), CN_EINVAL);
    assert_string_equal(err, "key size must be 16, 24 or 32 bytes");
    assert_int_equal(gossip_keyring_add(&kr, a.k, a.len, err, sizeof(err)), 0);
    assert_int_equal(gossip_keyring_add(&kr, b.k, b.len, err, sizeof(err)), 0);
    assert_int_equal(gossip_keyring_add(&kr, b.k, b.len, err, sizeof(err)), 0); /* no-op */
    assert_int_equal(kr.n, 2);
    assert_int_equal(gossip_keyring_find(&kr, a.k, a.len), 0); /* the first is primary */
    assert_int_equal(gossip_keyring_use(&kr, c.k, c.len, err, sizeof(err)), CN_ENOTFOUND);
    assert_string_equal(err, "Requested key is not in the keyring");
    assert_int_equal(gossip_keyring_add(&kr, c.k, c.len, err, sizeof(err)), 0);
    assert_int_equal(gossip_keyring_use(&kr, c.k, c.len, err, sizeof(err)), 0);
    assert_int_equal(gossip_keyring_find(&kr, c.k, c.len), 0);
    assert_int_equal(gossip_keyring_find(&kr, a.k, a.len), 1); /* the others keep their order */
    assert_int_equal(gossip_keyring_find(&kr, b.k, b.len), 2);
    assert_int_equal(gossip_keyring_remove(&kr, c.k, c.len, err, sizeof(err)), CN_EINVAL);
    assert_string_equal(err, "Removing the primary key is not allowed");
    assert_int_equal(gossip_keyring_remove(&kr, a.k, a.len, err, sizeof(err)), 0);
    assert_int_equal(gossip_keyring_remove(&kr, a.k, a.len, err, sizeof(err)), 0); /* absent */
    assert_int_equal(kr.n, 2);
    /* bounded */
    for (uint8_t i = 10; kr.n < GOSSIP_KEYRING_MAX; i++) {
        struct gossip_key k = mk(i, 32);
        assert_int_equal(gossip_keyring_add(&kr, k.k, k.len, err, sizeof(err)), 0);
    }
    struct gossip_key x = mk(200, 32);
    assert_int_equal(gossip_keyring_add(&kr, x.k, x.len, err, sizeof(err)), CN_ETOOBIG);
}

static void test_b64(void **state)
{
    (void)state;
    struct gossip_key k;
    char err[128];
    assert_int_equal(gossip_key_from_b64("AAAAAAAAAAAAAAAAAAAAAA==", &k, err, sizeof(err)), 0);
    assert_int_equal(k.len, 16);
    char out[GOSSIP_KEY_B64];
    gossip_key_to_b64(&k, out);
    assert_string_equal(out, "AAAAAAAAAAAAAAAAAAAAAA==");
    assert_int_equal(gossip_key_from_b64("AAAAAAAAAAAAAAAAAAAAAA", &k, err, sizeof(err)),
                     CN_EINVAL); /* Go's StdEncoding wants the padding */
    assert_non_null(strstr(err, "illegal base64 data at input byte"));
    assert_int_equal(gossip_key_from_b64("AAAA!AAAAAAAAAAAAAAAAA==", &k, err, sizeof(err)),
                     CN_EINVAL);
    assert_string_equal(err, "illegal base64 data at input byte 4");
    assert_int_equal(gossip_key_from_b64("AAAAAAAAAAAAAA==", &k, err, sizeof(err)), CN_EINVAL);
    assert_string_equal(err, "key size must be 16, 24 or 32 bytes");
}

static void test_file(void **state)
{
    (void)state;
    struct gossip_keyring kr, back;
    memset(&kr, 0, sizeof(kr));
    kr.keys[kr.n++] = mk(7, 32);
    kr.keys[kr.n++] = mk(9, 16);
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(gossip_keyring_encode(&kr, &b), 0);
    char err[256];
    assert_int_equal(gossip_keyring_parse(b.p, b.len, &back, err, sizeof(err)), 0);
    assert_true(gossip_keyring_equal(&kr, &back));
    /* the file serf writes: an indented JSON list, primary first */
    assert_memory_equal(b.p, "[\n  \"BwcH", 9);

    const char *bad[] = {
        "",
        "{}",
        "[]",
        "[1]",
        "[\"AAAA\"]",
        "[\"AAAAAAAAAAAAAAAAAAAAAA==\", \"AAAAAAAAAAAAAAAAAAAAAA==\"]",
        "[\"AAAAAAAAAAAAAAAAAAAAAA==\"] x",
        "[\"AAAAAAAAAAAAAAAAAAAAAA==\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_not_equal(gossip_keyring_parse(bad[i], strlen(bad[i]), &back, err, sizeof(err)),
                             0);
        assert_true(err[0] != '\0');
        assert_int_equal(back.n, 0);
    }
    assert_int_equal(gossip_keyring_parse("[]", 2, &back, err, sizeof(err)), CN_EINVAL);
    assert_string_equal(err, "no keys present in keyring");

    /* write and load through the disk */
    char dir[] = "/tmp/cn-keyring-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/serf/local.keyring", dir);
    assert_int_equal(gossip_keyring_load_file(path, &back, err, sizeof(err)), CN_ENOTFOUND);
    assert_int_equal(gossip_keyring_write_file(path, b.p, b.len, err, sizeof(err)), 0);
    assert_int_equal(gossip_keyring_load_file(path, &back, err, sizeof(err)), 0);
    assert_true(gossip_keyring_equal(&kr, &back));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[\"nope\"]", f);
    fclose(f);
    assert_int_equal(gossip_keyring_load_file(path, &back, err, sizeof(err)), CN_EINVAL);
    assert_non_null(strstr(err, "keyring file"));
    unlink(path);
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/serf", dir);
    rmdir(sub);
    rmdir(dir);
    cn_buf_free(&b);
}

static void test_crypt_several_keys(void **state)
{
    (void)state;
    struct gossip_keyring old, both, fresh, none;
    memset(&old, 0, sizeof(old));
    memset(&none, 0, sizeof(none));
    struct gossip_key a = mk(1, 32), b = mk(2, 24);
    old.keys[old.n++] = a;
    both = old;
    both.keys[both.n++] = b;
    memset(&fresh, 0, sizeof(fresh));
    fresh.keys[fresh.n++] = b;
    const uint8_t msg[] = "cg\x01 a gossip packet";
    struct cn_buf sealed = CN_BUF_INIT, out = CN_BUF_INIT;
    /* sealed with b: both and fresh open it (any key of the ring), old not */
    assert_int_equal(gossip_seal(&b, msg, sizeof(msg), &sealed), 0);
    assert_true(gossip_is_sealed((const uint8_t *)sealed.p, sealed.len));
    size_t which = 99;
    assert_int_equal(gossip_open(&both, (const uint8_t *)sealed.p, sealed.len, &out, &which), 0);
    assert_int_equal(which, 1);
    assert_memory_equal(out.p, msg, sizeof(msg));
    assert_int_equal(gossip_open(&fresh, (const uint8_t *)sealed.p, sealed.len, &out, &which), 0);
    assert_int_equal(which, 0);
    assert_int_equal(gossip_open(&old, (const uint8_t *)sealed.p, sealed.len, &out, NULL),
                     CN_ECORRUPT);
    /* a flipped bit fails authentication with every key */
    sealed.p[sealed.len - 1] ^= 1;
    assert_int_equal(gossip_open(&both, (const uint8_t *)sealed.p, sealed.len, &out, NULL),
                     CN_ECORRUPT);
    /* unwrap: plain accepted without a keyring or with verify_incoming off */
    const uint8_t *body;
    size_t blen;
    assert_int_equal(gossip_unwrap(&none, true, msg, sizeof(msg), &out, &body, &blen), 0);
    assert_ptr_equal(body, msg);
    assert_int_equal(gossip_unwrap(&old, true, msg, sizeof(msg), &out, &body, &blen), CN_ECORRUPT);
    assert_int_equal(gossip_unwrap(&old, false, msg, sizeof(msg), &out, &body, &blen), 0);
    /* sealed: opened whatever verify_incoming says; without a ring, dropped */
    assert_int_equal(gossip_seal(&a, msg, sizeof(msg), &sealed), 0);
    assert_int_equal(
        gossip_unwrap(&both, false, (const uint8_t *)sealed.p, sealed.len, &out, &body, &blen), 0);
    assert_int_equal(blen, sizeof(msg));
    assert_int_equal(
        gossip_unwrap(&none, false, (const uint8_t *)sealed.p, sealed.len, &out, &body, &blen),
        CN_ECORRUPT);
    /* truncated below the overhead */
    assert_int_equal(gossip_open(&both, (const uint8_t *)sealed.p, 20, &out, NULL), CN_ECORRUPT);
    cn_buf_free(&sealed);
    cn_buf_free(&out);
}

static void build(struct cn_buf *b, const struct gossip_msg *m)
{
    struct gossip_hdr h = {.port = 8301};
    snprintf(h.cluster, sizeof(h.cluster), "dc1");
    snprintf(h.name, sizeof(h.name), "node-a");
    snprintf(h.host, sizeof(h.host), "10.0.0.2");
    size_t off;
    assert_int_equal(gossip_enc_hdr(b, &h, &off), 0);
    b->p[off] = 1;
    assert_int_equal(gossip_enc_msg(b, m), 0);
}

static void test_query_codec(void **state)
{
    (void)state;
    struct gossip_msg q;
    memset(&q, 0, sizeof(q));
    q.type = GMSG_QUERY;
    q.seq = 77;
    snprintf(q.node, sizeof(q.node), "node-a");
    snprintf(q.host, sizeof(q.host), "10.0.0.2");
    q.port = 8301;
    q.relay = 2;
    q.op = GOSSIP_QOP_INSTALL;
    q.key_len = 32;
    memset(q.key, 5, 32);
    struct cn_buf b = CN_BUF_INIT;
    build(&b, &q);
    struct gossip_pkt pkt;
    char err[128];
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), 0);
    size_t off = 0;
    struct gossip_msg m;
    assert_int_equal(gossip_pkt_next(&pkt, &off, &m), 1);
    assert_int_equal(m.type, GMSG_QUERY);
    assert_int_equal(m.seq, 77);
    assert_int_equal(m.relay, 2);
    assert_int_equal(m.op, GOSSIP_QOP_INSTALL);
    assert_int_equal(m.key_len, 32);
    assert_memory_equal(m.key, q.key, 32);
    assert_int_equal(gossip_msg_size(&q), b.len - (3 + 4 + 7 + 9 + 2 + 1));
    /* a list carries no key; a bad op, relay factor or key size is refused */
    q.op = GOSSIP_QOP_LIST;
    cn_buf_reset(&b);
    build(&b, &q);
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), CN_ECORRUPT);
    assert_string_equal(err, "bad query key size");
    q.op = 9;
    cn_buf_reset(&b);
    build(&b, &q);
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), CN_ECORRUPT);
    q.op = GOSSIP_QOP_USE;
    q.relay = 6;
    cn_buf_reset(&b);
    build(&b, &q);
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), CN_ECORRUPT);

    /* QRELAY with two keys */
    uint8_t keys[1 + 16 + 1 + 32];
    keys[0] = 16;
    memset(keys + 1, 1, 16);
    keys[17] = 32;
    memset(keys + 18, 2, 32);
    struct gossip_msg r;
    memset(&r, 0, sizeof(r));
    r.type = GMSG_QRELAY;
    r.seq = 78;
    snprintf(r.node, sizeof(r.node), "node-c");
    snprintf(r.host, sizeof(r.host), "10.0.0.9");
    r.port = 8302;
    r.ok = false;
    snprintf(r.text, sizeof(r.text), "Removing the primary key is not allowed");
    r.nkeys = 2;
    r.keys = keys;
    r.keys_len = sizeof(keys);
    cn_buf_reset(&b);
    build(&b, &r);
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), 0);
    off = 0;
    assert_int_equal(gossip_pkt_next(&pkt, &off, &m), 1);
    assert_int_equal(m.type, GMSG_QRELAY);
    assert_string_equal(m.host, "10.0.0.9");
    assert_string_equal(m.text, "Removing the primary key is not allowed");
    assert_int_equal(m.nkeys, 2);
    assert_int_equal(m.keys_len, sizeof(keys));
    assert_int_equal(gossip_msg_size(&r), b.len - (3 + 4 + 7 + 9 + 2 + 1));
    /* a key of 20 bytes in an answer is refused */
    keys[0] = 20;
    cn_buf_reset(&b);
    build(&b, &r);
    assert_int_equal(gossip_pkt_decode(b.p, b.len, false, &pkt, err, sizeof(err)), CN_ECORRUPT);
    cn_buf_free(&b);
}

/* ---- a pool of three cores, packets delivered at once (no loss) -------------- */

struct pool {
    struct gossip *g[3];
    struct gossip_query_done done;
    struct gossip_qresp resp[3];
    int ndone, changed[3];
};

static int idx_of(uint16_t port)
{
    return port - 9001;
}

static void pump(struct pool *p, uint64_t now)
{
    for (int round = 0; round < 200; round++) {
        bool any = false;
        for (int i = 0; i < 3; i++) {
            struct gossip_update u;
            while (gossip_ready(p->g[i], &u)) {
                any = true;
                p->changed[i] += u.keyring_changed;
                for (size_t k = 0; k < u.nqdone; k++) {
                    p->done = u.qdone[k];
                    for (size_t r = 0; r < u.qdone[k].nresp && r < 3; r++)
                        p->resp[r] = u.qdone[k].resp[r];
                    p->done.resp = p->resp;
                    p->ndone++;
                }
                for (size_t k = 0; k < u.nouts; k++) {
                    int to = idx_of(u.outs[k].port);
                    if (u.outs[k].stream || to < 0 || to > 2)
                        continue;
                    gossip_recv(p->g[to], u.outs[k].data, u.outs[k].len, now);
                }
                gossip_done(p->g[i], &u);
            }
        }
        if (!any)
            return;
    }
}

static void test_query_in_a_pool(void **state)
{
    (void)state;
    struct pool p;
    memset(&p, 0, sizeof(p));
    struct gossip_keyring kr;
    memset(&kr, 0, sizeof(kr));
    struct gossip_key a = mk(1, 32), b = mk(2, 32);
    kr.keys[kr.n++] = a;
    for (int i = 0; i < 3; i++) {
        struct gossip_config c;
        gossip_config_default(&c);
        char name[16];
        snprintf(name, sizeof(name), "n%d", i);
        c.name = name;
        c.host = "10.0.0.1";
        c.port = (uint16_t)(9001 + i);
        c.cluster = "dc1";
        c.rng_seed = 100 + (uint64_t)i;
        c.keyring = &kr;
        p.g[i] = gossip_new(&c, 0);
        assert_non_null(p.g[i]);
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j) {
                char name[16];
                snprintf(name, sizeof(name), "n%d", j);
                assert_int_equal(
                    gossip_learn(p.g[i], name, "10.0.0.1", (uint16_t)(9001 + j), NULL, 0, 1), 0);
            }
    pump(&p, 0);
    assert_int_equal(gossip_query(p.g[0], GOSSIP_QOP_LIST, a.k, a.len, 0, 0, 1), CN_EINVAL);
    assert_int_equal(gossip_query(p.g[0], GOSSIP_QOP_USE, b.k, 10, 0, 0, 1), CN_EINVAL);
    assert_int_equal(gossip_query(p.g[0], GOSSIP_QOP_USE, b.k, b.len, 6, 0, 1), CN_EINVAL);

    /* install b, relayed through 1 member: all three answer ok, once each */
    assert_int_equal(gossip_query(p.g[0], GOSSIP_QOP_INSTALL, b.k, b.len, 1, 0, 42), 0);
    uint64_t now = 0;
    for (int t = 0; t < 50 && !p.ndone; t++) {
        now += 200;
        for (int i = 0; i < 3; i++)
            gossip_tick(p.g[i], now);
        pump(&p, now);
    }
    assert_int_equal(p.ndone, 1);
    assert_int_equal(p.done.token, 42);
    assert_int_equal(p.done.num_nodes, 3);
    assert_int_equal(p.done.nresp, 3);
    assert_false(p.done.timed_out);
    for (int i = 0; i < 3; i++) {
        assert_true(p.resp[i].ok);
        assert_int_equal(gossip_get_keyring(p.g[i])->n, 2);
        assert_int_equal(p.changed[i], 1);
    }
    /* remove the primary: every member refuses, the keyrings stay */
    p.ndone = 0;
    assert_int_equal(gossip_query(p.g[1], GOSSIP_QOP_REMOVE, a.k, a.len, 0, 0, 43), 0);
    for (int t = 0; t < 50 && !p.ndone; t++) {
        now += 200;
        for (int i = 0; i < 3; i++)
            gossip_tick(p.g[i], now);
        pump(&p, now);
    }
    assert_int_equal(p.done.nresp, 3);
    for (int i = 0; i < 3; i++) {
        assert_false(p.resp[i].ok);
        assert_string_equal(p.resp[i].msg, "Removing the primary key is not allowed");
        assert_int_equal(p.changed[i], 1);
    }
    /* a member that never answers: the query times out with what came */
    gossip_free(p.g[2]);
    p.g[2] = NULL;
    p.ndone = 0;
    assert_int_equal(gossip_query(p.g[0], GOSSIP_QOP_LIST, NULL, 0, 0, 1000, 44), 0);
    for (int t = 0; t < 50 && !p.ndone; t++) {
        now += 100;
        for (int i = 0; i < 2; i++)
            gossip_tick(p.g[i], now);
        for (int i = 0; i < 2; i++) {
            struct gossip_update u;
            while (gossip_ready(p.g[i], &u)) {
                for (size_t k = 0; k < u.nqdone; k++) {
                    p.done = u.qdone[k];
                    for (size_t r = 0; r < u.qdone[k].nresp && r < 3; r++)
                        p.resp[r] = u.qdone[k].resp[r];
                    p.ndone++;
                }
                for (size_t k = 0; k < u.nouts; k++) {
                    int to = idx_of(u.outs[k].port);
                    if (!u.outs[k].stream && to >= 0 && to < 2)
                        gossip_recv(p.g[to], u.outs[k].data, u.outs[k].len, now);
                }
                gossip_done(p.g[i], &u);
            }
        }
    }
    assert_int_equal(p.ndone, 1);
    assert_true(p.done.timed_out);
    assert_int_equal(p.done.num_nodes, 3);
    assert_int_equal(p.done.nresp, 2);
    assert_int_equal(p.resp[0].keys.n, 2);
    for (int i = 0; i < 2; i++)
        gossip_free(p.g[i]);
}

/* A query outlives neither its answers nor its timeout in the broadcast
 * queue: a member that joins later never hears a stale operation. */
static void test_stale_query_not_delivered(void **state)
{
    (void)state;
    struct pool p;
    memset(&p, 0, sizeof(p));
    struct gossip_keyring kr;
    memset(&kr, 0, sizeof(kr));
    struct gossip_key a = mk(1, 32), b = mk(2, 32);
    kr.keys[kr.n++] = a;
    for (int i = 0; i < 3; i++) {
        struct gossip_config c;
        gossip_config_default(&c);
        char name[16];
        snprintf(name, sizeof(name), "n%d", i);
        c.name = name;
        c.host = "10.0.0.1";
        c.port = (uint16_t)(9001 + i);
        c.cluster = "dc1";
        c.rng_seed = 7 + (uint64_t)i;
        c.keyring = &kr;
        p.g[i] = gossip_new(&c, 0);
        assert_non_null(p.g[i]);
    }
    pump(&p, 0);
    /* n0 alone: the query is answered by n0 at once */
    assert_int_equal(gossip_query(p.g[0], GOSSIP_QOP_USE, a.k, a.len, 0, 0, 1), 0);
    assert_int_equal(gossip_query(p.g[0], GOSSIP_QOP_INSTALL, b.k, b.len, 0, 500, 2), 0);
    pump(&p, 0);
    assert_int_equal(p.ndone, 2);
    assert_int_equal(gossip_get_keyring(p.g[0])->n, 2);
    /* n1 and n2 become members after the timeouts: they never get it */
    uint64_t now = 0;
    for (int t = 0; t < 40; t++) {
        now += 200;
        if (t == 30)
            for (int i = 1; i < 3; i++) {
                char name[16];
                snprintf(name, sizeof(name), "n%d", i);
                assert_int_equal(
                    gossip_learn(p.g[0], name, "10.0.0.1", (uint16_t)(9001 + i), NULL, 0, 1), 0);
                assert_int_equal(gossip_learn(p.g[i], "n0", "10.0.0.1", 9001, NULL, 0, 1), 0);
            }
        for (int i = 0; i < 3; i++)
            gossip_tick(p.g[i], now);
        pump(&p, now);
    }
    assert_int_equal(gossip_get_keyring(p.g[1])->n, 1);
    assert_int_equal(gossip_get_keyring(p.g[2])->n, 1);
    /* while a fresh one does reach them */
    assert_int_equal(gossip_query(p.g[0], GOSSIP_QOP_LIST, NULL, 0, 0, 0, 3), 0);
    for (int t = 0; t < 40 && p.ndone < 3; t++) {
        now += 200;
        for (int i = 0; i < 3; i++)
            gossip_tick(p.g[i], now);
        pump(&p, now);
    }
    assert_int_equal(p.ndone, 3);
    assert_int_equal(p.done.nresp, 3);
    for (int i = 0; i < 3; i++)
        gossip_free(p.g[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_semantics),
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_crypt_several_keys),
        cmocka_unit_test(test_query_codec),
        cmocka_unit_test(test_query_in_a_pool),
        cmocka_unit_test(test_stale_query_not_delivered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
