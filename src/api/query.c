/* api/query.c: prepared queries over HTTP (website/content/api-docs/query.mdx,
 * agent/prepared_query_endpoint.go): POST/GET /v1/query, GET/PUT/DELETE
 * /v1/query/:id, GET /v1/query/:id_or_name/execute and /explain.
 *
 * Writes are QUERY_SET / QUERY_DELETE log entries (state/query.c); the
 * definition is decoded and validated here first (query_def.c). Errors of
 * Consul's PreparedQuery.Apply come back from its RPC as 500 with the error's
 * text; cairn answers the same. The list and a read block on the queries
 * table; execute and explain answer at once (Consul documents no blocking
 * for them).
 *
 * ACLs (Consul's "Prepared Query Rules" and PreparedQuery.Apply/Get/List/
 * Execute): a query's ACL name is its Name, "" for a template without one
 * (so query_prefix "" write), and none for an unnamed static query. Writes
 * need query:write on the new definition's name and on the stored query's;
 * unnamed queries need nothing (their ID is the secret). The list shows what
 * the token may read (unnamed queries to an acl:write token only), a read by
 * ID needs query:read on a named query, explain as the list; every token but
 * an acl:write one sees a captured Token as "<hidden>". Execute needs no
 * query rule: the query's captured Token, else the caller's, filters the
 * instances by node:read and service:read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/query.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/text.h"

static void read_error(struct api_read *r, int status, const char *msg)
{
    api_read_error(r, status, msg);
    r->content_type = "text/plain; charset=utf-8"; /* a 404 keeps the index headers */
}

/* ---- ACLs --------------------------------------------------------------------- */

/* structs.PreparedQuery.GetACLPrefix: false for an unnamed static query. */
static bool acl_name(const char *name, bool is_template, const char **out)
{
    *out = name ? name : "";
    return (name && *name) || is_template;
}

/* A token that sees everything (Consul: ACLWrite). True with ACLs off. */
static bool pq_manage(const struct api_ctx *c)
{
    return api_acl_ok(c, ACL_R_ACL, "", ACL_A_WRITE);
}

/* May this request see stored query sq (list, explain)? */
static bool pq_visible(struct api_ctx *c, const struct state_query *sq)
{
    const char *n;
    if (!acl_name(sq->name, sq->is_template, &n)) {
        if (pq_manage(c))
            return true;
        c->acl.filtered = true;
        return false;
    }
    return api_acl_keep(c, ACL_R_QUERY, n);
}

/* Write access to a definition's name (none needed for an unnamed one);
 * answers 403 and returns false when denied. */
static bool pq_may_write(struct api_ctx *c, const char *name, bool is_template)
{
    const char *n;
    return !acl_name(name, is_template, &n) || api_acl_require(c, ACL_R_QUERY, n, ACL_A_WRITE);
}

/* ---- writes ------------------------------------------------------------------- */

struct qw {
    char id[40];
};

static void set_done(struct api_ctx *c, int rc, const struct state_result *res)
{
    struct qw *q = c->user;
    c->user = NULL;
    if (rc) {
        const char *why = res && res->nerrors ? res->errors[0].what : cn_strerror(rc);
        api_error(c, 500, "%s", why);
    } else if (q) {
        struct cn_buf b = CN_BUF_INIT;
        struct cn_jsonw w;
        api_jsonw(c, &w, &b);
        cn_jsonw_obj_open(&w);
        cn_jsonw_kstr(&w, "ID", q->id);
        cn_jsonw_obj_close(&w);
        api_reply_jsonw(c, 200, &w, &b);
    } else {
        api_reply_empty(c);
    }
    cn_free(q);
}

