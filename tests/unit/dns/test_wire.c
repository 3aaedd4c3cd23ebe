/* tests/unit/dns/test_wire.c: the DNS codec (src/dns/wire.c): names, the
 * strict query decoder (every malformed-packet rule of RFC 1035 §4.1 and
 * RFC 6891), the encoder's compression and its truncation to whole records. */
#include "helpers.h"

static void test_names(void **st)
{
    (void)st;
    struct dns_name n;
    char t[1024];
    assert_int_equal(dns_name_from_text(&n, "Web.Service.consul."), 0);
    assert_int_equal(n.nlabels, 3);
    assert_int_equal(n.len, 1 + 3 + 1 + 7 + 1 + 6 + 1);
    dns_name_to_text(&n, t, sizeof(t));
    assert_string_equal(t, "Web.Service.consul.");
    struct dns_name suf;
    dns_name_from_text(&suf, "SERVICE.CONSUL");
    assert_true(dns_name_has_suffix(&n, &suf));
    dns_name_from_text(&suf, "xservice.consul");
    assert_false(dns_name_has_suffix(&n, &suf));
    assert_int_equal(dns_name_from_text(&n, "."), 0);
    assert_int_equal(n.nlabels, 0);
    /* A 63-byte label is fine, 64 is not (RFC 1035 §2.3.4). */
    char l[80];
    memset(l, 'a', 63);
    strcpy(l + 63, ".consul");
    assert_int_equal(dns_name_from_text(&n, l), 0);
    memset(l, 'a', 64);
    strcpy(l + 64, ".consul");
    assert_int_equal(dns_name_from_text(&n, l), CN_EINVAL);
    /* 255 bytes on the wire at most. */
    char big[400];
    size_t o = 0;
    for (int i = 0; i < 5; i++) {
        memset(big + o, 'b', 50);
        o += 50;
        big[o++] = '.';
    }
    big[o] = '\0';
    assert_int_equal(dns_name_from_text(&n, big), CN_EINVAL); /* 5 * 51 + 1 = 256 */
    big[o - 2] = '\0';                                        /* 254 */
    assert_int_equal(dns_name_from_text(&n, big), 0);
    assert_int_equal(dns_name_from_text(&n, "a..b"), CN_EINVAL);
}

static void test_decode_ok(void **st)
{
    (void)st;
    uint8_t q[512];
    size_t n = build_query(q, "web.service.consul", DNS_T_SRV, 1232);
    struct dns_query dq;
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_OK);
    assert_int_equal(dq.id, 0x1234);
    assert_int_equal(dq.qtype, DNS_T_SRV);
    assert_int_equal(dq.qclass, DNS_C_IN);
    assert_true(dq.edns);
    assert_int_equal(dq.udp_size, 1232);
    assert_int_equal(dq.qname.nlabels, 3);
    n = build_query(q, "web.service.consul", DNS_T_A, 0);
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_OK);
    assert_false(dq.edns);
    /* RFC 6891 §6.2.5: an advertised size under 512 counts as 512. */
    n = build_query(q, "x.consul", DNS_T_A, 100);
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_OK);
    assert_int_equal(dq.udp_size, 512);
}

