/* health/http.c: HTTP probes (agent/checks/check.go CheckHTTP) through
 * libcurl's multi-socket interface on the libuv loop: curl tells us which
 * sockets to watch (one uv_poll each) and when to call it back (one uv_timer);
 * we never call a blocking curl function. One easy handle per probe, no
 * connection reuse (Consul's check client disables keep-alives), redirects
 * followed, CURLOPT_NOSIGNAL set (timeouts must not raise SIGALRM). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "health/health_int.h"

struct http_probe {
    struct health_check *c;
    CURL *easy;
    struct curl_slist *hdrs;
    struct curl_slist *connect_to; /* TLSServerName: the name's address is the URL's */
    char status_line[128];         /* "200 OK" */
    struct cn_buf body;            /* first HEALTH_OUTPUT_MAX bytes */
    char errbuf[CURL_ERROR_SIZE];
    /* gRPC */
    char grpc_status[16], grpc_message[200]; /* trailers ("" when absent) */
    char req[300];                           /* the framed HealthCheckRequest */
    size_t req_len;
};

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct health *h;
};

static void check_done(struct health *h);

/* ---- multi-socket glue ------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *hd)
{
    struct sock_ctx *s = hd->data;
    struct health *h = s->h;
    cn_free(s);
    h->handles--;
    health__maybe_release(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *s = p->data;
    struct health *h = s->h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct health *h = userp;
    struct sock_ctx *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        /* curl closes fd right after: stop watching it now. */
        if (s) {
            uv_poll_stop(&s->poll);
            h->handles++;
            uv_close((uv_handle_t *)&s->poll, on_poll_closed);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = cn_calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(h->loop, &s->poll, fd)) {
            cn_free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(h->multi, fd, s);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    struct health *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int on_timer_request(CURLM *m, long timeout_ms, void *userp)
{
    struct health *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->curl_timer);
    else /* 0 too: curl wants a call soon, never from inside this callback */
        uv_timer_start(&h->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

int health__http_init(struct health *h)
{
    static bool global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return CN_EIO;
        global_done = true;
    }
    h->multi = curl_multi_init();
    if (!h->multi)
        return CN_ENOMEM;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer_request);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    uv_timer_init(h->loop, &h->curl_timer);
    h->curl_timer.data = h;
    h->curl_timer_init = true;
    return 0;
}

static void on_curl_timer_closed(uv_handle_t *hd)
{
    struct health *h = hd->data;
    h->handles--;
    health__maybe_release(h);
}

void health__http_fini(struct health *h)
{
    while (h->npool)
        curl_easy_cleanup(h->pool[--h->npool]);
    if (h->multi) {
        curl_multi_cleanup(h->multi);
        h->multi = NULL;
    }
    if (h->curl_timer_init) {
        h->curl_timer_init = false;
        uv_timer_stop(&h->curl_timer);
        h->handles++;
        uv_close((uv_handle_t *)&h->curl_timer, on_curl_timer_closed);
    }
}

/* ---- one probe --------------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct http_probe *p = arg;
    size_t len = size * n;
    if (p->body.len < HEALTH_OUTPUT_MAX) {
        size_t take = HEALTH_OUTPUT_MAX - p->body.len;
        if (take > len)
            take = len;
        if (cn_buf_append(&p->body, ptr, take))
            return 0; /* out of memory: abort the transfer */
    }
    return len; /* the rest is read and dropped */
}

/* Keep the reason phrase of the last status line ("HTTP/1.1 200 OK"). */
static size_t on_header(char *ptr, size_t size, size_t n, void *arg)
{
    struct http_probe *p = arg;
    size_t len = size * n;
    if (p->c->type == HEALTH_GRPC) {
        /* trailers come through here too (HTTP/2) */
        static const struct {
            const char *name;
            size_t off, cap;
        } keep[] = {
            {"grpc-status:", offsetof(struct http_probe, grpc_status), 16},
            {"grpc-message:", offsetof(struct http_probe, grpc_message), 200},
        };
        for (size_t k = 0; k < 2; k++) {
            size_t nl = strlen(keep[k].name);
            if (len > nl && !strncasecmp(ptr, keep[k].name, nl)) {
                const char *v = ptr + nl;
                size_t vl = len - nl;
                while (vl && (*v == ' ' || *v == '\t'))
                    v++, vl--;
                while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
                    vl--;
                if (vl >= keep[k].cap)
                    vl = keep[k].cap - 1;
                char *dst = (char *)p + keep[k].off;
                memcpy(dst, v, vl);
                dst[vl] = 0;
            }
        }
    }
    if (len > 5 && !memcmp(ptr, "HTTP/", 5)) {
        const char *sp = memchr(ptr, ' ', len);
        if (sp) {
            size_t k = len - (size_t)(sp + 1 - ptr);
            while (k && (sp[k] == '\r' || sp[k] == '\n'))
                k--;
            if (k >= sizeof(p->status_line))
                k = sizeof(p->status_line) - 1;
            memcpy(p->status_line, sp + 1, k);
            p->status_line[k] = 0;
        }
    }
    return len;
}

