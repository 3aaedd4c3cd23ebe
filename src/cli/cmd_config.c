/* cli/cmd_config.c: `cairn config write|read|list|delete`, Consul's
 * command/config/... over /v1/config:
 *
 *   write [-cas -modify-index=N] FILE   an entry in HCL or JSON (FILE "-":
 *       stdin); "Config entry written: KIND/NAME", or with -cas a stale
 *       index: "Config entry not updated: KIND/NAME" and exit 1
 *   read -kind K -name N                the entry as indented JSON
 *   list -kind K                        the entries' names, one a line
 *   delete -kind K -name N [-cas -modify-index=N]
 *                                       "Config entry deleted: KIND/NAME"
 *
 * cairn's kinds are proxy-defaults, service-defaults and service-intentions;
 * the agent refuses the others. Field names as Consul accepts them:
 * CamelCase or snake_case (HCL's usual form). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "cli/cli_int.h"
#include "config/hcl.h"

const struct cli_flag cli__config_write_flags[] = {
    {"cas", CLI_BOOL, NULL,
     "Perform a Check-And-Set operation: write only if the entry's ModifyIndex is "
     "-modify-index (0: only if there is none)."},
    {"modify-index", CLI_U64, "int", "The ModifyIndex -cas compares with."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__config_read_flags[] = {
    {"kind", CLI_STR, "kind",
     "The kind of the config entry (proxy-defaults, service-defaults, service-intentions)."},
    {"name", CLI_STR, "name", "The name of the config entry."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__config_list_flags[] = {
    {"kind", CLI_STR, "kind",
     "The kind of the config entries to list (proxy-defaults, service-defaults, "
     "service-intentions)."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__config_delete_flags[] = {
    {"kind", CLI_STR, "kind",
     "The kind of the config entry (proxy-defaults, service-defaults, service-intentions)."},
    {"name", CLI_STR, "name", "The name of the config entry."},
    {"cas", CLI_BOOL, NULL,
     "Perform a Check-And-Set operation: delete only if the entry's ModifyIndex is "
     "-modify-index."},
    {"modify-index", CLI_U64, "int", "The ModifyIndex -cas compares with."},
    {NULL, 0, NULL, NULL},
};

static int cas_flags(struct cli_ctx *c, const struct cli_args *a, struct cn_buf *q)
{
    bool cas = cli__flag_bool(a, "cas");
    bool idx = cli__flag_isset(a, "modify-index");
    if (cas && !idx) {
        fprintf(c->err, "Cannot use -cas without -modify-index\n");
        return -1;
    }
    if (!cas && idx) {
        fprintf(c->err, "Cannot use -modify-index without -cas\n");
        return -1;
    }
    if (!cas)
        return 0;
    char v[32];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)cli__flag_u64(a, "modify-index"));
    return cli__query_param(q, "cas", v) ? -1 : 1;
}

/* The entry in file `path` as JSON text into out; 0 or 1 after printing why. */
static int entry_json(struct cli_ctx *c, const char *path, struct cn_buf *out, char *kind,
                      size_t kcap, char *name, size_t ncap)
{
    struct cn_buf data = CN_BUF_INIT;
    char err[512];
    if (cli__read_file(&data, path, err, sizeof(err)) < 0) {
        fprintf(c->err, "Failed to read config file %s: %s\n", path, err);
        return 1;
    }
    size_t i = 0;
    while (i < data.len &&
           (data.p[i] == ' ' || data.p[i] == '\t' || data.p[i] == '\n' || data.p[i] == '\r'))
        i++;
    bool json = i < data.len && data.p[i] == '{';
    struct json_object *root = cfg_parse(data.p ? data.p : "", data.len,
                                         json ? CFG_FMT_JSON : CFG_FMT_HCL, err, sizeof(err));
    cn_buf_free(&data);
    if (!root || !json_object_is_type(root, json_type_object)) {
        fprintf(c->err, "Failed to decode config entry input: %s\n",
                root ? "expected an object" : err);
        json_object_put(root);
        return 1;
    }
    /* HCL: one `Sources { }` block is an object; the entry wants a list */
    json_object_object_foreach(root, k, v)
    {
        if (cn_json_key_eq(k, "Sources") && v && json_object_is_type(v, json_type_object)) {
            struct json_object *arr = json_object_new_array();
            if (!arr || json_object_array_add(arr, json_object_get(v))) {
                json_object_put(arr);
                json_object_put(root);
                fprintf(c->err, "out of memory\n");
                return 1;
            }
            json_object_object_add(root, k, arr);
            break;
        }
    }
    const char *s = NULL;
    snprintf(kind, kcap, "%s", cn_json_get_str(root, "Kind", &s) == 1 && s ? s : "");
    s = NULL;
    snprintf(name, ncap, "%s", cn_json_get_str(root, "Name", &s) == 1 && s ? s : "");
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    int rc = !text || cn_buf_puts(out, text);
    json_object_put(root);
    if (rc)
        fprintf(c->err, "out of memory\n");
    return rc;
}

