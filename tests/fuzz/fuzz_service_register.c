/* libFuzzer target for the /v1/agent/service/register body decoder
 * (api/decode.h). Beyond "no crash, no leak": a successful decode is
 * complete (no NULL strings, ID and name set, every check has an ID, a valid
 * status and belongs to the service) and encodes as a register command that
 * the state machine accepts as well-formed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/decode.h"
#include "base/buf.h"
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct local_svc_def d;
    char err[512];
    if (api_decode_service_def((const char *)data, size, &d, err, sizeof(err)) != 0) {
        if (!err[0] || d.checks || d.svc.id)
            abort();
        return 0;
    }
    if (!d.svc.id || !*d.svc.id || !d.svc.service || !*d.svc.service || !d.svc.address ||
        !d.svc.kind || d.svc.port < 0 || d.svc.port > 65535 || d.svc.weight_passing < 1)
        abort();
    for (size_t i = 0; i < d.nchecks; i++) {
        const struct state_check *c = &d.checks[i];
        if (!c->check_id || !*c->check_id || !state_check_status_valid(c->status) ||
            strcmp(c->service_id, d.svc.id) || !c->http || !c->tcp || !c->type)
            abort();
    }
    struct state_register r;
    memset(&r, 0, sizeof(r));
    r.node.name = (char *)"fuzz";
    r.node.id = (char *)"";
    r.node.address = (char *)"127.0.0.1";
    r.skip_node_update = true;
    r.service = &d.svc;
    r.checks = d.checks;
    r.nchecks = d.nchecks;
    struct cn_buf cmd = CN_BUF_INIT;
    if (state_cmd_register(&cmd, &r) == 0 && state_cmd_type(cmd.p, cmd.len) != STATE_CMD_REGISTER)
        abort();
    cn_buf_free(&cmd);
    local_svc_def_free(&d);
    return 0;
}