/* Easy handles are kept for reuse (reset, not freed): creating and freeing
 * one per probe was a fifth of the agent's CPU in malloc alone. A few are
 * enough: probes are in flight for milliseconds. */
#define EASY_POOL 32

static void probe_free(struct http_probe *p)
{
    struct health *h = p->c->h;
    if (p->easy) {
        if (h->npool < EASY_POOL && !h->closing) {
            curl_easy_reset(p->easy);
            h->pool[h->npool++] = p->easy;
        } else {
            curl_easy_cleanup(p->easy);
        }
    }
    curl_slist_free_all(p->hdrs);
    curl_slist_free_all(p->connect_to);
    cn_buf_free(&p->body);
    cn_free(p);
}

/* Go's url.Error text: `Get "http://x/": <why>`. */
static void fail(struct health_check *c, const char *why)
{
    char m[24];
    snprintf(m, sizeof(m), "%s", c->method);
    for (size_t i = 1; m[i]; i++)
        m[i] = (char)(m[i] >= 'A' && m[i] <= 'Z' ? m[i] - 'A' + 'a' : m[i]);
    struct cn_buf out = CN_BUF_INIT;
    cn_buf_printf(&out, "%s \"%s\": %s", m, c->target, why);
    health__done(c, "critical", cn_buf_cstr(&out) ? "out of memory" : out.p);
    cn_buf_free(&out);
}

/* agent/checks/grpc.go: a SERVING answer with grpc-status 0 is passing;
 * anything else critical, with grpc-go's error text shape. */
