/* cli/cmd_keyring.c: `cairn keyring` (Consul's command/keyring): list the
 * gossip encryption keys of the pool (-list, -list-primary), install a key,
 * make one the primary (-use) or remove one, over /v1/operator/keyring
 * (api/operator_keyring.c). Output and messages are Consul's. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "cli/cli_int.h"

const struct cli_flag cli__keyring_flags[] = {
    {"install", CLI_STR, "string",
     "Install a new encryption key. This will broadcast the new key to all members in the "
     "cluster."},
    {"list", CLI_BOOL, NULL, "List all keys currently in use within the cluster."},
    {"list-primary", CLI_BOOL, NULL, "List all primary keys currently in use within the cluster."},
    {"local-only", CLI_BOOL, NULL,
     "Setting this to true will force the keyring query to only hit local servers (no WAN "
     "traffic). This flag can only be set for list queries."},
    {"relay-factor", CLI_INT, "int",
     "Setting this to a non-zero value will cause nodes to relay their response to the "
     "operation through this many randomly-chosen other nodes in the cluster. The maximum "
     "allowed value is 5."},
    {"remove", CLI_STR, "string",
     "Remove the given key from the cluster. This operation may only be performed on keys "
     "which are not currently the primary key."},
    {"use", CLI_STR, "string",
     "Change the primary encryption key, which is used to encrypt messages. The key must "
     "already be installed before this operation can succeed."},
    {NULL, 0, NULL, NULL},
};

static const char *jstr(struct json_object *o, const char *k)
{
    const char *v = NULL;
    cn_json_get_str(o, k, &v);
    return v ? v : "";
}

/* formatResponse: "\n<pool>:\n" + "  ===> from: msg\n"... + "  key [n/total]\n"... */
static void print_pool(struct cli_ctx *c, struct json_object *resp, const char *which)
{
    struct json_object *wan = NULL, *num = NULL;
    json_object_object_get_ex(resp, "WAN", &wan);
    json_object_object_get_ex(resp, "NumNodes", &num);
    const char *seg = jstr(resp, "Segment");
    fprintf(c->out, "\n");
    if (wan && json_object_get_boolean(wan))
        fprintf(c->out, "WAN");
    else
        fprintf(c->out, "%s (LAN)", jstr(resp, "Datacenter"));
    if (*seg)
        fprintf(c->out, " [%s]", seg);
    fprintf(c->out, ":");
    struct json_object *msgs = cn_json_get(resp, "Messages");
    if (msgs && json_object_is_type(msgs, json_type_object)) {
        json_object_object_foreach(msgs, from, msg)
        {
            fprintf(c->out, "\n  ===> %s: %s", from, json_object_get_string(msg));
        }
    }
    struct json_object *keys = cn_json_get(resp, which);
    if (keys && json_object_is_type(keys, json_type_object)) {
        json_object_object_foreach(keys, key, n)
        {
            fprintf(c->out, "\n  %s [%d/%d]", key, json_object_get_int(n),
                    num ? json_object_get_int(num) : 0);
        }
    }
    fprintf(c->out, "\n");
}

static int list(struct cli_ctx *c, const char *query, bool primary)
{
    fprintf(c->out, "==> %s\n",
            primary ? "Gathering installed primary encryption keys..."
                    : "Gathering installed encryption keys...");
    struct cli_resp r = {0};
    if (cli__call(c, "error", "GET", "/v1/operator/keyring", query, NULL, 0, 0, &r)) {
        cli__resp_free(&r);
        return 1;
    }
    struct json_object *arr = cli__json_body(c, "error", &r);
    cli__resp_free(&r);
    if (!arr)
        return 1;
    if (!json_object_is_type(arr, json_type_array)) {
        fprintf(c->err, "error: bad response from agent: expected a list\n");
        json_object_put(arr);
        return 1;
    }
    for (size_t i = 0; i < json_object_array_length(arr); i++)
        print_pool(c, json_object_array_get_idx(arr, i), primary ? "PrimaryKeys" : "Keys");
    json_object_put(arr);
    return 0;
}

static int change(struct cli_ctx *c, const char *query, const char *method, const char *info,
                  const char *key)
{
    fprintf(c->out, "==> %s\n", info);
    struct cn_buf body = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &body, 0);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "Key", key);
    cn_jsonw_obj_close(&w);
    if (w.err) {
        cn_buf_free(&body);
        fprintf(c->err, "error: out of memory\n");
        return 1;
    }
    struct cli_resp r = {0};
    int ret = cli__call(c, "error", method, "/v1/operator/keyring", query, body.p, body.len, 0, &r);
    cli__resp_free(&r);
    cn_buf_free(&body);
    return ret ? 1 : 0;
}

int cli__run_keyring(struct cli_ctx *c, const struct cli_args *a)
{
    const char *install = cli__flag_str(a, "install", "");
    const char *use = cli__flag_str(a, "use", "");
    const char *rm = cli__flag_str(a, "remove", "");
    int lst = cli__flag_bool(a, "list"), lprim = cli__flag_bool(a, "list-primary");
    int local = cli__flag_bool(a, "local-only");
    int64_t relay = cli__flag_int(a, "relay-factor");
    /* Only a single action (Consul counts -list and -list-primary too) */
    int found = lst;
    const char *acts[] = {install, use, rm};
    for (size_t i = 0; i < 3; i++) {
        if (found && *acts[i]) {
            fprintf(c->err, "Only a single action is allowed\n");
            return 1;
        }
        found = found || *acts[i];
    }
    if (found && lprim) {
        fprintf(c->err, "Only a single action is allowed\n");
        return 1;
    }
    found = found || lprim;
    if (!found) {
        cli__cmd_help(c->err, "keyring");
        return 1;
    }
    if (relay < 0 || relay > 5) {
        fprintf(c->err, "Error parsing relay factor: Relay factor must be in range: [0, 5]\n");
        return 1;
    }
    if (local && !lst && !lprim) {
        fprintf(c->err,
                "Error validating local-only: local-only can only be set for list requests\n");
        return 1;
    }
    struct cn_buf q = CN_BUF_INIT;
    char rf[8];
    snprintf(rf, sizeof(rf), "%d", (int)relay);
    if ((relay && cli__query_param(&q, "relay-factor", rf)) ||
        (local && cli__query_param(&q, "local-only", "true")) || cn_buf_cstr(&q)) {
        cn_buf_free(&q);
        fprintf(c->err, "error: out of memory\n");
        return 1;
    }
    const char *query = q.p ? q.p : "";
    int ret;
    if (lst || lprim)
        ret = list(c, query, lprim);
    else if (*install)
        ret = change(c, query, "POST", "Installing new gossip encryption key...", install);
    else if (*use)
        ret = change(c, query, "PUT", "Changing primary gossip encryption key...", use);
    else
        ret = change(c, query, "DELETE", "Removing gossip encryption key...", rm);
    cn_buf_free(&q);
    return ret;
}