/* Decode, validate and propose; id NULL = create (a new UUID). */
static void write_query(struct api_ctx *c, const char *id)
{
    char err[512];
    int status = 400;
    struct api_pq def;
    const char *body = c->req->body_len ? c->req->body : "{}";
    size_t len = c->req->body_len ? c->req->body_len : 2;
    int rc = api__pq_decode(body, len, c->api->cfg.datacenter, &def, &status, err, sizeof(err));
    if (rc) {
        if (status == 500 && rc == CN_EINVAL)
            api_error(c, 500, "Invalid prepared query: %s", err);
        else
            api_error(c, status, "%s", err);
        return;
    }
    /* PreparedQuery.Apply: write on the incoming name and the stored one */
    const struct state_query *old = id ? state_query_get(srv_state(c->api->srv), id) : NULL;
    if (!pq_may_write(c, def.name, *def.tmpl_type != '\0') ||
        (old && !pq_may_write(c, old->name, old->is_template))) {
        api__pq_clear(&def);
        return;
    }
    struct qw *q = NULL;
    if (!id) {
        q = cn_calloc(1, sizeof(*q));
        if (!q || api__uuid(q->id, sizeof(q->id))) {
            cn_free(q);
            api__pq_clear(&def);
            api_error(c, 500, "UUID generation failed");
            return;
        }
    }
    struct cn_buf d = CN_BUF_INIT, cmd = CN_BUF_INIT;
    struct state_query sq = {.id = (char *)(q ? q->id : id),
                             .name = def.name,
                             .session = def.session,
                             .is_template = *def.tmpl_type != '\0'};
    rc = api__pq_encode_def(&def, &d);
    if (!rc) {
        sq.def = (uint8_t *)d.p;
        sq.def_len = d.len;
        rc = state_cmd_query_set(&cmd, q ? 0 : 1, &sq);
    }
    api__pq_clear(&def);
    cn_buf_free(&d);
    if (rc) {
        cn_free(q);
        cn_buf_free(&cmd);
        api_error(c, 500, "%s", cn_strerror(rc));
        return;
    }
    c->user = q;
    c->user_free = cn_free;
    api_propose(c, &cmd, set_done);
    cn_buf_free(&cmd);
}

static void h_create(struct api_ctx *c)
{
    write_query(c, NULL);
}

/* "<id>", "<id>/execute", "<id>/explain": the id part and which. */
enum qpath { QP_PLAIN, QP_EXECUTE, QP_EXPLAIN };
static enum qpath split(const char *arg, char *id, size_t cap)
{
    size_t n = strlen(arg);
    enum qpath k = QP_PLAIN;
    if (n >= 8 && !strcmp(arg + n - 8, "/execute")) {
        k = QP_EXECUTE;
        n -= 8;
    } else if (n >= 8 && !strcmp(arg + n - 8, "/explain")) {
        k = QP_EXPLAIN;
        n -= 8;
    }
    snprintf(id, cap, "%.*s", (int)n, arg);
    return k;
}

static void h_specific(struct api_ctx *c)
{
    char id[512];
    enum qpath k = split(c->arg, id, sizeof(id));
    if (k != QP_PLAIN) {
        api_error(c, 405, "method %s not allowed", c->req->method_str ? c->req->method_str : "");
        return;
    }
    if (c->req->method == HTTP_M_PUT) {
        if (!state_query_get(srv_state(c->api->srv), id)) {
            api_error(c, 500, "Cannot modify non-existent prepared query: '%s'", id);
            return;
        }
        write_query(c, id);
        return;
    }
    const struct state_query *old = state_query_get(srv_state(c->api->srv), id);
    if (old && !pq_may_write(c, old->name, old->is_template))
        return;
    struct cn_buf cmd = CN_BUF_INIT;
    if (state_cmd_query_delete(&cmd, id)) {
        cn_buf_free(&cmd);
        api_error(c, 500, "out of memory");
        return;
    }
    c->user = NULL;
    api_propose(c, &cmd, set_done);
    cn_buf_free(&cmd);
}

/* ---- reads -------------------------------------------------------------------- */

struct list_walk {
    struct api_ctx *c;
    struct cn_jsonw *w;
    int err;
    bool filter; /* the list: drop what the token may not read */
};

/* One query, its captured Token redacted for all but an acl:write token
 * (redactPreparedQueryTokens). */
static void show(struct list_walk *lw, const struct state_query *sq, const struct api_pq *q)
{
    static char hidden[] = "<hidden>";
    struct api_pq v = *q;
    if (*v.token && !pq_manage(lw->c))
        v.token = hidden;
    api__pq_json(lw->w, sq, &v);
}

static int list_cb(void *arg, const struct state_query *sq)
{
    struct list_walk *lw = arg;
    if (lw->filter && !pq_visible(lw->c, sq))
        return 0;
    struct api_pq q;
    if (api__pq_from_state(sq, &q)) {
        lw->err = CN_ENOMEM;
        return 1;
    }
    show(lw, sq, &q);
    api__pq_clear(&q);
    return lw->w->err;
}

