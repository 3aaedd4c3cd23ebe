/* api/query_failover.c: prepared-query failover to other datacenters
 * (Consul's PreparedQuery.Execute queryFailover). When GET
 * /v1/query/:id/execute finds no healthy instance here and the query has a
 * Failover (NearestN, Datacenters) and this server has WAN routes, the
 * datacenters are tried in Consul's order — the NearestN first of the
 * router's list (wan_datacenters: local first, then the order the agent
 * gives), then Failover.Datacenters in their order, each once, the local and
 * unknown ones skipped — one at a time: the (rendered) definition goes to
 * POST /v1/internal/query/execute-remote of that datacenter over its route
 * (the virtual-request machinery of ?dc=), and the first answer with
 * instances is given, with Failovers = the datacenters tried. A datacenter
 * that cannot be reached, or answers an error, is passed over (logged).
 * With none answering instances the last answer is given (or this
 * datacenter's empty one). Everything else goes the usual way (query.c).
 *
 * The DNS (NAME.query[.DC].DOMAIN, api_query_failover_dns) takes the same
 * plan and routes: each datacenter gets the client's DNS message with the
 * definition (POST /v1/internal/dns/query, query.c) and answers it from its
 * own DNS interface; the first answer that is not NXDOMAIN (NXDOMAIN is
 * what a query with no instance answers) goes to the client. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api_int.h"
#include "api/query.h"
#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#define PQF_MAX_DCS 32
#define PQF_TIMEOUT_MS 60000 /* the whole chain; each hop is bounded by its route's hold */

struct pqf {
    struct api *a;
    struct api_ctx *c; /* the HTTP request; NULL for the DNS */
    /* the DNS: its callback, and the query's id (an answer must carry it) */
    void (*done)(void *ctx, int rc, const uint8_t *answer, size_t n);
    void *ctx;
    uint8_t qid[2];
    char dcs[PQF_MAX_DCS][API_DC_MAX];
    size_t n, i;
    struct srv *to; /* the route of the hop in flight */
    uint64_t handle;
    bool in_flight;
    struct cn_buf def;    /* the stored form of the rendered definition */
    struct cn_buf target; /* the remote path and its parameters */
    char token[256];      /* X-Consul-Token, passed along */
    struct cn_buf local;  /* this datacenter's (empty) answer */
    struct cn_buf last;   /* the last remote answer (no instances) */
    uint64_t index;
};

static void pqf_free(struct pqf *f)
{
    cn_buf_free(&f->target);
    cn_buf_free(&f->def);
    cn_buf_free(&f->local);
    cn_buf_free(&f->last);
    cn_free(f);
}

static void finish(struct pqf *f, const char *body, size_t len)
{
    struct api_ctx *c = f->c;
    c->user = NULL;
    struct api_read r;
    memset(&r, 0, sizeof(r));
    r.index = f->index;
    api__reply_read_bytes(c, &r, body, len, NULL, NULL);
    pqf_free(f);
}

/* The answer's Failovers set to n: the remote says 0, it does not know. */
static int set_failovers(const void *body, size_t len, size_t n, struct cn_buf *out, size_t *ninst)
{
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return CN_ENOMEM;
    struct json_object *o = json_tokener_parse_ex(tok, body, (int)len);
    json_tokener_free(tok);
    struct json_object *nodes = NULL;
    if (!o || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "Nodes", &nodes) ||
        !json_object_is_type(nodes, json_type_array)) {
        json_object_put(o);
        return CN_EPROTO;
    }
    *ninst = json_object_array_length(nodes);
    json_object_object_add(o, "Failovers", json_object_new_int64((int64_t)n));
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    int rc = s ? cn_buf_puts(out, s) : CN_ENOMEM;
    json_object_put(o);
    return rc;
}

static bool next_hop(struct pqf *f);

/* The DNS: an answer with this query's id that is not NXDOMAIN goes to
 * the client; true when given (f freed). */
static bool dns_hop_answered(struct pqf *f, const struct srv_cl_resp *m)
{
    const uint8_t *b = (const uint8_t *)m->body;
    if (m->body_len < 12 || b[0] != f->qid[0] || b[1] != f->qid[1]) {
        cn_warn("api", "prepared query failover (DNS): datacenter %s: a malformed answer",
                f->dcs[f->i]);
        return false;
    }
    if ((b[3] & 0x0F) == 3 /* NXDOMAIN: no instance there */)
        return false;
    f->done(f->ctx, 0, b, m->body_len);
    pqf_free(f);
    return true;
}

