/* dns/remote.c: DNS on a client agent. A client agent holds no replicated
 * state, so, as Consul's client agents do (every DNS lookup is an RPC to a
 * server), each in-domain query goes to a server: the query message, how it
 * came and this agent's resolver options (dns.h, "a client agent's query")
 * travel as a request over the client-agent RPC; the server runs the same
 * pure resolver (resolve.c) over its state with those options
 * (dns_remote_answer) and sends the message back, which is answered as it
 * came. A name for the recursors comes back as such and is forwarded from
 * the client (forward.c). No answer in time, a lost server or an error is
 * SERVFAIL: a client whose servers are down answers quickly, not never.
 *
 * Both halves live here: the client's shell (pending queries, their timers)
 * and the server's pure entry point. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/json.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/mem.h"
#include "metrics/metrics.h"
#include "dns/dns_int.h"

#define MAX_INFLIGHT 4096
#define MAX_SERVICE_TTL 32

/* ---- the server's side: pure --------------------------------------------------------- */

static const char *const opt_keys[] = {
    "Domain",     "AltDomain",   "Datacenter",    "NodeName",    "NodeAddr",       "NodeTTL",
    "ServiceTTL", "OnlyPassing", "OrderByWeight", "NodeMetaTXT", "UDPAnswerLimit", "EnableTruncate",
    "SOARefresh", "SOARetry",    "SOAExpire",     "SOAMinTTL",   "Recursors",      "MaxStaleMs",
};
static const char *const top_keys[] = {"Query", "SmallUDP", "Limit", "Options"};

static int only_keys(struct json_object *o, const char *const *keys, size_t n, const char *what,
                     char *err, size_t errcap)
{
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(err, errcap, "%s: not an object", what);
        return CN_EINVAL;
    }
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known) {
            snprintf(err, errcap, "%s: unknown key \"%.64s\"", what, k);
            return CN_EINVAL;
        }
    }
    return 0;
}

