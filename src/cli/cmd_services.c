/* cli/cmd_services.c: `cairn services register|deregister`, by flags or from
 * JSON service definition files in Consul's format
 * (https://developer.hashicorp.com/consul/commands/services/register):
 * {"service": {...}} or {"services": [{...}, ...]}, keys in any case. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "cli/cli_int.h"
#include "config/hcl.h"

const struct cli_flag cli__services_register_flags[] = {
    {"id", CLI_STR, "string",
     "ID of the service to register for arg-based registration. If this isn't set, it will "
     "default to the -name value."},
    {"name", CLI_STR, "string", "Name of the service to register for arg-based registration."},
    {"address", CLI_STR, "string",
     "Address of the service to register for arg-based registration."},
    {"port", CLI_INT, "int", "Port of the service to register for arg-based registration."},
    {"socket", CLI_STR, "path",
     "Path to the Unix domain socket to register for arg-based registration (conflicts with "
     "address and port)."},
    {"meta", CLI_MAP, "key=value",
     "Metadata to set on the service, formatted as key=value. This flag may be specified "
     "multiple times to set multiple meta fields."},
    {"tag", CLI_LIST, "value",
     "Tag to add to the service. This flag can be specified multiple times to set multiple "
     "tags."},
    {"tagged-address", CLI_MAP, "key=value",
     "Tagged address to set on the service, formatted as key=value. This flag may be "
     "specified multiple times to set multiple addresses."},
    {"kind", CLI_STR, "string", "The service's 'kind'."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__services_deregister_flags[] = {
    {"id", CLI_STR, "string", "ID to delete. This must not be set if arguments are given."},
    {NULL, 0, NULL, NULL},
};

/* The member of obj matching `name` by Consul's loose key rules, even when its
 * value is null (cn_json_get hides those); NULL when absent. */
static const char *find_key(struct json_object *obj, const char *name)
{
    if (!obj || !json_object_is_type(obj, json_type_object))
        return NULL;
    json_object_object_foreach(obj, k, v)
    {
        (void)v;
        if (cn_json_key_eq(k, name))
            return k;
    }
    return NULL;
}

/* Set obj[name] = val (takes ownership of val), replacing any loosely equal key. */
static void put_member(struct json_object *obj, const char *name, struct json_object *val)
{
    const char *k;
    while ((k = find_key(obj, name)) != NULL) {
        char copy[256]; /* k lives in the entry being deleted */
        snprintf(copy, sizeof(copy), "%s", k);
        json_object_object_del(obj, copy);
    }
    json_object_object_add(obj, name, val);
}

/* Consul's api.ParseServiceAddr: "host:port" or just an address. */
static struct json_object *service_addr(const char *v)
{
    struct json_object *o = json_object_new_object();
    const char *colon = strrchr(v, ':');
    const char *close = strrchr(v, ']');
    int port = -1;
    if (colon && (!close || colon > close) && colon[1]) {
        port = 0;
        for (const char *p = colon + 1; *p && port >= 0; p++)
            port = (*p >= '0' && *p <= '9' && port < 65536) ? port * 10 + (*p - '0') : -1;
    }
    if (port >= 0 && port <= 65535) {
        const char *h = v;
        size_t hl = (size_t)(colon - v);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        json_object_object_add(o, "Address", json_object_new_string_len(h, (int)hl));
        json_object_object_add(o, "Port", json_object_new_int(port));
    } else {
        json_object_object_add(o, "Address", json_object_new_string(v));
    }
    return o;
}

/* Merge a repeatable key=value flag into the object member `name`. */
static void merge_map(struct json_object *svc, const char *name, const struct cli_flag_val *v,
                      int addr)
{
    if (!v || !v->nlist)
        return;
    struct json_object *m = cn_json_get(svc, name);
    if (m && json_object_is_type(m, json_type_object)) {
        json_object_get(m);
    } else {
        m = json_object_new_object();
    }
    for (size_t i = 0; i < v->nlist; i++) {
        const char *eq = strchr(v->list[i], '=');
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - v->list[i]), v->list[i]);
        json_object_object_add(m, key,
                               addr ? service_addr(eq + 1) : json_object_new_string(eq + 1));
    }
    put_member(svc, name, m);
}

