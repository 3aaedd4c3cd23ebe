/* libFuzzer target for a gossip ACK's coordinate trailer (coord/coord.h's
 * wire form, gossip/codec.c's ACK): the input is the trailer. Beyond "no
 * crash": what decodes re-encodes to the same bytes, alone and inside an
 * ACK packet; an ACK with a trailer that does not decode is refused whole;
 * and whatever coordinate arrives, the Vivaldi client refuses or absorbs it
 * and keeps a valid coordinate of its own. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "coord/coord.h"
#include "gossip/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 512)
        return 0;
    struct coord c;
    int rc = coord_wire_get(data, size, &c);
    if (rc == 0) {
        struct cn_buf b = CN_BUF_INIT;
        if (coord_wire_put(&b, &c) || b.len != size || memcmp(b.p, data, size))
            abort();
        cn_buf_free(&b);
    }
    /* the same bytes as an ACK's trailer */
    struct cn_buf p = CN_BUF_INIT;
    struct gossip_hdr h = {.port = 8301};
    memcpy(h.cluster, "dc1", 4);
    memcpy(h.name, "a", 2);
    memcpy(h.host, "10.0.0.1", 9);
    size_t count_off;
    if (gossip_enc_hdr(&p, &h, &count_off))
        abort();
    p.p[count_off] = 1;
    uint8_t mh[7] = {GMSG_ACK, (uint8_t)((4 + size) & 0xff), (uint8_t)((4 + size) >> 8), 7, 0, 0,
                     0};
    if (cn_buf_append(&p, mh, sizeof(mh)) || cn_buf_append(&p, data, size))
        abort();
    struct gossip_pkt pkt;
    char err[96];
    int prc = gossip_pkt_decode(p.p, p.len, false, &pkt, err, sizeof(err));
    if ((prc == 0) != (rc == 0 || size == 0))
        abort();
    if (prc == 0) {
        size_t off = 0;
        struct gossip_msg m;
        if (gossip_pkt_next(&pkt, &off, &m) != 1 || m.type != GMSG_ACK || m.seq != 7 ||
            m.has_coord != (size > 0))
            abort();
        struct cn_buf again = CN_BUF_INIT;
        size_t co2;
        if (gossip_enc_hdr(&again, &h, &co2))
            abort();
        again.p[co2] = 1;
        if (gossip_enc_msg(&again, &m) || again.len != p.len || memcmp(again.p, p.p, p.len))
            abort();
        cn_buf_free(&again);
    }
    cn_buf_free(&p);
    if (rc == 0) {
        struct coord_config cfg;
        coord_config_default(&cfg);
        struct coord_client *cl = coord_client_new(&cfg, 1);
        if (!cl)
            abort();
        int urc = coord_client_update(cl, "peer", &c, 1000000);
        if (urc != 0 && urc != CN_EINVAL)
            abort();
        if ((urc == CN_EINVAL) == coord_valid(&c) || !coord_valid(coord_client_get(cl)))
            abort();
        coord_client_free(cl);
    }
    return 0;
}
