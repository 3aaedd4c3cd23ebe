/* local/sync.c: the local state against the catalog: at start, rebuild the
 * local maps from this node's catalog entries and register the node; on
 * demand, anti-entropy (local_resync). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "local/local_int.h"

/* ---- start: rebuild from the catalog, register the node -------------------------------------- */

struct rebuild {
    struct local *l;
    int rc;
};

static int rebuild_svc(void *arg, const struct state_service *s)
{
    struct rebuild *rb = arg;
    if (!strcmp(s->id, "consul"))
        return 0; /* the node's own server service, not an agent registration */
    if (local__put_service(rb->l, s)) {
        rb->rc = CN_ENOMEM;
        return 1;
    }
    return 0;
}

static int rebuild_chk(void *arg, const struct state_check *c)
{
    struct rebuild *rb = arg;
    if (!strcmp(c->check_id, LOCAL_SERF_CHECK_ID))
        return 0;
    if (local__put_check(rb->l, c)) {
        rb->rc = CN_ENOMEM;
        return 1;
    }
    return 0;
}

/* Consul servers appear in the catalog as the "consul" service. */
static void propose_consul_service(struct local *l)
{
    if (l->server_port <= 0)
        return;
    struct state_service svc;
    memset(&svc, 0, sizeof(svc));
    svc.node = l->node;
    svc.id = svc.service = (char *)"consul";
    svc.kind = svc.address = (char *)"";
    svc.port = l->server_port;
    svc.weight_passing = svc.weight_warning = 1;
    struct local__op *op = local__op_new(l, OP_NODE, NULL, NULL);
    if (op)
        local__propose_register(op, &svc, NULL, 0);
}

/* Register svc (NULL: the node-level checks) with the local checks that
 * belong to it, as one command. Failures are logged by local__finish(). */
static void propose_resync(struct local *l, struct state_service *svc)
{
    const char *sid = svc ? svc->id : "";
    size_t n = 0;
    for (size_t i = 0; i < l->nchks; i++)
        n += !strcmp(l->chks[i]->c.service_id, sid);
    if (!svc && !n)
        return;
    struct state_check *checks = n ? cn_calloc(n, sizeof(*checks)) : NULL;
    struct local__op *op = n && !checks ? NULL : local__op_new(l, OP_NODE, NULL, NULL);
    if (op) {
        size_t k = 0;
        for (size_t i = 0; i < l->nchks; i++)
            if (!strcmp(l->chks[i]->c.service_id, sid))
                checks[k++] = l->chks[i]->c; /* borrowed: encoded at once */
        local__propose_register(op, svc, checks, n);
    } else {
        cn_warn("agent", "out of memory re-syncing local state");
    }
    cn_free(checks);
}

/* IDs of this node's catalog entries the agent does not know (collected
 * first: proposing while walking the state could change it under the walk). */
struct extras {
    struct local *l;
    char **ids;
    size_t n;
    bool oom;
};

static void extras_add(struct extras *x, const char *id)
{
    char **n = cn_realloc(x->ids, (x->n + 1) * sizeof(*n));
    if (n)
        x->ids = n;
    if (!n || !(x->ids[x->n] = cn_strdup(id))) {
        x->oom = true;
        return;
    }
    x->n++;
}

static int extra_svc(void *arg, const struct state_service *s)
{
    struct extras *x = arg;
    if (strcmp(s->id, "consul") != 0 && !local_service(x->l, s->id))
        extras_add(x, s->id);
    return x->oom;
}

static int extra_chk(void *arg, const struct state_check *c)
{
    struct extras *x = arg;
    /* A check of a service being removed goes with its service. */
    bool gone_with_svc = *c->service_id && !local_service(x->l, c->service_id);
    if (strcmp(c->check_id, LOCAL_SERF_CHECK_ID) != 0 && !gone_with_svc &&
        !local_check(x->l, c->check_id))
        extras_add(x, c->check_id);
    return x->oom;
}

/* Deregister the collected IDs (services when `svc`, else checks). */
static void extras_drop(struct extras *x, bool svc)
{
    for (size_t i = 0; i < x->n; i++) {
        struct local__op *op = local__op_new(x->l, OP_NODE, NULL, NULL);
        if (op)
            local__propose_dereg(op, svc ? x->ids[i] : NULL, svc ? NULL : x->ids[i]);
        cn_free(x->ids[i]);
    }
    cn_free(x->ids);
    if (x->oom)
        cn_warn("agent", "out of memory re-syncing local state");
    x->ids = NULL;
    x->n = 0;
    x->oom = false;
}

void local_set_acl(struct local *l, local_acl_cb may, void *arg)
{
    l->acl_may = may;
    l->acl_arg = arg;
}

bool local_acl_blocked(const struct local *l)
{
    return l && l->acl_blocked;
}

/* agent/local/state.go syncNodeInfo: with ACLs, the agent token must have
 * node:write on this node; Consul logs and carries on without the write. */
static bool node_write_ok(struct local *l)
{
    char acc[64] = "";
    if (!l->acl_may || l->acl_may(l->acl_arg, l->node, acc, sizeof(acc))) {
        l->acl_blocked = false;
        return true;
    }
    if (!l->acl_blocked)
        cn_warn("agent", "Node info update blocked by ACLs: node=%s accessorID=%s", l->node,
                *acc ? acc : "(unknown)");
    l->acl_blocked = true;
    return false;
}