static void finish_grpc(struct http_probe *p, CURLcode res)
{
    struct health_check *c = p->c;
    char out[600];
    const char *st = "critical";
    long code = 0;
    if (res == CURLE_OK)
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
    if (res == CURLE_OPERATION_TIMEDOUT) {
        snprintf(out, sizeof(out),
                 "rpc error: code = DeadlineExceeded desc = context deadline exceeded");
    } else if (res != CURLE_OK) {
        snprintf(out, sizeof(out), "rpc error: code = Unavailable desc = connection error: %s",
                 p->errbuf[0] ? p->errbuf : curl_easy_strerror(res));
    } else if (code != 200) {
        snprintf(out, sizeof(out),
                 "rpc error: code = Unavailable desc = unexpected HTTP status code received from "
                 "server: %ld",
                 code);
    } else if (p->grpc_status[0] && strcmp(p->grpc_status, "0") != 0) {
        snprintf(out, sizeof(out), "rpc error: code = %s desc = %s", p->grpc_status,
                 p->grpc_message);
    } else {
        /* 5-byte frame prefix, then HealthCheckResponse{status = 1 (varint)} */
        const unsigned char *b = (const unsigned char *)p->body.p;
        int serving = -1;
        if (p->body.len >= 5 && b[0] == 0) {
            size_t mlen = (size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 | b[4];
            serving = 0; /* an empty message: status UNKNOWN (0) */
            if (mlen >= 2 && p->body.len >= 5 + mlen && b[5] == 0x08)
                serving = b[6];
        }
        if (serving == 1) {
            st = "passing";
            snprintf(out, sizeof(out), "gRPC check %.400s: success", c->target);
        } else {
            snprintf(out, sizeof(out), "gRPC application didn't report service healthy");
        }
    }
    probe_free(p);
    health__done(c, st, out);
}

static void finish(struct http_probe *p, CURLcode res)
{
    struct health_check *c = p->c;
    c->probe = NULL;
    if (c->type == HEALTH_GRPC) {
        finish_grpc(p, res);
        return;
    }
    if (res != CURLE_OK) {
        char why[CURL_ERROR_SIZE + 80];
        if (res == CURLE_OPERATION_TIMEDOUT)
            snprintf(why, sizeof(why),
                     "context deadline exceeded (Client.Timeout exceeded while awaiting headers)");
        else if (res == CURLE_COULDNT_CONNECT)
            snprintf(why, sizeof(why), "dial tcp: connect: connection refused (%s)",
                     p->errbuf[0] ? p->errbuf : curl_easy_strerror(res));
        else
            snprintf(why, sizeof(why), "%s", p->errbuf[0] ? p->errbuf : curl_easy_strerror(res));
        probe_free(p);
        fail(c, why);
        return;
    }
    long code = 0;
    curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
    if (!p->status_line[0])
        snprintf(p->status_line, sizeof(p->status_line), "%ld", code);
    struct cn_buf out = CN_BUF_INIT;
    int rc = cn_buf_printf(&out, "HTTP %s %s: %s Output: ", c->method, c->target, p->status_line);
    if (!rc && p->body.len)
        rc = cn_buf_append(&out, p->body.p, p->body.len);
    if (!rc)
        rc = cn_buf_cstr(&out);
    /* NUL bytes in a body would cut the output short: fine, it is text. */
    const char *st = code >= 200 && code <= 299 ? "passing" : code == 429 ? "warning" : "critical";
    probe_free(p);
    health__done(c, st, rc ? "out of memory" : out.p);
    cn_buf_free(&out);
}

static void check_done(struct health *h)
{
    /* Read the finished transfers first, then remove them: curl's remove
     * scans the unread messages, so removing while reading would cost
     * O(n^2) when many finish in one call (a burst of timeouts). */
    enum { BATCH = 256 };
    CURL *done[BATCH];
    CURLcode res[BATCH];
    for (;;) {
        size_t n = 0;
        CURLMsg *m;
        int left;
        while (n < BATCH && h->multi && (m = curl_multi_info_read(h->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            done[n] = m->easy_handle;
            res[n++] = m->data.result;
        }
        if (!n)
            return;
        /* A callback may stop other checks: health__http_abort clears their
         * entries here before freeing them. */
        h->done_batch = done;
        h->done_n = n;
        for (size_t i = 0; i < n; i++) {
            if (!done[i])
                continue;
            struct http_probe *p = NULL;
            curl_easy_getinfo(done[i], CURLINFO_PRIVATE, (char **)&p);
            curl_multi_remove_handle(h->multi, done[i]);
            done[i] = NULL;
            if (p)
                finish(p, res[i]);
        }
        h->done_batch = NULL;
        h->done_n = 0;
    }
}

static void start_transfer(struct http_probe *p);
static const char *set_url(struct http_probe *p, const char *url);

/* grpc.health.v1.Health/Check over HTTP/2: h2c with prior knowledge, or TLS
 * with GRPCUseTLS. The target is host:port[/service]; the request is the
 * 5-byte gRPC frame prefix and HealthCheckRequest{service = 1}, encoded by
 * hand (two fields: no protobuf library). */
static void grpc_setup(struct http_probe *p)
{
    struct health_check *c = p->c;
    CURL *e = p->easy;
    const char *t = c->target;
    const char *slash = strchr(t, '/');
    const char *svc = slash ? slash + 1 : "";
    size_t hostlen = slash ? (size_t)(slash - t) : strlen(t);
    size_t sl = strlen(svc);
    if (sl > 200)
        sl = 200;
    unsigned char *r = (unsigned char *)p->req;
    size_t mlen = sl ? 2 + sl : 0;
    r[0] = 0;
    r[1] = r[2] = 0;
    r[3] = (unsigned char)(mlen >> 8);
    r[4] = (unsigned char)mlen;
    if (sl) {
        r[5] = 0x0a; /* field 1, length-delimited */
        r[6] = (unsigned char)sl;
        memcpy(r + 7, svc, sl);
    }
    p->req_len = 5 + mlen;
    char url[600];
    snprintf(url, sizeof(url), "%s://%.*s/grpc.health.v1.Health/Check",
             c->grpc_tls ? "https" : "http", (int)hostlen, t);
    static const char *const hdrs[] = {"Content-Type: application/grpc", "TE: trailers",
                                       "User-Agent: grpc-c/cairn-health", "Accept:"};
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        struct curl_slist *n = curl_slist_append(p->hdrs, hdrs[i]);
        if (!n) {
            probe_free(p);
            fail(c, "out of memory");
            return;
        }
        p->hdrs = n;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
    const char *why = set_url(p, url);
    if (why) {
        probe_free(p);
        fail(c, why);
        return;
    }
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     c->grpc_tls ? (long)CURL_HTTP_VERSION_2TLS
                                 : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->req);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)p->req_len);
    if (c->tls_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    start_transfer(p);
}

/* Set the probe's URL. With TLSServerName on an https URL, Consul (Go's
 * tls.Config.ServerName) sends that name in SNI and verifies the
 * certificate against it, while connecting to the URL's host and sending
 * the URL's Host header. libcurl takes SNI and the verified name from the
 * URL, so: the URL's host becomes the name, CURLOPT_CONNECT_TO sends the
 * connection to the real host and port, and the Host header (unless the
 * definition sets one) is the original authority. 0, or an error message. */
static const char *set_url(struct http_probe *p, const char *url)
{
    struct health_check *c = p->c;
    CURL *e = p->easy;
    if (!*c->tls_server_name || strncasecmp(url, "https://", 8) != 0) {
        curl_easy_setopt(e, CURLOPT_URL, url);
        return NULL;
    }
    const char *why = "out of memory";
    char *host = NULL, *port = NULL, *nurl = NULL;
    CURLU *u = curl_url();
    if (!u)
        return why;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        why = "invalid URL";
        goto out;
    }
    char ct[600], hh[600];
    char *orig_port = NULL;
    bool explicit_port = curl_url_get(u, CURLUPART_PORT, &orig_port, 0) == CURLUE_OK;
    curl_free(orig_port);
    int n1 = snprintf(ct, sizeof(ct), "%s:%s:%s:%s", c->tls_server_name, port, host, port);
    int n2 = explicit_port ? snprintf(hh, sizeof(hh), "Host: %s:%s", host, port)
                           : snprintf(hh, sizeof(hh), "Host: %s", host);
    if (n1 < 0 || (size_t)n1 >= sizeof(ct) || n2 < 0 || (size_t)n2 >= sizeof(hh)) {
        why = "TLSServerName or URL too long";
        goto out;
    }
    if (curl_url_set(u, CURLUPART_HOST, c->tls_server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &nurl, 0) != CURLUE_OK) {
        why = "invalid TLSServerName";
        goto out;
    }
    bool has_host = false;
    for (size_t i = 0; i < c->nheaders; i++)
        has_host |= !strncasecmp(c->headers[i], "Host:", 5);
    struct curl_slist *l = curl_slist_append(NULL, ct);
    if (!l)
        goto out;
    p->connect_to = l;
    if (!has_host) {
        struct curl_slist *h2 = curl_slist_append(p->hdrs, hh);
        if (!h2)
            goto out;
        p->hdrs = h2;
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
    }
    curl_easy_setopt(e, CURLOPT_CONNECT_TO, p->connect_to);
    curl_easy_setopt(e, CURLOPT_URL, nurl);
    why = NULL;
out:
    curl_free(host);
    curl_free(port);
    curl_free(nurl);
    curl_url_cleanup(u);
    return why;
}

