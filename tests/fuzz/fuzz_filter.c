/* Fuzz the ?filter= expression parser, validator and evaluator
 * (filter/filter.h): any bytes give a filter or a clear error, never a crash
 * or a leak; a filter that compiles evaluates against a fixed item. The
 * schema is health/service's (CheckServiceNode), the deepest one. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "filter/filter.h"

static const struct filter_field f_addr[] = {
    {"Address", FILTER_STR, NULL},
    {"Port", FILTER_INT, NULL},
    {NULL, 0, NULL},
};
static const struct filter_field f_addr_elem[] = {
    {"*", FILTER_STRUCT, f_addr},
    {NULL, 0, NULL},
};
static const struct filter_field f_node[] = {
    {"Node", FILTER_STR, NULL},
    {"Meta", FILTER_STR_MAP, NULL},
    {NULL, 0, NULL},
};
static const struct filter_field f_svc[] = {
    {"Service", FILTER_STR, NULL},
    {"Tags", FILTER_STR_LIST, NULL},
    {"Port", FILTER_INT, NULL},
    {"EnableTagOverride", FILTER_BOOL, NULL},
    {"TaggedAddresses", FILTER_STRUCT_MAP, f_addr_elem},
    {NULL, 0, NULL},
};
static const struct filter_field f_chk[] = {
    {"Status", FILTER_STR, NULL},
    {NULL, 0, NULL},
};
static const struct filter_field schema[] = {
    {"Node", FILTER_STRUCT, f_node},
    {"Service", FILTER_STRUCT, f_svc},
    {"Checks", FILTER_STRUCT_LIST, f_chk},
    {NULL, 0, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct json_object *item;
    if (!item)
        item = json_tokener_parse(
            "{\"Node\":{\"Node\":\"n1\",\"Meta\":{\"env\":\"prod\"}},\"Service\":{\"Service\":"
            "\"web\",\"Tags\":[\"a\",\"b\"],\"Port\":80,\"EnableTagOverride\":false,"
            "\"TaggedAddresses\":{\"lan\":{\"Address\":\"10.0.0.1\",\"Port\":80}}},"
            "\"Checks\":[{\"Status\":\"passing\"},{\"Status\":null},7]}");
    struct filter *f = NULL;
    char err[512];
    int rc = filter_new((const char *)data, size, schema, &f, err, sizeof(err));
    if (rc == 0) {
        (void)filter_match(f, item);
        filter_free(f);
    } else if (f || !memchr(err, 0, sizeof(err))) {
        __builtin_trap();
    }
    return 0;
}
