/* Fuzz the transport's wire codec: whatever a peer sends must be refused or
 * decoded without a crash, a leak, or an allocation sized by a claimed length.
 * Input: byte 0 picks the read size (1..256) used to split the stream; the
 * rest is what arrives on a connection (a hello, then frames). The split must
 * not change what is decoded: the same stream fed in one piece must give the
 * same messages and the same result. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc.h"
#include "transport/transport.h"

struct seen {
    size_t n;
    uint32_t digest; /* crc32c over (type, len, payload) of each message */
};

static int on_msg(void *arg, uint8_t type, const void *p, size_t len)
{
    struct seen *s = arg;
    uint32_t l = (uint32_t)len;
    s->n++;
    s->digest = cn_crc32c(s->digest, &type, 1);
    s->digest = cn_crc32c(s->digest, &l, sizeof(l));
    s->digest = cn_crc32c(s->digest, p, len);
    return 0;
}

/* Small limit so that fragments and oversize paths are reachable. */
#define MAX_MSG 4096

static int run(const uint8_t *p, size_t n, size_t step, struct seen *s)
{
    struct xport_decoder d;
    char err[200];
    xport_decoder_init(&d, MAX_MSG);
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += step) {
        size_t k = n - off < step ? n - off : step;
        rc = xport_decoder_feed(&d, p + off, k, on_msg, s, err, sizeof(err));
    }
    xport_decoder_free(&d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1;
    data++;
    size--;

    struct xport_hello h;
    size_t used = 0;
    char err[200];
    int rc = xport_hello_decode(data, size, &h, &used, err, sizeof(err));
    if (rc != 0)
        return 0;
    if (used > size || h.node_id == 0 || h.version != XPORT_VERSION || strlen(h.cluster) == 0)
        abort();
    /* A decoded hello re-encodes to the same bytes. */
    uint8_t again[XPORT_HELLO_MAX];
    size_t len = 0;
    if (xport_hello_encode(&h, again, sizeof(again), &len) != 0 || len != used ||
        memcmp(again, data, len) != 0)
        abort();

    struct seen a = {0}, b = {0};
    int ra = run(data + used, size - used, step, &a);
    int rb = run(data + used, size - used, size - used + 1, &b);
    if (ra != rb || a.n != b.n || a.digest != b.digest)
        abort();
    return 0;
}