void health__http_probe(struct health_check *c)
{
    struct http_probe *p = cn_calloc(1, sizeof(*p));
    if (!p) {
        fail(c, "out of memory");
        return;
    }
    p->c = c;
    p->easy = c->h->npool ? c->h->pool[--c->h->npool] : curl_easy_init();
    if (!p->easy) {
        probe_free(p);
        fail(c, "out of memory");
        return;
    }
    CURL *e = p->easy;
    if (c->type == HEALTH_GRPC) {
        grpc_setup(p);
        return;
    }
    for (size_t i = 0; i < c->nheaders; i++) {
        struct curl_slist *n = curl_slist_append(p->hdrs, c->headers[i]);
        if (!n) {
            probe_free(p);
            fail(c, "out of memory");
            return;
        }
        p->hdrs = n;
    }
    /* Consul sends this User-Agent and Accept unless the definition sets them. */
    bool has_ua = false, has_accept = false;
    for (size_t i = 0; i < c->nheaders; i++) {
        has_ua |= !strncasecmp(c->headers[i], "User-Agent:", 11);
        has_accept |= !strncasecmp(c->headers[i], "Accept:", 7);
    }
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    if (!has_ua)
        curl_easy_setopt(e, CURLOPT_USERAGENT, "Consul Health Check");
    if (!has_accept)
        p->hdrs = curl_slist_append(p->hdrs, "Accept: text/plain, text/*, */*");
    if (p->hdrs)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
    const char *why = set_url(p, c->target);
    if (why) {
        probe_free(p);
        fail(c, why);
        return;
    }
    if (strcmp(c->method, "GET") != 0 || *c->body)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    if (!strcmp(c->method, "HEAD"))
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (*c->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
    }
    if (c->tls_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    start_transfer(p);
}

/* The options every probe shares, then hand it to the multi handle. */
static void start_transfer(struct http_probe *p)
{
    struct health_check *c = p->c;
    CURL *e = p->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, p);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
    if (c->h->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->h->ca_file);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, p);
    c->probe = p;
    if (curl_multi_add_handle(c->h->multi, e) != CURLM_OK) {
        c->probe = NULL;
        probe_free(p);
        fail(c, "could not start the request");
    }
}

void health__http_abort(struct health_check *c)
{
    struct http_probe *p = c->probe;
    c->probe = NULL;
    if (p) {
        for (size_t i = 0; i < c->h->done_n; i++)
            if (c->h->done_batch[i] == p->easy)
                c->h->done_batch[i] = NULL;
        curl_multi_remove_handle(c->h->multi, p->easy);
        probe_free(p);
    }
    c->in_flight = false;
    c->h->in_flight--;
}
