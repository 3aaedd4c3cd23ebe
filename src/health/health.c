/* health/health.c: scheduling, counting and the TCP probe; the HTTP probe is
 * in http.c (libcurl). See health.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "health/health_int.h"

/* ---- counting (agent/checks/check.go StatusHandler) ---------------------- */

const char *health_count(struct health_counter *k, const char *raw)
{
    int warn_after =
        k->failures_before_warning ? k->failures_before_warning : k->failures_before_critical;
    if (!strcmp(raw, "passing") || !strcmp(raw, "warning")) {
        k->successes++;
        k->failures = 0;
        return k->successes >= k->success_before_passing ? raw : NULL;
    }
    k->failures++;
    k->successes = 0;
    if (k->failures >= k->failures_before_critical)
        return "critical";
    if (k->failures >= warn_after)
        return "warning";
    return NULL;
}

/* ---- lifetime ------------------------------------------------------------- */

struct health *health_new(uv_loop_t *loop)
{
    struct health *h = cn_calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->loop = loop;
    if (health__http_init(h)) {
        cn_free(h);
        return NULL;
    }
    return h;
}

int health_set_ca_file(struct health *h, const char *path)
{
    char *p = NULL;
    if (path && *path && !(p = cn_strdup(path)))
        return CN_ENOMEM;
    cn_free(h->ca_file);
    h->ca_file = p;
    health__h2ping_fini(h); /* the TLS context is made again with it */
    return 0;
}

void health__maybe_release(struct health *h)
{
    if (!h->closing || h->handles || h->nchecks)
        return;
    health__http_fini(h);
    health__h2ping_fini(h);
    cn_free(h->ca_file);
    h->ca_file = NULL;
    if (h->handles) /* the curl timer handle closing */
        return;
    cn_free(h);
}

static void def_free(struct health_check *c)
{
    cn_free(c->target);
    cn_free(c->method);
    cn_free(c->body);
    cn_free(c->tls_server_name);
    for (size_t i = 0; i < c->nheaders; i++)
        cn_free(c->headers[i]);
    cn_free(c->headers);
    for (size_t i = 0; c->args && c->args[i]; i++)
        cn_free(c->args[i]);
    cn_free(c->args);
}

static void on_check_closed(uv_handle_t *hd)
{
    struct health_check *c = hd->data;
    struct health *h = c->h;
    def_free(c);
    cn_free(c);
    h->handles--;
    health__maybe_release(h);
}

void health_stop(struct health_check *c)
{
    if (!c || c->stopped)
        return;
    struct health *h = c->h;
    c->stopped = true;
    if (c->in_flight) {
        if (c->type == HEALTH_HTTP || c->type == HEALTH_GRPC)
            health__http_abort(c);
        else if (c->type == HEALTH_SCRIPT)
            health__script_abort(c);
        else if (c->type == HEALTH_UDP)
            health__udp_abort(c);
        else if (c->type == HEALTH_H2PING)
            health__h2ping_abort(c);
        else
            health__tcp_abort(c);
    }
    /* unlink */
    if (c->prev)
        c->prev->next = c->next;
    else
        h->checks = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nchecks--;
    uv_timer_stop(&c->timer);
    h->handles++;
    uv_close((uv_handle_t *)&c->timer, on_check_closed);
}

void health_free(struct health *h)
{
    if (!h)
        return;
    h->closing = true;
    while (h->checks)
        health_stop(h->checks);
    health__maybe_release(h);
}

void health_stats(const struct health *h, struct health_stats *out)
{
    out->checks = h->nchecks;
    out->probes = h->probes;
    out->probes_failed = h->probes_failed;
    out->in_flight = h->in_flight;
}

/* ---- scheduling ----------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

/* Runs are due on multiples of HEALTH__COALESCE_MS of loop time: thousands of
 * checks then wake the loop a few dozen times a second, not once per probe
 * (each wakeup costs a context switch, the bulk of a loopback probe's CPU).
 * A delay of at most that much is nothing against intervals of seconds. */
#define HEALTH__COALESCE_MS 20

static void schedule(struct health_check *c, uint64_t ms)
{
    uint64_t now = uv_now(c->h->loop);
    uint64_t due = now + ms;
    due += (HEALTH__COALESCE_MS - due % HEALTH__COALESCE_MS) % HEALTH__COALESCE_MS;
    uv_timer_start(&c->timer, on_timer, due - now, 0);
}

