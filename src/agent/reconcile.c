/* agent/reconcile.c: the leader reconciles gossip members into the catalog
 * (Consul's agent/consul/leader.go: reconcileMember, handleAliveMember,
 * handleFailedMember, handleLeftMember, reconcileReaped). Each member's
 * event is reconciled as it arrives when this server leads; on becoming
 * leader, and every 60 s (Consul's reconcile_interval), every member is.
 * Writes are ordinary catalog commands through srv_propose:
 *   alive (and suspect: Serf shows it alive) -> the node (registered with
 *     its gossip address and node ID when missing or moved) and a passing
 *     serfHealth "Agent alive and reachable";
 *   failed -> serfHealth critical "Agent not live or unreachable"; the
 *     state invalidates the sessions that hold it (as Consul's);
 *   left, reaped, force-left -> the node deregistered (its services, checks
 *     and sessions go with it).
 * A catalog node with a critical serfHealth that the member list no longer
 * knows (reaped while no leader was there) is deregistered by the full pass.
 * Nodes without a serfHealth check (PUT /v1/catalog/register of external
 * nodes) are never touched. The leader's own node is left to its agent. */
#include <stdio.h>
#include <string.h>

#include "agent/lan.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#define SERF_CHECK "serfHealth"
#define RECONCILE_MS 60000
#define TICK_MS 500

struct agent_reconcile {
    uv_loop_t *loop;
    struct srv *srv;
    struct gossip_net *net;
    char self[GOSSIP_NAME_MAX + 1];
    uv_timer_t timer;
    bool was_leader;
    uint64_t next_full;
    bool stopping, closed;
    int inflight; /* writes whose callback is still to come */
};

static void on_done(void *arg, int rc, const struct state_result *res)
{
    struct agent_reconcile *r = arg;
    r->inflight--;
    if (rc && rc != CN_ESHUTDOWN)
        cn_warn("agent", "reconcile: catalog write failed: %s", cn_strerror(rc));
    (void)res;
    if (r->closed && r->inflight == 0)
        cn_free(r); /* the last write of a stopped reconciler */
}

static void propose(struct agent_reconcile *r, struct cn_buf *cmd)
{
    if (srv_propose(r->srv, cmd->p, cmd->len, on_done, r) == 0)
        r->inflight++;
}

static void register_node(struct agent_reconcile *r, const struct gossip_member *m,
                          const struct state_node *old, const char *status, const char *output)
{
    struct state_check serf;
    memset(&serf, 0, sizeof(serf));
    serf.node = (char *)m->name;
    serf.check_id = (char *)SERF_CHECK;
    serf.name = (char *)"Serf Health Status";
    serf.status = (char *)status;
    serf.notes = (char *)"";
    serf.output = (char *)output;
    serf.service_id = serf.service_name = serf.type = (char *)"";
    serf.http = serf.method = serf.tcp = serf.header_json = serf.body = (char *)"";
    struct state_register reg;
    memset(&reg, 0, sizeof(reg));
    char id[40] = "";
    gossip_tags_get(m->tags, m->tags_len, "id", id, sizeof(id));
    if (old) {
        reg.node = *old; /* borrowed: meta and tagged addresses kept */
        reg.node.address = (char *)m->host;
        if (!*reg.node.id && *id)
            reg.node.id = id;
    } else {
        reg.node.name = (char *)m->name;
        reg.node.id = id;
        reg.node.address = (char *)m->host;
    }
    reg.checks = &serf;
    reg.nchecks = 1;
    struct cn_buf cmd = CN_BUF_INIT;
    if (state_cmd_register(&cmd, &reg) == 0)
        propose(r, &cmd);
    cn_buf_free(&cmd);
}

static void set_status(struct agent_reconcile *r, const char *node, const char *status,
                       const char *output)
{
    struct cn_buf cmd = CN_BUF_INIT;
    if (state_cmd_check_status(&cmd, node, SERF_CHECK, status, output) == 0)
        propose(r, &cmd);
    cn_buf_free(&cmd);
}

static void deregister(struct agent_reconcile *r, const char *node)
{
    struct cn_buf cmd = CN_BUF_INIT;
    if (state_cmd_deregister(&cmd, node, NULL, NULL) == 0)
        propose(r, &cmd);
    cn_buf_free(&cmd);
}