/* Consul's CombineArgs: a flag fills a field the file leaves empty; meta,
 * tagged addresses and tags from flags are added to the file's. */
static void combine(struct json_object *svc, const struct cli_args *a)
{
    static const char *const strs[] = {"id",      "ID",   "name", "Name",   "address",
                                       "Address", "kind", "Kind", "socket", "SocketPath"};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i += 2) {
        const char *fv = cli__flag_str(a, strs[i], "");
        const char *cur = NULL;
        if (*fv && (cn_json_get_str(svc, strs[i + 1], &cur) != 1 || !cur || !*cur))
            put_member(svc, strs[i + 1], json_object_new_string(fv));
    }
    int64_t port = cli__flag_int(a, "port"), cur_port = 0;
    if (port && (cn_json_get_i64(svc, "Port", &cur_port) != 1 || cur_port == 0))
        put_member(svc, "Port", json_object_new_int64(port));
    merge_map(svc, "Meta", cli__flag(a, "meta"), 0);
    merge_map(svc, "TaggedAddresses", cli__flag(a, "tagged-address"), 1);
    const struct cli_flag_val *tags = cli__flag(a, "tag");
    if (tags && tags->nlist) {
        struct json_object *t = cn_json_get(svc, "Tags");
        if (t && json_object_is_type(t, json_type_array))
            json_object_get(t);
        else
            t = json_object_new_array();
        for (size_t i = 0; i < tags->nlist; i++)
            json_object_array_add(t, json_object_new_string(tags->list[i]));
        put_member(svc, "Tags", t);
    }
}

/* The service definitions of every file, as one JSON array (new reference),
 * or NULL after printing why. */
static struct json_object *services_from_files(struct cli_ctx *c, const struct cli_args *a)
{
    struct json_object *all = json_object_new_array();
    for (size_t i = 0; all && i < a->npos; i++) {
        struct cn_buf data = CN_BUF_INIT;
        char err[512];
        const char *path = a->pos[i];
        struct json_object *root = NULL;
        if (cli__read_file(&data, path, err, sizeof(err)) < 0) {
            fprintf(c->err, "Error: %s\n", err);
            goto fail;
        }
        /* Consul's definition files: HCL (.hcl) or JSON (anything else). */
        root = cfg_parse(data.p, data.len,
                         cfg_format_of_path(path) == CFG_FMT_HCL ? CFG_FMT_HCL : CFG_FMT_JSON, err,
                         sizeof(err));
        cn_buf_free(&data);
        if (!root || !json_object_is_type(root, json_type_object)) {
            fprintf(c->err, "Error: Error decoding %s: %s\n", path,
                    root ? "expected a JSON object" : err);
            goto fail;
        }
        struct json_object *one = cn_json_get(root, "service");
        struct json_object *many = cn_json_get(root, "services");
        size_t before = json_object_array_length(all);
        if (one && json_object_is_type(one, json_type_object))
            json_object_array_add(all, json_object_get(one));
        /* HCL: `service { }` repeated is a list; `services { }` once an object */
        for (size_t j = 0;
             one && json_object_is_type(one, json_type_array) && j < json_object_array_length(one);
             j++)
            json_object_array_add(all, json_object_get(json_object_array_get_idx(one, j)));
        if (many && json_object_is_type(many, json_type_object))
            json_object_array_add(all, json_object_get(many));
        for (size_t j = 0; many && json_object_is_type(many, json_type_array) &&
                           j < json_object_array_length(many);
             j++) {
            struct json_object *s = json_object_array_get_idx(many, j);
            if (!json_object_is_type(s, json_type_object)) {
                fprintf(c->err, "Error: %s: services[%zu] is not an object\n", path, j);
                goto fail;
            }
            json_object_array_add(all, json_object_get(s));
        }
        if (json_object_array_length(all) == before) {
            fprintf(c->err, "Error: %s has no service definitions\n", path);
            goto fail;
        }
        json_object_put(root);
        continue;
    fail:
        if (root)
            json_object_put(root);
        json_object_put(all);
        return NULL;
    }
    return all;
}

