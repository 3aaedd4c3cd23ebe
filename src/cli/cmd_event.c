/* cli/cmd_event.c: `cairn event -name=NAME [-node= -service= -tag=] [PAYLOAD]`,
 * Consul's `consul event` (command/event/event.go): checks its arguments as
 * Consul does, fires through PUT /v1/event/fire/:name and prints
 * "Event ID: <id>". */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/regex.h"
#include "base/buf.h"
#include "base/json.h"
#include "cli/cli_int.h"

const struct cli_flag cli__event_flags[] = {
    {"name", CLI_STR, "string", "Name of the event."},
    {"node", CLI_STR, "string", "Regular expression to filter on node names."},
    {"service", CLI_STR, "string", "Regular expression to filter on service instances."},
    {"tag", CLI_STR, "string",
     "Regular expression to filter on service tags. Must be used with -service."},
    {NULL, 0, NULL, NULL},
};

static int check_re(struct cli_ctx *c, const char *what, const char *re)
{
    regex_t r;
    if (!*re)
        return 0;
    char why[160];
    if (cn_regcomp(&r, re, REG_EXTENDED | REG_NOSUB, why, sizeof(why))) {
        fprintf(c->err, "Failed to compile %s filter regexp: %s\n", what, why);
        return 1;
    }
    regfree(&r);
    return 0;
}

int cli__run_event(struct cli_ctx *c, const struct cli_args *a)
{
    const char *name = cli__flag_str(a, "name", "");
    const char *node = cli__flag_str(a, "node", "");
    const char *svc = cli__flag_str(a, "service", "");
    const char *tag = cli__flag_str(a, "tag", "");
    if (!*name) {
        fprintf(c->err, "Event name must be specified\n");
        return 1;
    }
    if (*tag && !*svc) {
        fprintf(c->err, "Cannot provide tag filter without service filter.\n");
        return 1;
    }
    if (check_re(c, "node", node) || check_re(c, "service", svc) || check_re(c, "tag", tag))
        return 1;
    if (a->npos > 1) {
        fprintf(c->err, "Too many command line arguments.\n");
        return 1;
    }
    const char *payload = a->npos ? a->pos[0] : "";
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT;
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    int ret = 1;
    int rc = cli__path_seg(&path, "/v1/event/fire/", name);
    if (!rc && *node)
        rc = cli__query_param(&q, "node", node);
    if (!rc && *svc)
        rc = cli__query_param(&q, "service", svc);
    if (!rc && *tag)
        rc = cli__query_param(&q, "tag", tag);
    if (rc || cn_buf_cstr(&q)) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    const char *what = "Error firing event";
    if (cli__call(c, what, "PUT", path.p, q.p ? q.p : "", payload, strlen(payload), 0, &r))
        goto out;
    if (!(root = cli__json_body(c, what, &r)))
        goto out;
    const char *id = NULL;
    cn_json_get_str(root, "ID", &id);
    fprintf(c->out, "Event ID: %s\n", id ? id : "");
    ret = 0;
out:
    json_object_put(root);
    cli__resp_free(&r);
    cn_buf_free(&path);
    cn_buf_free(&q);
    return ret;
}
