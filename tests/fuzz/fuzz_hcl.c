/* Fuzz config/hcl.c: any bytes, read as HCL and as JSON, give a tree or a
 * "LINE:COL: message" error, never a crash, a leak or a hang. A tree that
 * parses must survive the round trips (tree -> JSON text -> tree, tree ->
 * HCL text -> tree) unchanged: the property the loader relies on when it
 * says a JSON and an HCL file mean the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/hcl.h"

static void check_round_trip(struct json_object *t)
{
    char err[256];
    const char *js = json_object_to_json_string_ext(t, JSON_C_TO_STRING_PLAIN);
    struct json_object *j = cfg_parse(js, strlen(js), CFG_FMT_JSON, err, sizeof(err));
    if (!j || !json_object_equal(t, j)) {
        fprintf(stderr, "JSON round trip: %s\n%s\n", j ? "differs" : err, js);
        abort();
    }
    json_object_put(j);
    struct cn_buf b = CN_BUF_INIT;
    int rc = cfg_format_hcl(t, &b);
    if (rc == 0 && cn_buf_cstr(&b) == 0) {
        struct json_object *h = cfg_parse(b.p, b.len, CFG_FMT_HCL, err, sizeof(err));
        if (!h || !json_object_equal(t, h)) {
            fprintf(stderr, "HCL round trip: %s\n%s\n", h ? "differs" : err, b.p);
            abort();
        }
        json_object_put(h);
    }
    cn_buf_free(&b);
}

/* JSON nulls have no HCL form: only null-free trees go through HCL. */
static int has_null(struct json_object *v)
{
    if (!v)
        return 1;
    if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (has_null(json_object_array_get_idx(v, i)))
                return 1;
    } else if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, k, m)
        {
            (void)k;
            if (has_null(m))
                return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    for (int fmt = CFG_FMT_HCL; fmt <= CFG_FMT_JSON; fmt++) {
        err[0] = 'x';
        struct json_object *t =
            cfg_parse((const char *)data, size, (enum cfg_format)fmt, err, sizeof(err));
        if (!t) {
            unsigned line, col;
            if (sscanf(err, "%u:%u: ", &line, &col) != 2 || line == 0 || col == 0) {
                fprintf(stderr, "error without a position: %s\n", err);
                abort();
            }
            continue;
        }
        if (fmt == CFG_FMT_HCL || !has_null(t))
            check_round_trip(t);
        json_object_put(t);
    }
    return 0;
}
