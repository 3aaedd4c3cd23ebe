/* cli/cmd_query.c: `cairn services query NAME [-dc=] [-tag=...] [-passing]`,
 * cairn's own one-line discovery (Consul has no such command; `dig
 * NAME.service.consul` or the health API is how Consul users ask). It reads
 * GET /v1/health/service/NAME and prints one row per instance: node, service
 * ID, address (the service's, else the node's), port, the instance's
 * aggregated health and its tags:
 *
 *     Node  ID    Address    Port  Health   Tags
 *     n1    web1  10.0.0.1   80    passing  primary,v1
 *
 * Health is the worst of the instance's checks (node checks included):
 * critical > warning > passing, and "maintenance" when a maintenance check
 * (_node_maintenance, _service_maintenance:ID) is on; no checks is passing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "cli/cli_int.h"

const struct cli_flag cli__services_query_flags[] = {
    {"dc", CLI_STR, "name", "Datacenter to query (default: the agent's)."},
    {"tag", CLI_LIST, "value",
     "Only instances carrying this tag; may be given several times (all must match)."},
    {"passing", CLI_BOOL, NULL, "Only instances whose checks are all passing."},
    {NULL, 0, NULL, NULL},
};

static const char *jstr(struct json_object *o, const char *k)
{
    const char *s = NULL;
    return cn_json_get_str(o, k, &s) == 1 && s ? s : "";
}

static const char *health(struct json_object *checks)
{
    int worst = 0; /* 0 passing, 1 warning, 2 critical, 3 maintenance */
    size_t n = checks && json_object_is_type(checks, json_type_array)
                   ? json_object_array_length(checks)
                   : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *ch = json_object_array_get_idx(checks, i);
        const char *id = jstr(ch, "CheckID"), *st = jstr(ch, "Status");
        int v = !strcmp(st, "passing") ? 0 : !strcmp(st, "warning") ? 1 : 2;
        if (v == 2 &&
            (!strcmp(id, "_node_maintenance") || !strncmp(id, "_service_maintenance:", 21)))
            v = 3;
        if (v > worst)
            worst = v;
    }
    static const char *names[] = {"passing", "warning", "critical", "maintenance"};
    return names[worst];
}

static int row(struct cn_buf *b, struct json_object *e)
{
    struct json_object *node = cn_json_get(e, "Node"), *svc = cn_json_get(e, "Service");
    const char *addr = jstr(svc, "Address");
    if (!*addr)
        addr = jstr(node, "Address");
    int64_t port = 0;
    cn_json_get_i64(svc, "Port", &port);
    int rc =
        cn_buf_printf(b, "%s\x1f%s\x1f%s\x1f%lld\x1f%s\x1f", jstr(node, "Node"), jstr(svc, "ID"),
                      addr, (long long)port, health(cn_json_get(e, "Checks")));
    struct json_object *tags = cn_json_get(svc, "Tags");
    size_t n =
        tags && json_object_is_type(tags, json_type_array) ? json_object_array_length(tags) : 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = cn_buf_printf(b, "%s%s", i ? "," : "",
                           json_object_get_string(json_object_array_get_idx(tags, i)));
    return rc || cn_buf_cstr(b);
}

int cli__run_services_query(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos != 1) {
        fprintf(c->err, "Expected exactly one argument: the service name (got %zu)\n", a->npos);
        return 1;
    }
    const char *name = a->pos[0];
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT;
    struct cn_buf *rows = NULL;
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    int ret = 1;
    int rc = cli__path_seg(&path, "/v1/health/service/", name);
    const char *dc = cli__flag_str(a, "dc", "");
    if (!rc && *dc)
        rc = cli__query_param(&q, "dc", dc);
    const struct cli_flag_val *t = cli__flag(a, "tag");
    for (size_t i = 0; !rc && t && i < t->nlist; i++)
        rc = cli__query_param(&q, "tag", t->list[i]);
    if (!rc && cli__flag_bool(a, "passing"))
        rc = cli__query_param(&q, "passing", "true");
    if (rc || cn_buf_cstr(&q)) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    const char *what = "Error querying service";
    if (cli__call(c, what, "GET", path.p, q.p ? q.p : "", NULL, 0, 0, &r))
        goto out;
    if (!(root = cli__json_body(c, what, &r)))
        goto out;
    size_t n = json_object_is_type(root, json_type_array) ? json_object_array_length(root) : 0;
    if (n == 0) {
        fprintf(c->err, "No instances of service \"%s\" match the given query.\n", name);
        ret = 0;
        goto out;
    }
    rows = cn_calloc(n + 1, sizeof(*rows));
    if (!rows) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    rc = cn_buf_puts(&rows[0], "Node\x1fID\x1f"
                               "Address\x1fPort\x1fHealth\x1fTags") ||
         cn_buf_cstr(&rows[0]);
    for (size_t i = 0; !rc && i < n; i++)
        rc = row(&rows[i + 1], json_object_array_get_idx(root, i));
    if (rc) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    const char **cells = cn_calloc(n + 1, sizeof(*cells));
    if (!cells) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    for (size_t i = 0; i <= n; i++)
        cells[i] = rows[i].p;
    cli__columnize(c->out, cells, n + 1);
    cn_free(cells);
    ret = 0;
out:
    if (rows)
        for (size_t i = 0; i <= n; i++)
            cn_buf_free(&rows[i]);
    cn_free(rows);
    json_object_put(root);
    cli__resp_free(&r);
    cn_buf_free(&path);
    cn_buf_free(&q);
    return ret;
}