/* A uniformly random delay in [0, ms). */
static uint64_t stagger(uint64_t ms)
{
    if (ms <= 1)
        return 0;
    uint64_t r = ((uint64_t)(unsigned)rand() << 31) ^ (uint64_t)(unsigned)rand();
    return r % ms;
}

static void on_timer(uv_timer_t *t)
{
    struct health_check *c = t->data;
    if (c->stopped)
        return;
    if (c->in_flight) { /* the deadline of a TCP or script probe */
        if (c->type == HEALTH_SCRIPT)
            health__script_timeout(c);
        else if (c->type == HEALTH_UDP)
            health__udp_timeout(c);
        else if (c->type == HEALTH_H2PING)
            health__h2ping_timeout(c);
        else
            health__tcp_timeout(c);
        return;
    }
    c->in_flight = true;
    c->h->in_flight++;
    if (c->type == HEALTH_HTTP || c->type == HEALTH_GRPC)
        health__http_probe(c);
    else if (c->type == HEALTH_SCRIPT)
        health__script_probe(c);
    else if (c->type == HEALTH_UDP)
        health__udp_probe(c);
    else if (c->type == HEALTH_H2PING)
        health__h2ping_probe(c);
    else
        health__tcp_probe(c);
}

void health__arm_deadline(struct health_check *c)
{
    uv_timer_start(&c->timer, on_timer, c->timeout_ms, 0);
}

void health__done(struct health_check *c, const char *raw, const char *output)
{
    struct health *h = c->h;
    c->in_flight = false;
    h->in_flight--;
    h->probes++;
    if (strcmp(raw, "passing") != 0)
        h->probes_failed++;
    if (c->stopped)
        return;
    schedule(c, c->interval_ms);
    const char *st = health_count(&c->counter, raw);
    if (st)
        c->cb(c->arg, st, output);
}

/* Header JSON: {"Name":["v1","v2"]} into "Name: v1" lines. */
static int parse_headers(struct health_check *c, const char *json)
{
    if (!json || !*json)
        return 0;
    struct json_object *o = json_tokener_parse(json);
    if (!o)
        return CN_EINVAL;
    int rc = 0;
    if (!json_object_is_type(o, json_type_object)) {
        rc = CN_EINVAL;
        goto out;
    }
    json_object_object_foreach(o, k, v)
    {
        if (!v || !json_object_is_type(v, json_type_array)) {
            rc = CN_EINVAL;
            goto out;
        }
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            struct json_object *e = json_object_array_get_idx(v, i);
            if (!e || !json_object_is_type(e, json_type_string)) {
                rc = CN_EINVAL;
                goto out;
            }
            char **nh = cn_realloc(c->headers, (c->nheaders + 1) * sizeof(*nh));
            if (!nh) {
                rc = CN_ENOMEM;
                goto out;
            }
            c->headers = nh;
            struct cn_buf b = CN_BUF_INIT;
            if (cn_buf_printf(&b, "%s: %s", k, json_object_get_string(e)) || cn_buf_cstr(&b)) {
                cn_buf_free(&b);
                rc = CN_ENOMEM;
                goto out;
            }
            c->headers[c->nheaders++] = b.p;
        }
    }
out:
    json_object_put(o);
    return rc;
}