static void on_hop(void *arg, int rc, const struct srv_cl_resp *m)
{
    struct pqf *f = arg;
    struct api *a = f->a;
    const char *dc = f->dcs[f->i];
    f->in_flight = false;
    if (a->wan.report)
        a->wan.report(a->wan.arg, dc, rc);
    if (rc || m->status != 200) {
        if (rc)
            cn_warn("api", "prepared query failover: datacenter %s: %s", dc,
                    rc == CN_EAGAIN ? "no path to datacenter" : cn_strerror(rc));
        else
            cn_warn("api", "prepared query failover: datacenter %s answered %u: %.*s", dc,
                    (unsigned)m->status, (int)(m->body_len < 200 ? m->body_len : 200),
                    (const char *)m->body);
        f->i++;
        (void)next_hop(f);
        return;
    }
    if (!f->c) {
        if (!dns_hop_answered(f, m)) {
            f->i++;
            (void)next_hop(f);
        }
        return;
    }
    struct cn_buf out = CN_BUF_INIT;
    size_t ninst = 0;
    int prc = set_failovers(m->body, m->body_len, f->i + 1, &out, &ninst);
    if (prc) {
        cn_buf_free(&out);
        cn_warn("api", "prepared query failover: datacenter %s: a malformed answer", dc);
        f->i++;
        (void)next_hop(f);
        return;
    }
    if (ninst > 0) {
        finish(f, out.p, out.len);
        cn_buf_free(&out);
        return;
    }
    cn_buf_free(&f->last);
    f->last = out;
    f->i++;
    (void)next_hop(f);
}

/* Send to the next datacenter, or answer: true when answered (f freed). */
static bool next_hop(struct pqf *f)
{
    struct api *a = f->a;
    while (f->i < f->n) {
        struct srv *to = NULL;
        if (a->wan.route(a->wan.arg, f->dcs[f->i], &to) || !to) {
            cn_warn("api", "prepared query failover: no path to datacenter %s", f->dcs[f->i]);
            f->i++;
            continue;
        }
        struct srv_cl_req m;
        memset(&m, 0, sizeof(m));
        m.method = "POST";
        m.method_len = 4;
        m.target = f->target.p;
        m.target_len = f->target.len;
        m.hdrs[m.nhdrs++] = (struct srv_cl_hdr){"Content-Type", "application/json", 12, 16};
        if (f->token[0])
            m.hdrs[m.nhdrs++] =
                (struct srv_cl_hdr){"X-Consul-Token", f->token, 14, strlen(f->token)};
        m.body = f->def.p;
        m.body_len = f->def.len;
        f->to = to;
        if (srv_client_http(to, &m, true, on_hop, f, &f->handle) == 0) {
            f->in_flight = true;
            return false;
        }
        f->i++;
    }
    if (!f->c) { /* the DNS: this server's own NXDOMAIN */
        f->done(f->ctx, CN_ENOTFOUND, NULL, 0);
        pqf_free(f);
        return true;
    }
    /* Nothing with instances: the last answer, or ours; Failovers counts
     * every datacenter in the list (Consul counts the iterations). */
    if (f->last.len) {
        struct cn_buf out = CN_BUF_INIT;
        size_t ninst = 0;
        if (set_failovers(f->last.p, f->last.len, f->n, &out, &ninst) == 0) {
            finish(f, out.p, out.len);
            cn_buf_free(&out);
            return true;
        }
        cn_buf_free(&out);
    }
    struct cn_buf out = CN_BUF_INIT;
    size_t ninst = 0;
    if (set_failovers(f->local.p, f->local.len, f->n, &out, &ninst) == 0)
        finish(f, out.p, out.len);
    else
        finish(f, f->local.p, f->local.len);
    cn_buf_free(&out);
    return true;
}

static void on_abort(struct http_req *req)
{
    struct api_ctx *c = req->user;
    struct pqf *f = c->user;
    c->user = NULL;
    if (f->in_flight)
        srv_client_cancel(f->to, f->handle);
    pqf_free(f);
    api__ctx_free(c);
    http_respond(req, 500, NULL, NULL, 0, NULL, 0); /* only frees */
}

