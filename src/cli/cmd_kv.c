/* cli/cmd_kv.c: `cairn kv put|get|delete|export|import`, matching the
 * messages and exit codes of Consul's kv commands
 * (https://developer.hashicorp.com/consul/commands/kv). */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "cli/cli_int.h"

const struct cli_flag cli__kv_put_flags[] = {
    {"cas", CLI_BOOL, NULL,
     "Perform a Check-And-Set operation. Specifying this value also requires the "
     "-modify-index flag to be set. The default value is false."},
    {"flags", CLI_U64, "uint",
     "Unsigned integer value to assign to this key-value pair. This value is not read by "
     "Cairn, so clients can use this value however makes sense for their use case. The "
     "default value is 0 (no flags)."},
    {"base64", CLI_BOOL, NULL, "Treat the data as base 64 encoded. The default value is false."},
    {"modify-index", CLI_U64, "uint",
     "Unsigned integer representing the ModifyIndex of the key. This is used in combination "
     "with the -cas flag."},
    {"session", CLI_STR, "string",
     "User-defined identifier for this session as a string. This is commonly used with the "
     "-acquire and -release operations to build robust locking."},
    {"acquire", CLI_BOOL, NULL,
     "Obtain a lock on the key. If the key does not exist, this operation will create the key "
     "and obtain the lock. The session must already exist and be specified via the -session "
     "flag."},
    {"release", CLI_BOOL, NULL,
     "Forfeit the lock on the key at the given path. This requires the -session flag to be "
     "set."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__kv_get_flags[] = {
    {"base64", CLI_BOOL, NULL, "Base64 encode the value. The default value is false."},
    {"detailed", CLI_BOOL, NULL,
     "Provide additional metadata about the key in addition to the value such as the "
     "ModifyIndex and any flags that may have been set on the key. The default value is "
     "false."},
    {"keys", CLI_BOOL, NULL,
     "List keys which start with the given prefix, but not their values. This option is "
     "commonly combined with the -separator option. The default value is false."},
    {"recurse", CLI_BOOL, NULL,
     "Recursively look at all keys prefixed with the given path. The default value is false."},
    {"separator", CLI_STR, "string",
     "String to use as a separator between keys. The default value is \"/\", but this option "
     "is only taken into account when paired with the -keys flag."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__kv_delete_flags[] = {
    {"cas", CLI_BOOL, NULL,
     "Perform a Check-And-Set operation. Specifying this value also requires the "
     "-modify-index flag to be set. The default value is false."},
    {"modify-index", CLI_U64, "uint",
     "Unsigned integer representing the ModifyIndex of the key. This is used in combination "
     "with the -cas flag."},
    {"recurse", CLI_BOOL, NULL,
     "Recursively delete all keys with the path. The default value is false."},
    {NULL, 0, NULL, NULL},
};

/* "/v1/kv/<escaped key>" into b. */
static int kv_path(struct cn_buf *b, const char *key)
{
    int rc = cn_buf_puts(b, "/v1/kv/");
    if (rc == 0)
        rc = cli__url_escape(b, key, 1);
    return rc ? rc : cn_buf_cstr(b);
}

/* Consul strips one leading '/' as a courtesy: keys cannot start with one. */
static const char *strip_slash(const char *k)
{
    return k[0] == '/' ? k + 1 : k;
}

/* The optional KEY argument of get/delete/export, without its leading '/';
 * NULL (message printed) when there are too many arguments. */
static const char *key_arg(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 1) {
        fprintf(c->err, "Too many arguments (expected 1, got %zu)\n", a->npos);
        return NULL;
    }
    return strip_slash(a->npos ? a->pos[0] : "");
}

/* The agent's answer as a JSON array of KV entries, owned by the caller;
 * NULL (message printed) when it is not JSON or not an array. */
static struct json_object *array_body(struct cli_ctx *c, struct cli_resp *r)
{
    struct json_object *root = cli__json_body(c, "Error querying Cairn agent", r);
    if (root && !json_object_is_type(root, json_type_array)) {
        fprintf(c->err, "Error querying Cairn agent: expected a JSON array\n");
        json_object_put(root);
        return NULL;
    }
    return root;
}

/* A PUT/DELETE answer is the JSON literal true or false. */
static int answered_true(const struct cli_resp *r)
{
    const char *p = r->body.p ? r->body.p : "";
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return strncmp(p, "true", 4) == 0;
}

/* Consul's "@file", "-" (stdin) and literal DATA forms, into b. */
static int data_from_arg(struct cli_ctx *c, const char *arg, struct cn_buf *b)
{
    char err[512];
    if (arg[0] == '@') {
        if (cli__read_file(b, arg + 1, err, sizeof(err)) < 0) {
            fprintf(c->err, "Error! Failed to read file: %s\n", err);
            return -1;
        }
        return 0;
    }
    if (strcmp(arg, "-") == 0) {
        if (cli__read_file(b, "-", err, sizeof(err)) < 0) {
            fprintf(c->err, "Error! Failed to read stdin: %s\n", err);
            return -1;
        }
        return 0;
    }
    if (cn_buf_puts(b, arg) < 0 || cn_buf_cstr(b) < 0) {
        fprintf(c->err, "Error! out of memory\n");
        return -1;
    }
    return 0;
}

int cli__run_kv_put(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos == 0) {
        fprintf(c->err, "Error! Missing KEY argument\n");
        return 1;
    }
    if (a->npos > 2) {
        fprintf(c->err, "Error! Too many arguments (expected 1 or 2, got %zu)\n", a->npos);
        return 1;
    }
    const char *key = a->pos[0];
    int cas = cli__flag_bool(a, "cas"), acquire = cli__flag_bool(a, "acquire");
    int release = cli__flag_bool(a, "release");
    const char *session = cli__flag_str(a, "session", "");
    uint64_t midx = cli__flag_u64(a, "modify-index"), flags = cli__flag_u64(a, "flags");

    struct cn_buf data = CN_BUF_INIT, value = CN_BUF_INIT, path = CN_BUF_INIT, q = CN_BUF_INIT;
    struct cli_resp r = {0};
    int ret = 1;
    if (a->npos == 2 && a->pos[1][0] && data_from_arg(c, a->pos[1], &data) < 0)
        goto out;
    const struct cn_buf *send = &data;
    if (cli__flag_bool(a, "base64")) {
        if (cn_base64_decode(&value, data.p ? data.p : "", data.len) < 0) {
            fprintf(c->err, "Error! Cannot base 64 decode data: illegal base64 data\n");
            goto out;
        }
        send = &value;
    }
    if ((release || acquire) && !*session) {
        fprintf(c->err, "Error! Missing -session (required with -acquire and -release)\n");
        goto out;
    }
    if (cas && midx == 0) {
        fprintf(c->err, "Must specify -modify-index with -cas!\n");
        goto out;
    }
    int rc = kv_path(&path, key);
    /* As the Go client: flags only when non-zero; cas carries the index. */
    if (rc == 0 && flags)
        rc = cn_buf_printf(&q, "flags=%llu", (unsigned long long)flags);
    if (rc == 0 && cas)
        rc = cn_buf_printf(&q, "%scas=%llu", q.len ? "&" : "", (unsigned long long)midx);
    if (rc == 0 && (acquire || release))
        rc = cli__query_param(&q, acquire ? "acquire" : "release", session);
    if (rc == 0)
        rc = cn_buf_cstr(&q);
    if (rc < 0) {
        fprintf(c->err, "Error! out of memory\n");
        goto out;
    }
    char what[600];
    if (cas)
        snprintf(what, sizeof(what), "Error! Did not write to %s", key);
    else
        snprintf(what, sizeof(what), "Error! Failed writing data");
    if (cli__call(c, what, "PUT", path.p, q.p, send->p ? send->p : "", send->len, 0, &r))
        goto out;
    if (!answered_true(&r)) {
        if (cas)
            fprintf(c->err, "Error! Did not write to %s: CAS failed\n", key);
        else if (acquire)
            fprintf(c->err, "Error! Did not acquire lock\n");
        else if (release)
            fprintf(c->err, "Error! Did not release lock\n");
        else
            fprintf(c->err, "Error! Failed writing data: agent answered false\n");
        goto out;
    }
    if (acquire)
        fprintf(c->out, "Success! Lock acquired on: %s\n", key);
    else if (release)
        fprintf(c->out, "Success! Lock released on: %s\n", key);
    else
        fprintf(c->out, "Success! Data written to: %s\n", key);
    ret = 0;
out:
    cli__resp_free(&r);
    cn_buf_free(&data);
    cn_buf_free(&value);
    cn_buf_free(&path);
    cn_buf_free(&q);
    return ret;
}

/* The KVPair's value, decoded from base64 (null means empty) into v. */
static int pair_value(struct json_object *p, struct cn_buf *v)
{
    const char *s = NULL;
    if (cn_json_get_str(p, "Value", &s) < 0)
        return CN_EINVAL;
    cn_buf_reset(v);
    if (s && cn_base64_decode(v, s, strlen(s)) < 0)
        return CN_EINVAL;
    return cn_buf_cstr(v);
}

static const char *pair_str(struct json_object *p, const char *k)
{
    const char *s = NULL;
    return cn_json_get_str(p, k, &s) == 1 ? s : "";
}

static uint64_t pair_u64(struct json_object *p, const char *k)
{
    uint64_t v = 0;
    cn_json_get_u64(p, k, &v);
    return v;
}

/* Consul's -detailed layout (text/tabwriter), value without a final newline. */
static void print_detailed(struct cli_ctx *c, struct json_object *p, const struct cn_buf *v,
                           int b64)
{
    struct cn_buf t = CN_BUF_INIT, o = CN_BUF_INIT;
    const char *session = pair_str(p, "Session");
    cn_buf_printf(&t,
                  "CreateIndex\t%llu\nFlags\t%llu\nKey\t%s\nLockIndex\t%llu\n"
                  "ModifyIndex\t%llu\nSession\t%s\nValue\t",
                  (unsigned long long)pair_u64(p, "CreateIndex"),
                  (unsigned long long)pair_u64(p, "Flags"), pair_str(p, "Key"),
                  (unsigned long long)pair_u64(p, "LockIndex"),
                  (unsigned long long)pair_u64(p, "ModifyIndex"), *session ? session : "-");
    if (b64)
        cn_base64_encode(&t, v->p, v->len);
    else
        cn_buf_append(&t, v->p, v->len);
    if (t.p && cli__tabwrite(&o, t.p, t.len) == 0 && o.p)
        fwrite(o.p, 1, o.len, c->out);
    fputc('\n', c->out);
    cn_buf_free(&t);
    cn_buf_free(&o);
}

static void print_value(struct cli_ctx *c, const struct cn_buf *v, int b64)
{
    if (b64) {
        struct cn_buf e = CN_BUF_INIT;
        cn_base64_encode(&e, v->p, v->len);
        if (e.p)
            fwrite(e.p, 1, e.len, c->out);
        cn_buf_free(&e);
    } else if (v->len) {
        fwrite(v->p, 1, v->len, c->out);
    }
}

int cli__run_kv_get(struct cli_ctx *c, const struct cli_args *a)
{
    const char *key = key_arg(c, a);
    if (!key)
        return 1;
    int keys = cli__flag_bool(a, "keys"), recurse = cli__flag_bool(a, "recurse");
    int detailed = cli__flag_bool(a, "detailed"), b64 = cli__flag_bool(a, "base64");
    if (!*key && !(recurse || keys)) {
        fprintf(c->err, "Error! Missing KEY argument\n");
        return 1;
    }
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT, v = CN_BUF_INIT;
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    int ret = 1;
    int rc = kv_path(&path, key);
    if (rc == 0 && keys) {
        rc = cn_buf_puts(&q, "keys&separator=");
        if (rc == 0)
            rc = cli__url_escape(&q, cli__flag_str(a, "separator", "/"), 0);
    } else if (rc == 0 && recurse) {
        rc = cn_buf_puts(&q, "recurse");
    }
    if (rc == 0)
        rc = cn_buf_cstr(&q);
    if (rc < 0) {
        fprintf(c->err, "Error! out of memory\n");
        goto out;
    }
    if (cli__call(c, "Error querying Cairn agent", "GET", path.p, q.p ? q.p : "", NULL, 0, 1, &r))
        goto out;
    if (r.code == 404) {
        if (keys || recurse) {
            ret = 0; /* an empty prefix lists nothing */
        } else {
            fprintf(c->err, "Error! No key exists at: %s\n", key);
        }
        goto out;
    }
    root = array_body(c, &r);
    if (!root)
        goto out;
    size_t n = json_object_array_length(root);
    if (keys) {
        for (size_t i = 0; i < n; i++) {
            struct json_object *k = json_object_array_get_idx(root, i);
            if (json_object_is_type(k, json_type_string))
                fprintf(c->out, "%s\n", json_object_get_string(k));
        }
        ret = 0;
        goto out;
    }
    if (!recurse && n > 0)
        n = 1;
    for (size_t i = 0; i < n; i++) {
        struct json_object *p = json_object_array_get_idx(root, i);
        if (pair_value(p, &v) < 0) {
            fprintf(c->err, "Error querying Cairn agent: bad value for key %s\n",
                    pair_str(p, "Key"));
            goto out;
        }
        if (detailed) {
            print_detailed(c, p, &v, b64);
            if (recurse && i + 1 < n)
                fputc('\n', c->out);
        } else {
            if (recurse)
                fprintf(c->out, "%s:", pair_str(p, "Key"));
            print_value(c, &v, b64);
            fputc('\n', c->out);
        }
    }
    if (!recurse && n == 0) {
        fprintf(c->err, "Error! No key exists at: %s\n", key);
        goto out;
    }
    ret = 0;
out:
    if (root)
        json_object_put(root);
    cli__resp_free(&r);
    cn_buf_free(&path);
    cn_buf_free(&q);
    cn_buf_free(&v);
    return ret;
}

int cli__run_kv_delete(struct cli_ctx *c, const struct cli_args *a)
{
    const char *key = key_arg(c, a);
    if (!key)
        return 1;
    int cas = cli__flag_bool(a, "cas"), recurse = cli__flag_bool(a, "recurse");
    uint64_t midx = cli__flag_u64(a, "modify-index");
    if (!*key && !recurse) {
        fprintf(c->err, "Error! Missing KEY argument\n");
        return 1;
    }
    if (cas && midx == 0) {
        fprintf(c->err, "Cannot delete a key that does not exist. Provide a -modify-index "
                        "greater than than 0.\n");
        return 1;
    }
    if (midx && !cas) {
        fprintf(c->err, "Cannot specify -modify-index without -cas!\n");
        return 1;
    }
    if (recurse && cas) {
        fprintf(c->err, "Cannot specify both -cas and -recurse!\n");
        return 1;
    }
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT;
    struct cli_resp r = {0};
    int ret = 1;
    int rc = kv_path(&path, key);
    if (rc == 0 && recurse)
        rc = cn_buf_puts(&q, "recurse");
    if (rc == 0 && cas)
        rc = cn_buf_printf(&q, "cas=%llu", (unsigned long long)midx);
    if (rc == 0)
        rc = cn_buf_cstr(&q);
    if (rc < 0) {
        fprintf(c->err, "Error! out of memory\n");
        goto out;
    }
    char what[600];
    if (recurse)
        snprintf(what, sizeof(what), "Error! Did not delete prefix %s", key);
    else if (cas)
        snprintf(what, sizeof(what), "Error! Did not delete key %s", key);
    else
        snprintf(what, sizeof(what), "Error deleting key %s", key);
    if (cli__call(c, what, "DELETE", path.p, q.p, NULL, 0, 0, &r))
        goto out;
    if (cas && !answered_true(&r)) {
        fprintf(c->err, "Error! Did not delete key %s: CAS failed\n", key);
        goto out;
    }
    if (recurse)
        fprintf(c->out, "Success! Deleted keys with prefix: %s\n", key);
    else
        fprintf(c->out, "Success! Deleted key: %s\n", key);
    ret = 0;
out:
    cli__resp_free(&r);
    cn_buf_free(&path);
    cn_buf_free(&q);
    return ret;
}

/* Consul writes its export with Go's json.MarshalIndent(entries, "", "\t"):
 * lower-case keys, tab indentation, "[]" when empty. */
int cli__run_kv_export(struct cli_ctx *c, const struct cli_args *a)
{
    const char *key = key_arg(c, a);
    if (!key)
        return 1;
    struct cn_buf path = CN_BUF_INIT, o = CN_BUF_INIT, v = CN_BUF_INIT;
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    int ret = 1;
    if (kv_path(&path, key) < 0) {
        fprintf(c->err, "Error! out of memory\n");
        goto out;
    }
    if (cli__call(c, "Error querying Cairn agent", "GET", path.p, "recurse", NULL, 0, 1, &r))
        goto out;
    size_t n = 0;
    if (r.code != 404) {
        root = array_body(c, &r);
        if (!root)
            goto out;
        n = json_object_array_length(root);
    }
    int rc = cn_buf_puts(&o, n ? "[\n" : "[]");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct json_object *p = json_object_array_get_idx(root, i);
        const char *k = pair_str(p, "Key");
        if (pair_value(p, &v) < 0) {
            fprintf(c->err, "Error exporting KV data: bad value for key %s\n", k);
            goto out;
        }
        rc = cn_buf_puts(&o, "\t{\n\t\t\"key\": ");
        if (rc == 0)
            rc = cli__go_json_str(&o, k, strlen(k));
        if (rc == 0)
            rc = cn_buf_printf(&o, ",\n\t\t\"flags\": %llu,\n\t\t\"value\": \"",
                               (unsigned long long)pair_u64(p, "Flags"));
        if (rc == 0)
            rc = cn_base64_encode(&o, v.p, v.len);
        if (rc == 0)
            rc = cn_buf_puts(&o, i + 1 < n ? "\"\n\t},\n" : "\"\n\t}\n]");
    }
    if (rc < 0) {
        fprintf(c->err, "Error exporting KV data: out of memory\n");
        goto out;
    }
    fwrite(o.p, 1, o.len, c->out);
    fputc('\n', c->out);
    ret = 0;
out:
    if (root)
        json_object_put(root);
    cli__resp_free(&r);
    cn_buf_free(&path);
    cn_buf_free(&o);
    cn_buf_free(&v);
    return ret;
}

int cli__run_kv_import(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos == 0) {
        fprintf(c->err, "Error! Missing DATA argument\n");
        return 1;
    }
    if (a->npos > 1) {
        fprintf(c->err, "Error! Too many arguments (expected 1, got %zu)\n", a->npos);
        return 1;
    }
    if (!a->pos[0][0]) {
        fprintf(c->err, "Error! Empty DATA argument\n");
        return 1;
    }
    struct cn_buf data = CN_BUF_INIT, v = CN_BUF_INIT, path = CN_BUF_INIT, q = CN_BUF_INIT;
    struct json_object *root = NULL;
    int ret = 1;
    char err[256];
    if (data_from_arg(c, a->pos[0], &data) < 0)
        goto out;
    root = cn_json_parse(data.p ? data.p : "", data.len, err, sizeof(err));
    if (!root) {
        fprintf(c->err, "Cannot unmarshal data: %s\n", err);
        goto out;
    }
    if (!json_object_is_type(root, json_type_array)) {
        fprintf(c->err, "Cannot unmarshal data: expected a JSON array of entries\n");
        goto out;
    }
    size_t n = json_object_array_length(root);
    /* Validate every entry before writing any, so a bad file changes nothing. */
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(root, i);
        const char *k = NULL, *val = NULL;
        uint64_t fl;
        if (!json_object_is_type(e, json_type_object) || cn_json_get_str(e, "key", &k) != 1 ||
            cn_json_get_str(e, "value", &val) < 0 || cn_json_get_u64(e, "flags", &fl) < 0) {
            fprintf(c->err,
                    "Cannot unmarshal data: entry %zu is not {\"key\", \"flags\", "
                    "\"value\"}\n",
                    i);
            goto out;
        }
        cn_buf_reset(&v);
        if (val && cn_base64_decode(&v, val, strlen(val)) < 0) {
            fprintf(c->err, "Error base 64 decoding value for key %s: illegal base64 data\n", k);
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(root, i);
        const char *k = NULL, *val = NULL;
        uint64_t fl = 0;
        cn_json_get_str(e, "key", &k);
        cn_json_get_str(e, "value", &val);
        cn_json_get_u64(e, "flags", &fl);
        cn_buf_reset(&v);
        cn_buf_reset(&path);
        cn_buf_reset(&q);
        int rc = val ? cn_base64_decode(&v, val, strlen(val)) : 0;
        if (rc == 0)
            rc = kv_path(&path, k);
        if (rc == 0 && fl)
            rc = cn_buf_printf(&q, "flags=%llu", (unsigned long long)fl);
        if (rc == 0)
            rc = cn_buf_cstr(&q);
        if (rc < 0) {
            fprintf(c->err, "Error! out of memory\n");
            goto out;
        }
        char what[600];
        snprintf(what, sizeof(what), "Error! Failed writing data for key %s", k);
        struct cli_resp r = {0};
        int bad = cli__call(c, what, "PUT", path.p, q.p, v.p ? v.p : "", v.len, 0, &r);
        cli__resp_free(&r);
        if (bad)
            goto out;
        fprintf(c->out, "Imported: %s\n", k);
    }
    ret = 0;
out:
    if (root)
        json_object_put(root);
    cn_buf_free(&data);
    cn_buf_free(&v);
    cn_buf_free(&path);
    cn_buf_free(&q);
    return ret;
}
