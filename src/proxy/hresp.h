/* proxy/hresp.h: the agent's HTTP/1.1 answers as the proxy reads them (one
 * response per connection, `Connection: close`): status, X-Consul-Index,
 * X-Consul-ContentHash and the body (Content-Length, chunked, or up to the end of the stream).
 * Pure: no I/O, fuzzed by fuzz_proxy_hresp. */
#ifndef CN_PROXY_HRESP_H
#define CN_PROXY_HRESP_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct px_hresp {
    int status;         /* 100..599 */
    uint64_t index;     /* X-Consul-Index, 0 when absent */
    char hash[40];      /* X-Consul-ContentHash (letters and digits), "" when absent */
    struct cn_buf body; /* owned (cn_buf_free) */
};

/* Parse a whole response (the bytes read up to the peer's close; `eof`:
 * the stream ended). Returns 0 with *out filled, 1 when more bytes are
 * needed (eof false), or CN_EPROTO with the reason in err. */
int px_hresp_parse(const char *p, size_t n, int eof, struct px_hresp *out, char *err, size_t cap);

#endif
