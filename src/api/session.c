/* api/session.c: /v1/session/... (website/content/api-docs/session.mdx;
 * behaviour from agent/session_endpoint.go and agent/consul/session_endpoint.go).
 *
 * create/destroy go through the log (SESSION_CREATE / SESSION_DESTROY; the
 * state validates the node and checks). renew restarts the session's clock
 * in the leader's memory (session_ttl.c): no log write; a follower forwards
 * it to the leader as a request (srv_session_renew), as Consul's followers
 * forward the Session.Renew RPC. info,
 * node and list are blocking reads on the sessions table's index. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <json-c/json.h>

#include "api/api_int.h"
#include "api/decode_int.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

#define TTL_MIN_NS (10 * INT64_C(1000000000))
#define TTL_MAX_NS (86400 * INT64_C(1000000000))
#define LOCK_DELAY_DEFAULT_NS (15 * INT64_C(1000000000))
#define LOCK_DELAY_MAX_NS (60 * INT64_C(1000000000))

/* ---- JSON ------------------------------------------------------------------ */

static void strs_or_null(struct cn_jsonw *w, const char *key, char *const *v, size_t n)
{
    cn_jsonw_key(w, key);
    if (!n) {
        cn_jsonw_null(w); /* a nil slice in Go */
        return;
    }
    cn_jsonw_arr_open(w);
    for (size_t i = 0; i < n; i++)
        cn_jsonw_str(w, v[i]);
    cn_jsonw_arr_close(w);
}

static void json_session(struct cn_jsonw *w, const struct state_session *v)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "ID", v->id);
    cn_jsonw_kstr(w, "Name", v->name);
    cn_jsonw_kstr(w, "Node", v->node);
    cn_jsonw_ku64(w, "LockDelay", (uint64_t)v->lock_delay_ns);
    cn_jsonw_kstr(w, "Behavior", v->behavior);
    cn_jsonw_kstr(w, "TTL", v->ttl);
    strs_or_null(w, "NodeChecks", v->node_checks, v->n_node_checks);
    cn_jsonw_key(w, "ServiceChecks");
    if (!v->n_service_checks) {
        cn_jsonw_null(w);
    } else {
        cn_jsonw_arr_open(w);
        for (size_t i = 0; i < v->n_service_checks; i++) {
            cn_jsonw_obj_open(w);
            cn_jsonw_kstr(w, "ID", v->service_checks[i]);
            cn_jsonw_kstr(w, "Namespace", "");
            cn_jsonw_obj_close(w);
        }
        cn_jsonw_arr_close(w);
    }
    cn_jsonw_ku64(w, "CreateIndex", v->create_index);
    cn_jsonw_ku64(w, "ModifyIndex", v->modify_index);
    cn_jsonw_obj_close(w);
}

struct one_walk {
    struct api_ctx *c;
    struct cn_jsonw *w;
};

/* Consul's filterSessions: session:read on the session's node. */
static int json_one(void *arg, const struct state_session *v)
{
    struct one_walk *ow = arg;
    if (api_acl_keep(ow->c, ACL_R_SESSION, v->node))
        json_session(ow->w, v);
    return 0;
}

/* ---- reads ------------------------------------------------------------------ */

static void read_list(struct api_ctx *c, struct api_read *r, int which)
{
    const struct state *st = srv_state(c->api->srv);
    r->index = state_table_index(st, STATE_T_SESSIONS);
    api_read_watch(r, STATE_T_SESSIONS, NULL, false);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_arr_open(&w); /* [] rather than null, as Consul's endpoints do */
    struct one_walk ow = {c, &w};
    if (which == 0) {
        const struct state_session *v = state_session_get(st, c->arg);
        if (v)
            json_one(&ow, v);
    } else if (which == 1) {
        state_node_sessions(st, c->arg, json_one, &ow);
    } else {
        state_sessions_foreach(st, json_one, &ow);
    }
    cn_jsonw_arr_close(&w);
    if (w.err) {
        api_read_error(r, 500, "out of memory");
    }
}

