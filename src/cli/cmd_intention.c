/* cli/cmd_intention.c: `cairn intention create|get|delete|check|match|list`,
 * Consul's command/intention/... over /v1/connect/intentions:
 *
 *   create [-allow|-deny] [-description=] [-meta k=v] [-replace] SRC DST
 *       POST (a new intention, refused when the pair has one) or, with
 *       -replace, PUT .../exact; prints "Created: SRC => DST (allow)".
 *   get SRC DST | get ID        the intention, one "Field: value" per line
 *   delete SRC DST | delete ID  "Intention deleted."
 *   check SRC DST               "Allowed" (exit 0) or "Denied" (exit 2)
 *   match [-source|-destination] NAME   "SRC => DST (action)" in evaluation order
 *   list                        ID, Source, Action, Destination, Precedence */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "base/mem.h"
#include "cli/cli_int.h"

#define IXN "/v1/connect/intentions"

const struct cli_flag cli__intention_create_flags[] = {
    {"allow", CLI_BOOL, NULL, "Create an intention that allows when matched (the default)."},
    {"deny", CLI_BOOL, NULL, "Create an intention that denies when matched."},
    {"description", CLI_STR, "text", "A description of the intention."},
    {"meta", CLI_MAP, "key=value", "Metadata for the intention; may be given several times."},
    {"replace", CLI_BOOL, NULL, "Replace the intention of the same source and destination."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__intention_match_flags[] = {
    {"source", CLI_BOOL, NULL, "Match intentions whose source is NAME (or *)."},
    {"destination", CLI_BOOL, NULL,
     "Match intentions whose destination is NAME (or *); the default."},
    {NULL, 0, NULL, NULL},
};

static const char *jstr(struct json_object *o, const char *k)
{
    const char *s = NULL;
    return cn_json_get_str(o, k, &s) == 1 && s ? s : "";
}

static int oom(struct cli_ctx *c)
{
    fprintf(c->err, "out of memory\n");
    return 1;
}

/* ?source=&destination= of SRC DST. */
static int pair_query(struct cn_buf *q, const char *src, const char *dst)
{
    return cli__query_param(q, "source", src) || cli__query_param(q, "destination", dst) ||
           cn_buf_cstr(q);
}

int cli__run_intention_create(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos != 2) {
        fprintf(c->err, "Must specify two arguments: source and destination\n");
        return 1;
    }
    bool deny = cli__flag_bool(a, "deny");
    if (deny && cli__flag_bool(a, "allow")) {
        fprintf(c->err, "Only one of -allow or -deny may be specified\n");
        return 1;
    }
    const char *src = a->pos[0], *dst = a->pos[1], *action = deny ? "deny" : "allow";
    bool replace = cli__flag_bool(a, "replace");
    const struct cli_flag_val *meta = cli__flag(a, "meta");
    if (replace && meta && meta->nlist) {
        fprintf(c->err, "-meta cannot be used with -replace: Consul's upsert by name keeps no "
                        "Meta\n");
        return 1;
    }
    struct cn_buf body = CN_BUF_INIT, q = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &body, 0);
    cn_jsonw_obj_open(&w);
    if (!replace) {
        cn_jsonw_kstr(&w, "SourceName", src);
        cn_jsonw_kstr(&w, "DestinationName", dst);
    }
    cn_jsonw_kstr(&w, "SourceType", "consul");
    cn_jsonw_kstr(&w, "Action", action);
    cn_jsonw_kstr(&w, "Description", cli__flag_str(a, "description", ""));
    if (meta && meta->nlist) {
        cn_jsonw_key(&w, "Meta");
        cn_jsonw_obj_open(&w);
        for (size_t i = 0; i < meta->nlist; i++) {
            const char *kv = meta->list[i], *eq = strchr(kv, '=');
            size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
            char *k = cn_strndup(kv, kl);
            if (!k) {
                w.err = 1;
                break;
            }
            cn_jsonw_kstr(&w, k, eq ? eq + 1 : "");
            cn_free(k);
        }
        cn_jsonw_obj_close(&w);
    }
    cn_jsonw_obj_close(&w);
    int ret = 1;
    struct cli_resp r = {0};
    if (w.err || (replace && pair_query(&q, src, dst))) {
        ret = oom(c);
        goto out;
    }
    const char *what = "Error creating intention";
    if (cli__call(c, what, replace ? "PUT" : "POST", replace ? IXN "/exact" : IXN, q.p ? q.p : "",
                  body.p, body.len, 0, &r))
        goto out;
    fprintf(c->out, "Created: %s => %s (%s)\n", src, dst, action);
    ret = 0;
out:
    cli__resp_free(&r);
    cn_buf_free(&body);
    cn_buf_free(&q);
    return ret;
}

