/* Fuzz the snapshot streaming frames (server/ss_codec.h): peers may send
 * anything. Whatever decodes must re-encode to exactly the input bytes, and
 * a chunk's bytes always lie inside the file it claims. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/ss_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ss_chunk c;
    if (srv_ss_chunk_decode(data, size, &c) == 0) {
        uint8_t h[SS_CHUNK_HDR];
        srv_ss_chunk_header(h, c.index, c.term, c.size, c.off);
        if (memcmp(h, data, SS_CHUNK_HDR) || c.data != data + SS_CHUNK_HDR ||
            c.len != size - SS_CHUNK_HDR || c.off + c.len > c.size || c.len == 0)
            abort();
    }
    struct ss_ack a;
    if (srv_ss_ack_decode(data, size, &a) == 0) {
        uint8_t b[SS_ACK_LEN];
        srv_ss_ack_encode(b, &a);
        if (size != SS_ACK_LEN || memcmp(b, data, SS_ACK_LEN))
            abort();
    }
    return 0;
}
