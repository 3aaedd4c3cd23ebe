/* local/mutate.c: the mutations of local.h (services, checks, TTL updates,
 * maintenance): validate against the local maps, answer what needs no write
 * at once, and hand the rest to an op (ops.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "local/local_int.h"

/* agent/agent.go defaultServiceMaintReason / defaultNodeMaintReason */
#define DEFAULT_SERVICE_MAINT_REASON                                                               \
    "Maintenance mode is enabled for this service, but no reason was provided. This is a "         \
    "default message."
#define DEFAULT_NODE_MAINT_REASON                                                                  \
    "Maintenance mode is enabled for this node, but no reason was provided. This is a default "    \
    "message."
/* agent/checks/check.go CheckTTL getExpiredOutput */
/* ---- mutations ------------------------------------------------------------------------------- */

/* Finishes op with Consul's error when c is a script check, which this agent
 * never runs (Consul's default: enable_script_checks = false); true if it did. */
static bool reject_script(struct local__op *op, const struct state_check *c)
{
    /* A client agent's state holds its own node only: an alias of another
     * node's service or node would never see it (refused, not ignored). */
    if (srv_is_client(op->l->srv) && c->alias_node && *c->alias_node &&
        strcmp(c->alias_node, op->l->node) != 0) {
        local__finish(op, CN_EINVAL,
                      "alias checks of another node are not supported on client agents yet");
        return true;
    }
    if (strcmp(c->type, STATE_CHECK_SCRIPT) != 0 || op->l->script_checks)
        return false;
    local__finish(op, CN_EINVAL,
                  "Scripts are disabled on this agent; to enable, configure "
                  "'enable_script_checks' or 'enable_local_script_checks' to true");
    return true;
}

