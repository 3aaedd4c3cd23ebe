/* Fuzz the client-agent protocol's decoders (server/cl_codec.h): client
 * agents and servers may send anything. The input is tried as a request and
 * as an answer. Decoding is strict and the encoding canonical, so whatever
 * decodes must re-encode to exactly the input bytes; a node dump that
 * decodes walks to its end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "server/cl_codec.h"

static struct srv_cl_req req;
static struct srv_cl_resp resp;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[160];
    struct cn_buf b = CN_BUF_INIT;
    err[0] = 0;
    if (srv_cl_req_decode(data, size, &req, err, sizeof(err)) == 0) {
        if (srv_cl_req_encode(&req, &b) != 0 || b.len != size || memcmp(b.p, data, size))
            abort();
    } else if (!err[0]) {
        abort(); /* every failure says why */
    }
    cn_buf_reset(&b);
    err[0] = 0;
    if (srv_cl_resp_decode(data, size, &resp, err, sizeof(err)) == 0) {
        if (srv_cl_resp_encode(&resp, &b) != 0 || b.len != size || memcmp(b.p, data, size))
            abort();
        if (resp.kind == SRV_CL_DUMP && resp.code == 0) {
            size_t off = 0, n;
            const void *c;
            int k;
            while ((k = srv_cl_dump_next(resp.body, resp.body_len, &off, &c, &n)) == 1)
                ;
            if (k != 0)
                abort();
        }
    } else if (!err[0]) {
        abort();
    }
    cn_buf_free(&b);
    return 0;
}