/* GET the intention named by SRC DST or ID; NULL after printing why. */
static struct json_object *fetch_one(struct cli_ctx *c, const struct cli_args *a, const char *what)
{
    if (a->npos != 1 && a->npos != 2) {
        fprintf(c->err, "Must specify either an ID or a source and destination\n");
        return NULL;
    }
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT;
    struct cli_resp r = {0};
    struct json_object *o = NULL;
    int rc = a->npos == 2 ? pair_query(&q, a->pos[0], a->pos[1]) || cn_buf_puts(&path, IXN "/exact")
                          : cli__path_seg(&path, IXN "/", a->pos[0]);
    if (!rc)
        rc = cn_buf_cstr(&path);
    if (rc)
        oom(c);
    else if (!cli__call(c, what, "GET", path.p, q.p ? q.p : "", NULL, 0, 0, &r))
        o = cli__json_body(c, what, &r);
    cli__resp_free(&r);
    cn_buf_free(&path);
    cn_buf_free(&q);
    return o;
}

int cli__run_intention_get(struct cli_ctx *c, const struct cli_args *a)
{
    struct json_object *o = fetch_one(c, a, "Error reading the intention");
    if (!o)
        return 1;
    /* Consul's get: aligned "Field: value" lines. */
    struct {
        const char *label, *key;
    } rows[] = {{"Source:", "SourceName"},       {"Destination:", "DestinationName"},
                {"Action:", "Action"},           {"ID:", "ID"},
                {"Description:", "Description"}, {"Created At:", "CreatedAt"}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *v = jstr(o, rows[i].key);
        if (*v || i < 3)
            fprintf(c->out, "%-14s%s\n", rows[i].label, v);
    }
    struct json_object *meta = cn_json_get(o, "Meta");
    if (meta && json_object_is_type(meta, json_type_object) && json_object_object_length(meta)) {
        json_object_object_foreach(meta, k, v)
        {
            char label[160];
            snprintf(label, sizeof(label), "Meta[%s]:", k);
            fprintf(c->out, "%-14s%s\n", label, v ? json_object_get_string(v) : "");
        }
    }
    json_object_put(o);
    return 0;
}

int cli__run_intention_delete(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos != 1 && a->npos != 2) {
        fprintf(c->err, "Must specify either an ID or a source and destination\n");
        return 1;
    }
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT;
    struct cli_resp r = {0};
    int rc = a->npos == 2 ? pair_query(&q, a->pos[0], a->pos[1]) || cn_buf_puts(&path, IXN "/exact")
                          : cli__path_seg(&path, IXN "/", a->pos[0]);
    if (!rc)
        rc = cn_buf_cstr(&path);
    int ret = 1;
    if (rc)
        ret = oom(c);
    else if (!cli__call(c, "Error deleting intention", "DELETE", path.p, q.p ? q.p : "", NULL, 0, 0,
                        &r)) {
        fprintf(c->out, "Intention deleted.\n");
        ret = 0;
    }
    cli__resp_free(&r);
    cn_buf_free(&path);
    cn_buf_free(&q);
    return ret;
}

