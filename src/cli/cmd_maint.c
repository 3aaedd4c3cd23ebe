/* cli/cmd_maint.c: `cairn maint` (Consul's command/maint): list, enable or
 * disable maintenance mode for the node or one service of the local agent
 * (PUT /v1/agent/maintenance, /v1/agent/service/maintenance/:id; the listing
 * reads /v1/agent/checks and /v1/agent/self). Messages are Consul's. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/json.h"
#include "cli/cli_int.h"

const struct cli_flag cli__maint_flags[] = {
    {"enable", CLI_BOOL, NULL, "Enable maintenance mode."},
    {"disable", CLI_BOOL, NULL, "Disable maintenance mode."},
    {"reason", CLI_STR, "string", "Text describing the maintenance reason."},
    {"service", CLI_STR, "serviceID",
     "Control maintenance mode for a specific service ID (the node's by default)."},
    {NULL, 0, NULL, NULL},
};

static const char *jstr(struct json_object *o, const char *k)
{
    const char *v = NULL;
    cn_json_get_str(o, k, &v);
    return v ? v : "";
}

static int list(struct cli_ctx *c)
{
    struct cli_resp r = {0};
    if (cli__call(c, "Error getting agent info", "GET", "/v1/agent/self", "", NULL, 0, 0, &r)) {
        cli__resp_free(&r);
        return 1;
    }
    struct json_object *self = cli__json_body(c, "Error getting agent info", &r);
    cli__resp_free(&r);
    if (!self)
        return 1;
    char node[256];
    snprintf(node, sizeof(node), "%s", jstr(cn_json_get(self, "Config"), "NodeName"));
    json_object_put(self);
    if (cli__call(c, "Error getting checks", "GET", "/v1/agent/checks", "", NULL, 0, 0, &r)) {
        cli__resp_free(&r);
        return 1;
    }
    struct json_object *checks = cli__json_body(c, "Error getting checks", &r);
    cli__resp_free(&r);
    if (!checks)
        return 1;
    json_object_object_foreach(checks, id, chk)
    {
        if (!strcmp(id, "_node_maintenance"))
            fprintf(c->out, "Node:\n  Name:   %s\n  Reason: %s\n\n", node, jstr(chk, "Notes"));
        else if (!strncmp(id, "_service_maintenance:", 21))
            fprintf(c->out, "Service:\n  ID:     %s\n  Reason: %s\n\n", jstr(chk, "ServiceID"),
                    jstr(chk, "Notes"));
    }
    json_object_put(checks);
    return 0;
}

int cli__run_maint(struct cli_ctx *c, const struct cli_args *a)
{
    int enable = cli__flag_bool(a, "enable"), disable = cli__flag_bool(a, "disable");
    const char *reason = cli__flag_str(a, "reason", "");
    const char *svc = cli__flag_str(a, "service", "");
    if (enable && disable) {
        fprintf(c->err, "Only one of -enable or -disable may be provided\n");
        return 1;
    }
    if (!enable && *reason) {
        fprintf(c->err, "Reason may only be provided with -enable\n");
        return 1;
    }
    if (!enable && !disable && *svc) {
        fprintf(c->err, "Service requires either -enable or -disable\n");
        return 1;
    }
    if (!enable && !disable)
        return list(c);
    struct cn_buf path = CN_BUF_INIT, q = CN_BUF_INIT;
    int bad = 0;
    if (*svc) {
        bad =
            cn_buf_puts(&path, "/v1/agent/service/maintenance/") || cli__url_escape(&path, svc, 0);
    } else {
        bad = cn_buf_puts(&path, "/v1/agent/maintenance");
    }
    bad = bad || cli__query_param(&q, "enable", enable ? "true" : "false") ||
          (*reason && cli__query_param(&q, "reason", reason)) || cn_buf_cstr(&path) ||
          cn_buf_cstr(&q);
    if (bad) {
        fprintf(c->err, "out of memory\n");
        cn_buf_free(&path);
        cn_buf_free(&q);
        return 1;
    }
    char what[400];
    snprintf(what, sizeof(what), "Error %s %s maintenance", enable ? "enabling" : "disabling",
             *svc ? "service" : "node");
    struct cli_resp r = {0};
    int ret = cli__call(c, what, "PUT", path.p, q.p ? q.p : "", NULL, 0, 0, &r);
    cli__resp_free(&r);
    cn_buf_free(&path);
    cn_buf_free(&q);
    if (ret)
        return 1;
    if (*svc)
        fprintf(c->out, "Service maintenance is now %s for \"%s\"\n",
                enable ? "enabled" : "disabled", svc);
    else
        fprintf(c->out, "Node maintenance is now %s\n", enable ? "enabled" : "disabled");
    return 0;
}