static void test_decode_malformed(void **st)
{
    (void)st;
    uint8_t q[1024];
    struct dns_query dq;
    size_t n = build_query(q, "web.service.consul", DNS_T_A, 0);
    /* A truncated header: dropped; a truncated question: FORMERR. */
    for (size_t k = 0; k < 12; k++)
        assert_int_equal(dns_query_decode(q, k, &dq), DNS_DEC_DROP);
    for (size_t k = 12; k < n; k++)
        assert_int_equal(dns_query_decode(q, k, &dq), DNS_DEC_FORMERR);
    /* Trailing bytes. */
    q[n] = 0;
    assert_int_equal(dns_query_decode(q, n + 1, &dq), DNS_DEC_FORMERR);
    /* A response (QR) is never answered. */
    q[2] |= 0x80;
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_DROP);
    q[2] &= 0x7F;
    /* Opcodes other than QUERY: NOTIMP (STATUS=2, NOTIFY=4, UPDATE=5). */
    q[2] = (uint8_t)(q[2] | 5 << 3);
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_NOTIMP);
    q[2] = 0x01;
    /* QDCOUNT 0 and 2; an answer record in a query. */
    q[5] = 0;
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_FORMERR);
    q[5] = 2;
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_FORMERR);
    q[5] = 1;
    q[7] = 1;
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_FORMERR);
    q[7] = 0;
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_OK);

    /* A compression pointer to itself, and one pointing forwards. */
    uint8_t loop[] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
    assert_int_equal(dns_query_decode(loop, sizeof(loop), &dq), DNS_DEC_FORMERR);
    uint8_t fwd[] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 14, 1, 'a', 0, 0, 1, 0, 1};
    assert_int_equal(dns_query_decode(fwd, sizeof(fwd), &dq), DNS_DEC_FORMERR);
    /* Two pointers chasing each other backwards is impossible; a valid one: */
    uint8_t ok[] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1};
    assert_int_equal(dns_query_decode(ok, sizeof(ok), &dq), DNS_DEC_OK);
    /* A 64-byte label; the extended label types 01 and 10. */
    uint8_t l64[100] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64};
    memset(l64 + 13, 'x', 64);
    memcpy(l64 + 77, "\0\0\1\0\1", 5);
    assert_int_equal(dns_query_decode(l64, 82, &dq), DNS_DEC_FORMERR);
    l64[12] = 0x41;
    assert_int_equal(dns_query_decode(l64, 82, &dq), DNS_DEC_FORMERR);
    l64[12] = 0x81;
    assert_int_equal(dns_query_decode(l64, 82, &dq), DNS_DEC_FORMERR);
    /* A name over 255 bytes: 5 labels of 60. */
    uint8_t longn[400] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t p = 12;
    for (int i = 0; i < 5; i++) {
        longn[p++] = 60;
        memset(longn + p, 'y', 60);
        p += 60;
    }
    memcpy(longn + p, "\0\0\1\0\1", 5);
    p += 5;
    assert_int_equal(dns_query_decode(longn, p, &dq), DNS_DEC_FORMERR);

    /* EDNS: two OPTs, an OPT not at the root, a version > 0, bad options. */
    n = build_query(q, "a.consul", DNS_T_A, 1232);
    memcpy(q + n, q + n - 11, 11);
    q[11] = 2;
    assert_int_equal(dns_query_decode(q, n + 11, &dq), DNS_DEC_FORMERR);
    n = build_query(q, "a.consul", DNS_T_A, 1232);
    q[n - 11 + 6] = 1; /* version 1 */
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_BADVERS);
    n = build_query(q, "a.consul", DNS_T_A, 1232);
    q[n - 1] = 3; /* rdlen 3 with no bytes */
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_FORMERR);
    n = build_query(q, "a.consul", DNS_T_A, 1232);
    memcpy(q + n, "\0\x0a\0\x09", 4); /* an option claiming 9 bytes in a 4-byte rdata */
    q[n - 1] = 4;
    assert_int_equal(dns_query_decode(q, n + 4, &dq), DNS_DEC_FORMERR);
    memcpy(q + n, "\0\x0a\0\x00", 4); /* an empty cookie option is well-formed */
    assert_int_equal(dns_query_decode(q, n + 4, &dq), DNS_DEC_OK);
}

static void test_encode_compress(void **st)
{
    (void)st;
    uint8_t q[512], buf[4096];
    struct dns_query dq;
    size_t n = build_query(q, "web.service.consul", DNS_T_A, 0);
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_OK);
    struct dns_msg m;
    assert_int_equal(dns_msg_start(&m, buf, sizeof(buf), 512, &dq, 0), 0);
    uint8_t ip[4] = {10, 0, 0, 1};
    assert_int_equal(dns_msg_a(&m, DNS_S_ANSWER, &dq.qname, 5, ip), 0);
    size_t one = m.len;
    assert_int_equal(dns_msg_a(&m, DNS_S_ANSWER, &dq.qname, 5, ip), 0);
    /* The second owner is a pointer to the question: 2 + 10 + 4 bytes. */
    assert_int_equal(m.len - one, 16);
    assert_int_equal(buf[one], 0xC0);
    assert_int_equal(buf[one + 1], 12);
    struct dns_name t;
    dns_name_from_text(&t, "n1.node.dc1.consul");
    assert_int_equal(dns_msg_name_rr(&m, DNS_S_ANSWER, &dq.qname, DNS_T_CNAME, 0, &t), 0);
    size_t before = m.len;
    /* "consul" is already there: n1.node.dc1 + pointer. */
    dns_name_from_text(&t, "other.node.dc1.consul");
    assert_int_equal(dns_msg_name_rr(&m, DNS_S_ANSWER, &dq.qname, DNS_T_PTR, 0, &t), 0);
    assert_int_equal(m.len - before, 2 + 10 + 1 + 5 + 2); /* "other" + ptr to node.dc1.consul */
    size_t len = dns_msg_finish(&m);
    struct answer a;
    read_answer(buf, len, &a);
    assert_int_equal(a.n[1], 4);
    assert_string_equal(a.rr[0].owner, "web.service.consul.");
    assert_string_equal(a.rr[0].data, "10.0.0.1");
    assert_string_equal(a.rr[3].data, "other.node.dc1.consul.");
    assert_int_equal(a.flags & DNS_F_TC, 0);
    assert_true(a.flags & DNS_F_QR);
    assert_true(a.flags & DNS_F_RD);
}

