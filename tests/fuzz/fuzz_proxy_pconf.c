/* libFuzzer target for the built-in proxy's public listener configuration
 * (proxy/pconf.c), read from a sidecar registration the agent answered
 * (/v1/agent/services). Beyond "no crash, no leak": a refusal carries a
 * message; an accepted configuration has a port in 0-65535, a non-empty
 * bind address, and an application address that is empty or host:port. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/json.h"
#include "proxy/pconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_object *o = cn_json_parse((const char *)data, size, NULL, 0);
    if (!o)
        return 0;
    if (json_object_is_type(o, json_type_object)) {
        struct px_public_cfg pc;
        char err[400];
        err[0] = 0;
        if (px_public_config(o, &pc, err, sizeof(err))) {
            if (!err[0])
                abort();
        } else if (pc.bind_port < 0 || pc.bind_port > 65535 || !pc.bind_addr[0] ||
                   (pc.app[0] && !strchr(pc.app, ':'))) {
            abort();
        }
    }
    json_object_put(o);
    return 0;
}