static void r_list(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct list_walk lw = {c, &w, 0, true};
    cn_jsonw_arr_open(&w);
    state_queries_foreach(st, list_cb, &lw);
    cn_jsonw_arr_close(&w);
    if (w.err || lw.err)
        return read_error(r, 500, "out of memory");
    r->index = state_table_index(st, STATE_T_QUERIES);
    api_read_watch(r, STATE_T_QUERIES, NULL, false); /* blocking: YES (query.mdx) */
}

static void r_get(struct api_ctx *c, struct api_read *r, const char *id)
{
    struct state *st = srv_state(c->api->srv);
    const struct state_query *sq = state_query_get(st, id);
    if (!sq)
        return read_error(r, 404, "Query not found");
    /* PreparedQuery.Get: the ID is enough for an unnamed query */
    const char *n;
    if (acl_name(sq->name, sq->is_template, &n) &&
        !api_acl_read_require(c, r, ACL_R_QUERY, n, ACL_A_READ))
        return;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct list_walk lw = {c, &w, 0, false};
    cn_jsonw_arr_open(&w);
    list_cb(&lw, sq);
    cn_jsonw_arr_close(&w);
    if (w.err || lw.err)
        return read_error(r, 500, "out of memory");
    r->index = state_table_index(st, STATE_T_QUERIES);
    api_read_watch(r, STATE_T_QUERIES, NULL, false); /* blocking: YES (query.mdx) */
}

struct chk_arg {
    struct cn_jsonw *w;
    const struct state_service *s;
};

static int inst_chk_cb(void *arg, const struct state_check *chk)
{
    struct chk_arg *a = arg;
    api_json_check(a->w, chk, *chk->service_id ? a->s : NULL);
    return a->w->err;
}

static void json_nodes(struct cn_jsonw *w, struct state *st, const struct api_query_exec *x,
                       const char *dc)
{
    cn_jsonw_key(w, "Nodes");
    cn_jsonw_arr_open(w);
    for (size_t i = 0; i < x->ninst; i++) {
        const struct state_service *s = x->inst[i];
        cn_jsonw_obj_open(w);
        cn_jsonw_key(w, "Node");
        api_json_node(w, state_node_get(st, s->node), dc);
        cn_jsonw_key(w, "Service");
        api_json_service(w, s, NULL);
        cn_jsonw_key(w, "Checks");
        cn_jsonw_arr_open(w);
        struct chk_arg ca = {w, s};
        state_instance_checks(st, s, inst_chk_cb, &ca);
        cn_jsonw_arr_close(w);
        cn_jsonw_obj_close(w);
    }
    cn_jsonw_arr_close(w);
}

/* parseLimit: strconv.Atoi; its error travels as a 500 "Bad limit: ...". */
static int parse_limit(struct api_ctx *c, size_t *out, char *err, size_t cap)
{
    const char *v = api_param(c, "limit");
    *out = 0;
    if (!v || !*v)
        return 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || end == v) {
        snprintf(err, cap, "Bad limit: strconv.Atoi: parsing \"%s\": invalid syntax", v);
        return -1;
    }
    *out = n > 0 ? (size_t)n : 0;
    return 0;
}

/* Execute's ACL: the query's captured Token if any, else the caller's. */
struct exec_acl_arg {
    struct api_ctx *c;
    bool unknown; /* the captured Token resolves to no token */
};

static int exec_acl(void *arg, const char *query_token, struct acl_authz **z)
{
    struct exec_acl_arg *ea = arg;
    *z = NULL;
    if (!query_token || !*query_token) {
        *z = ea->c->acl.authz ? acl_authz_ref(ea->c->acl.authz) : NULL;
        return 0;
    }
    char acc[40];
    int rc = api__acl_resolve(ea->c->api, query_token, z, acc, sizeof(acc));
    ea->unknown = rc == CN_ENOTFOUND;
    return rc;
}