static void test_truncation(void **st)
{
    (void)st;
    uint8_t q[512], buf[70000];
    struct dns_query dq;
    size_t n = build_query(q, "web.service.consul", DNS_T_SRV, 0);
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_OK);
    struct dns_msg m;
    assert_int_equal(dns_msg_start(&m, buf, sizeof(buf), 512, &dq, 0), 0);
    unsigned added = 0;
    for (int i = 0; i < 40; i++) {
        struct dns_name t;
        char name[64];
        snprintf(name, sizeof(name), "node-%02d.node.dc1.consul", i);
        dns_name_from_text(&t, name);
        if (dns_msg_srv(&m, DNS_S_ANSWER, &dq.qname, 0, 1, 1, (uint16_t)(8000 + i), &t) == 0)
            added++;
        else
            break;
    }
    assert_true(added > 5 && added < 40);
    /* Nothing more goes in once a record was cut, in any later section. */
    uint8_t ip[4] = {1, 2, 3, 4};
    assert_int_equal(dns_msg_a(&m, DNS_S_ADDITIONAL, &dq.qname, 0, ip), CN_ETOOBIG);
    size_t len = dns_msg_finish(&m);
    assert_true(len <= 512);
    struct answer a;
    read_answer(buf, len, &a);
    assert_true(a.flags & DNS_F_TC);
    assert_int_equal(a.n[1], added);
    assert_int_equal(count_type(&a, 1, DNS_T_SRV), added);

    /* Over TCP (64 KiB) all 40 fit, no TC. */
    assert_int_equal(dns_msg_start(&m, buf, sizeof(buf), DNS_TCP_MAX, &dq, 0), 0);
    for (int i = 0; i < 40; i++) {
        struct dns_name t;
        char name[64];
        snprintf(name, sizeof(name), "node-%02d.node.dc1.consul", i);
        dns_name_from_text(&t, name);
        assert_int_equal(dns_msg_srv(&m, DNS_S_ANSWER, &dq.qname, 0, 1, 1, 80, &t), 0);
    }
    len = dns_msg_finish(&m);
    read_answer(buf, len, &a);
    assert_int_equal(a.flags & DNS_F_TC, 0);
    assert_int_equal(a.n[1], 40);

    /* A record cut from the additional section does not set TC (RFC 2181 §9). */
    assert_int_equal(dns_msg_start(&m, buf, sizeof(buf), 512, &dq, 0), 0);
    struct dns_name t;
    dns_name_from_text(&t, "n.node.dc1.consul");
    assert_int_equal(dns_msg_srv(&m, DNS_S_ANSWER, &dq.qname, 0, 1, 1, 80, &t), 0);
    while (dns_msg_txt(&m, DNS_S_ADDITIONAL, &t, 0, "k=v", 3) == 0)
        ;
    len = dns_msg_finish(&m);
    read_answer(buf, len, &a);
    assert_int_equal(a.flags & DNS_F_TC, 0);
    assert_int_equal(a.n[1], 1);
    assert_true(a.n[3] > 10);
}

static void test_edns_and_txt(void **st)
{
    (void)st;
    uint8_t q[512], buf[4096];
    struct dns_query dq;
    size_t n = build_query(q, "n1.node.consul", DNS_T_TXT, 1232);
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_OK);
    struct dns_msg m;
    /* With EDNS the room for our OPT is kept: fill to the limit. */
    assert_int_equal(dns_msg_start(&m, buf, sizeof(buf), 600, &dq, 0), 0);
    char big[600];
    memset(big, 'x', sizeof(big));
    /* 300 bytes: two character-strings (255 + 45). */
    assert_int_equal(dns_msg_txt(&m, DNS_S_ANSWER, &dq.qname, 0, big, 300), 0);
    assert_int_equal(dns_msg_txt(&m, DNS_S_ANSWER, &dq.qname, 0, big, 300), CN_ETOOBIG);
    size_t len = dns_msg_finish(&m);
    assert_true(len <= 600);
    struct answer a;
    read_answer(buf, len, &a);
    assert_int_equal(a.n[1], 1);
    assert_int_equal(a.n[3], 1);
    assert_int_equal(count_type(&a, 3, DNS_T_OPT), 1);
    assert_int_equal(strlen(a.rr[0].data), 300);
    assert_true(a.flags & DNS_F_TC);
    /* BADVERS: rcode 16 = 0 in the header, 1 in the OPT's extended rcode. */
    assert_int_equal(dns_msg_start(&m, buf, sizeof(buf), 600, &dq, DNS_RC_BADVERS), 0);
    len = dns_msg_finish(&m);
    assert_int_equal(buf[3] & 0xF, 0);
    assert_int_equal(buf[len - 6], 1);
}

static void test_header_only(void **st)
{
    (void)st;
    uint8_t q[512], out[12];
    size_t n = build_query(q, "x.consul", DNS_T_A, 0);
    (void)n;
    dns_msg_header_only(q, out, DNS_RC_FORMERR);
    assert_int_equal(out[0], 0x12);
    assert_int_equal(out[1], 0x34);
    assert_int_equal(out[2], 0x81); /* QR, RD */
    assert_int_equal(out[3], 1);
    for (int i = 4; i < 12; i++)
        assert_int_equal(out[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_decode_ok),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_encode_compress),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_edns_and_txt),
        cmocka_unit_test(test_header_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
