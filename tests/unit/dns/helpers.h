/* tests/unit/dns/helpers.h: building queries and reading answers. */
#ifndef TEST_DNS_HELPERS_H
#define TEST_DNS_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "dns/wire.h"

/* A query for name/type; edns_size 0 = no OPT. Returns its length. */
static inline size_t build_query(uint8_t *out, const char *name, uint16_t type, uint16_t edns_size)
{
    struct dns_name n;
    assert_int_equal(dns_name_from_text(&n, name), 0);
    uint8_t *p = out;
    memcpy(p, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
    if (edns_size)
        p[11] = 1;
    p += 12;
    memcpy(p, n.wire, n.len);
    p += n.len;
    *p++ = (uint8_t)(type >> 8);
    *p++ = (uint8_t)type;
    *p++ = 0;
    *p++ = 1;
    if (edns_size) {
        *p++ = 0;
        *p++ = 0;
        *p++ = 41;
        *p++ = (uint8_t)(edns_size >> 8);
        *p++ = (uint8_t)edns_size;
        memset(p, 0, 6);
        p += 6;
    }
    return (size_t)(p - out);
}

#define MAX_RRS 256
struct answer {
    uint16_t flags;
    int rcode;
    unsigned n[4];
    unsigned nrr;
    struct {
        int section;
        uint16_t type;
        uint32_t ttl;
        char owner[1024];
        char data[1024]; /* A/AAAA as text, names as text, SRV "p w port target", TXT text */
    } rr[MAX_RRS];
};

static inline void rdata_text(const uint8_t *msg, size_t len, const struct dns_rr *rr, char *out,
                              size_t cap)
{
    size_t p = rr->rdata;
    struct dns_name n;
    char t[1024];
    out[0] = '\0';
    switch (rr->type) {
    case DNS_T_A:
        snprintf(out, cap, "%u.%u.%u.%u", msg[p], msg[p + 1], msg[p + 2], msg[p + 3]);
        break;
    case DNS_T_AAAA:
        snprintf(out, cap, "aaaa:%02x%02x..%02x", msg[p], msg[p + 1], msg[p + 15]);
        break;
    case DNS_T_NS:
    case DNS_T_CNAME:
    case DNS_T_PTR:
        assert_int_equal(dns_name_decode(msg, len, &p, &n), 0);
        dns_name_to_text(&n, out, cap);
        break;
    case DNS_T_SRV: {
        unsigned pr = (unsigned)msg[p] << 8 | msg[p + 1],
                 w = (unsigned)msg[p + 2] << 8 | msg[p + 3],
                 port = (unsigned)msg[p + 4] << 8 | msg[p + 5];
        p += 6;
        assert_int_equal(dns_name_decode(msg, len, &p, &n), 0);
        dns_name_to_text(&n, t, sizeof(t));
        snprintf(out, cap, "%u %u %u %s", pr, w, port, t);
        break;
    }
    case DNS_T_TXT: {
        size_t o = 0;
        while (p < rr->rdata + rr->rdlen && o + msg[p] + 1 < cap) {
            memcpy(out + o, msg + p + 1, msg[p]);
            o += msg[p];
            p += 1 + (size_t)msg[p];
        }
        out[o] = '\0';
        break;
    }
    case DNS_T_SOA:
        assert_int_equal(dns_name_decode(msg, len, &p, &n), 0);
        dns_name_to_text(&n, out, cap);
        break;
    default:
        break;
    }
}

static inline int collect_cb(void *arg, const uint8_t *msg, size_t len, const struct dns_rr *rr)
{
    struct answer *a = arg;
    if (rr->section == 0 || a->nrr >= MAX_RRS)
        return 0;
    a->rr[a->nrr].section = rr->section;
    a->rr[a->nrr].type = rr->type;
    a->rr[a->nrr].ttl = rr->ttl;
    dns_name_to_text(&rr->owner, a->rr[a->nrr].owner, sizeof(a->rr[0].owner));
    rdata_text(msg, len, rr, a->rr[a->nrr].data, sizeof(a->rr[0].data));
    a->nrr++;
    return 0;
}

/* Parse a whole answer (failing the test when it is malformed). */
static inline void read_answer(const uint8_t *msg, size_t len, struct answer *a)
{
    memset(a, 0, sizeof(*a));
    assert_true(len >= 12);
    a->flags = (uint16_t)(msg[2] << 8 | msg[3]);
    a->rcode = msg[3] & 0xF;
    for (int i = 0; i < 4; i++)
        a->n[i] = (unsigned)msg[4 + 2 * i] << 8 | msg[5 + 2 * i];
    assert_int_equal(dns_msg_walk(msg, len, collect_cb, a), 0);
}

static inline unsigned count_type(const struct answer *a, int section, uint16_t type)
{
    unsigned n = 0;
    for (unsigned i = 0; i < a->nrr; i++)
        n += a->rr[i].section == section && a->rr[i].type == type;
    return n;
}

#endif