static void r_execute(struct api_ctx *c, struct api_read *r, const char *key, bool explain)
{
    struct state *st = srv_state(c->api->srv);
    char err[512];
    struct api_query_exec x = {.name_or_id = key,
                               .agent_node = api__agent_node(c),
                               .near = api_param(c, "near"),
                               .rng = c->api->rng};
    if (parse_limit(c, &x.limit, err, sizeof(err)))
        return read_error(r, 500, err);
    struct exec_acl_arg ea = {c, false};
    if (c->api->acl) {
        x.acl = exec_acl;
        x.acl_arg = &ea;
    }
    if (explain) {
        /* Explain: the query the name resolves to, rendered. */
        const struct state_query *sq = state_query_get(st, key);
        if (!sq)
            sq = state_query_by_name(st, key);
        if (!sq)
            sq = state_query_template_match(st, key);
        if (!sq)
            return read_error(r, 404, "Query not found");
        /* PreparedQuery.Explain filters the query as the list does */
        if (!pq_visible(c, sq)) {
            char msg[512];
            const char *n;
            bool named = acl_name(sq->name, sq->is_template, &n);
            api_acl_denied_text(c, named ? ACL_R_QUERY : ACL_R_ACL, n,
                                named ? ACL_A_READ : ACL_A_WRITE, msg, sizeof(msg));
            return read_error(r, 403, msg);
        }
        struct api_pq q, rq;
        if (api__pq_from_state(sq, &q))
            return read_error(r, 500, "out of memory");
        int rc = 0;
        const struct api_pq *use = &q;
        if (sq->is_template) {
            rc = api__pq_render(&q, key, &rq, err, sizeof(err));
            use = &rq;
        }
        if (rc) {
            api__pq_clear(&q);
            return read_error(r, 500, err);
        }
        struct cn_jsonw w;
        api_jsonw(c, &w, &r->body);
        cn_jsonw_obj_open(&w);
        cn_jsonw_key(&w, "Query");
        struct list_walk lw = {c, &w, 0, false};
        show(&lw, sq, use);
        cn_jsonw_obj_close(&w);
        if (sq->is_template)
            api__pq_clear(&rq);
        api__pq_clear(&q);
        if (w.err)
            return read_error(r, 500, "out of memory");
        r->index = state_table_index(st, STATE_T_QUERIES);
        return;
    }
    int rc = api_query_execute(st, &x, err, sizeof(err));
    c->api->rng = x.rng ? x.rng : c->api->rng;
    if (ea.unknown)
        return read_error(r, 403, "ACL not found");
    if (rc)
        return read_error(r, rc == CN_ENOTFOUND ? 404 : 500, err);
    if (x.filtered)
        c->acl.filtered = true;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    api__query_exec_json(&w, st, &x, c->api->cfg.datacenter, 0);
    uint64_t si = state_service_index(st, x.service);
    uint64_t qi = state_table_index(st, STATE_T_QUERIES);
    api_query_exec_free(&x);
    if (w.err)
        return read_error(r, 500, "out of memory");
    r->index = si > qi ? si : qi;
}

void api__query_exec_json(struct cn_jsonw *w, struct state *st, const struct api_query_exec *x,
                          const char *dc, int failovers)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "Service", x->service ? x->service : "");
    json_nodes(w, st, x, dc);
    cn_jsonw_key(w, "DNS");
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "TTL", x->dns_ttl ? x->dns_ttl : "");
    cn_jsonw_obj_close(w);
    cn_jsonw_kstr(w, "Datacenter", dc);
    cn_jsonw_ki64(w, "Failovers", failovers);
    cn_jsonw_obj_close(w);
}

/* The definition in the request body (the stored form), or false with the
 * error answered. */
static bool pq_decode_body(struct api_ctx *c, struct api_pq *q)
{
    char err[512];
    int status = 400;
    if (!c->req->body_len) {
        api_error(c, 400, "missing query definition");
        return false;
    }
    if (api__pq_decode_def(c->req->body, c->req->body_len, q, &status, err, sizeof(err))) {
        api_error(c, status, "%s", err);
        return false;
    }
    return true;
}

/* ---- POST /v1/internal/query/execute-remote[?limit=N] ----------------------------
 * cairn's form of Consul's PreparedQuery.ExecuteRemote RPC: another
 * datacenter's failover (api/query_failover.c) sends the definition it
 * resolved (rendered, in the stored form) and this datacenter runs it
 * against its own catalog. The answer is the execute answer, Datacenter
 * this one. Forwarded over the WAN route like any ?dc= request. */