/* Consul's two forms of `services register|deregister`: definition files as
 * arguments, or one service given by flags (`by_flags`), not both and not neither.
 * Returns 0 with *svcs the files' services (NULL for the flag form, else a new
 * reference), or 1 after printing why; `op` and `flags` complete Consul's messages. */
static int services_form(struct cli_ctx *c, const struct cli_args *a, int by_flags, const char *op,
                         const char *flags, struct json_object **svcs)
{
    *svcs = NULL;
    if (a->npos == 0 && !by_flags) {
        fprintf(c->err, "Service %s requires at least one argument or %s.\n", op, flags);
        return 1;
    }
    if (a->npos > 0 && by_flags) {
        fprintf(c->err, "Service %s requires arguments or -id, not both.\n", op);
        return 1;
    }
    if (a->npos > 0 && !(*svcs = services_from_files(c, a)))
        return 1;
    return 0;
}

static int register_one(struct cli_ctx *c, struct json_object *svc)
{
    /* HCL's one `checks { }` block is an object: the API wants a list */
    const char *ck = find_key(svc, "checks");
    struct json_object *cv = ck ? json_object_object_get(svc, ck) : NULL;
    if (cv && json_object_is_type(cv, json_type_object)) {
        struct json_object *arr = json_object_new_array();
        json_object_array_add(arr, json_object_get(cv));
        put_member(svc, "Checks", arr);
    }
    const char *name = NULL;
    cn_json_get_str(svc, "Name", &name);
    if (!name)
        name = "";
    const char *body = json_object_to_json_string_ext(svc, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    char what[400];
    snprintf(what, sizeof(what), "Error registering service \"%s\"", name);
    struct cli_resp r = {0};
    int bad =
        cli__call(c, what, "PUT", "/v1/agent/service/register", "", body, strlen(body), 0, &r);
    cli__resp_free(&r);
    if (!bad)
        fprintf(c->out, "Registered service: %s\n", name);
    return bad;
}

int cli__run_services_register(struct cli_ctx *c, const struct cli_args *a)
{
    const char *name = cli__flag_str(a, "name", "");
    struct json_object *svcs;
    if (services_form(c, a, *name != 0, "registration", "flags", &svcs))
        return 1;
    if (!svcs) {
        svcs = json_object_new_array();
        json_object_array_add(svcs, json_object_new_object());
    }
    int ret = 0;
    for (size_t i = 0; i < json_object_array_length(svcs) && ret == 0; i++) {
        struct json_object *svc = json_object_array_get_idx(svcs, i);
        combine(svc, a);
        ret = register_one(c, svc);
    }
    json_object_put(svcs);
    return ret;
}

int cli__run_services_deregister(struct cli_ctx *c, const struct cli_args *a)
{
    const char *id = cli__flag_str(a, "id", "");
    struct json_object *svcs;
    if (services_form(c, a, *id != 0, "deregistration", "-id", &svcs))
        return 1;
    if (!svcs) {
        svcs = json_object_new_array();
        struct json_object *s = json_object_new_object();
        json_object_object_add(s, "ID", json_object_new_string(id));
        json_object_array_add(svcs, s);
    }
    int ret = 0;
    for (size_t i = 0; i < json_object_array_length(svcs) && ret == 0; i++) {
        struct json_object *svc = json_object_array_get_idx(svcs, i);
        const char *sid = NULL, *sname = NULL;
        cn_json_get_str(svc, "ID", &sid);
        cn_json_get_str(svc, "Name", &sname);
        if (!sid || !*sid)
            sid = sname;
        if (!sid || !*sid)
            continue;
        struct cn_buf path = CN_BUF_INIT;
        int rc = cli__path_seg(&path, "/v1/agent/service/deregister/", sid);
        if (rc < 0) {
            fprintf(c->err, "out of memory\n");
            cn_buf_free(&path);
            ret = 1;
            break;
        }
        char what[400];
        snprintf(what, sizeof(what), "Error deregistering service \"%s\"", sid);
        struct cli_resp r = {0};
        ret = cli__call(c, what, "PUT", path.p, "", NULL, 0, 0, &r);
        cli__resp_free(&r);
        cn_buf_free(&path);
        if (ret == 0)
            fprintf(c->out, "Deregistered service: %s\n", sid);
    }
    json_object_put(svcs);
    return ret;
}