int health_start(struct health *h, const struct health_def *d, health_result_cb cb, void *arg,
                 struct health_check **out)
{
    *out = NULL;
    if (h->closing)
        return CN_ESHUTDOWN;
    if ((d->type != HEALTH_HTTP && d->type != HEALTH_TCP && d->type != HEALTH_SCRIPT &&
         d->type != HEALTH_UDP && d->type != HEALTH_GRPC && d->type != HEALTH_H2PING) ||
        d->interval_ns <= 0 || !cb || (d->type == HEALTH_SCRIPT && (!d->nargs || !d->args)))
        return CN_EINVAL;
    struct health_check *c = cn_calloc(1, sizeof(*c));
    if (!c)
        return CN_ENOMEM;
    c->h = h;
    c->type = d->type;
    c->cb = cb;
    c->arg = arg;
    c->tls_skip_verify = d->tls_skip_verify;
    c->grpc_tls = d->grpc_use_tls;
    c->h2ping_tls = d->h2ping_use_tls;
    c->target = cn_strdup(d->target ? d->target : "");
    c->method = cn_strdup(d->method && *d->method ? d->method : "GET");
    c->body = cn_strdup(d->body ? d->body : "");
    c->tls_server_name = cn_strdup(d->tls_server_name ? d->tls_server_name : "");
    if (d->type == HEALTH_SCRIPT) {
        c->args = cn_calloc(d->nargs + 1, sizeof(*c->args));
        for (size_t i = 0; c->args && i < d->nargs; i++)
            if (!(c->args[i] = cn_strdup(d->args[i] ? d->args[i] : ""))) {
                def_free(c);
                cn_free(c);
                return CN_ENOMEM;
            }
    }
    int rc = CN_ENOMEM;
    if ((d->type == HEALTH_SCRIPT && !c->args) || !c->target || !c->method || !c->body ||
        !c->tls_server_name || (rc = parse_headers(c, d->header_json))) {
        def_free(c);
        cn_free(c);
        return rc ? rc : CN_ENOMEM;
    }
    uint64_t interval_ms = (uint64_t)(d->interval_ns / 1000000);
    c->interval_ms = interval_ms ? interval_ms : 1;
    int64_t to = d->timeout_ns > 0 ? d->timeout_ns : HEALTH_DEFAULT_TIMEOUT_NS;
    /* check.go CheckHTTP/CheckTCP: the default (10 s) is capped by the
     * interval; a Timeout given is used as is. */
    if (d->timeout_ns <= 0 && to > d->interval_ns)
        to = d->interval_ns;
    if (d->type == HEALTH_SCRIPT) /* agent/checks/check.go CheckMonitor: 30 s unless given */
        to = d->timeout_ns > 0 ? d->timeout_ns : HEALTH_SCRIPT_TIMEOUT_NS;
    c->timeout_ms = (uint64_t)(to / 1000000);
    if (!c->timeout_ms)
        c->timeout_ms = 1;
    c->counter.success_before_passing = d->success_before_passing;
    c->counter.failures_before_warning = d->failures_before_warning;
    c->counter.failures_before_critical = d->failures_before_critical;
    uv_timer_init(h->loop, &c->timer);
    c->timer.data = c;
    c->next = h->checks;
    if (h->checks)
        h->checks->prev = c;
    h->checks = c;
    h->nchecks++;
    schedule(c, stagger(c->interval_ms));
    *out = c;
    return 0;
}

/* ---- TCP ------------------------------------------------------------------ */

struct tcp_probe {
    uv_tcp_t tcp;
    uv_connect_t req;
    uv_getaddrinfo_t gai;
    struct health_check *c; /* NULL once abandoned */
    bool tcp_init;
};

static void tcp_output(struct health_check *c, const char *raw, const char *why)
{
    char out[600];
    if (!strcmp(raw, "passing"))
        snprintf(out, sizeof(out), "TCP connect %.400s: Success", c->target);
    else
        snprintf(out, sizeof(out), "dial tcp %.400s: %s", c->target, why);
    health__done(c, raw, out);
}

static void on_probe_closed(uv_handle_t *hd)
{
    struct tcp_probe *p = hd->data;
    cn_free(p);
}

/* Release the probe: close its socket (freed in the close callback). */
static void probe_release(struct tcp_probe *p)
{
    if (p->tcp_init)
        uv_close((uv_handle_t *)&p->tcp, on_probe_closed);
    else
        cn_free(p);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct tcp_probe *p = req->data;
    struct health_check *c = p->c;
    if (!c) /* abandoned (stopped or timed out): the close callback frees p */
        return;
    probe_release(p);
    c->probe = NULL;
    uv_timer_stop(&c->timer);
    if (status == 0) {
        tcp_output(c, "passing", "");
        return;
    }
    char why[160];
    snprintf(why, sizeof(why), "connect: %s",
             status == UV_ECONNREFUSED ? "connection refused"
             : status == UV_ETIMEDOUT  ? "i/o timeout"
                                       : uv_strerror(status));
    tcp_output(c, "critical", why);
}