static void r_info(struct api_ctx *c, struct api_read *r)
{
    read_list(c, r, 0);
}
static void r_node(struct api_ctx *c, struct api_read *r)
{
    read_list(c, r, 1);
}
static void r_list(struct api_ctx *c, struct api_read *r)
{
    read_list(c, r, 2);
}

/* ---- create ----------------------------------------------------------------- */

int api__uuid(char *out, size_t cap)
{
    uint8_t b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return CN_EIO;
    snprintf(out, cap, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

/* LockDelay: a duration string, or a number that is seconds below 1000 and
 * nanoseconds otherwise (FixupLockDelay). */
static int get_lock_delay(struct json_object *o, int64_t *ns, char *err, size_t cap)
{
    struct json_object *v = cn_json_get(o, "LockDelay");
    if (!v || json_object_is_type(v, json_type_null))
        return 0;
    if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (d < 0 || d > 9e18)
            return api__fail(err, cap, API_DECODE_FAILED "LockDelay: out of range");
        *ns = d < 1000 ? (int64_t)(d * 1e9) : (int64_t)d;
        return 0;
    }
    return api__get_dur(o, "LockDelay", ns, err, cap);
}

static int get_service_checks(struct json_object *o, struct state_session *v, char *err, size_t cap)
{
    struct json_object *a = cn_json_get(o, "ServiceChecks");
    if (!a || json_object_is_type(a, json_type_null))
        return 0;
    if (!json_object_is_type(a, json_type_array))
        return api__fail(err, cap, API_DECODE_FAILED "ServiceChecks: cannot use %s as array",
                         api__type_name(a));
    size_t n = json_object_array_length(a);
    if (!n)
        return 0;
    if (!(v->service_checks = cn_calloc(n, sizeof(char *))))
        return api__oom(err, cap);
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(a, i);
        char *id = NULL;
        if (!json_object_is_type(e, json_type_object))
            return api__fail(err, cap, API_DECODE_FAILED "ServiceChecks: cannot use %s as object",
                             api__type_name(e));
        int rc = api__get_str(e, "ID", &id, false, err, cap);
        v->service_checks[i] = id;
        v->n_service_checks = i + 1;
        if (rc)
            return rc;
    }
    return 0;
}

/* Decode a create body into v (owned strings). Returns 0, or the HTTP status
 * of the answer with the message in err. */
static int decode_create(struct api_ctx *c, struct state_session *v, char *err, size_t cap)
{
    const struct http_req *req = c->req;
    struct json_object *o = NULL;
    int rc = 0;
    v->lock_delay_ns = LOCK_DELAY_DEFAULT_NS;
    bool blank = true, default_checks = true;
    for (size_t i = 0; i < req->body_len; i++)
        blank = blank && (req->body[i] == ' ' || req->body[i] == '\n' || req->body[i] == '\t' ||
                          req->body[i] == '\r');
    if (!blank && !(o = api__parse_object(req->body, req->body_len, err, cap)))
        return 400;
    if (o) {
        rc = api__get_str(o, "Name", &v->name, false, err, cap);
        rc = rc ? rc : api__get_str(o, "Node", &v->node, false, err, cap);
        rc = rc ? rc : api__get_str(o, "Behavior", &v->behavior, false, err, cap);
        rc = rc ? rc : api__get_str(o, "TTL", &v->ttl, false, err, cap);
        rc = rc ? rc : get_lock_delay(o, &v->lock_delay_ns, err, cap);
        rc = rc ? rc : api__get_strv(o, "NodeChecks", &v->node_checks, &v->n_node_checks, err, cap);
        rc = rc ? rc : get_service_checks(o, v, err, cap);
        /* FixupChecks: the legacy Checks are node checks; any of the three
         * keys present (even []) drops the default serfHealth. */
        if (cn_json_get(o, "Checks") || cn_json_get(o, "NodeChecks") ||
            cn_json_get(o, "ServiceChecks"))
            default_checks = false;
        if (!rc && cn_json_get(o, "Checks") && !v->n_node_checks) {
            api__free_strv(v->node_checks, v->n_node_checks);
            v->node_checks = NULL;
            v->n_node_checks = 0;
            rc = api__get_strv(o, "Checks", &v->node_checks, &v->n_node_checks, err, cap);
        }
        json_object_put(o);
    }
    if (rc)
        return rc == CN_ENOMEM ? 500 : 400;
    if (default_checks) {
        if (!(v->node_checks = cn_calloc(1, sizeof(char *))) ||
            !(v->node_checks[0] = cn_strdup("serfHealth")))
            return 500;
        v->n_node_checks = 1;
    }
    if ((!v->name && !(v->name = cn_strdup(""))) || (!v->ttl && !(v->ttl = cn_strdup(""))))
        return 500;
    if (!v->node || !*v->node) {
        cn_free(v->node);
        if (!(v->node = cn_strdup(c->api->cfg.node_name)))
            return 500;
    }
    if (!v->behavior || !*v->behavior) {
        cn_free(v->behavior);
        if (!(v->behavior = cn_strdup("release")))
            return 500;
    }
    /* Session.Apply's checks: Consul answers them as RPC errors (500). */
    if (*v->ttl) {
        if (cn_dur_parse(v->ttl, &v->ttl_ns)) {
            snprintf(err, cap, "Session TTL '%s' invalid: time: invalid duration \"%s\"", v->ttl,
                     v->ttl);
            return 500;
        }
        if (v->ttl_ns != 0 && (v->ttl_ns < TTL_MIN_NS || v->ttl_ns > TTL_MAX_NS)) {
            snprintf(err, cap, "Invalid Session TTL '%" PRId64 "', must be between [10s=24h0m0s]",
                     v->ttl_ns);
            return 500;
        }
    }
    if (v->lock_delay_ns > LOCK_DELAY_MAX_NS) {
        snprintf(err, cap, "Lock delay must be less than or equal to 1m0s");
        return 500;
    }
    return 0;
}

