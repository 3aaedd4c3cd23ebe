/* libFuzzer target for a client agent's reading of a server's resolved
 * service configuration (api/svc_config.c: the answer of GET
 * /v1/internal/cairn/service-config/:name). Beyond "no crash, no leak": an
 * answer that parses gives a ProxyConfig object (NULL only when empty), and
 * merging it into a registration's Config keeps the registration's own key
 * and value, adds every key of the answer it lacks, and merging the result
 * again changes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_object *p = NULL, *u = NULL;
    int rc = api__svccfg_answer_parse(data, size, &p, &u);
    if (rc) {
        if ((rc != CN_EINVAL && rc != CN_ENOMEM) || p || u)
            abort();
        return 0;
    }
    if (p && (!json_object_is_type(p, json_type_object) || !json_object_object_length(p)))
        abort();
    if (u && (!json_object_is_type(u, json_type_object) || !json_object_object_length(u)))
        abort();
    json_object_put(u);
    static const char own[] = "{\"own-key\":\"own\"}";
    char *m = NULL;
    rc = api__config_merge(own, p, &m);
    if (rc == 0 && m) {
        struct json_object *o = cn_json_parse(m, strlen(m), NULL, 0);
        const char *v = NULL;
        if (!o || cn_json_get_str(o, "own-key", &v) != 1 || !v || strcmp(v, "own") != 0)
            abort();
        json_object_object_foreach(p, k, val)
        {
            (void)val;
            if (!json_object_object_get_ex(o, k, NULL))
                abort();
        }
        json_object_put(o);
        char *again = NULL;
        rc = api__config_merge(m, p, &again);
        if (rc == 0 && (!again || strcmp(again, m) != 0))
            abort();
        cn_free(again);
    } else if (rc == 0 && p) {
        abort(); /* a non-empty ProxyConfig always merges */
    } else if (rc && rc != CN_ENOMEM) {
        abort();
    }
    cn_free(m);
    json_object_put(p);
    return 0;
}
