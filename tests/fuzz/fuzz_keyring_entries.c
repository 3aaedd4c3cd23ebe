/* libFuzzer target for the keyring entries another datacenter's
 * /v1/internal/keyring answers (api__keyring_entries_parse,
 * api/operator_keyring.c). Beyond "no crash, no leak": an accepted answer
 * is an array of objects with every KeyringResponse field, and its JSON
 * text is accepted again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api_int.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_object *o = NULL;
    int rc = api__keyring_entries_parse(data, size, &o);
    if (rc) {
        if (rc != CN_EINVAL || o)
            abort();
        return 0;
    }
    if (!o || !json_object_is_type(o, json_type_array))
        abort();
    for (size_t i = 0; i < json_object_array_length(o); i++) {
        struct json_object *e = json_object_array_get_idx(o, i), *v = NULL;
        if (!json_object_object_get_ex(e, "WAN", &v) ||
            !json_object_object_get_ex(e, "Error", &v) || !json_object_object_get_ex(e, "Keys", &v))
            abort();
    }
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    struct json_object *again = NULL;
    if (!s || api__keyring_entries_parse(s, strlen(s), &again))
        abort();
    json_object_put(again);
    json_object_put(o);
    return 0;
}
