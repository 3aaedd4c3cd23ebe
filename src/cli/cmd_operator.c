/* cli/cmd_operator.c: cluster membership commands, as Consul's
 * (https://developer.hashicorp.com/consul/commands/operator/raft, /join,
 * /leave): `operator raft list-peers|remove-peer|transfer-leader`, `join`,
 * `leave`. Messages and exit codes follow Consul's command/operator/raft/...,
 * command/join and command/leave: 0 on success, 1 on any error, errors on
 * stderr. list-peers prints Consul's table without the autopilot health
 * columns (cairn has no autopilot health endpoint): Node, ID, Address, State,
 * Voter, RaftProtocol. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "cli/cli_int.h"

const struct cli_flag cli__raft_remove_peer_flags[] = {
    {"address", CLI_STR, "string", "The address to remove from the Raft configuration."},
    {"id", CLI_STR, "string", "The ID to remove from the Raft configuration."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__raft_transfer_leader_flags[] = {
    {"id", CLI_STR, "string", "The ID of the node to transfer leadership to."},
    {NULL, 0, NULL, NULL},
};

const struct cli_flag cli__join_flags[] = {
    {"wan", CLI_BOOL, NULL, "Joins a server to another server in the WAN pool."},
    {NULL, 0, NULL, NULL},
};

static const char *jstr(struct json_object *o, const char *k)
{
    const char *s = NULL;
    return cn_json_get_str(o, k, &s) == 1 && s ? s : "";
}

/* ---- operator raft list-peers ---------------------------------------------- */

#define LIST_WHAT "Error getting peers: Failed to retrieve raft configuration"

int cli__run_raft_list_peers(struct cli_ctx *c, const struct cli_args *a)
{
    (void)a;
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    struct cn_buf *rows = NULL;
    const char **cells = NULL;
    size_t nrows = 0;
    int ret = 1;
    if (cli__call(c, LIST_WHAT, "GET", "/v1/operator/raft/configuration", "", NULL, 0, 0, &r))
        goto out;
    root = cli__json_body(c, LIST_WHAT, &r);
    if (!root)
        goto out;
    struct json_object *servers = cn_json_get(root, "Servers");
    size_t n = servers && json_object_is_type(servers, json_type_array)
                   ? json_object_array_length(servers)
                   : 0;
    rows = cn_calloc(n + 1, sizeof(*rows));
    cells = cn_calloc(n + 1, sizeof(*cells));
    if (!rows || !cells) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    int rc = cn_buf_puts(&rows[0], "Node\x1f"
                                   "ID\x1f"
                                   "Address\x1f"
                                   "State\x1f"
                                   "Voter\x1f"
                                   "RaftProtocol");
    nrows = 1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct json_object *s = json_object_array_get_idx(servers, i);
        int leader = 0, voter = 0;
        cn_json_get_bool(s, "Leader", &leader);
        cn_json_get_bool(s, "Voter", &voter);
        /* The ID may be a string (Consul) or a number; print it as given. */
        struct json_object *idv = cn_json_get(s, "ID");
        const char *id = !idv ? ""
                         : json_object_is_type(idv, json_type_string)
                             ? json_object_get_string(idv)
                             : json_object_to_json_string_ext(idv, JSON_C_TO_STRING_PLAIN);
        const char *proto = jstr(s, "ProtocolVersion");
        rc = cn_buf_printf(&rows[nrows++], "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", jstr(s, "Node"), id,
                           jstr(s, "Address"), leader ? "leader" : "follower",
                           voter ? "true" : "false", *proto ? proto : "<=1");
    }
    for (size_t i = 0; rc == 0 && i < nrows; i++) {
        rc = cn_buf_cstr(&rows[i]);
        cells[i] = rows[i].p;
    }
    if (rc < 0) {
        fprintf(c->err, "out of memory\n");
        goto out;
    }
    cli__columnize(c->out, cells, nrows);
    ret = 0;
out:
    for (size_t i = 0; rows && i < nrows; i++)
        cn_buf_free(&rows[i]);
    cn_free(rows);
    cn_free(cells);
    if (root)
        json_object_put(root);
    cli__resp_free(&r);
    return ret;
}

/* ---- operator raft remove-peer --------------------------------------------- */

int cli__run_raft_remove_peer(struct cli_ctx *c, const struct cli_args *a)
{
    const char *addr = cli__flag_str(a, "address", "");
    const char *id = cli__flag_str(a, "id", "");
    if (!*addr && !*id) {
        fprintf(c->err,
                "Error removing peer: an address or id is required for the peer to remove\n");
        return 1;
    }
    if (*addr && *id) {
        fprintf(c->err, "Error removing peer: cannot give both an address and id\n");
        return 1;
    }
    struct cn_buf q = CN_BUF_INIT;
    int rc = cli__query_param(&q, *addr ? "address" : "id", *addr ? addr : id);
    if (rc == 0)
        rc = cn_buf_cstr(&q);
    if (rc < 0) {
        cn_buf_free(&q);
        fprintf(c->err, "out of memory\n");
        return 1;
    }
    struct cli_resp r = {0};
    int ret = cli__call(c, "Error removing peer", "DELETE", "/v1/operator/raft/peer", q.p, NULL, 0,
                        0, &r);
    cli__resp_free(&r);
    cn_buf_free(&q);
    if (ret)
        return 1;
    if (*addr)
        fprintf(c->out, "Removed peer with address \"%s\"\n", addr);
    else
        fprintf(c->out, "Removed peer with id \"%s\"\n", id);
    return 0;
}

/* ---- operator raft transfer-leader ------------------------------------------ */

