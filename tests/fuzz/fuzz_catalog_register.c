/* libFuzzer target for the /v1/catalog/register and deregister body decoders
 * (api/decode.h). Beyond "no crash, no leak": a decoded register names its
 * node, has an address unless SkipNodeUpdate, every check is on that node with
 * an ID and a valid status, and the command encodes and is accepted by a
 * fresh state machine without a decoding error. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/decode.h"
#include "base/buf.h"
#include "base/err.h"
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct state_register r;
    char err[512];
    if (api_decode_catalog_register((const char *)data, size, &r, err, sizeof(err)) == 0) {
        if (!*r.node.name || (!*r.node.address && !r.skip_node_update))
            abort();
        if (r.service && (!*r.service->id || !*r.service->service))
            abort();
        for (size_t i = 0; i < r.nchecks; i++)
            if (strcmp(r.checks[i].node, r.node.name) || !*r.checks[i].check_id ||
                !state_check_status_valid(r.checks[i].status))
                abort();
        struct cn_buf cmd = CN_BUF_INIT;
        if (state_cmd_register(&cmd, &r) == 0) {
            struct state *s = state_new();
            if (s) {
                int rc = state_apply(s, 1, cmd.p, cmd.len, NULL);
                if (rc == CN_ECORRUPT)
                    abort(); /* our own encoding must always decode */
                state_free(s);
            }
        }
        cn_buf_free(&cmd);
        state_register_clear(&r);
    } else if (!err[0] || r.node.name) {
        abort();
    }
    struct api_catalog_dereg d;
    if (api_decode_catalog_deregister((const char *)data, size, &d, err, sizeof(err)) == 0) {
        if (!d.node || !*d.node || (d.service_id && !*d.service_id))
            abort();
        api_catalog_dereg_free(&d);
    }
    return 0;
}
