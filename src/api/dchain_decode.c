/* api/dchain_decode.c: the body of POST /v1/discovery-chain/:service
 * (agent/discovery_chain_endpoint.go decodeDiscoveryChainReadRequest): the
 * overrides OverrideConnectTimeout (a Go duration string or nanoseconds),
 * OverrideProtocol and OverrideMeshGateway {Mode}, in any case, with or
 * without '_' (Consul translates "override_protocol" and matches the rest
 * case-insensitively). Consul's texts where it refuses ("Request decoding
 * failed: ..." and "Invalid OverrideMeshGateway.Mode parameter"); where
 * Consul accepts and ignores (an unknown key, a timeout of another type, a
 * negative one) or cannot be honoured here (mesh gateway modes "local" and
 * "remote": cairn has no mesh gateways) cairn refuses with the reason. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/dchain.h"
#include "api/decode_int.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

#define FAILED "Request decoding failed: "

void api__dchain_override_clear(struct api_dchain_override *o)
{
    cn_free(o->protocol);
    memset(o, 0, sizeof(*o));
}

enum { K_TIMEOUT, K_PROTOCOL, K_MGW, K_N };
static const char *const keys[K_N] = {"OverrideConnectTimeout", "OverrideProtocol",
                                      "OverrideMeshGateway"};

static int timeout(struct json_object *v, int64_t *ns, char *err, size_t cap)
{
    const char *k = keys[K_TIMEOUT];
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if ((size_t)json_object_get_string_len(v) != strlen(s) || cn_dur_parse(s, ns))
            return api__fail(err, cap, FAILED "time: invalid duration \"%s\"", s);
    } else if (json_object_is_type(v, json_type_int)) {
        *ns = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v); /* Go: time.Duration(float64), truncated */
        if (!isfinite(d) || d >= 9223372036854775807.0 || d < -9223372036854775807.0)
            return api__fail(err, cap, FAILED "%s: %g is out of range for a duration", k, d);
        *ns = (int64_t)d;
    } else {
        return api__fail(err, cap, FAILED "%s: cannot use %s as duration", k, api__type_name(v));
    }
    if (*ns < 0) {
        char d[40];
        cn_dur_format(*ns, d, sizeof(d));
        return api__fail(err, cap, "%s must not be negative (%s)", k, d);
    }
    return 0;
}

static int mesh_gateway(struct json_object *v, bool *none, char *err, size_t cap)
{
    if (!json_object_is_type(v, json_type_object))
        return api__fail(err, cap, FAILED "%s: cannot use %s as object", keys[K_MGW],
                         api__type_name(v));
    struct json_object *mode = NULL;
    bool got = false;
    json_object_object_foreach(v, k, mv)
    {
        if (!cn_json_key_eq(k, "Mode"))
            return api__fail(err, cap, FAILED "%s: invalid key \"%s\" (it takes Mode)", keys[K_MGW],
                             k);
        if (got)
            return api__fail(err, cap, FAILED "%s: Mode given twice", keys[K_MGW]);
        got = true;
        mode = mv; /* NULL: null, as absent */
    }
    if (!mode)
        return 0;
    if (!json_object_is_type(mode, json_type_string))
        return api__fail(err, cap, "Invalid OverrideMeshGateway.Mode parameter");
    const char *m = json_object_get_string(mode);
    if (!*m)
        return 0;
    if (!strcmp(m, "none")) {
        *none = true;
        return 0;
    }
    if (!strcmp(m, "local") || !strcmp(m, "remote"))
        return api__fail(err, cap,
                         "OverrideMeshGateway.Mode \"%s\" is not supported: cairn has no mesh "
                         "gateways (use \"none\" or leave it empty)",
                         m);
    return api__fail(err, cap, "Invalid OverrideMeshGateway.Mode parameter");
}

int api__dchain_override_decode(const char *body, size_t len, struct api_dchain_override *o,
                                char *err, size_t cap)
{
    memset(o, 0, sizeof(*o));
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len) /* json.Decoder on an empty body */
        return api__fail(err, cap, FAILED "EOF");
    char perr[400];
    struct json_object *root = api__parse_object(body, len, perr, sizeof(perr));
    if (!root) {
        size_t pl = strlen(API_DECODE_FAILED);
        const char *why = strncmp(perr, API_DECODE_FAILED, pl) ? perr : perr + pl;
        return api__fail(err, cap, FAILED "%s", why);
    }
    struct json_object *seen[K_N] = {NULL};
    const char *seen_as[K_N] = {NULL};
    int rc = 0;
    json_object_object_foreach(root, k, v)
    {
        int which = -1;
        for (int j = 0; j < K_N && which < 0; j++)
            if (cn_json_key_eq(k, keys[j]))
                which = j;
        if (which < 0) {
            rc = api__fail(err, cap,
                           FAILED "invalid key \"%s\": the body takes OverrideConnectTimeout, "
                                  "OverrideProtocol and OverrideMeshGateway",
                           k);
            break;
        }
        if (seen_as[which]) {
            rc = api__fail(err, cap, FAILED "%s given twice (as \"%s\" and \"%s\")", keys[which],
                           seen_as[which], k);
            break;
        }
        seen_as[which] = k;
        seen[which] = v; /* NULL: null, as absent */
    }
    if (!rc && seen[K_TIMEOUT])
        rc = timeout(seen[K_TIMEOUT], &o->connect_timeout_ns, err, cap);
    if (!rc && seen[K_PROTOCOL]) {
        struct json_object *pv = seen[K_PROTOCOL];
        if (!json_object_is_type(pv, json_type_string))
            rc = api__fail(err, cap, FAILED "%s: cannot use %s as string", keys[K_PROTOCOL],
                           api__type_name(pv));
        else if ((size_t)json_object_get_string_len(pv) != strlen(json_object_get_string(pv)))
            rc = api__fail(err, cap, FAILED "%s: NUL character in string", keys[K_PROTOCOL]);
        else if (json_object_get_string_len(pv) &&
                 !(o->protocol = cn_strdup(json_object_get_string(pv))))
            rc = api__oom(err, cap);
    }
    if (!rc && seen[K_MGW])
        rc = mesh_gateway(seen[K_MGW], &o->mgw_none, err, cap);
    json_object_put(root);
    if (rc)
        api__dchain_override_clear(o);
    return rc;
}