int cli__run_intention_check(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos != 2) {
        fprintf(c->err, "Must specify two arguments: source and destination\n");
        return 1;
    }
    struct cn_buf q = CN_BUF_INIT;
    struct cli_resp r = {0};
    struct json_object *o = NULL;
    int ret = 1;
    const char *what = "Error checking the connection";
    if (pair_query(&q, a->pos[0], a->pos[1]))
        ret = oom(c);
    else if (!cli__call(c, what, "GET", IXN "/check", q.p, NULL, 0, 0, &r) &&
             (o = cli__json_body(c, what, &r))) {
        int allowed = 0;
        cn_json_get_bool(o, "Allowed", &allowed);
        fprintf(c->out, "%s\n", allowed ? "Allowed" : "Denied");
        ret = allowed ? 0 : 2;
    }
    json_object_put(o);
    cli__resp_free(&r);
    cn_buf_free(&q);
    return ret;
}

static void print_arrow(struct cli_ctx *c, struct json_object *x)
{
    fprintf(c->out, "%s => %s (%s)\n", jstr(x, "SourceName"), jstr(x, "DestinationName"),
            jstr(x, "Action"));
}

int cli__run_intention_match(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos != 1) {
        fprintf(c->err, "Must specify exactly one argument: the name to match\n");
        return 1;
    }
    bool by_src = cli__flag_bool(a, "source");
    if (by_src && cli__flag_bool(a, "destination")) {
        fprintf(c->err, "Only one of -source or -destination may be specified\n");
        return 1;
    }
    struct cn_buf q = CN_BUF_INIT;
    struct cli_resp r = {0};
    struct json_object *o = NULL;
    int ret = 1;
    const char *what = "Error matching the intentions";
    if (cli__query_param(&q, "by", by_src ? "source" : "destination") ||
        cli__query_param(&q, "name", a->pos[0]) || cn_buf_cstr(&q))
        ret = oom(c);
    else if (!cli__call(c, what, "GET", IXN "/match", q.p, NULL, 0, 0, &r) &&
             (o = cli__json_body(c, what, &r))) {
        struct json_object *l = cn_json_get(o, a->pos[0]);
        size_t n = l && json_object_is_type(l, json_type_array) ? json_object_array_length(l) : 0;
        for (size_t i = 0; i < n; i++)
            print_arrow(c, json_object_array_get_idx(l, i));
        ret = 0;
    }
    json_object_put(o);
    cli__resp_free(&r);
    cn_buf_free(&q);
    return ret;
}

int cli__run_intention_list(struct cli_ctx *c, const struct cli_args *a)
{
    (void)a;
    struct cli_resp r = {0};
    struct json_object *o = NULL;
    const char *what = "Error listing the intentions";
    if (cli__call(c, what, "GET", IXN, "", NULL, 0, 0, &r) || !(o = cli__json_body(c, what, &r))) {
        cli__resp_free(&r);
        return 1;
    }
    size_t n = json_object_is_type(o, json_type_array) ? json_object_array_length(o) : 0;
    struct cn_buf *rows = cn_calloc(n + 1, sizeof(*rows));
    const char **cells = cn_calloc(n + 1, sizeof(*cells));
    int rc = !rows || !cells;
    if (!rc)
        rc = cn_buf_puts(&rows[0], "ID\x1fSource\x1f"
                                   "Action\x1f"
                                   "Destination\x1fPrecedence") ||
             cn_buf_cstr(&rows[0]);
    for (size_t i = 0; !rc && i < n; i++) {
        struct json_object *x = json_object_array_get_idx(o, i);
        int64_t prec = 0;
        cn_json_get_i64(x, "Precedence", &prec);
        rc = cn_buf_printf(&rows[i + 1], "%s\x1f%s\x1f%s\x1f%s\x1f%lld", jstr(x, "ID"),
                           jstr(x, "SourceName"), jstr(x, "Action"), jstr(x, "DestinationName"),
                           (long long)prec) ||
             cn_buf_cstr(&rows[i + 1]);
    }
    int ret = rc ? oom(c) : 0;
    if (!rc) {
        for (size_t i = 0; i <= n; i++)
            cells[i] = rows[i].p;
        cli__columnize(c->out, cells, n + 1);
    }
    for (size_t i = 0; rows && i <= n; i++)
        cn_buf_free(&rows[i]);
    cn_free(rows);
    cn_free(cells);
    json_object_put(o);
    cli__resp_free(&r);
    return ret;
}
