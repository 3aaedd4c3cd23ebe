/* libFuzzer target for the built-in proxy's configuration from a sidecar
 * registration the agent answered (/v1/agent/services,
 * /v1/agent/service/:id): the public listener (proxy/pconf.c
 * px_public_config), the whole configuration (px_sidecar_config) and its
 * difference with others (proxy/pdiff.c). Beyond "no crash, no leak": a
 * refusal carries a message; an accepted public listener has a port in
 * 0-65535, a non-empty bind address, and an application address that is
 * empty or host:port; an accepted configuration has an identity, a public
 * listener exactly when it has an application, at most PX_MAX_UPSTREAMS
 * upstreams each named with a port in 1-65535 and a bind address; its
 * difference with itself is nothing, and with no configuration it binds
 * every listener anew. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/json.h"
#include "proxy/pconf.h"
#include "proxy/pdiff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sidecar(struct json_object *o)
{
    static struct px_cfg c, none;
    struct px_diff d;
    char err[400];
    err[0] = 0;
    if (px_sidecar_config(o, &c, err, sizeof(err))) {
        if (!err[0])
            abort();
        return;
    }
    if (!c.service[0] || !c.listen[0] != !c.app[0] || c.nups > PX_MAX_UPSTREAMS)
        abort();
    for (size_t i = 0; i < c.nups; i++)
        if (!c.ups[i].name[0] || !c.ups[i].bind_addr[0] || c.ups[i].bind_port < 1 ||
            c.ups[i].bind_port > 65535 || !c.ups[i].connect_ms)
            abort();
    px_cfg_diff(&c, &c, &d);
    if (d.any)
        abort();
    for (size_t i = 0; i < c.nups; i++)
        if (d.up_from[i] != (int)i || d.up_lis[i] != (int)i)
            abort();
    memset(&none, 0, sizeof(none));
    px_cfg_diff(&none, &c, &d);
    if (!d.any || d.pub_lis != (c.listen[0] ? PX_LIS_NEW : PX_LIS_NONE))
        abort();
    for (size_t i = 0; i < c.nups; i++)
        if (d.up_from[i] != -1 || d.up_lis[i] != PX_LIS_NEW)
            abort();
}

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
        check_sidecar(o);
    }
    json_object_put(o);
    return 0;
}