static void done_create(struct api_ctx *c, int rc, const struct state_result *res)
{
    char *id = c->user;
    c->user = NULL;
    if (rc) {
        api_error(c, 500, "%s", res && res->nerrors ? res->errors[0].what : cn_strerror(rc));
    } else {
        struct cn_buf b = CN_BUF_INIT;
        struct cn_jsonw w;
        api_jsonw(c, &w, &b);
        cn_jsonw_obj_open(&w);
        cn_jsonw_kstr(&w, "ID", id);
        cn_jsonw_obj_close(&w);
        api_reply_jsonw(c, 200, &w, &b);
    }
    cn_free(id);
}

static void h_create(struct api_ctx *c)
{
    struct state_session v;
    memset(&v, 0, sizeof(v));
    char err[512] = "out of memory", id[40];
    int status = decode_create(c, &v, err, sizeof(err));
    if (!status && !api_acl_ok(c, ACL_R_SESSION, v.node, ACL_A_WRITE)) {
        status = 403;
        api_acl_denied_text(c, ACL_R_SESSION, v.node, ACL_A_WRITE, err, sizeof(err));
    }
    if (!status && api__uuid(id, sizeof(id))) {
        status = 500;
        snprintf(err, sizeof(err), "failed generating session ID");
    }
    if (!status && !(v.id = cn_strdup(id)))
        status = 500;
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = status ? 0 : state_cmd_session_create(&cmd, &v);
    if (rc) {
        status = 500;
        snprintf(err, sizeof(err), "%s", cn_strerror(rc));
    }
    if (status) {
        state_session_clear(&v);
        cn_buf_free(&cmd);
        api_error(c, status, "%s", err);
        return;
    }
    c->user = v.id; /* handed to done_create */
    v.id = NULL;
    state_session_clear(&v);
    api_propose(c, &cmd, done_create);
    cn_buf_free(&cmd);
}

/* ---- destroy / renew ---------------------------------------------------------- */

/* The session ID in the path (destroy, renew): 400 when missing or too long. */
static bool session_arg_ok(struct api_ctx *c)
{
    if (!*c->arg) {
        api_error(c, 400, "Missing session");
        return false;
    }
    if (strlen(c->arg) > STATE_SESSION_ID_MAX) {
        api_error(c, 400, "Invalid session ID");
        return false;
    }
    /* session:write on the session's node (an unknown session: nothing to
     * protect, the write is a no-op or a 404) */
    const struct state_session *v = state_session_get(srv_state(c->api->srv), c->arg);
    return !v || api_acl_require(c, ACL_R_SESSION, v->node, ACL_A_WRITE);
}

