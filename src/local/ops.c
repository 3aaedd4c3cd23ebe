/* local/ops.c: the write-through of every change (see local.h): a change
 * is an op, proposed as one catalog command for this node (srv_propose); the
 * local maps change only once the command is applied (on_applied), then the
 * op answers its caller and is freed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "local/local_int.h"

void local__op_free(struct local__op *op)
{
    local_svc_def_free(&op->def);
    state_check_clear(&op->chk);
    cn_free(op->id);
    cn_free(op->status);
    cn_free(op->output);
    for (size_t i = 0; i < op->nstale; i++)
        cn_free(op->stale[i]);
    cn_free(op->stale);
    cn_free(op);
}

void local__finish(struct local__op *op, int rc, const char *msg)
{
    struct local *l = op->l;
    if (op->runner && !l->closing)
        local__runner_written(l, op->id);
    if (op->cb) {
        op->cb(op->arg, rc, msg ? msg : (rc ? cn_strerror(rc) : ""));
    } else if (rc) {
        cn_warn("agent", "local state sync failed: %s", msg ? msg : cn_strerror(rc));
        if (op->kind == OP_STATUS && !op->runner)
            local__retry_expiry_later(l, op->id);
    }
    local__op_free(op);
    local__maybe_release(l);
}

/* Callback style for immediate answers (no op allocated). */
void local__answer(local_done_cb cb, void *arg, int rc, const char *msg)
{
    if (cb)
        cb(arg, rc, msg ? msg : (rc ? cn_strerror(rc) : ""));
}

static void on_applied(void *arg, int rc, const struct state_result *res);

/* Propose cmd for op (cmd freed here). On a synchronous failure the op is
 * finished with that error. */
static void propose(struct local__op *op, struct cn_buf *cmd, int enc_rc)
{
    struct local *l = op->l;
    int rc = enc_rc;
    if (!rc)
        rc = srv_propose(l->srv, cmd->p, cmd->len, on_applied, op);
    cn_buf_free(cmd);
    if (rc) {
        char msg[128];
        snprintf(msg, sizeof(msg), "rpc error: %s", cn_strerror(rc));
        local__finish(op, rc == CN_EINVAL ? CN_EINVAL : rc, msg);
        return;
    }
    l->pending++;
}

static void fill_node(struct local *l, struct state_node *n)
{
    memset(n, 0, sizeof(*n));
    n->name = l->node;
    n->id = l->node_id;
    n->address = l->address;
    n->tagged_addresses.n = 4;
    n->tagged_addresses.items = l->tagged;
    n->meta.n = 1;
    n->meta.items = l->meta;
}

void local__propose_dereg(struct local__op *op, const char *service_id, const char *check_id)
{
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_deregister(&cmd, op->l->node, service_id, check_id);
    propose(op, &cmd, rc);
}

static void apply_add_svc(struct local__op *op)
{
    struct local *l = op->l;
    for (size_t i = 0; i < op->def.nchecks; i++)
        if (local__put_check(l, &op->def.checks[i]))
            cn_warn("agent", "out of memory tracking a check locally");
    if (local__put_service(l, &op->def.svc))
        cn_warn("agent", "out of memory tracking a service locally");
}

