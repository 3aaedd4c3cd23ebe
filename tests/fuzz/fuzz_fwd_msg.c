/* Fuzz the forwarding protocol's decoders (server/fwd_codec.h): peers may
 * send anything. The input is tried as a request, an answer and a proposal
 * envelope. Decoding is strict and the encoding canonical, so whatever
 * decodes must re-encode to exactly the input bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "server/fwd_codec.h"

static struct srv_fwd_req req; /* large (an INFO's peers): not on the stack */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[160];
    struct cn_buf b = CN_BUF_INIT;
    if (srv_fwd_req_decode(data, size, &req, err, sizeof(err)) == 0) {
        if (srv_fwd_req_encode(&req, &b) != 0 || b.len != size || memcmp(b.p, data, size))
            abort();
    } else if (!err[0]) {
        abort(); /* every failure says why */
    }
    cn_buf_reset(&b);
    struct srv_fwd_resp resp;
    if (srv_fwd_resp_decode(data, size, &resp, err, sizeof(err)) == 0) {
        if (srv_fwd_resp_encode(&resp, &b) != 0 || b.len != size || memcmp(b.p, data, size))
            abort();
    } else if (!err[0]) {
        abort();
    }
    cn_buf_reset(&b);
    struct srv_env e;
    const void *cmd;
    size_t n;
    int rc = srv_env_decode(data, size, &e, &cmd, &n);
    if (rc == 1) {
        if (srv_env_encode(&e, cmd, n, &b) != 0 || b.len != size || memcmp(b.p, data, size))
            abort();
    } else if (rc == 0 && (cmd != (const void *)data || n != size)) {
        abort();
    }
    cn_buf_free(&b);
    return 0;
}