static void on_timeout(struct http_req *req)
{
    struct api_ctx *c = req->user;
    struct pqf *f = c->user;
    c->user = NULL;
    if (f->in_flight)
        srv_client_cancel(f->to, f->handle);
    pqf_free(f);
    api_error(c, 500, "prepared query failover: timeout or agent shutting down");
}

static bool listed(const struct pqf *f, const char *dc)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->dcs[i], dc))
            return true;
    return false;
}

/* The datacenters to try, in Consul's order (queryFailover). */
static void plan(struct pqf *f, struct api *a, const struct api_pq *q)
{
    char known[64][API_DC_MAX];
    size_t nk = a->wan.datacenters(a->wan.arg, known, 64);
    if (nk > 64)
        nk = 64;
    /* NearestN: the first of the router's list, after the local one */
    for (size_t i = 1; i < nk && (int64_t)(i - 1) < q->nearest_n && f->n < PQF_MAX_DCS; i++)
        if (!listed(f, known[i]))
            snprintf(f->dcs[f->n++], API_DC_MAX, "%s", known[i]);
    for (size_t k = 0; k < q->ndcs && f->n < PQF_MAX_DCS; k++) {
        const char *dc = q->dcs[k];
        bool ok = false;
        for (size_t i = 1; i < nk && !ok; i++)
            ok = !strcmp(known[i], dc);
        if (!ok || listed(f, dc)) /* local, unknown, or already listed */
            continue;
        snprintf(f->dcs[f->n++], API_DC_MAX, "%s", dc);
    }
}

/* The plan and the rendered definition of stored query sq (looked up as
 * key) into f: 0 with f->n > 0, or nonzero (nothing to try). */
static int prepare(struct pqf *f, struct api *a, const struct state_query *sq, const char *key)
{
    char err[512];
    struct api_pq def, rq;
    int rc = api__pq_from_state(sq, &def);
    bool have_def = rc == 0;
    const struct api_pq *use = &def;
    bool rendered = false;
    if (!rc && sq->is_template) {
        rc = api__pq_render(&def, key, &rq, err, sizeof(err));
        rendered = rc == 0;
        use = &rq;
    }
    if (!rc)
        plan(f, a, use);
    if (!rc && f->n)
        rc = api__pq_encode_def(use, &f->def);
    if (rendered)
        api__pq_clear(&rq);
    if (have_def)
        api__pq_clear(&def);
    return rc ? rc : f->n ? 0 : CN_ENOTFOUND;
}

static struct pqf *pqf_new(struct api *a)
{
    struct pqf *f = cn_calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->a = a;
    f->def = (struct cn_buf)CN_BUF_INIT;
    f->local = (struct cn_buf)CN_BUF_INIT;
    f->last = (struct cn_buf)CN_BUF_INIT;
    f->target = (struct cn_buf)CN_BUF_INIT;
    return f;
}

bool api__query_failover(struct api_ctx *c)
{
    struct api *a = c->api;
    static const char suffix[] = "/execute";
    size_t al = strlen(c->arg), sl = sizeof(suffix) - 1;
    if (!a->wan.route || !a->wan.datacenters || c->req->method != HTTP_M_GET ||
        strncmp(c->req->path, "/v1/query/", 10) != 0 || al <= sl ||
        strcmp(c->arg + al - sl, suffix) != 0)
        return false;
    char key[512];
    if (al - sl >= sizeof(key))
        return false;
    memcpy(key, c->arg, al - sl);
    key[al - sl] = '\0';
    struct state *st = srv_state(a->srv);
    char err[512];
    struct api_query_exec x = {.name_or_id = key, .agent_node = a->cfg.node_name};
    if (api_query_execute(st, &x, err, sizeof(err)))
        return false; /* not found, a template error: answered the usual way */
    bool empty = x.ninst == 0;
    const struct state_query *sq = x.query_id ? state_query_get(st, x.query_id) : NULL;
    struct pqf *f = empty && sq ? pqf_new(a) : NULL;
    if (!f) {
        api_query_exec_free(&x);
        return false;
    }
    f->c = c;
    if (prepare(f, a, sq, key)) {
        api_query_exec_free(&x);
        pqf_free(f);
        return false; /* no failover: the usual answer */
    }
    /* This datacenter's empty answer, for when no other has instances. */
    struct cn_jsonw w;
    cn_jsonw_init(&w, &f->local, false);
    api__query_exec_json(&w, st, &x, a->cfg.datacenter, 0);
    uint64_t si = state_service_index(st, x.service);
    uint64_t qi = state_table_index(st, STATE_T_QUERIES);
    f->index = si > qi ? si : qi;
    api_query_exec_free(&x);
    const char *lim = api_param(c, "limit");
    const char *tok = http_req_header(c->req, "X-Consul-Token");
    snprintf(f->token, sizeof(f->token), "%s", tok ? tok : "");
    if (cn_buf_printf(&f->target, "/v1/internal/query/execute-remote%s%.40s",
                      lim && *lim ? "?limit=" : "", lim && *lim ? lim : "")) {
        pqf_free(f);
        return false;
    }
    c->user = f;
    struct http_req *req = c->req;
    /* Parked while the hops run (next_hop may have answered at once). */
    if (!next_hop(f))
        http_req_park(req, PQF_TIMEOUT_MS, on_timeout, on_abort);
    return true;
}