int cli__run_config_write(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos != 1) {
        fprintf(c->err, "Must provide exactly one positional argument to specify the config "
                        "entry to write\n");
        return 1;
    }
    struct cn_buf body = CN_BUF_INIT, q = CN_BUF_INIT;
    char kind[128], name[512];
    int cas = cas_flags(c, a, &q);
    if (cas < 0 || cn_buf_cstr(&q) ||
        entry_json(c, a->pos[0], &body, kind, sizeof(kind), name, sizeof(name))) {
        cn_buf_free(&body);
        cn_buf_free(&q);
        return 1;
    }
    struct cli_resp r = {0};
    int rc = cli__call(c, "Error writing config entry", "PUT", "/v1/config", q.p, body.p, body.len,
                       0, &r);
    cn_buf_free(&body);
    cn_buf_free(&q);
    if (!rc) {
        bool ok = r.body.p && !strncmp(r.body.p, "true", 4);
        if (ok) {
            fprintf(c->out, "Config entry written: %s/%s\n", kind, name);
        } else {
            fprintf(c->err, "Config entry not updated: %s/%s\n", kind, name);
            rc = 1;
        }
    }
    cli__resp_free(&r);
    return rc;
}

/* /v1/config/KIND[/NAME] into p; 0 or 1 after printing why. */
static int entry_path(struct cli_ctx *c, const struct cli_args *a, bool with_name, struct cn_buf *p)
{
    const char *kind = cli__flag_str(a, "kind", "");
    const char *name = with_name ? cli__flag_str(a, "name", "") : NULL;
    if (!*kind) {
        fprintf(c->err, "Must specify the -kind parameter\n");
        return 1;
    }
    if (with_name && !*name) {
        fprintf(c->err, "Must specify the -name parameter\n");
        return 1;
    }
    struct cn_buf k = CN_BUF_INIT;
    int rc = cli__path_seg(&k, "/v1/config/", kind) < 0;
    if (!rc && with_name) {
        k.len = strlen(k.p);
        rc = cn_buf_puts(&k, "/") || cn_buf_cstr(&k) || cli__path_seg(p, k.p, name) < 0;
    } else if (!rc)
        rc = cn_buf_puts(p, k.p) || cn_buf_cstr(p);
    cn_buf_free(&k);
    if (rc)
        fprintf(c->err, "out of memory\n");
    return rc;
}

int cli__run_config_read(struct cli_ctx *c, const struct cli_args *a)
{
    struct cn_buf p = CN_BUF_INIT;
    if (entry_path(c, a, true, &p))
        return 1;
    struct cli_resp r = {0};
    int rc = cli__call(c, "Error reading config entry", "GET", p.p, "pretty", NULL, 0, 0, &r);
    if (!rc)
        fprintf(c->out, "%s%s", r.body.p ? r.body.p : "",
                r.body.len && r.body.p[r.body.len - 1] == '\n' ? "" : "\n");
    cn_buf_free(&p);
    cli__resp_free(&r);
    return rc;
}

int cli__run_config_list(struct cli_ctx *c, const struct cli_args *a)
{
    struct cn_buf p = CN_BUF_INIT;
    if (entry_path(c, a, false, &p))
        return 1;
    struct cli_resp r = {0};
    struct json_object *o = NULL;
    const char *what = "Error listing config entries";
    int rc =
        cli__call(c, what, "GET", p.p, "", NULL, 0, 0, &r) || !(o = cli__json_body(c, what, &r));
    for (size_t i = 0;
         !rc && json_object_is_type(o, json_type_array) && i < json_object_array_length(o); i++) {
        const char *n = NULL;
        cn_json_get_str(json_object_array_get_idx(o, i), "Name", &n);
        fprintf(c->out, "%s\n", n ? n : "");
    }
    json_object_put(o);
    cn_buf_free(&p);
    cli__resp_free(&r);
    return rc;
}

int cli__run_config_delete(struct cli_ctx *c, const struct cli_args *a)
{
    struct cn_buf p = CN_BUF_INIT, q = CN_BUF_INIT;
    int cas = cas_flags(c, a, &q);
    if (cas < 0 || cn_buf_cstr(&q) || entry_path(c, a, true, &p)) {
        cn_buf_free(&p);
        cn_buf_free(&q);
        return 1;
    }
    struct cli_resp r = {0};
    int rc = cli__call(c, "Error deleting config entry", "DELETE", p.p, q.p, NULL, 0, 0, &r);
    const char *kind = cli__flag_str(a, "kind", ""), *name = cli__flag_str(a, "name", "");
    if (!rc && cas == 1 && !(r.body.p && !strncmp(r.body.p, "true", 4))) {
        fprintf(c->err, "Config entry not deleted: %s/%s\n", kind, name);
        rc = 1;
    } else if (!rc) {
        fprintf(c->out, "Config entry deleted: %s/%s\n", kind, name);
    }
    cn_buf_free(&p);
    cn_buf_free(&q);
    cli__resp_free(&r);
    return rc;
}
