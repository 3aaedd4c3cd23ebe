/* server/ops.c: membership operations. Remove, transfer and leave run on
 * the leader (a follower forwards them, forward.c); a removal is done once
 * its configuration change is applied. The leader also adds servers it
 * learnt of as learners and promotes them once caught up (autojoin). */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"

void srv__op_finish(struct srv *s, struct op *o, int rc, const char *msg)
{
    LIST_DEL(&s->ops, o);
    if (o->from) {
        struct srv_fwd_resp a = {
            .kind = SRV_FWD_OP, .req_id = o->req_id, .code = srv_fwd_code_from_err(rc)};
        snprintf(a.msg, sizeof(a.msg), "%s", msg ? msg : "");
        srv__send_resp(s, o->from, &a);
    } else if (o->cb) {
        o->cb(o->arg, rc, msg);
    }
    cn_free(o);
}

/* Run (or retry) an operation; on a follower, forward it to the leader. */
static void op_dispatch(struct srv *s, struct op *o)
{
    if (o->fwd || o->proposed)
        return;
    if (s->role != RAFT_LEADER) {
        if (o->from) {
            srv__op_finish(s, o, CN_EAGAIN, "leadership moved; retry");
            return;
        }
        if (s->leader == RAFT_NONE || !s->x)
            return; /* held until a leader is known */
        o->req_id = srv__next_id(s);
        struct srv_fwd_req m = {.kind = SRV_FWD_OP, .req_id = o->req_id};
        m.u.op.op = o->kind == OP_REMOVE ? SRV_FWD_OP_REMOVE : SRV_FWD_OP_TRANSFER;
        m.u.op.id = o->id;
        snprintf(m.u.op.addr, sizeof(m.u.op.addr), "%s", o->addr);
        if (srv__send_req(s, s->leader, &m) == 0)
            o->fwd = true;
        return;
    }
    if (o->kind == OP_TRANSFER) {
        int rc = raft_transfer_leader(s->raft, o->id);
        srv__kick(s);
        srv__op_finish(s, o, rc,
                       rc == CN_EINVAL ? "no such voter"
                       : rc            ? "cannot transfer now"
                                       : NULL);
        return;
    }
    struct raft_status st;
    raft_get_status(s->raft, &st);
    uint64_t target = 0;
    for (size_t i = 0; i < st.conf.n; i++)
        if ((o->id && st.conf.servers[i].id == o->id) ||
            (!o->id && o->addr[0] && !strcmp(st.conf.servers[i].addr, o->addr)))
            target = st.conf.servers[i].id;
    if (!target) {
        char msg[160];
        if (o->id)
            snprintf(msg, sizeof(msg), "id %016llx was not found in the Raft configuration",
                     (unsigned long long)o->id);
        else
            snprintf(msg, sizeof(msg), "address \"%s\" was not found in the Raft configuration",
                     o->addr);
        srv__op_finish(s, o, CN_ENOTFOUND, msg);
        return;
    }
    uint64_t idx;
    int rc = raft_propose_conf(s->raft, RAFT_CC_REMOVE, target, NULL, &idx);
    if (rc == CN_EAGAIN)
        return; /* another change in flight: retried on the next tick */
    if (rc) {
        srv__op_finish(s, o, rc, "cannot change the configuration");
        return;
    }
    o->proposed = true;
    o->index = idx;
    srv__kick(s);
}

int srv__op_new(struct srv *s, int kind, uint64_t id, const char *addr, srv_op_cb cb, void *arg,
                uint64_t from, uint64_t req_id)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    struct op *o = cn_calloc(1, sizeof(*o));
    if (!o)
        return CN_ENOMEM;
    o->kind = (enum op_kind)kind;
    o->id = id;
    snprintf(o->addr, sizeof(o->addr), "%s", addr ? addr : "");
    o->cb = cb;
    o->arg = arg;
    o->from = from;
    o->req_id = req_id;
    o->deadline = uv_now(s->loop) + 2 * s->hold_ms; /* the hold, then the operation */
    LIST_PUSH(&s->ops, o);
    op_dispatch(s, o);
    return 0;
}