static void tcp_connect(struct tcp_probe *p, const struct sockaddr *sa)
{
    struct health_check *c = p->c;
    int rc = uv_tcp_init(c->h->loop, &p->tcp);
    if (!rc) {
        p->tcp_init = true;
        p->tcp.data = p;
        p->req.data = p;
        rc = uv_tcp_connect(&p->req, &p->tcp, sa, on_connect);
    }
    if (rc) {
        probe_release(p);
        c->probe = NULL;
        uv_timer_stop(&c->timer);
        char why[160];
        snprintf(why, sizeof(why), "%s", uv_strerror(rc));
        tcp_output(c, "critical", why);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct tcp_probe *p = req->data;
    struct health_check *c = p->c;
    struct sockaddr_storage ss;
    int rc = health__addr_result(status, res, &ss);
    if (!c) {
        cn_free(p);
        return;
    }
    if (rc) {
        c->probe = NULL;
        cn_free(p);
        uv_timer_stop(&c->timer);
        char why[200];
        snprintf(why, sizeof(why), "lookup: %s", uv_strerror(rc));
        tcp_output(c, "critical", why);
        return;
    }
    tcp_connect(p, (struct sockaddr *)&ss);
}

/* Split "host:port" / "[v6]:port". 0 or CN_EINVAL. */
int health__split_hostport(const char *s, char *host, size_t cap, char *port, size_t pcap)
{
    const char *colon;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return CN_EINVAL;
        if ((size_t)(end - s - 1) >= cap)
            return CN_EINVAL;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = 0;
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= cap)
            return CN_EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
    }
    if (!colon[1] || strlen(colon + 1) >= pcap)
        return CN_EINVAL;
    snprintf(port, pcap, "%s", colon + 1);
    return 0;
}

int health__addr(uv_loop_t *loop, const char *host, const char *port, int socktype,
                 struct sockaddr_storage *sa, uv_getaddrinfo_t *gai, uv_getaddrinfo_cb cb)
{
    int portn = atoi(port);
    if (!uv_ip4_addr(host, portn, (struct sockaddr_in *)sa) ||
        !uv_ip6_addr(host, portn, (struct sockaddr_in6 *)sa))
        return 1;
    /* A name: resolved on libuv's thread pool, never on the loop. */
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = socktype;
    return uv_getaddrinfo(loop, gai, cb, host, port, &hints);
}

void health__tcp_probe(struct health_check *c)
{
    char host[256], port[16];
    if (health__split_hostport(c->target, host, sizeof(host), port, sizeof(port))) {
        tcp_output(c, "critical", "missing port in address");
        return;
    }
    struct tcp_probe *p = cn_calloc(1, sizeof(*p));
    if (!p) {
        tcp_output(c, "critical", "out of memory");
        return;
    }
    p->c = c;
    c->probe = p;
    health__arm_deadline(c);
    struct sockaddr_storage sa;
    p->gai.data = p;
    int rc = health__addr(c->h->loop, host, port, SOCK_STREAM, &sa, &p->gai, on_resolved);
    if (rc == 1) {
        tcp_connect(p, (struct sockaddr *)&sa);
        return;
    }
    if (rc) {
        c->probe = NULL;
        cn_free(p);
        uv_timer_stop(&c->timer);
        char why[200];
        snprintf(why, sizeof(why), "lookup: %s", uv_strerror(rc));
        tcp_output(c, "critical", why);
    }
}

/* Detach the in-flight probe: its callbacks find p->c == NULL and only free. */
void health__tcp_abort(struct health_check *c)
{
    struct tcp_probe *p = c->probe;
    c->probe = NULL;
    if (!p)
        return;
    p->c = NULL;
    if (p->tcp_init)
        uv_close((uv_handle_t *)&p->tcp, on_probe_closed); /* on_connect sees ECANCELED */
    else
        uv_cancel((uv_req_t *)&p->gai);
    c->in_flight = false;
    c->h->in_flight--;
}

void health__tcp_timeout(struct health_check *c)
{
    health__tcp_abort(c);
    c->in_flight = true; /* health__done counts it */
    c->h->in_flight++;
    tcp_output(c, "critical", "i/o timeout");
}

int health__addr_result(int status, struct addrinfo *res, struct sockaddr_storage *sa)
{
    int rc = status ? status : res ? 0 : UV_EAI_NONAME;
    if (!rc)
        memcpy(sa, res->ai_addr, res->ai_addrlen);
    uv_freeaddrinfo(res);
    return rc;
}