static void reconcile_member(struct agent_reconcile *r, const struct gossip_member *m, bool gone)
{
    if (!strcmp(m->name, r->self))
        return;
    const struct state *st = srv_state(r->srv);
    const struct state_node *node = state_node_get(st, m->name);
    const struct state_check *serf = node ? state_check_get(st, m->name, SERF_CHECK) : NULL;
    if (gone || m->status == GOSSIP_LEFT) {
        if (node) {
            cn_info("agent", "reconcile: member %s left: deregistering its node", m->name);
            deregister(r, m->name);
        }
        return;
    }
    if (m->status == GOSSIP_FAILED) {
        if (!node)
            return; /* never registered: nothing to mark */
        if (serf && !strcmp(serf->status, "critical"))
            return;
        cn_info("agent", "reconcile: member %s failed: serfHealth critical", m->name);
        if (serf)
            set_status(r, m->name, "critical", "Agent not live or unreachable");
        else
            register_node(r, m, node, "critical", "Agent not live or unreachable");
        return;
    }
    /* alive (or suspect) */
    if (node && serf && !strcmp(serf->status, "passing") && !strcmp(node->address, m->host))
        return;
    if (node && serf && !strcmp(node->address, m->host)) {
        cn_info("agent", "reconcile: member %s alive: serfHealth passing", m->name);
        set_status(r, m->name, "passing", "Agent alive and reachable");
        return;
    }
    cn_info("agent", "reconcile: member %s alive: registering its node", m->name);
    register_node(r, m, node, "passing", "Agent alive and reachable");
}

static void on_event(void *arg, const struct gossip_event *e)
{
    struct agent_reconcile *r = arg;
    if (r->stopping || e->type == GOSSIP_EV_SUSPECT || !srv_is_leader(r->srv))
        return;
    reconcile_member(r, &e->m, e->type == GOSSIP_EV_REAP);
}

static int full_member(void *arg, const struct gossip_member *m)
{
    reconcile_member(arg, m, false);
    return 0;
}

struct reaped {
    struct agent_reconcile *r;
    char (*names)[GOSSIP_NAME_MAX + 1];
    size_t n, cap;
};

static int find_reaped(void *arg, const struct state_check *c)
{
    struct reaped *x = arg;
    if (strcmp(c->check_id, SERF_CHECK) || strcmp(c->status, "critical") ||
        !strcmp(c->node, x->r->self))
        return 0;
    struct gossip_member m;
    if (gossip_member_get(gossip_net_core(x->r->net), c->node, &m) == 0)
        return 0;
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 16;
        void *v = cn_realloc(x->names, nc * sizeof(*x->names));
        if (!v)
            return 1;
        x->names = v;
        x->cap = nc;
    }
    snprintf(x->names[x->n++], GOSSIP_NAME_MAX + 1, "%s", c->node);
    return 0;
}

static void full(struct agent_reconcile *r)
{
    gossip_foreach(gossip_net_core(r->net), full_member, r);
    struct reaped x = {r, NULL, 0, 0};
    state_checks_foreach(srv_state(r->srv), find_reaped, &x);
    for (size_t i = 0; i < x.n; i++) {
        cn_info("agent", "reconcile: node %s is no member any more: deregistering it", x.names[i]);
        deregister(r, x.names[i]);
    }
    cn_free(x.names);
    r->next_full = uv_now(r->loop) + RECONCILE_MS;
}

static void on_tick(uv_timer_t *t)
{
    struct agent_reconcile *r = t->data;
    bool leader = srv_is_leader(r->srv);
    if (leader && (!r->was_leader || uv_now(r->loop) >= r->next_full)) {
        if (!r->was_leader)
            cn_info("agent", "reconcile: leading: reconciling every gossip member");
        full(r);
    }
    r->was_leader = leader;
}

struct agent_reconcile *agent_reconcile_start(uv_loop_t *loop, struct srv *srv,
                                              struct gossip_net *net, const char *self_node)
{
    struct agent_reconcile *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->loop = loop;
    r->srv = srv;
    r->net = net;
    snprintf(r->self, sizeof(r->self), "%s", self_node);
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_tick, TICK_MS, TICK_MS);
    gossip_net_subscribe(net, on_event, r);
    return r;
}

static void on_closed(uv_handle_t *h)
{
    struct agent_reconcile *r = h->data;
    r->closed = true;
    if (r->inflight == 0)
        cn_free(r); /* else the last on_done frees it */
}

void agent_reconcile_stop(struct agent_reconcile *r)
{
    if (!r)
        return;
    r->stopping = true;
    gossip_net_unsubscribe(r->net, on_event, r);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}
