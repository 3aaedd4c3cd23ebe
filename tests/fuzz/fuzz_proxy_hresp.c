/* libFuzzer target for the proxy's reader of the agent's HTTP answers
 * (proxy/hresp.c): any bytes, as a complete stream (eof) and as a prefix.
 * Beyond "no crash, no leak": an accepted answer has a status in 100..599 and
 * a body no longer than the input and a content hash of letters and digits
 * only (it goes back into a query string); a prefix that asks for more bytes is never
 * an error that the whole input then contradicts by parsing differently in
 * status. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/err.h"
#include "proxy/hresp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[200];
    struct px_hresp r;
    for (int eof = 0; eof <= 1; eof++) {
        int rc = px_hresp_parse((const char *)data, size, eof, &r, err, sizeof(err));
        if (rc == 0) {
            if (r.status < 100 || r.status > 599 || r.body.len > size)
                abort();
            for (const char *h = r.hash; *h; h++)
                if (!isalnum((unsigned char)*h))
                    abort();
            cn_buf_free(&r.body);
        } else if (rc == 1) {
            if (eof)
                abort(); /* at the end of the stream nothing more can come */
        } else if (rc != CN_EPROTO && rc != CN_ENOMEM) {
            abort();
        } else if (!err[0]) {
            abort();
        }
    }
    return 0;
}