static void h_exec_remote(struct api_ctx *c)
{
    struct api_pq q;
    if (!pq_decode_body(c, &q))
        return;
    char err[512];
    struct state *st = srv_state(c->api->srv);
    struct api_query_exec x = {.agent_node = c->api->cfg.node_name, .rng = c->api->rng};
    if (parse_limit(c, &x.limit, err, sizeof(err))) {
        api__pq_clear(&q);
        api_error(c, 500, "%s", err);
        return;
    }
    struct exec_acl_arg ea = {c, false};
    if (c->api->acl) {
        x.acl = exec_acl;
        x.acl_arg = &ea;
    }
    int rc = api__query_run(st, &x, &q);
    c->api->rng = x.rng ? x.rng : c->api->rng;
    api__pq_clear(&q);
    if (rc) {
        if (ea.unknown)
            api_error(c, 403, "ACL not found");
        else
            api_error(c, 500, "%s", cn_strerror(rc));
        return;
    }
    if (x.filtered)
        c->acl.filtered = true;
    struct api_read r;
    memset(&r, 0, sizeof(r));
    struct cn_jsonw w;
    api_jsonw(c, &w, &r.body);
    api__query_exec_json(&w, st, &x, c->api->cfg.datacenter, 0);
    uint64_t si = state_service_index(st, x.service);
    api_query_exec_free(&x);
    if (w.err) {
        cn_buf_free(&r.body);
        api_error(c, 500, "out of memory");
        return;
    }
    r.index = si;
    api_reply_read(c, &r);
}

/* ---- POST /v1/internal/dns/query?limit=N[&small_udp=1]&msg=HEX -----------------
 * The DNS form of execute-remote: another datacenter's DNS found no
 * instance of a prepared query with a Failover (api/query_failover.c) and
 * sends the DNS message its client asked (msg, hex) with the rendered
 * definition (the body, stored form); this server's DNS interface answers
 * the message with that definition run here (the caller's token, as
 * execute-remote), so the records are this datacenter's as its own DNS
 * would give them. application/octet-stream. */
struct dns_run {
    struct api_ctx *c;
    const struct api_pq *q;
    bool unknown; /* the captured Token resolves to no token */
};

static int dns_run(void *arg, const struct state *st, struct api_query_exec *x)
{
    struct dns_run *d = arg;
    struct exec_acl_arg ea = {d->c, false};
    if (d->c->api->acl) {
        x->acl = exec_acl;
        x->acl_arg = &ea;
    }
    int rc = api__query_run(st, x, d->q);
    d->unknown = d->unknown || ea.unknown;
    return rc;
}

static int hex_decode(const char *h, uint8_t *out, size_t cap, size_t *n)
{
    size_t l = strlen(h);
    if (l % 2 || l / 2 > cap)
        return CN_EINVAL;
    for (size_t i = 0; i < l / 2; i++) {
        int hi = cn_hexval(h[2 * i]), lo = cn_hexval(h[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return CN_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *n = l / 2;
    return 0;
}

static void h_dns_query(struct api_ctx *c)
{
    struct api *a = c->api;
    if (!a->dns_answer_exec) {
        api_error(c, 500, "this server runs no DNS interface");
        return;
    }
    uint64_t limit;
    bool small;
    if (!api__dns_params(c, &limit, &small))
        return;
    static uint8_t msg[API_DNS_QUERY_MAX];
    size_t mlen = 0;
    const char *hex = api_param(c, "msg");
    if (!hex || hex_decode(hex, msg, sizeof(msg), &mlen)) {
        api_error(c, 400, "Invalid msg: a DNS query in hex");
        return;
    }
    struct api_pq q;
    if (!pq_decode_body(c, &q))
        return;
    struct dns_run d = {c, &q, false};
    static uint8_t out[65535];
    size_t n = a->dns_answer_exec(a->dns_exec_arg, msg, mlen, (size_t)limit, small, dns_run, &d,
                                  out, sizeof(out));
    api__pq_clear(&q);
    if (d.unknown) {
        api_error(c, 403, "ACL not found");
        return;
    }
    if (n == 0) {
        api_error(c, 400, "not a DNS query");
        return;
    }
    api_reply_raw(c, 200, "application/octet-stream", out, n);
}

static void r_specific(struct api_ctx *c, struct api_read *r)
{
    char id[512];
    enum qpath k = split(c->arg, id, sizeof(id));
    if (!*id)
        return read_error(r, 400, "Missing query ID");
    if (k == QP_PLAIN)
        r_get(c, r, id);
    else
        r_execute(c, r, id, k == QP_EXPLAIN);
}

const struct api_route api_query_routes[] = {
    {"/v1/query", false, API_GET | API_POST, r_list, h_create, API_HANDLER, API_HANDLER},
    {"/v1/query/", true, API_GET | API_PUT | API_DELETE, r_specific, h_specific, API_HANDLER,
     API_HANDLER},
    {"/v1/internal/query/execute-remote", false, API_POST, NULL, h_exec_remote, API_HANDLER,
     API_HANDLER},
    {"/v1/internal/dns/query", false, API_POST, NULL, h_dns_query, API_HANDLER, API_HANDLER},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
