/* Fuzz the gossip wire codec (gossip/codec.h) and the core's receive paths:
 * any member (or anyone who can reach the serf_lan port) may send anything.
 * The input is decoded as a datagram and as a TCP push/pull message; what
 * decodes must re-encode to exactly the input bytes (the encoding is
 * canonical), every failure must say why, and a core fed the bytes (both
 * ways) must stay consistent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "gossip/codec.h"
#include "gossip/gossip.h"

static void reencode(const struct gossip_pkt *pkt, const uint8_t *data, size_t size)
{
    struct cn_buf b = CN_BUF_INIT;
    size_t count_off, off = 0;
    if (gossip_enc_hdr(&b, &pkt->hdr, &count_off))
        abort();
    b.p[count_off] = (char)pkt->nmsgs;
    struct gossip_msg m;
    unsigned n = 0;
    while (gossip_pkt_next(pkt, &off, &m)) {
        n++;
        if (m.type == GMSG_PUSHPULL) {
            size_t mark, so = 0;
            struct gossip_pp_state s;
            if (gossip_enc_pp_begin(&b, m.join, m.nstates, &mark))
                abort();
            uint32_t k = 0;
            while (gossip_pp_next(&m, &so, &s)) {
                if (gossip_enc_pp_state(&b, &s))
                    abort();
                k++;
            }
            if (k != m.nstates)
                abort();
            gossip_enc_pp_end(&b, mark);
        } else if (gossip_enc_msg(&b, &m)) {
            abort();
        }
    }
    if (n != pkt->nmsgs || b.len != size || memcmp(b.p, data, size))
        abort();
    cn_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    struct gossip_pkt pkt;
    for (int stream = 0; stream < 2; stream++) {
        err[0] = '\0';
        if (gossip_pkt_decode(data, size, stream, &pkt, err, sizeof(err)) == 0)
            reencode(&pkt, data, size);
        else if (!err[0])
            abort();
    }
    struct gossip_config c;
    gossip_config_default(&c);
    c.name = "fuzz";
    c.host = "10.0.0.1";
    c.port = 8301;
    c.cluster = "dc1";
    c.rng_seed = 1;
    struct gossip *g = gossip_new(&c, 1000);
    if (!g)
        abort();
    gossip_recv(g, data, size, 1001);
    struct cn_buf reply = CN_BUF_INIT;
    gossip_recv_stream(g, data, size, &reply, 1002);
    gossip_recv_stream(g, data, size, NULL, 1003);
    cn_buf_free(&reply);
    for (uint64_t t = 1004; t < 80000; t += 997)
        gossip_tick(g, t);
    if (gossip_num_alive(g) > gossip_num_members(g) || gossip_num_members(g) < 1)
        abort();
    struct gossip_update u;
    while (gossip_ready(g, &u))
        gossip_done(g, &u);
    gossip_free(g);
    return 0;
}
