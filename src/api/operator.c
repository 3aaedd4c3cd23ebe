/* api/operator.c: cluster operations over HTTP (website/content/api-docs/
 * operator/raft.mdx, agent/index.mdx "Join Agent" and "Graceful Leave and
 * Shutdown"; agent/operator_endpoint.go, agent/agent_endpoint.go):
 *
 *   DELETE /v1/operator/raft/peer?id=ID | ?address=IP:port  -> 200, empty body
 *   POST   /v1/operator/raft/transfer-leader[?id=ID]         -> {"Success":true}
 *   PUT    /v1/agent/join/:address                            -> 200, empty body
 *   PUT    /v1/agent/leave                                    -> 200, empty body
 *
 * Each handler calls the matching srv_* operation and answers from its
 * callback; the server forwards to the leader when needed. Failures are
 * Consul's: a plain-text 500 carrying the server's message (the Go client
 * shows it as "Unexpected response code: 500 (...)"), 400 for bad parameters.
 * GET /v1/operator/raft/configuration lives in status.c.
 *
 * python-consul 0.7.1 (Debian's python3-consul) sends GET for agent join, as
 * Consul before 1.0 accepted: the agent routes here take GET and PUT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "gossip/net.h"

/* A server RPC port when an address names none (Consul's server port). */
#define DEFAULT_SERVER_PORT 8300

/* srv_op_cb -> the HTTP answer; which operation it was is in c->user. */
enum op_kind { OP_REMOVE = 1, OP_TRANSFER, OP_JOIN, OP_LEAVE, OP_FORCE_LEAVE };

static void op_done(void *arg, int rc, const char *msg)
{
    struct api_ctx *c = arg;
    enum op_kind op = (enum op_kind)(uintptr_t)c->user;
    c->user = NULL;
    if (rc == 0) {
        if (op == OP_TRANSFER) {
            /* api.TransferLeaderResponse */
            struct cn_buf b = CN_BUF_INIT;
            struct cn_jsonw w;
            api_jsonw(c, &w, &b);
            cn_jsonw_obj_open(&w);
            cn_jsonw_kbool(&w, "Success", true);
            cn_jsonw_obj_close(&w);
            api_reply_jsonw(c, 200, &w, &b);
            return;
        }
        struct api *a = c->api;
        api_reply_empty(c); /* frees c */
        /* Consul's agent shuts down after a graceful leave: the API's owner
         * does (api_config.on_leave). */
        if (op == OP_LEAVE && a->cfg.on_leave)
            a->cfg.on_leave(a->cfg.on_leave_arg);
        return;
    }
    const char *text = msg && *msg ? msg : NULL;
    if (op == OP_REMOVE && rc == CN_ENOTFOUND) {
        /* The leader's text in Consul (operator_raft_endpoint.go). */
        const struct http_param *pa = http_req_param(c->req, "address");
        const struct http_param *pi = http_req_param(c->req, "id");
        api_error(c, 500, "%s \"%s\" was not found in the Raft configuration",
                  pa ? "address" : "id",
                  pa   ? pa->value
                  : pi ? pi->value
                       : "");
        return;
    }
    /* Past the HTTP layer's own checks, Consul answers every failure of the
     * operation itself with a 500 carrying the error text; ErrNoLeader's
     * text when the server said nothing better. */
    if (!text)
        text = rc == CN_EAGAIN ? "No cluster leader" : cn_strerror(rc);
    api_error(c, 500, "%s", text);
}

/* A synchronous refusal from srv_*: the callback will not run. */
static void op_refused(struct api_ctx *c, int rc)
{
    c->user = NULL;
    api_error(c, 500, "%s", cn_strerror(rc));
}

