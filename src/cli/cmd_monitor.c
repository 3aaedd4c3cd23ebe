/* cli/cmd_monitor.c: `cairn monitor [-log-level=] [-log-json]`, Consul's
 * `consul monitor` (https://developer.hashicorp.com/consul/commands/monitor):
 * GET /v1/agent/monitor streamed to stdout until interrupted. */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "cli/cli_int.h"

const struct cli_flag cli__monitor_flags[] = {
    {"log-level", CLI_STR, "level",
     "Log level of the agent: trace, debug, info, warn or error. The default is info."},
    {"log-json", CLI_BOOL, NULL, "Output logs in JSON format. The default is false."},
    {NULL, 0, NULL, NULL},
};

int cli__run_monitor(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        fprintf(c->err, "Error: monitor takes no arguments\n");
        return 1;
    }
    const char *lv = cli__flag_str(a, "log-level", "info");
    if (cn_log_level_parse(lv) < 0) {
        fprintf(c->err, "Unknown log level: %s\n", lv);
        return 1;
    }
    struct cn_buf q = CN_BUF_INIT;
    cli__query_param(&q, "loglevel", lv);
    if (cli__flag_bool(a, "log-json"))
        cn_buf_puts(&q, "&logjson");
    cn_buf_cstr(&q);
    struct cli_resp r = {0};
    r.sink = c->out;
    r.no_timeout = 1;
    char err[512];
    int rc =
        cli__http(c, "GET", "/v1/agent/monitor", q.p ? q.p : "", NULL, 0, &r, err, sizeof(err));
    cn_buf_free(&q);
    cli__resp_free(&r);
    if (rc && r.code == 200) { /* Consul's words when the agent goes away */
        fprintf(c->err, "Remote side ended the monitor! This usually means that the\n"
                        "remote side has exited or crashed.\n");
        return 0;
    }
    if (rc) {
        fprintf(c->err, "Error starting monitor: %s\n", err);
        return 1;
    }
    if (r.code != 200) {
        fprintf(c->err, "Error starting monitor: Unexpected response code: %ld\n", r.code);
        return 1;
    }
    return 0;
}
