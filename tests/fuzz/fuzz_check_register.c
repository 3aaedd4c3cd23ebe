/* libFuzzer target for the /v1/agent/check/register and check/update body
 * decoders (api/decode.h). Beyond "no crash, no leak": a decoded check has a
 * name, an ID, a valid status and a known type; a decoded update has a valid
 * status and output within Consul's cap. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/decode.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct state_check c;
    char err[512];
    if (api_decode_check_def((const char *)data, size, &c, err, sizeof(err)) == 0) {
        if (!*c.name || !*c.check_id || !state_check_status_valid(c.status) || !c.type || !c.http ||
            !c.header_json || !c.service_id)
            abort();
        if (strcmp(c.type, "ttl") && strcmp(c.type, "http") && strcmp(c.type, "tcp") &&
            strcmp(c.type, "script") && strcmp(c.type, "udp") && strcmp(c.type, "alias") &&
            strcmp(c.type, "grpc") && strcmp(c.type, "h2ping"))
            abort();
        /* every type accepted has what its runner needs */
        if ((!strcmp(c.type, "script") && !c.nargs) || (!strcmp(c.type, "udp") && !*c.udp) ||
            (!strcmp(c.type, "grpc") && !*c.grpc) || (!strcmp(c.type, "h2ping") && !*c.h2ping) ||
            (!strcmp(c.type, "alias") && !*c.alias_service && !*c.alias_node))
            abort();
        state_check_clear(&c);
    } else if (!err[0] || c.check_id) {
        abort();
    }
    char *st, *out;
    if (api_decode_check_update((const char *)data, size, &st, &out, err, sizeof(err)) == 0) {
        if (!state_check_status_valid(st) || strlen(out) > STATE_CHECK_OUTPUT_MAX + 64)
            abort();
        cn_free(st);
        cn_free(out);
    }
    return 0;
}