static void on_applied(void *arg, int rc, const struct state_result *res)
{
    struct local__op *op = arg;
    struct local *l = op->l;
    l->pending--;
    if (l->closing) {
        local__finish(op, CN_ESHUTDOWN, "agent is shutting down");
        return;
    }
    /* Removing something the catalog no longer has is still a removal. */
    bool removal =
        op->kind == OP_RM_SVC || op->kind == OP_RM_CHK || (op->kind == OP_ADD_SVC && op->next > 0);
    if (rc == CN_ENOTFOUND && removal)
        rc = 0;
    if (rc) {
        char msg[256];
        if (res && res->nerrors)
            snprintf(msg, sizeof(msg), "%s", res->errors[0].what);
        else if (rc == CN_EAGAIN && srv_is_client(l->srv))
            snprintf(msg, sizeof(msg), "No known Consul servers"); /* structs.ErrNoServers */
        else if (rc == CN_ECONFLICT)
            /* outcome unknown (an election while committing): raft.ErrLeadershipLost */
            snprintf(msg, sizeof(msg), "leadership lost while committing log");
        else
            snprintf(msg, sizeof(msg), "rpc error: %s", cn_strerror(rc));
        local__finish(op,
                      rc == CN_EINVAL      ? CN_EINVAL
                      : rc == CN_ENOTFOUND ? CN_ENOTFOUND
                                           : CN_EIO,
                      msg);
        return;
    }
    switch (op->kind) {
    case OP_ADD_SVC:
        if (op->next == 0)
            apply_add_svc(op);
        else
            local__drop_check(l, op->stale[op->next - 1]);
        if (op->next < op->nstale) {
            /* ?replace-existing-checks: drop the checks the new definition
             * no longer lists, one command each, in order. */
            op->next++;
            local__propose_dereg(op, NULL, op->stale[op->next - 1]);
            return;
        }
        break;
    case OP_RM_SVC:
        local__drop_service(l, op->id);
        break;
    case OP_ADD_CHK:
        if (local__put_check(l, &op->chk))
            cn_warn("agent", "out of memory tracking a check locally");
        break;
    case OP_RM_CHK:
        local__drop_check(l, op->id);
        break;
    case OP_STATUS: {
        long i = local__chk_find(l, op->id);
        if (i >= 0 && local__set_check_status(l, (size_t)i, op->status, op->output))
            cn_warn("agent", "out of memory tracking a check's status locally");
        break;
    }
    case OP_NODE:
        break;
    }
    local__finish(op, 0, NULL);
}

struct local__op *local__op_new(struct local *l, enum local__op_kind kind, local_done_cb cb,
                                void *arg)
{
    struct local__op *op = cn_calloc(1, sizeof(*op));
    if (!op) {
        local__answer(cb, arg, CN_ENOMEM, "out of memory");
        return NULL;
    }
    op->l = l;
    op->kind = kind;
    op->cb = cb;
    op->arg = arg;
    return op;
}

bool local__closing(struct local *l, local_done_cb cb, void *arg)
{
    if (!l->closing)
        return false;
    local__answer(cb, arg, CN_ESHUTDOWN, "agent is shutting down");
    return true;
}

int local__set_owned(char **dst, const char *v)
{
    char *n = cn_strdup(v ? v : "");
    if (!n)
        return CN_ENOMEM;
    cn_free(*dst);
    *dst = n;
    return 0;
}

/* A check being (re)registered keeps the status and output it already has
 * (Consul snapshots check state across a re-registration, so re-registering
 * on every application start does not flap the service). */
int local__carry_state(struct local *l, struct state_check *c)
{
    const struct state_check *old = local_check(l, c->check_id);
    if (!old)
        return 0;
    if (local__set_owned(&c->status, old->status) || local__set_owned(&c->output, old->output))
        return CN_ENOMEM;
    return 0;
}

void local__propose_register(struct local__op *op, struct state_service *svc,
                             struct state_check *checks, size_t nchecks)
{
    struct state_register reg;
    memset(&reg, 0, sizeof(reg));
    fill_node(op->l, &reg.node);
    reg.skip_node_update = true;
    /* the catalog gets the merged service; the local maps keep svc as given */
    struct state_service tmp;
    struct local_merged owned = {0};
    const struct state_service *ms = svc;
    int rc = svc ? local__merged(op->l, svc, &tmp, &owned, &ms) : 0;
    if (rc == CN_EAGAIN) /* not known yet: as given, merged again later */
        rc = 0;
    reg.service = (struct state_service *)ms;
    reg.checks = checks;
    reg.nchecks = nchecks;
    struct cn_buf cmd = CN_BUF_INIT;
    if (!rc)
        rc = state_cmd_register(&cmd, &reg);
    local_merged_free(&owned);
    propose(op, &cmd, rc);
}

