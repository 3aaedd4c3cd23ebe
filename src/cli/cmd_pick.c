/* cli/cmd_pick.c: `cairn pick [-policy=...] SERVICE KEY`, cairn's own
 * command: the instance the registry's ?pick= chooses for KEY among the
 * healthy instances of SERVICE (GET /v1/health/service/SERVICE?passing&pick=
 * KEY&policy=P; docs/lb.md). Printed as "ServiceID Address:Port Node", or the
 * entry itself with -json. Exit 1 when no instance is healthy. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/json.h"
#include "cli/cli_int.h"

const struct cli_flag cli__pick_flags[] = {
    {"policy", CLI_STR, "name",
     "The pick policy: maglev (the default), ring, rendezvous, jump or random."},
    {"tag", CLI_STR, "value", "Pick only among the instances with this tag."},
    {"any-status", CLI_BOOL, NULL,
     "Pick among instances in warning too (weighted by Weights.Warning), not only passing "
     "ones. Critical instances are never picked."},
    {"json", CLI_BOOL, NULL, "Print the chosen entry as JSON (the shape of /v1/health/service)."},
    {NULL, 0, NULL, NULL},
};

static const char *jstr(struct json_object *o, const char *k)
{
    const char *s = NULL;
    if (cn_json_get_str(o, k, &s) != 1 || !s)
        return "";
    return s;
}

int cli__run_pick(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos != 2) {
        fprintf(c->err, "This command requires exactly two arguments: SERVICE KEY (got %zu)\n",
                a->npos);
        return 1;
    }
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT;
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    int ret = 1;
    const char *policy = cli__flag_str(a, "policy", "maglev");
    int rc = cli__path_seg(&path, "/v1/health/service/", a->pos[0]);
    if (rc == 0)
        rc = cli__query_param(&q, "pick", a->pos[1]);
    if (rc == 0)
        rc = cli__query_param(&q, "policy", policy);
    if (rc == 0 && !cli__flag_bool(a, "any-status"))
        rc = cli__query_param(&q, "passing", "1");
    if (rc == 0 && cli__flag_isset(a, "tag"))
        rc = cli__query_param(&q, "tag", cli__flag_str(a, "tag", ""));
    if (rc == 0)
        rc = cn_buf_cstr(&q);
    if (rc != 0) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    if (cli__call(c, "Error picking an instance", "GET", path.p, q.p, NULL, 0, 1, &r))
        goto out;
    if (r.code == 404) {
        fprintf(c->err, "No healthy instance of %s to pick from\n", a->pos[0]);
        goto out;
    }
    if (!(root = cli__json_body(c, "Error picking an instance", &r)))
        goto out;
    if (cli__flag_bool(a, "json")) {
        fprintf(c->out, "%s\n",
                json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_SPACED |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
        ret = 0;
        goto out;
    }
    struct json_object *svc = cn_json_get(root, "Service"), *node = cn_json_get(root, "Node");
    const char *addr = jstr(svc, "Address");
    if (!*addr)
        addr = jstr(node, "Address"); /* Consul's rule: the node's address by default */
    int64_t port = 0;
    if (cn_json_get_i64(svc, "Port", &port) != 1)
        port = 0;
    fprintf(c->out, "%s %s:%lld %s\n", jstr(svc, "ID"), addr, (long long)port, jstr(node, "Node"));
    ret = 0;
out:
    json_object_put(root);
    cn_buf_free(&path);
    cn_buf_free(&q);
    cli__resp_free(&r);
    return ret;
}