static void done_destroy(struct api_ctx *c, int rc, const struct state_result *res)
{
    if (rc)
        api_error(c, 500, "%s", res && res->nerrors ? res->errors[0].what : cn_strerror(rc));
    else
        api_reply_bool(c, true); /* destroying an unknown session is a success */
}

static void propose_destroy(struct api_ctx *c, api_done_fn done)
{
    if (!session_arg_ok(c))
        return;
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_session_destroy(&cmd, c->arg);
    api_propose_rc(c, rc, &cmd, done);
}

static void h_destroy(struct api_ctx *c)
{
    propose_destroy(c, done_destroy);
}

static void reply_session(struct api_ctx *c, const struct state_session *v)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_arr_open(&w);
    json_session(&w, v);
    cn_jsonw_arr_close(&w);
    api_reply_jsonw(c, 200, &w, &b);
}

static void renew_reply_local(struct api_ctx *c)
{
    const struct state_session *v = state_session_get(srv_state(c->api->srv), c->arg);
    if (!v)
        api_error(c, 404, "Session id '%s' not found", c->arg);
    else
        reply_session(c, v);
}

/* The leader renewed it but this follower has not applied the session yet
 * (created through another server a moment ago): catch up, then answer. */
static void on_renew_caught_up(void *arg, int rc)
{
    struct api_ctx *c = arg;
    if (rc == CN_EAGAIN)
        api_error(c, 500, "No cluster leader");
    else if (rc)
        api_error(c, rc == CN_ESHUTDOWN ? 503 : 500, "rpc error: %s", cn_strerror(rc));
    else
        renew_reply_local(c);
}

static void on_renewed(void *arg, int rc)
{
    struct api_ctx *c = arg;
    if (rc == CN_ENOTFOUND) {
        api_error(c, 404, "Session id '%s' not found", c->arg);
    } else if (rc == CN_EAGAIN) {
        api_error(c, 500, "No cluster leader");
    } else if (rc) {
        api_error(c, rc == CN_ESHUTDOWN ? 503 : 500, "rpc error: %s", cn_strerror(rc));
    } else if (state_session_get(srv_state(c->api->srv), c->arg)) {
        renew_reply_local(c);
    } else {
        int brc = srv_read_barrier(c->api->srv, SRV_READ_DEFAULT, on_renew_caught_up, c);
        if (brc)
            api_error(c, 500, "rpc error: %s", cn_strerror(brc));
    }
}

static void h_renew(struct api_ctx *c)
{
    struct srv *srv = c->api->srv;
    if (!session_arg_ok(c))
        return;
    if (!srv_is_leader(srv)) {
        /* Only the leader keeps clocks: ask it (a request, not a log write). */
        int rc = srv_session_renew(srv, c->arg, on_renewed, c);
        if (rc)
            api_error(c, rc == CN_ESHUTDOWN ? 503 : 500, "rpc error: %s", cn_strerror(rc));
        return;
    }
    const struct state_session *v = state_session_get(srv_state(srv), c->arg);
    if (!v) {
        api_error(c, 404, "Session id '%s' not found", c->arg);
        return;
    }
    api__sess_renewed(c->api, v);
    reply_session(c, v);
}

const struct api_route api_session_routes[] = {
    {"/v1/session/create", false, API_PUT, NULL, h_create, API_HANDLER, API_HANDLER},
    {"/v1/session/destroy/", true, API_PUT, NULL, h_destroy, API_HANDLER, API_HANDLER},
    {"/v1/session/renew/", true, API_PUT, NULL, h_renew, API_HANDLER, API_HANDLER},
    {"/v1/session/info/", true, API_GET, r_info, NULL, API_HANDLER, API_HANDLER},
    {"/v1/session/node/", true, API_GET, r_node, NULL, API_ARG(SESSION, READ),
     API_ARG(SESSION, READ)},
    {"/v1/session/list", false, API_GET, r_list, NULL, API_HANDLER, API_HANDLER},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