/* ---- the DNS ----------------------------------------------------------------------- */

bool api_query_fails_over(struct api *a, const struct state *st, const char *query_id)
{
    if (!a->wan.route || !a->wan.datacenters || !query_id)
        return false;
    const struct state_query *sq = state_query_get(st, query_id);
    struct api_pq def;
    if (!sq || api__pq_from_state(sq, &def))
        return false;
    bool fo = def.nearest_n > 0 || def.ndcs > 0;
    api__pq_clear(&def);
    return fo;
}

int api_query_failover_dns(struct api *a, const char *name_or_id, const uint8_t *q, size_t len,
                           size_t limit, bool small_udp, const char *token,
                           void (*done)(void *ctx, int rc, const uint8_t *answer, size_t n),
                           void *ctx, uint64_t *handle)
{
    if (!a->wan.route || !a->wan.datacenters)
        return CN_ENOTFOUND;
    if (len < 12 || len > API_DNS_QUERY_MAX)
        return CN_EINVAL;
    struct state *st = srv_state(a->srv);
    const struct state_query *sq = state_query_get(st, name_or_id);
    if (!sq)
        sq = state_query_by_name(st, name_or_id);
    if (!sq)
        sq = state_query_template_match(st, name_or_id);
    if (!sq)
        return CN_ENOTFOUND;
    struct pqf *f = pqf_new(a);
    if (!f)
        return CN_ENOMEM;
    int rc = prepare(f, a, sq, name_or_id);
    if (rc) {
        pqf_free(f);
        return rc == CN_ENOMEM ? rc : CN_ENOTFOUND;
    }
    f->done = done;
    f->ctx = ctx;
    memcpy(f->qid, q, 2);
    const char *tok = token ? token : api_acl_default_token(a);
    snprintf(f->token, sizeof(f->token), "%s", tok ? tok : "");
    static const char hexd[] = "0123456789abcdef";
    rc = cn_buf_printf(&f->target, "/v1/internal/dns/query?limit=%zu%s&msg=", limit,
                       small_udp ? "&small_udp=1" : "");
    for (size_t i = 0; i < len && !rc; i++) {
        rc = cn_buf_putc(&f->target, hexd[q[i] >> 4]);
        if (!rc)
            rc = cn_buf_putc(&f->target, hexd[q[i] & 15]);
    }
    if (rc) {
        pqf_free(f);
        return rc;
    }
    *handle = (uint64_t)(uintptr_t)f;
    (void)next_hop(f); /* may answer (done) at once */
    return 0;
}

void api_query_failover_dns_cancel(struct api *a, uint64_t handle)
{
    (void)a;
    struct pqf *f = (struct pqf *)(uintptr_t)handle;
    if (!f)
        return;
    CN_ASSERT(f->c == NULL);
    if (f->in_flight)
        srv_client_cancel(f->to, f->handle);
    pqf_free(f);
}

void api_set_dns_answer_exec(struct api *a, api_dns_answer_exec_fn fn, void *arg)
{
    a->dns_answer_exec = fn;
    a->dns_exec_arg = arg;
}