void srv__ops_tick(struct srv *s)
{
    uint64_t now = uv_now(s->loop);
    for (struct op *o = s->ops.head, *nx; o; o = nx) {
        nx = o->next;
        if (o->proposed && s->applied >= o->index)
            srv__op_finish(s, o, 0, NULL);
        else if (o->deadline <= now)
            srv__op_finish(s, o, CN_EAGAIN,
                           o->fwd || o->proposed ? "timed out" : "No cluster leader");
        else
            op_dispatch(s, o);
    }
}

/* Consul's leader adds the servers it learns of (serf members) to the Raft
 * configuration, as non-voters until they caught up (autopilot). Here a
 * server is added when it reached us (or a peer that gossiped it) with an
 * empty log and was never a member: a removed server that still runs keeps
 * its log and is not taken back. One change at a time. */
void srv__autojoin(struct srv *s)
{
    if (s->role != RAFT_LEADER)
        return;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (st.commit < st.last_index)
        return; /* let the previous change (or the term's no-op) commit first */
    uint64_t idx;
    struct raft_progress pr[RAFT_MAX_SERVERS];
    size_t npr = raft_get_progress(s->raft, pr, RAFT_MAX_SERVERS);
    for (size_t i = 0; i < st.conf.n; i++) {
        if (st.conf.servers[i].role != RAFT_LEARNER)
            continue;
        for (size_t k = 0; k < npr; k++)
            if (pr[k].id == st.conf.servers[i].id && pr[k].match >= st.commit) {
                if (raft_propose_conf(s->raft, RAFT_CC_PROMOTE, pr[k].id, NULL, &idx) == 0) {
                    cn_info("server", "promoting server %016llx to voter",
                            (unsigned long long)pr[k].id);
                    srv__kick(s);
                }
                return;
            }
    }
    if (st.conf.n >= RAFT_MAX_SERVERS)
        return;
    for (size_t i = 0; i < s->ndir; i++) {
        struct pinfo *p = &s->dir[i];
        if (p->was_member || p->has_log || !p->addr[0] || !xport_peer_up(s->x, p->id) ||
            raft_conf_find(&st.conf, p->id))
            continue;
        if (raft_propose_conf(s->raft, RAFT_CC_ADD_LEARNER, p->id, p->addr, &idx) == 0) {
            cn_info("server", "adding server %016llx (%s, %s) as a non-voter",
                    (unsigned long long)p->id, p->node, p->addr);
            srv__kick(s);
        }
        return;
    }
}

/* A client agent is no member of the Raft configuration. */
static bool on_client(struct srv *s, srv_op_cb cb, void *arg)
{
    if (s->cl)
        cb(arg, CN_EINVAL, "not a server: this is a client agent");
    return s->cl != NULL;
}

int srv_remove_peer(struct srv *s, uint64_t id, const char *addr, srv_op_cb cb, void *arg)
{
    if (on_client(s, cb, arg))
        return 0;
    if (!id && (!addr || !*addr)) {
        cb(arg, CN_EINVAL, "an address or id is required");
        return 0;
    }
    return srv__op_new(s, OP_REMOVE, id, addr, cb, arg, 0, 0);
}

int srv_transfer_leader(struct srv *s, uint64_t id, srv_op_cb cb, void *arg)
{
    if (on_client(s, cb, arg))
        return 0;
    return srv__op_new(s, OP_TRANSFER, id, NULL, cb, arg, 0, 0);
}

int srv_leave(struct srv *s, srv_op_cb cb, void *arg)
{
    if (s->cl) {
        cb(arg, 0, NULL); /* nothing to leave without gossip: the agent stops */
        return 0;
    }
    /* The core lets a leader remove itself: it steps down once the change
     * committed (thesis §4.2.2), so no transfer is needed first. */
    return srv__op_new(s, OP_REMOVE, s->id, NULL, cb, arg, 0, 0);
}