/* Deregisters the service (OP_RM_SVC) or check (OP_RM_CHK) with this id. */
static void propose_remove(struct local *l, enum local__op_kind kind, const char *id,
                           local_done_cb cb, void *arg)
{
    struct local__op *op = local__op_new(l, kind, cb, arg);
    if (!op)
        return;
    if (!(op->id = cn_strdup(id))) {
        local__finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    if (kind == OP_RM_SVC)
        local__propose_dereg(op, id, NULL);
    else
        local__propose_dereg(op, NULL, id);
}

/* A service registered with a SidecarService: the parent first, then the
 * sidecar, answered once (Consul's agent registers both in one call). */
struct sidecar_chain {
    struct local *l;
    struct local_svc_def *sidecar;
    bool replace_checks;
    local_done_cb cb;
    void *arg;
};

static void sidecar_chain_done(void *arg, int rc, const char *msg)
{
    struct sidecar_chain *ch = arg;
    if (rc)
        local__answer(ch->cb, ch->arg, rc, msg);
    else
        local_add_service(ch->l, ch->sidecar, ch->replace_checks, ch->cb, ch->arg);
    local_svc_def_free(ch->sidecar);
    cn_free(ch->sidecar);
    cn_free(ch);
}

/* An upstream of another datacenter: cairn's proxy has no mesh gateways to
 * reach it (refused, not stored and ignored). */
static const char *foreign_dc(const struct local *l, const struct state_service *s)
{
    for (size_t i = 0; i < s->proxy.nups; i++) {
        const char *dc = s->proxy.ups[i].datacenter;
        if (dc && *dc && strcmp(dc, l->dc) != 0)
            return dc;
    }
    return NULL;
}

/* The agent's part of a sidecar's expansion: its port and default checks. */
static int sidecar_complete(struct local *l, struct local_svc_def *d, char *msg, size_t cap)
{
    if (d->svc.port < 1) {
        int p = local__sidecar_port((const struct state_service *const *)l->svcs, l->nsvcs,
                                    d->svc.id, l->sidecar_min, l->sidecar_max);
        if (p < 0) {
            if (l->sidecar_min < 1 || l->sidecar_max < 1)
                snprintf(msg, cap,
                         "no port provided for sidecar_service and auto-assignment disabled "
                         "in config");
            else
                snprintf(msg, cap,
                         "no port provided for sidecar_service and none left in the configured "
                         "range [%d, %d]",
                         l->sidecar_min, l->sidecar_max);
            return CN_EINVAL;
        }
        d->svc.port = p;
    }
    if (local__sidecar_checks(d)) {
        snprintf(msg, cap, "out of memory");
        return CN_ENOMEM;
    }
    return 0;
}

void local_add_service(struct local *l, struct local_svc_def *def, bool replace_checks,
                       local_done_cb cb, void *arg)
{
    if (local__closing(l, cb, arg)) {
        local_svc_def_free(def);
        return;
    }
    const char *dc = foreign_dc(l, &def->svc);
    if (!dc && def->sidecar)
        dc = foreign_dc(l, &def->sidecar->svc);
    if (dc) {
        char msg[600];
        snprintf(msg, sizeof(msg),
                 "Invalid service: upstream datacenter \"%.200s\" is not supported: cairn has "
                 "no mesh gateways (only the local datacenter \"%.200s\")",
                 dc, l->dc);
        local_svc_def_free(def);
        local__answer(cb, arg, CN_EINVAL, msg);
        return;
    }
    if (def->sidecar) {
        struct sidecar_chain *ch = cn_calloc(1, sizeof(*ch));
        if (!ch) {
            local_svc_def_free(def);
            local__answer(cb, arg, CN_ENOMEM, "out of memory");
            return;
        }
        *ch = (struct sidecar_chain){l, def->sidecar, replace_checks, cb, arg};
        def->sidecar = NULL;
        local_add_service(l, def, replace_checks, sidecar_chain_done, ch);
        return;
    }
    if (def->is_sidecar) {
        char msg[300];
        int rc = sidecar_complete(l, def, msg, sizeof(msg));
        if (rc) {
            local_svc_def_free(def);
            local__answer(cb, arg, rc, msg);
            return;
        }
    }
    struct local__op *op = local__op_new(l, OP_ADD_SVC, cb, arg);
    if (!op) {
        local_svc_def_free(def);
        return;
    }
    op->def = *def;
    memset(def, 0, sizeof(*def));
    struct local_svc_def *d = &op->def;
    for (size_t i = 0; i < d->nchecks; i++)
        if (reject_script(op, &d->checks[i]))
            return;
    if (local__set_owned(&d->svc.node, l->node) || local__default_taddrs(&d->svc))
        goto oom;
    for (size_t i = 0; i < d->nchecks; i++)
        if (local__set_owned(&d->checks[i].node, l->node) || local__carry_state(l, &d->checks[i]))
            goto oom;
    if (replace_checks) {
        for (size_t i = 0; i < l->nchks; i++) {
            const struct state_check *c = &l->chks[i]->c;
            if (strcmp(c->service_id, d->svc.id) != 0)
                continue;
            /* The maintenance check is not part of any definition. */
            if (!strncmp(c->check_id, LOCAL_SERVICE_MAINT_PREFIX,
                         strlen(LOCAL_SERVICE_MAINT_PREFIX)))
                continue;
            bool kept = false;
            for (size_t k = 0; k < d->nchecks && !kept; k++)
                kept = !strcmp(d->checks[k].check_id, c->check_id);
            if (kept)
                continue;
            char **ns = cn_realloc(op->stale, (op->nstale + 1) * sizeof(*ns));
            if (!ns)
                goto oom;
            op->stale = ns;
            if (!(ns[op->nstale] = cn_strdup(c->check_id)))
                goto oom;
            op->nstale++;
        }
    }
    local__propose_register(op, &d->svc, d->checks, d->nchecks);
    return;
oom:
    local__finish(op, CN_ENOMEM, "out of memory");
}

/* The sidecar registered for service id (Consul deregisters it with its
 * parent): "<id>-sidecar-proxy", a connect-proxy whose destination is id. */
static const struct state_service *sidecar_of(const struct local *l, const char *id)
{
    char sid[600];
    if (strlen(id) > 500)
        return NULL;
    snprintf(sid, sizeof(sid), "%s" LOCAL_SIDECAR_SUFFIX, id);
    const struct state_service *s = local_service(l, sid);
    return s && s->kind && !strcmp(s->kind, STATE_KIND_CONNECT_PROXY) && s->proxy.dest_id &&
                   !strcmp(s->proxy.dest_id, id)
               ? s
               : NULL;
}

struct rm_chain {
    struct local *l;
    char *sidecar_id;
    local_done_cb cb;
    void *arg;
};

static void rm_chain_done(void *arg, int rc, const char *msg)
{
    struct rm_chain *ch = arg;
    if (rc || !local_service(ch->l, ch->sidecar_id))
        local__answer(ch->cb, ch->arg, rc, msg);
    else
        local_remove_service(ch->l, ch->sidecar_id, ch->cb, ch->arg);
    cn_free(ch->sidecar_id);
    cn_free(ch);
}

void local_remove_service(struct local *l, const char *id, local_done_cb cb, void *arg)
{
    if (local__closing(l, cb, arg))
        return;
    const struct state_service *sc = local_service(l, id) ? sidecar_of(l, id) : NULL;
    if (sc) {
        struct rm_chain *ch = cn_calloc(1, sizeof(*ch));
        if (!ch || !(ch->sidecar_id = cn_strdup(sc->id))) {
            cn_free(ch);
            local__answer(cb, arg, CN_ENOMEM, "out of memory");
            return;
        }
        ch->l = l;
        ch->cb = cb;
        ch->arg = arg;
        propose_remove(l, OP_RM_SVC, id, rm_chain_done, ch);
        return;
    }
    if (!local_service(l, id)) {
        char msg[600];
        /* Take care: clients match on "Unknown service" (agent/agent.go
         * vetServiceUpdateWithAuthorizer). */
        snprintf(msg, sizeof(msg),
                 "Unknown service ID \"%.400s\". Ensure that the service ID is passed, not the "
                 "service name.",
                 id);
        local__answer(cb, arg, CN_ENOTFOUND, msg);
        return;
    }
    propose_remove(l, OP_RM_SVC, id, cb, arg);
}

static void unknown_check(local_done_cb cb, void *arg, const char *id)
{
    char msg[600];
    snprintf(msg, sizeof(msg),
             "Unknown check ID \"%.400s\". Ensure that the check ID is passed, not the check name.",
             id);
    local__answer(cb, arg, CN_ENOTFOUND, msg);
}

void local_add_check(struct local *l, struct state_check *chk, local_done_cb cb, void *arg)
{
    if (local__closing(l, cb, arg)) {
        state_check_clear(chk);
        return;
    }
    struct local__op *op = local__op_new(l, OP_ADD_CHK, cb, arg);
    if (!op) {
        state_check_clear(chk);
        return;
    }
    op->chk = *chk;
    memset(chk, 0, sizeof(*chk));
    struct state_check *c = &op->chk;
    if (reject_script(op, c))
        return;
    if (!strcmp(c->check_id, LOCAL_SERF_CHECK_ID)) {
        local__finish(op, CN_EINVAL,
                      "Check ID \"serfHealth\" is reserved for the node health check");
        return;
    }
    const struct state_service *svc = NULL;
    if (*c->service_id) {
        svc = local_service(l, c->service_id);
        if (!svc) {
            char msg[600];
            snprintf(msg, sizeof(msg), "ServiceID \"%.400s\" does not exist", c->service_id);
            local__finish(op, CN_EIO, msg); /* Consul answers 500 here */
            return;
        }
    }
    if (local__set_owned(&c->node, l->node) ||
        local__set_owned(&c->service_name, svc ? svc->service : "") || local__carry_state(l, c)) {
        local__finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    local__propose_register(op, NULL, c, 1);
}

void local_remove_check(struct local *l, const char *id, local_done_cb cb, void *arg)
{
    if (local__closing(l, cb, arg))
        return;
    if (!local_check(l, id)) {
        unknown_check(cb, arg, id);
        return;
    }
    propose_remove(l, OP_RM_CHK, id, cb, arg);
}

void local_update_ttl(struct local *l, const char *id, const char *status, const char *output,
                      local_done_cb cb, void *arg)
{
    if (local__closing(l, cb, arg))
        return;
    long i = local__chk_find(l, id);
    if (i < 0) {
        unknown_check(cb, arg, id);
        return;
    }
    struct local__chk *ch = l->chks[i];
    if (ch->c.ttl_ns <= 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "CheckID \"%.400s\" does not have associated TTL", id);
        local__answer(cb, arg, CN_EIO, msg); /* a 500 in Consul; clients match the text */
        return;
    }
    if (!state_check_status_valid(status)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "Invalid check status: '%.200s'", status ? status : "");
        local__answer(cb, arg, CN_EINVAL, msg);
        return;
    }
    char *out = state_check_output_truncate(output ? output : "");
    if (!out) {
        local__answer(cb, arg, CN_ENOMEM, "out of memory");
        return;
    }
    /* Every update resets the TTL; only a change is written, so a service
     * heartbeating every few seconds costs no Raft entries. */
    local__ttl_rearm(l, ch);
    if (!strcmp(ch->c.status, status) && !strcmp(ch->c.output, out)) {
        cn_free(out);
        local__answer(cb, arg, 0, "");
        return;
    }
    struct local__op *op = local__op_new(l, OP_STATUS, cb, arg);
    if (!op) {
        cn_free(out);
        return;
    }
    op->output = out;
    op->id = cn_strdup(id);
    op->status = cn_strdup(status);
    if (!op->id || !op->status) {
        local__finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    local__propose_status(op);
}

/* Register a maintenance check (critical, no runner). */
static void add_maint_check(struct local *l, const char *id, const char *name, const char *notes,
                            const struct state_service *svc, local_done_cb cb, void *arg)
{
    struct local__op *op = local__op_new(l, OP_ADD_CHK, cb, arg);
    if (!op)
        return;
    struct state_check *c = &op->chk;
    if (local__set_owned(&c->node, l->node) || local__set_owned(&c->check_id, id) ||
        local__set_owned(&c->name, name) || local__set_owned(&c->status, "critical") ||
        local__set_owned(&c->notes, notes) || local__set_owned(&c->output, "") ||
        local__set_owned(&c->service_id, svc ? svc->id : "") ||
        local__set_owned(&c->service_name, svc ? svc->service : "") ||
        local__set_owned(&c->type, "maintenance") || local__set_owned(&c->http, "") ||
        local__set_owned(&c->method, "") || local__set_owned(&c->tcp, "") ||
        local__set_owned(&c->header_json, "") || local__set_owned(&c->body, "")) {
        local__finish(op, CN_ENOMEM, "out of memory");
        return;
    }
    local__propose_register(op, NULL, c, 1);
}

void local_service_maintenance(struct local *l, const char *id, bool enable, const char *reason,
                               local_done_cb cb, void *arg)
{
    if (local__closing(l, cb, arg))
        return;
    const struct state_service *svc = local_service(l, id);
    if (!svc) {
        char msg[600];
        snprintf(msg, sizeof(msg), "No service registered with ID \"%.400s\"", id);
        local__answer(cb, arg, CN_ENOTFOUND, msg);
        return;
    }
    struct cn_buf cid = CN_BUF_INIT;
    if (cn_buf_printf(&cid, LOCAL_SERVICE_MAINT_PREFIX "%s", id) || cn_buf_cstr(&cid)) {
        cn_buf_free(&cid);
        local__answer(cb, arg, CN_ENOMEM, "out of memory");
        return;
    }
    bool on = local_check(l, cid.p) != NULL;
    if (enable && !on)
        add_maint_check(l, cid.p, "Service Maintenance Mode",
                        reason && *reason ? reason : DEFAULT_SERVICE_MAINT_REASON, svc, cb, arg);
    else if (!enable && on)
        local_remove_check(l, cid.p, cb, arg);
    else
        local__answer(cb, arg, 0, "");
    cn_buf_free(&cid);
}

void local_node_maintenance(struct local *l, bool enable, const char *reason, local_done_cb cb,
                            void *arg)
{
    if (local__closing(l, cb, arg))
        return;
    bool on = local_check(l, LOCAL_NODE_MAINT_CHECK_ID) != NULL;
    if (enable && !on)
        add_maint_check(l, LOCAL_NODE_MAINT_CHECK_ID, "Node Maintenance Mode",
                        reason && *reason ? reason : DEFAULT_NODE_MAINT_REASON, NULL, cb, arg);
    else if (!enable && on)
        local_remove_check(l, LOCAL_NODE_MAINT_CHECK_ID, cb, arg);
    else
        local__answer(cb, arg, 0, "");
}