/* ---- the server ID ------------------------------------------------------------
 * Consul's ?id is the Raft server ID as /v1/operator/raft/configuration shows
 * it: the node's UUID. cairn also takes its integer Raft ID, a node name or
 * an RPC address, so an operator may paste whichever column of `operator raft
 * list-peers` is at hand. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

#define MAX_PEERS 64

/* 0 and *id set, or CN_ENOTFOUND. */
static int resolve_id(struct api_ctx *c, const char *s, uint64_t *id)
{
    struct srv_peer peers[MAX_PEERS];
    size_t n = srv_peers(c->api->srv, peers, MAX_PEERS);
    if (n > MAX_PEERS)
        n = MAX_PEERS;
    for (size_t i = 0; i < n; i++)
        if (peers[i].node_id[0] && strcmp(peers[i].node_id, s) == 0) {
            *id = peers[i].id;
            return 0;
        }
    if (parse_u64(s, id) == 0 && *id != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (peers[i].node[0] && strcmp(peers[i].node, s) == 0) {
            *id = peers[i].id;
            return 0;
        }
    for (size_t i = 0; i < n; i++)
        if (strcmp(peers[i].addr, s) == 0) {
            *id = peers[i].id;
            return 0;
        }
    return CN_ENOTFOUND;
}

/* ---- DELETE /v1/operator/raft/peer ------------------------------------------ */

static void h_raft_peer(struct api_ctx *c)
{
    /* Presence decides, as Consul's OperatorRaftPeer (params["id"]). */
    const struct http_param *pid = http_req_param(c->req, "id");
    const struct http_param *paddr = http_req_param(c->req, "address");
    if (!pid && !paddr) {
        api_error(c, 400,
                  "Must specify either ?id with the server's ID or ?address with IP:port of "
                  "peer to remove");
        return;
    }
    if (pid && paddr) {
        api_error(c, 400, "Must specify only one of ?id or ?address");
        return;
    }
    uint64_t id = 0;
    if (pid) {
        /* Consul's leader-side text for an unknown ID (operator_raft_endpoint.go). */
        if (resolve_id(c, pid->value, &id)) {
            api_error(c, 500, "id \"%s\" was not found in the Raft configuration", pid->value);
            return;
        }
    } else if (!*paddr->value) {
        api_error(c, 500, "address \"\" was not found in the Raft configuration");
        return;
    }
    c->user = (void *)(uintptr_t)OP_REMOVE;
    int rc = srv_remove_peer(c->api->srv, id, pid ? NULL : paddr->value, op_done, c);
    if (rc)
        op_refused(c, rc);
}

/* ---- POST /v1/operator/raft/transfer-leader ---------------------------------- */

static void h_transfer_leader(struct api_ctx *c)
{
    const char *sid = api_param(c, "id");
    uint64_t id = 0;
    if (sid && *sid && resolve_id(c, sid, &id)) {
        api_error(c, 500,
                  "Failed to transfer Leader: id \"%s\" was not found in the Raft "
                  "configuration",
                  sid);
        return;
    }
    c->user = (void *)(uintptr_t)OP_TRANSFER;
    int rc = srv_transfer_leader(c->api->srv, id, op_done, c);
    if (rc)
        op_refused(c, rc);
}

/* ---- PUT /v1/agent/join/:address --------------------------------------------- */

struct join_try {
    struct api_ctx *c;
    bool rpc_too;
    bool wan; /* ?wan: the WAN pool */
    char addr[256];
    char gossip_err[200];
};

static void on_rpc_join(void *arg, int rc, const char *msg)
{
    struct join_try *t = arg;
    struct api_ctx *c = t->c;
    if (rc) {
        char both[512];
        snprintf(both, sizeof(both), "as a gossip address: %s; as a server RPC address: %s",
                 t->gossip_err, msg && *msg ? msg : cn_strerror(rc));
        cn_free(t);
        op_done(c, rc, both);
        return;
    }
    cn_free(t);
    op_done(c, 0, "");
}

static void on_gossip_join(void *arg, int rc, const char *why)
{
    struct join_try *t = arg;
    struct api_ctx *c = t->c;
    if (rc && t->wan && rc != CN_ESHUTDOWN) {
        char msg[300];
        snprintf(msg, sizeof(msg), "WAN join %s: %s", t->addr, why);
        cn_free(t);
        op_done(c, rc, msg);
        return;
    }
    if (rc == 0 || rc == CN_ESHUTDOWN || !t->rpc_too) {
        cn_free(t);
        op_done(c, rc, why);
        return;
    }
    snprintf(t->gossip_err, sizeof(t->gossip_err), "%s", why);
    if (srv_join(c->api->srv, t->addr, on_rpc_join, t)) {
        cn_free(t);
        op_done(c, CN_ENOMEM, "out of memory");
    }
}

/* Join the gossip pool n through c->arg (default_port when none is given);
 * on_gossip_join answers. */
static void pool_join(struct api_ctx *c, struct gossip_net *n, int default_port, bool wan,
                      bool rpc_too)
{
    struct join_try *t = cn_calloc(1, sizeof(*t));
    if (!t) {
        api_error(c, 500, "out of memory");
        return;
    }
    t->c = c;
    t->wan = wan;
    t->rpc_too = rpc_too;
    snprintf(t->addr, sizeof(t->addr), "%s", c->arg);
    int rc = gossip_net_join(n, c->arg, default_port, on_gossip_join, t);
    if (rc) {
        cn_free(t);
        if (rc == CN_EINVAL)
            api_error(c, 400, "Invalid address: %s", c->arg);
        else
            op_refused(c, rc);
    }
}

static void h_agent_join(struct api_ctx *c)
{
    int wan = api_flag(c, "wan");
    if (wan < 0) {
        api_error(c, 400, "Invalid value for wan");
        return;
    }
    if (!*c->arg) {
        api_error(c, 400, "Missing address to join");
        return;
    }
    if (wan > 0) {
        /* The WAN pool of servers (agent/wan.c), Serf WAN port 8302 by
         * default. A client agent has none (Consul's texts). */
        if (srv_is_client(c->api->srv)) {
            api_error(c, 500, "Must be a server to join WAN cluster");
            return;
        }
        if (!c->api->wan.gossip) {
            api_error(c, 500, "WAN join: this server runs no WAN gossip (serf_wan port -1)");
            return;
        }
        if (strlen(c->arg) >= 256) {
            api_error(c, 400, "Address too long");
            return;
        }
        c->user = (void *)(uintptr_t)OP_JOIN;
        pool_join(c, c->api->wan.gossip, 8302, true, false);
        return;
    }
    /* Consul joins the Serf LAN port (8301) when none is given. With an
     * explicit port the address may also be a server RPC address (cairn's
     * join before gossip): a server tries it that way when the gossip join
     * fails. */
    const char *colon = strrchr(c->arg, ':');
    const char *bracket = strrchr(c->arg, ']');
    bool has_port =
        colon && (!bracket || colon > bracket) && (bracket || strchr(c->arg, ':') == colon);
    if (strlen(c->arg) >= 256) {
        api_error(c, 400, "Address too long");
        return;
    }
    c->user = (void *)(uintptr_t)OP_JOIN;
    if (c->api->cfg.gossip) {
        pool_join(c, c->api->cfg.gossip, 8301, false, has_port);
        return;
    }
    char addr[300];
    snprintf(addr, sizeof(addr), has_port ? "%s" : "%s:%d", c->arg, DEFAULT_SERVER_PORT);
    int rc = srv_join(c->api->srv, addr, op_done, c);
    if (rc)
        op_refused(c, rc);
}

/* ---- PUT /v1/agent/leave ----------------------------------------------------- */

static void h_agent_leave(struct api_ctx *c)
{
    c->user = (void *)(uintptr_t)OP_LEAVE;
    int rc = srv_leave(c->api->srv, op_done, c);
    if (rc)
        op_refused(c, rc);
}

/* ---- PUT /v1/agent/force-leave/:node[?prune][?wan] ----------------------------
 * api-docs/agent/index.mdx "Force Leave and Shutdown": Consul moves a failed
 * member to "left"; for a server, its leader then removes it from the Raft
 * configuration (autopilot/reconcile). cairn does both: the gossip member
 * becomes left (with ?prune it is forgotten at once) and a server is removed
 * from the Raft configuration. An unknown node is Consul's agent error, a
 * 500. */
static void h_force_leave(struct api_ctx *c)
{
    int prune = api_flag(c, "prune"), wan = api_flag(c, "wan");
    if (prune < 0 || wan < 0) {
        api_error(c, 400, "Invalid value for %s", prune < 0 ? "prune" : "wan");
        return;
    }
    if (!*c->arg) {
        api_error(c, 400, "Missing node name");
        return;
    }
    if (wan > 0) {
        /* A member of the WAN pool, named NODE.DC: it becomes left (?prune:
         * forgotten), so its datacenter stops routing to it. */
        if (!c->api->wan.gossip) {
            api_error(c, 500, "agent: this agent runs no WAN gossip pool");
            return;
        }
        int rc = gossip_net_force_leave(c->api->wan.gossip, c->arg, prune > 0);
        if (rc == CN_EINVAL) {
            api_error(c, 500, "agent: cannot force-leave this agent's own WAN member '%s'", c->arg);
            return;
        }
        if (rc) {
            api_error(c, 500, "agent: No node found with name '%s'", c->arg);
            return;
        }
        cn_info("api", "Force leaving WAN member: %s%s", c->arg, prune > 0 ? " (prune)" : "");
        api_reply_empty(c);
        return;
    }
    if (!strcmp(c->arg, c->api->cfg.node_name)) {
        /* Consul would mark itself left while still running; cairn refuses
         * rather than drop the server it answers from (use leave). */
        api_error(c, 500, "agent: cannot force-leave this agent's own node '%s': use leave",
                  c->arg);
        return;
    }
    /* The gossip member first (failed -> left, ?prune: forgotten at once;
     * the leader deregisters its node), then, for a server, its removal from
     * the Raft configuration (Consul's leader does it for a left server). */
    bool in_gossip = false;
    if (c->api->cfg.gossip)
        in_gossip = gossip_net_force_leave(c->api->cfg.gossip, c->arg, prune > 0) == 0;
    struct srv_peer peers[MAX_PEERS];
    size_t n = srv_peers(c->api->srv, peers, MAX_PEERS);
    if (n > MAX_PEERS)
        n = MAX_PEERS;
    uint64_t id = 0;
    for (size_t i = 0; i < n && !id; i++)
        if (peers[i].node[0] && !strcmp(peers[i].node, c->arg))
            id = peers[i].id;
    if (!id && !in_gossip) {
        /* agent/agent.go ForceLeave */
        api_error(c, 500, "agent: No node found with name '%s'", c->arg);
        return;
    }
    cn_info("api", "Force leaving node: %s%s", c->arg, prune > 0 ? " (prune)" : "");
    if (!id) {
        api_reply_empty(c);
        return;
    }
    c->user = (void *)(uintptr_t)OP_FORCE_LEAVE;
    int rc = srv_remove_peer(c->api->srv, id, NULL, op_done, c);
    if (rc)
        op_refused(c, rc);
}

#define GP (API_GET | API_PUT)

const struct api_route api_operator_routes[] = {
    {"/v1/agent/force-leave/", true, GP, NULL, h_force_leave, API_FIXED(OPERATOR, WRITE),
     API_FIXED(OPERATOR, WRITE)},
    {"/v1/operator/raft/peer", false, API_DELETE, NULL, h_raft_peer, API_FIXED(OPERATOR, WRITE),
     API_FIXED(OPERATOR, WRITE)},
    {"/v1/operator/raft/transfer-leader", false, API_POST, NULL, h_transfer_leader,
     API_FIXED(OPERATOR, WRITE), API_FIXED(OPERATOR, WRITE)},
    {"/v1/agent/join/", true, GP, NULL, h_agent_join, API_SELF(AGENT, WRITE),
     API_SELF(AGENT, WRITE)},
    {"/v1/agent/leave", false, GP, NULL, h_agent_leave, API_SELF(AGENT, WRITE),
     API_SELF(AGENT, WRITE)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