void local_resync(struct local *l)
{
    if (!l || l->closing || !node_write_ok(l))
        return;
    /* agent/local/state.go updateSyncState: what the catalog holds for this
     * node but the agent does not know is removed ... */
    struct state *st = srv_state(l->srv);
    struct extras x = {l, NULL, 0, false};
    state_node_services(st, l->node, extra_svc, &x);
    extras_drop(&x, true);
    state_node_checks(st, l->node, extra_chk, &x);
    extras_drop(&x, false);
    /* ... and what the agent knows is written back (a service's checks go
     * with it, after the node they live on). */
    if (local__propose_node(l)) {
        cn_warn("agent", "could not re-register this node in the catalog");
        return;
    }
    propose_consul_service(l);
    for (size_t i = 0; i < l->nsvcs; i++)
        propose_resync(l, l->svcs[i]);
    propose_resync(l, NULL);
}

int local_start(struct local *l)
{
    struct state *st = srv_state(l->srv);
    struct rebuild rb = {l, 0};
    state_node_services(st, l->node, rebuild_svc, &rb);
    if (!rb.rc)
        state_node_checks(st, l->node, rebuild_chk, &rb);
    if (rb.rc)
        return rb.rc;
    local__reaper_start(l);
    if (l->nsvcs || l->nchks)
        cn_info("agent", "restored %zu services and %zu checks from the catalog", l->nsvcs,
                l->nchks);

    if (!node_write_ok(l))
        return 0; /* anti-entropy tries again */
    int rc = local__propose_node(l);
    if (rc)
        return rc;
    propose_consul_service(l);
    return 0;
}

/* ---- anti-entropy by difference (client agents) ---------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

/* The service as a register command of this node: two services are the
 * same registration when these bytes are. */
static int svc_bytes(struct local *l, const struct state_service *s, struct cn_buf *out)
{
    struct state_service copy = *s;
    copy.node = l->node;
    copy.create_index = copy.modify_index = 0;
    struct state_register reg;
    memset(&reg, 0, sizeof(reg));
    reg.node.name = l->node;
    reg.node.id = reg.node.address = (char *)"";
    reg.skip_node_update = true;
    reg.service = &copy;
    return state_cmd_register(out, &reg);
}

/* Is the catalog's row cat what the agent writes for `given` (merged)? A
 * merge not known yet (CN_EAGAIN) or failed counts as the same: the row
 * stays until the merge is known. */
static bool svc_same(struct local *l, const struct state_service *cat,
                     const struct state_service *given)
{
    struct state_service tmp;
    struct local_merged owned;
    const struct state_service *b = given;
    if (local__merged(l, given, &tmp, &owned, &b)) {
        local_merged_free(&owned);
        return true;
    }
    struct cn_buf x = CN_BUF_INIT, y = CN_BUF_INIT;
    bool same = !svc_bytes(l, cat, &x) && !svc_bytes(l, b, &y) && x.len == y.len &&
                !memcmp(x.p, y.p, x.len);
    cn_buf_free(&x);
    cn_buf_free(&y);
    local_merged_free(&owned);
    return same;
}

void local_set_merge(struct local *l, local_merge_cb merge, void *arg)
{
    l->merge = merge;
    l->merge_arg = arg;
}

size_t local_remerge(struct local *l)
{
    if (!l || l->closing || !l->merge)
        return 0;
    struct state *st = srv_state(l->srv);
    size_t writes = 0;
    for (size_t i = 0; i < l->nsvcs; i++) {
        const struct state_service *s = l->svcs[i];
        if (!s->kind || strcmp(s->kind, STATE_KIND_CONNECT_PROXY) != 0)
            continue;
        /* a row missing altogether is anti-entropy's to write back */
        const struct state_service *cat = state_service_get(st, l->node, s->id);
        if (!cat || svc_same(l, cat, s))
            continue;
        propose_resync(l, l->svcs[i]);
        writes++;
    }
    return writes;
}

/* Do the catalog's checks of service sid (node-level: "") match ours? */
static bool checks_same(struct local *l, const struct state *st, const char *sid)
{
    for (size_t i = 0; i < l->nchks; i++) {
        const struct state_check *c = &l->chks[i]->c;
        if (strcmp(c->service_id, sid) != 0)
            continue;
        const struct state_check *k = state_check_get(st, l->node, c->check_id);
        if (!k || !str_eq(k->status, c->status) || !str_eq(k->output, c->output) ||
            !str_eq(k->name, c->name) || !str_eq(k->notes, c->notes) ||
            !str_eq(k->service_id, c->service_id))
            return false;
    }
    return true;
}

size_t local_sync(struct local *l)
{
    if (!l || l->closing)
        return 0;
    struct state *st = srv_state(l->srv);
    size_t writes = 0;
    /* What the catalog holds for this node that the agent does not: gone. */
    struct extras x = {l, NULL, 0, false};
    state_node_services(st, l->node, extra_svc, &x);
    writes += x.n;
    extras_drop(&x, true);
    state_node_checks(st, l->node, extra_chk, &x);
    writes += x.n;
    extras_drop(&x, false);
    /* The node row and serfHealth. */
    const struct state_node *n = state_node_get(st, l->node);
    const struct state_check *serf = state_check_get(st, l->node, LOCAL_SERF_CHECK_ID);
    if (!n || !str_eq(n->address, l->address) || !str_eq(n->id, l->node_id) || !serf ||
        !str_eq(serf->status, "passing")) {
        if (local__propose_node(l) == 0)
            writes++;
    }
    /* What the agent holds that the catalog lacks or has otherwise. */
    for (size_t i = 0; i < l->nsvcs; i++) {
        const struct state_service *cat = state_service_get(st, l->node, l->svcs[i]->id);
        if (!cat || !svc_same(l, cat, l->svcs[i]) || !checks_same(l, st, l->svcs[i]->id)) {
            propose_resync(l, l->svcs[i]);
            writes++;
        }
    }
    if (!checks_same(l, st, "")) {
        propose_resync(l, NULL);
        writes++;
    }
    return writes;
}