int cli__run_raft_transfer_leader(struct cli_ctx *c, const struct cli_args *a)
{
    /* Consul's wording, "transfering" included (transfer_leader.go). */
    static const char what[] = "Error transfering leadership: Failed to transfer leadership";
    const char *id = cli__flag_str(a, "id", "");
    struct cn_buf q = CN_BUF_INIT;
    int rc = *id ? cli__query_param(&q, "id", id) : 0;
    if (rc == 0)
        rc = cn_buf_cstr(&q);
    if (rc < 0) {
        cn_buf_free(&q);
        fprintf(c->err, "out of memory\n");
        return 1;
    }
    struct cli_resp r = {0};
    struct json_object *root = NULL;
    int ret = 1;
    char err[1024];
    /* Consul wraps the client error with "%w" after a space, not a colon. */
    if (cli__http(c, "POST", "/v1/operator/raft/transfer-leader", q.p ? q.p : "", NULL, 0, &r, err,
                  sizeof(err)) < 0) {
        fprintf(c->err, "%s %s\n", what, err);
        goto out;
    }
    if (r.code < 200 || r.code >= 300) {
        fprintf(c->err, "%s Unexpected response code: %ld (%.*s)\n", what, r.code, (int)r.body.len,
                r.body.p ? r.body.p : "");
        goto out;
    }
    root = cli__json_body(c, what, &r);
    if (!root)
        goto out;
    int ok = 0;
    if (cn_json_get_bool(root, "Success", &ok) != 1 || !ok) {
        fprintf(c->err, "Error transfering leadership: Failed to transfer leadership\n");
        goto out;
    }
    fprintf(c->out, "Success\n");
    ret = 0;
out:
    if (root)
        json_object_put(root);
    cli__resp_free(&r);
    cn_buf_free(&q);
    return ret;
}

/* ---- join ---------------------------------------------------------------------- */

int cli__run_join(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos == 0) {
        /* Consul prints the message, a blank line and the help, to stderr. */
        fprintf(c->err, "At least one address to join must be specified.\n\n");
        fprintf(c->err, "Usage: cairn join [options] address ...\n\n"
                        "  Tells a running Cairn agent (with \"cairn agent\") to join the "
                        "cluster\n  by specifying at least one existing member.\n");
        return 1;
    }
    int wan = cli__flag_bool(a, "wan");
    size_t joins = 0;
    for (size_t i = 0; i < a->npos; i++) {
        struct cn_buf path = CN_BUF_INIT;
        char what[600];
        snprintf(what, sizeof(what), "Error joining address '%s'", a->pos[i]);
        int rc = cli__path_seg(&path, "/v1/agent/join/", a->pos[i]);
        if (rc < 0) {
            cn_buf_free(&path);
            fprintf(c->err, "out of memory\n");
            return 1;
        }
        struct cli_resp r = {0};
        if (cli__call(c, what, "PUT", path.p, wan ? "wan=1" : "", NULL, 0, 0, &r) == 0)
            joins++;
        cli__resp_free(&r);
        cn_buf_free(&path);
    }
    if (joins == 0) {
        fprintf(c->err, "Failed to join any nodes.\n");
        return 1;
    }
    fprintf(c->out, "Successfully joined cluster by contacting %zu nodes.\n", joins);
    return 0;
}

/* ---- force-leave ----------------------------------------------------------------
 * command/forceleave: exactly one node name; PUT /v1/agent/force-leave/:node
 * (?prune); nothing printed on success; "Error force leaving: ..." and 1 on
 * failure. */

const struct cli_flag cli__force_leave_flags[] = {
    {"prune", CLI_BOOL, NULL, "Remove agent completely from list of members"},
    {"wan", CLI_BOOL, NULL, "Exclusively leave the agent from the WAN serf pool."},
    {NULL, 0, NULL, NULL},
};

int cli__run_force_leave(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos != 1) {
        fprintf(c->err, "A single node name must be specified to force leave.\n");
        return 1;
    }
    struct cn_buf path = CN_BUF_INIT;
    int rc = cli__path_seg(&path, "/v1/agent/force-leave/", a->pos[0]);
    if (rc < 0) {
        cn_buf_free(&path);
        fprintf(c->err, "out of memory\n");
        return 1;
    }
    char query[32] = "";
    int prune = cli__flag_bool(a, "prune"), wan = cli__flag_bool(a, "wan");
    snprintf(query, sizeof(query), "%s%s%s", prune ? "prune=1" : "", prune && wan ? "&" : "",
             wan ? "wan=1" : "");
    struct cli_resp r = {0};
    rc = cli__call(c, "Error force leaving", "PUT", path.p, query, NULL, 0, 0, &r);
    cli__resp_free(&r);
    cn_buf_free(&path);
    return rc == 0 ? 0 : 1;
}

/* ---- leave --------------------------------------------------------------------- */

int cli__run_leave(struct cli_ctx *c, const struct cli_args *a)
{
    if (a->npos > 0) {
        /* Go's %v of a []string: [a b c] */
        fprintf(c->err, "Error found unexpected args: [");
        for (size_t i = 0; i < a->npos; i++)
            fprintf(c->err, "%s%s", i ? " " : "", a->pos[i]);
        fprintf(c->err, "]\n");
        fprintf(c->out, "Usage: cairn leave [options]\n\n"
                        "  Causes the agent to gracefully leave the Cairn cluster and "
                        "shutdown.\n");
        return 1;
    }
    struct cli_resp r = {0};
    int ret = cli__call(c, "Error leaving", "PUT", "/v1/agent/leave", "", NULL, 0, 0, &r);
    cli__resp_free(&r);
    if (ret)
        return 1;
    fprintf(c->out, "Graceful leave complete\n");
    return 0;
}