static int get_u32(struct json_object *o, const char *k, uint32_t *out, char *err, size_t errcap)
{
    uint64_t v = 0;
    int rc = cn_json_get_u64(o, k, &v);
    if (rc < 0 || v > UINT32_MAX) {
        snprintf(err, errcap, "%s: not a 32-bit unsigned number", k);
        return CN_EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

static int get_flag(struct json_object *o, const char *k, bool *out, char *err, size_t errcap)
{
    int v = 0;
    if (cn_json_get_bool(o, k, &v) < 0) {
        snprintf(err, errcap, "%s: not a boolean", k);
        return CN_EINVAL;
    }
    *out = v != 0;
    return 0;
}

static int get_text(struct json_object *o, const char *k, const char **out, char *err,
                    size_t errcap)
{
    *out = NULL;
    if (cn_json_get_str(o, k, out) < 0) {
        snprintf(err, errcap, "%s: not a string", k);
        return CN_EINVAL;
    }
    return 0;
}

/* The options object into o (strings borrowed from the tree). */
static int decode_options(struct json_object *j, struct dns_options *o, struct dns_service_ttl *ttl,
                          bool *recursors, uint64_t *max_stale_ms, char *err, size_t errcap)
{
    if (only_keys(j, opt_keys, sizeof(opt_keys) / sizeof(opt_keys[0]), "Options", err, errcap))
        return CN_EINVAL;
    uint32_t u = 0;
    if (get_text(j, "Domain", &o->domain, err, errcap) ||
        get_text(j, "AltDomain", &o->alt_domain, err, errcap) ||
        get_text(j, "Datacenter", &o->datacenter, err, errcap) ||
        get_text(j, "NodeName", &o->node_name, err, errcap) ||
        get_text(j, "NodeAddr", &o->node_addr, err, errcap) ||
        get_u32(j, "NodeTTL", &o->node_ttl, err, errcap) ||
        get_flag(j, "OnlyPassing", &o->only_passing, err, errcap) ||
        get_flag(j, "OrderByWeight", &o->order_by_weight, err, errcap) ||
        get_flag(j, "NodeMetaTXT", &o->node_meta_txt, err, errcap) ||
        get_u32(j, "UDPAnswerLimit", &u, err, errcap) ||
        get_flag(j, "EnableTruncate", &o->enable_truncate, err, errcap) ||
        get_u32(j, "SOARefresh", &o->soa_refresh, err, errcap) ||
        get_u32(j, "SOARetry", &o->soa_retry, err, errcap) ||
        get_u32(j, "SOAExpire", &o->soa_expire, err, errcap) ||
        get_u32(j, "SOAMinTTL", &o->soa_min_ttl, err, errcap) ||
        get_flag(j, "Recursors", recursors, err, errcap))
        return CN_EINVAL;
    o->udp_answer_limit = u;
    if (!o->domain || !*o->domain) {
        snprintf(err, errcap, "Options.Domain: missing");
        return CN_EINVAL;
    }
    if (cn_json_get_u64(j, "MaxStaleMs", max_stale_ms) < 0) {
        snprintf(err, errcap, "MaxStaleMs: not an unsigned number");
        return CN_EINVAL;
    }
    struct json_object *t = cn_json_get(j, "ServiceTTL");
    if (t) {
        if (!json_object_is_type(t, json_type_array) ||
            json_object_array_length(t) > MAX_SERVICE_TTL) {
            snprintf(err, errcap, "ServiceTTL: not an array of at most %d entries",
                     MAX_SERVICE_TTL);
            return CN_EINVAL;
        }
        size_t n = json_object_array_length(t);
        static const char *const ttl_keys[] = {"Name", "TTL"};
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(t, i);
            if (only_keys(e, ttl_keys, 2, "ServiceTTL entry", err, errcap) ||
                get_text(e, "Name", &ttl[i].name, err, errcap) ||
                get_u32(e, "TTL", &ttl[i].ttl, err, errcap))
                return CN_EINVAL;
            if (!ttl[i].name || !*ttl[i].name) {
                snprintf(err, errcap, "ServiceTTL entry: Name missing");
                return CN_EINVAL;
            }
        }
        o->service_ttl = ttl;
        o->nservice_ttl = n;
    }
    return 0;
}

/* The resolver's prepared-query and ACL callbacks, with the asking agent's
 * node name. */
struct as_agent {
    const struct dns_remote_env *env;
    const char *node;
};

static int query_as(void *arg, const struct state *st, const char *name_or_id,
                    dns_query_visit visit, void *varg)
{
    const struct as_agent *x = arg;
    return x->env->query_exec(x->env->query_arg, st, x->node, name_or_id, visit, varg);
}

static bool acl_as(void *arg, bool is_node, const char *name)
{
    const struct as_agent *x = arg;
    return x->env->acl_may(x->env->query_arg, is_node, name);
}

static int servfail(const uint8_t *msg, struct cn_buf *out)
{
    uint8_t hdr[DNS_HDR_LEN];
    dns_msg_header_only(msg, hdr, DNS_RC_SERVFAIL);
    return cn_buf_append(out, hdr, sizeof(hdr)) ? CN_ENOMEM : DNS_REMOTE_ANSWER;
}

int dns_remote_answer(const void *body, size_t len, const struct dns_remote_env *env,
                      struct cn_buf *out, char *err, size_t errcap)
{
    char perr[160];
    struct json_object *j = cn_json_parse(body, len, perr, sizeof(perr));
    if (!j) {
        snprintf(err, errcap, "%s", perr);
        return CN_EINVAL;
    }
    int rc = CN_EINVAL;
    struct cn_buf q = CN_BUF_INIT;
    struct dns_resolver r;
    bool have_r = false;
    if (only_keys(j, top_keys, sizeof(top_keys) / sizeof(top_keys[0]), "request", err, errcap))
        goto out;
    const char *b64 = NULL;
    bool small_udp = false;
    uint32_t limit = 0;
    if (get_text(j, "Query", &b64, err, errcap) ||
        get_flag(j, "SmallUDP", &small_udp, err, errcap) ||
        get_u32(j, "Limit", &limit, err, errcap))
        goto out;
    if (!b64 || cn_base64_decode(&q, b64, strlen(b64))) {
        snprintf(err, errcap, "Query: missing or not base64");
        goto out;
    }
    if (limit < DNS_UDP_MIN || limit > DNS_TCP_MAX) {
        snprintf(err, errcap, "Limit: %u is not within %d..%d", limit, DNS_UDP_MIN, DNS_TCP_MAX);
        goto out;
    }
    struct json_object *oj = cn_json_get(j, "Options");
    if (!oj) {
        snprintf(err, errcap, "Options: missing");
        goto out;
    }
    struct dns_options o;
    memset(&o, 0, sizeof(o));
    struct dns_service_ttl ttl[MAX_SERVICE_TTL];
    bool recursors = false;
    uint64_t max_stale_ms = 0;
    if (decode_options(oj, &o, ttl, &recursors, &max_stale_ms, err, errcap))
        goto out;
    static const char *const any_recursor[] = {"remote"}; /* only "are there any" counts */
    o.recursors = recursors ? any_recursor : NULL;
    o.nrecursors = recursors ? 1 : 0;
    struct as_agent as = {env, o.node_name ? o.node_name : ""};
    o.query_exec = env->query_exec ? query_as : NULL;
    o.query_arg = &as;
    o.acl_may = env->acl_may ? acl_as : NULL;
    struct dns_query dq;
    const uint8_t *msg = (const uint8_t *)q.p;
    if (q.len < DNS_HDR_LEN || dns_query_decode(msg, q.len, &dq) != DNS_DEC_OK) {
        snprintf(err, errcap, "Query: not a query this server answers");
        goto out;
    }
    rc = dns__resolver_init(&r, &o, env->seed, err, errcap);
    if (rc)
        goto out;
    have_r = true;
    r.query_failover = env->failover != NULL && q.len <= sizeof(env->failover->q);
    r.dc_remote = r.query_failover; /* the server asks the other datacenter */
    if (max_stale_ms && env->last_contact_ms > max_stale_ms) {
        /* dns_config.max_stale: this server lost its leader too long ago. */
        rc = servfail(msg, out);
        goto out;
    }
    if (cn_buf_reserve(out, DNS_TCP_MAX)) {
        rc = CN_ENOMEM;
        goto out;
    }
    int action = DNS__ANSWER;
    size_t n = dns__resolve(&r, env->st, &dq, (uint8_t *)out->p + out->len, DNS_TCP_MAX, limit,
                            small_udp, env->serial, &action);
    if (action == DNS__FORWARD) {
        rc = DNS_REMOTE_FORWARD;
    } else if (action == DNS__QUERY_FAILOVER || action == DNS__OTHER_DC) {
        struct dns_remote_failover *fo = env->failover;
        fo->other_dc = action == DNS__OTHER_DC;
        snprintf(fo->key, sizeof(fo->key), "%s", fo->other_dc ? r.other_dc : r.fo_key);
        memcpy(fo->q, msg, q.len);
        fo->qlen = q.len;
        fo->limit = limit;
        fo->small_udp = small_udp;
        rc = fo->other_dc ? DNS_REMOTE_OTHER_DC : DNS_REMOTE_FAILOVER;
    } else if (n == 0) {
        rc = servfail(msg, out);
    } else {
        out->len += n;
        rc = DNS_REMOTE_ANSWER;
    }
out:
    if (have_r)
        dns__resolver_free(&r);
    cn_buf_free(&q);
    json_object_put(j);
    return rc;
}

/* ---- the client's side: the request ---------------------------------------------------- */

int dns__remote_opts(const struct dns_options *o, char **out)
{
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &b, 0);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "Domain", o->domain ? o->domain : "consul.");
    cn_jsonw_kstr(&w, "AltDomain", o->alt_domain ? o->alt_domain : "");
    cn_jsonw_kstr(&w, "Datacenter", o->datacenter ? o->datacenter : "");
    cn_jsonw_kstr(&w, "NodeName", o->node_name ? o->node_name : "");
    cn_jsonw_kstr(&w, "NodeAddr", o->node_addr ? o->node_addr : "");
    cn_jsonw_ku64(&w, "NodeTTL", o->node_ttl);
    cn_jsonw_key(&w, "ServiceTTL");
    cn_jsonw_arr_open(&w);
    for (size_t i = 0; i < o->nservice_ttl; i++) {
        cn_jsonw_obj_open(&w);
        cn_jsonw_kstr(&w, "Name", o->service_ttl[i].name);
        cn_jsonw_ku64(&w, "TTL", o->service_ttl[i].ttl);
        cn_jsonw_obj_close(&w);
    }
    cn_jsonw_arr_close(&w);
    cn_jsonw_kbool(&w, "OnlyPassing", o->only_passing);
    cn_jsonw_kbool(&w, "OrderByWeight", o->order_by_weight);
    cn_jsonw_kbool(&w, "NodeMetaTXT", o->node_meta_txt);
    cn_jsonw_ku64(&w, "UDPAnswerLimit", o->udp_answer_limit);
    cn_jsonw_kbool(&w, "EnableTruncate", o->enable_truncate);
    cn_jsonw_ku64(&w, "SOARefresh", o->soa_refresh);
    cn_jsonw_ku64(&w, "SOARetry", o->soa_retry);
    cn_jsonw_ku64(&w, "SOAExpire", o->soa_expire);
    cn_jsonw_ku64(&w, "SOAMinTTL", o->soa_min_ttl);
    cn_jsonw_kbool(&w, "Recursors", o->nrecursors > 0);
    cn_jsonw_ku64(&w, "MaxStaleMs", o->max_stale_ms);
    cn_jsonw_obj_close(&w);
    if (w.err || cn_buf_cstr(&b)) {
        cn_buf_free(&b);
        return CN_ENOMEM;
    }
    *out = b.p;
    return 0;
}

