/* cli/cmd_reload.c: `cairn reload`, Consul's `consul reload`
 * (https://developer.hashicorp.com/consul/commands/reload): PUT
 * /v1/agent/reload makes the agent read its config files again. */
#include <stdio.h>

#include "cli/cli_int.h"

int cli__run_reload(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        fprintf(c->err, "Error: reload takes no arguments\n");
        return 1;
    }
    struct cli_resp r = {0};
    int ret = cli__call(c, "Error reloading", "PUT", "/v1/agent/reload", "", NULL, 0, 0, &r);
    cli__resp_free(&r);
    if (ret)
        return 1;
    fprintf(c->out, "Configuration reload triggered\n");
    return 0;
}
