/* libFuzzer target for the body of POST /v1/discovery-chain/:service
 * (api/dchain_decode.c). Beyond "no crash, no leak": every refusal carries a
 * message and leaves the overrides empty; accepted overrides have a
 * non-negative timeout and a non-empty protocol when there is one, and
 * compile into a chain whose JSON parses back with the override's protocol,
 * a CustomizationHash exactly when an override changed something, and the
 * mesh gateway mode "none" when asked. The input is also tried as a stored
 * proxy-defaults and service-defaults entry: the compile answers 0 or
 * CN_ECORRUPT, and its JSON parses back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/dchain.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TD "11111111-2222-3333-4444-555555555555.consul"

/* Compile, write, parse back: the parsed answer's Chain (owned), or NULL
 * when the compile refused (rc set). */
static struct json_object *compile(const struct state_config_entry *pd,
                                   const struct state_config_entry *sd,
                                   const struct api_dchain_override *o, int *rc)
{
    struct api_dchain_in in = {"svc", "dc1", TD, pd, sd, o};
    struct api_dchain c;
    *rc = api__dchain_compile(&in, &c);
    if (*rc)
        return NULL;
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &b, 0);
    api__dchain_json(&w, &c);
    api__dchain_clear(&c);
    if (w.err) {
        cn_buf_free(&b);
        *rc = w.err;
        return NULL;
    }
    struct json_object *root = cn_json_parse(b.p, b.len, NULL, 0);
    cn_buf_free(&b);
    struct json_object *chain = NULL;
    if (!root || !json_object_object_get_ex(root, "Chain", &chain) ||
        !json_object_is_type(chain, json_type_object))
        abort(); /* what we write is JSON of that shape */
    json_object_get(chain);
    json_object_put(root);
    return chain;
}

static const char *str_at(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        abort();
    return json_object_get_string(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[700];
    err[0] = 0;
    struct api_dchain_override o;
    int rc = api__dchain_override_decode((const char *)data, size, &o, err, sizeof(err));
    if (rc) {
        if ((rc != CN_EINVAL && rc != CN_ENOMEM) || !err[0] || o.protocol || o.mgw_none ||
            o.connect_timeout_ns)
            abort();
    } else {
        if (o.connect_timeout_ns < 0 || (o.protocol && !*o.protocol))
            abort();
        struct json_object *chain = compile(NULL, NULL, &o, &rc);
        if (chain) {
            bool changed = (o.connect_timeout_ns > 0 && o.connect_timeout_ns != 5000000000LL) ||
                           o.mgw_none || (o.protocol && strcmp(o.protocol, "tcp") != 0);
            if (changed != json_object_object_get_ex(chain, "CustomizationHash", NULL))
                abort();
            if (strcmp(str_at(chain, "Protocol"), o.protocol ? o.protocol : "tcp") != 0)
                abort();
            struct json_object *t, *mgw;
            if (!json_object_object_get_ex(chain, "Targets", &t) ||
                !json_object_object_get_ex(t, "svc.default.default.dc1", &t) ||
                !json_object_object_get_ex(t, "MeshGateway", &mgw) ||
                json_object_object_get_ex(mgw, "Mode", NULL) != o.mgw_none)
                abort();
            json_object_put(chain);
        } else if (rc != CN_ENOMEM) {
            abort();
        }
    }
    api__dchain_override_clear(&o);
    /* the bytes as stored entries (the state holds what config_defaults.c
     * wrote; the compile must not trust it blindly) */
    if (size) {
        struct state_config_entry e = {"proxy-defaults", "global", data, size, 1, 1};
        char *copy = malloc(size + 1); /* entries are NUL-ended beyond len */
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        copy[size] = 0;
        e.data = (const uint8_t *)copy;
        for (int as_sd = 0; as_sd < 2; as_sd++) {
            struct json_object *chain = compile(as_sd ? NULL : &e, as_sd ? &e : NULL, NULL, &rc);
            if (chain) {
                if (!*str_at(chain, "Protocol"))
                    abort();
                json_object_put(chain);
            } else if (rc != CN_ECORRUPT && rc != CN_ENOMEM) {
                abort();
            }
        }
        free(copy);
    }
    return 0;
}