/* ---- the client's side: queries in flight ------------------------------------------------ */

struct dns__rq {
    struct dns_server *s;
    struct dns__rq *prev, *next;
    struct dns__conn *conn; /* TCP client, or NULL */
    bool udp_client;
    struct sockaddr_storage client;
    uint64_t handle;
    bool done;
    bool ptr; /* a PTR query (its metric) */
    uint64_t t0;
    uv_timer_t timer;
    size_t len;
    uint8_t msg[]; /* the query as the client sent it */
};

static void on_rq_closed(uv_handle_t *h)
{
    struct dns__rq *q = h->data;
    struct dns_server *s = q->s;
    cn_free(q);
    dns__handle_closed(s);
}

static const struct sockaddr *rq_addr(const struct dns__rq *q)
{
    return q->udp_client ? (const struct sockaddr *)&q->client : NULL;
}

/* Answer (msg, or SERVFAIL when NULL; or forward) and retire q. */
static void rq_finish(struct dns__rq *q, const uint8_t *msg, size_t len, bool forward)
{
    struct dns_server *s = q->s;
    if (q->done)
        return;
    q->done = true;
    uv_timer_stop(&q->timer);
    bool someone = q->udp_client || q->conn;
    if (someone && forward) {
        dns__forward(s, q->msg, q->len, rq_addr(q), q->conn);
    } else if (someone && msg) {
        dns__reply(s, msg, len, rq_addr(q), q->conn);
    } else if (someone) {
        uint8_t hdr[DNS_HDR_LEN];
        dns_msg_header_only(q->msg, hdr, DNS_RC_SERVFAIL);
        dns__reply(s, hdr, sizeof(hdr), rq_addr(q), q->conn);
    }
    if (someone && msg && q->t0)
        mx_series_add(q->ptr ? s->mx_ptr : s->mx_domain, (double)(uv_hrtime() - q->t0) / 1e6);
    if (q->prev)
        q->prev->next = q->next;
    else
        s->rqs = q->next;
    if (q->next)
        q->next->prev = q->prev;
    s->nrqs--;
    uv_close((uv_handle_t *)&q->timer, on_rq_closed);
}