void local_merged_free(struct local_merged *m)
{
    if (!m)
        return;
    cn_free(m->config);
    for (size_t i = 0; m->ups && i < m->nups; i++)
        cn_free(m->ups[i]);
    cn_free(m->ups);
    cn_free(m->tmp_ups);
    memset(m, 0, sizeof(*m));
}

int local__merged(struct local *l, const struct state_service *given, struct state_service *tmp,
                  struct local_merged *owned, const struct state_service **out)
{
    memset(owned, 0, sizeof(*owned));
    *out = given;
    if (!l->merge || !given->kind || strcmp(given->kind, STATE_KIND_CONNECT_PROXY) != 0)
        return 0;
    int rc = l->merge(l->merge_arg, given, owned);
    if (rc || (!owned->config && !owned->ups))
        return rc;
    *tmp = *given;
    if (owned->config)
        tmp->proxy.config = owned->config;
    if (owned->ups && given->proxy.nups) {
        CN_ASSERT(owned->nups == given->proxy.nups);
        owned->tmp_ups = cn_calloc(given->proxy.nups, sizeof(*owned->tmp_ups));
        if (!owned->tmp_ups)
            return CN_ENOMEM;
        for (size_t i = 0; i < given->proxy.nups; i++) {
            owned->tmp_ups[i] = given->proxy.ups[i];
            if (owned->ups[i])
                owned->tmp_ups[i].config = owned->ups[i];
        }
        tmp->proxy.ups = owned->tmp_ups;
    }
    *out = tmp;
    return 0;
}

void local__propose_status(struct local__op *op)
{
    const struct state_check *c = local_check(op->l, op->id);
    if (c && c->status && op->status && strcmp(c->status, op->status) != 0)
        local__count_transition(c->type ? c->type : "", op->status);
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_check_status(&cmd, op->l->node, op->id, op->status, op->output);
    propose(op, &cmd, rc);
}

void local__propose_internal_status(struct local *l, const char *id, const char *status,
                                    const char *output)
{
    struct local__op *op = local__op_new(l, OP_STATUS, NULL, NULL);
    if (!op)
        return;
    op->id = cn_strdup(id);
    op->status = cn_strdup(status);
    op->output = cn_strdup(output);
    if (!op->id || !op->status || !op->output) {
        local__finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    local__propose_status(op);
}

/* The node and its serfHealth check (Consul's leader registers these for
 * every live member: agent/consul/leader.go handleAliveMember). */
int local__propose_node(struct local *l)
{
    struct state_check serf;
    memset(&serf, 0, sizeof(serf));
    serf.node = l->node;
    serf.check_id = (char *)LOCAL_SERF_CHECK_ID;
    serf.name = (char *)"Serf Health Status";
    serf.status = (char *)"passing";
    serf.notes = (char *)"";
    serf.output = (char *)"Agent alive and reachable";
    serf.service_id = serf.service_name = serf.type = (char *)"";
    serf.http = serf.method = serf.tcp = serf.header_json = serf.body = (char *)"";
    struct state_register reg;
    memset(&reg, 0, sizeof(reg));
    fill_node(l, &reg.node);
    reg.checks = &serf;
    reg.nchecks = 1;
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_register(&cmd, &reg);
    struct local__op *op = rc ? NULL : local__op_new(l, OP_NODE, NULL, NULL);
    if (!rc && !op)
        rc = CN_ENOMEM;
    if (!rc)
        rc = srv_propose(l->srv, cmd.p, cmd.len, on_applied, op);
    cn_buf_free(&cmd);
    if (rc) {
        if (op)
            local__op_free(op);
        return rc;
    }
    l->pending++;
    return 0;
}