void dns_remote_done(void *arg, int rc, int status, const void *msg, size_t len)
{
    struct dns__rq *q = arg;
    if (q->done)
        return;
    const uint8_t *m = msg;
    if (rc == 0 && status == 204) {
        rq_finish(q, NULL, 0, true);
    } else if (rc == 0 && status == 200 && len >= DNS_HDR_LEN && len <= DNS_TCP_MAX &&
               m[0] == q->msg[0] && m[1] == q->msg[1]) {
        rq_finish(q, m, len, false);
    } else {
        cn_debug("dns", "a server's answer: rc %d, status %d, %zu bytes: SERVFAIL", rc, status,
                 len);
        rq_finish(q, NULL, 0, false);
    }
}

static void on_rq_timeout(uv_timer_t *t)
{
    struct dns__rq *q = t->data;
    struct dns_server *s = q->s;
    cn_debug("dns", "no answer from a server within %u ms: SERVFAIL", s->remote_timeout_ms);
    s->remote_cancel(s->remote_arg, q->handle);
    rq_finish(q, NULL, 0, false);
}

void dns__remote(struct dns_server *s, const uint8_t *msg, size_t len, const struct dns_query *dq,
                 const struct sockaddr *addr, struct dns__conn *conn)
{
    uint8_t hdr[DNS_HDR_LEN];
    if (s->nrqs >= MAX_INFLIGHT) { /* a flood: shed, the client retries */
        dns_msg_header_only(msg, hdr, DNS_RC_SERVFAIL);
        return dns__reply(s, hdr, sizeof(hdr), addr, conn);
    }
    struct dns__rq *q = cn_calloc(1, sizeof(*q) + len);
    struct cn_buf b = CN_BUF_INIT;
    if (!q)
        goto fail;
    q->s = s;
    q->conn = conn;
    q->udp_client = addr != NULL;
    if (addr)
        memcpy(&q->client, addr,
               addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
    q->len = len;
    memcpy(q->msg, msg, len);
    q->ptr = dq->qtype == 12;
    q->t0 = s->mx_domain || s->mx_ptr ? uv_hrtime() : 0;
    bool udp = conn == NULL;
    size_t limit = udp ? (dq->edns ? dq->udp_size : DNS_UDP_MIN) : DNS_TCP_MAX;
    if (cn_buf_puts(&b, "{\"Query\":\"") || cn_base64_encode(&b, msg, len) ||
        cn_buf_printf(&b, "\",\"SmallUDP\":%s,\"Limit\":%zu,\"Options\":%s}",
                      udp && !dq->edns ? "true" : "false", limit, s->remote_opts)) {
        cn_free(q);
        goto fail;
    }
    uv_timer_init(s->loop, &q->timer);
    q->timer.data = q;
    s->pending_close++;
    q->next = s->rqs;
    if (s->rqs)
        s->rqs->prev = q;
    s->rqs = q;
    s->nrqs++;
    uv_timer_start(&q->timer, on_rq_timeout, s->remote_timeout_ms, 0);
    /* cb may run before remote returns: q stays allocated until its timer's
     * close callback, so q->done is safe to read here. */
    if (s->remote(s->remote_arg, b.p, b.len, q, &q->handle))
        rq_finish(q, NULL, 0, false);
    cn_buf_free(&b);
    return;
fail:
    cn_buf_free(&b);
    dns_msg_header_only(msg, hdr, DNS_RC_SERVFAIL);
    dns__reply(s, hdr, sizeof(hdr), addr, conn);
}

void dns__remote_detach(struct dns_server *s, struct dns__conn *conn)
{
    for (struct dns__rq *q = s->rqs; q; q = q->next)
        if (q->conn == conn)
            q->conn = NULL;
}

void dns__remote_stop_all(struct dns_server *s)
{
    while (s->rqs) {
        struct dns__rq *q = s->rqs;
        q->conn = NULL;
        q->udp_client = false;
        s->remote_cancel(s->remote_arg, q->handle);
        rq_finish(q, NULL, 0, false);
    }
}
