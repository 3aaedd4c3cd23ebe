/* client/http.c: the handle and one HTTP request (libcurl). Requests run on
 * a curl multi handle with curl_multi_poll so a watch or heartbeat can be
 * stopped at once from another thread (curl_multi_wakeup) even in the middle
 * of a blocking query. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

int cairn__buf_add(struct cairn__buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return -ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int cairn__buf_fmt(struct cairn__buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -EINVAL;
    return cairn__buf_add(b, tmp, (size_t)n);
}

int cairn__buf_esc(struct cairn__buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int rc;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/')) {
            rc = cairn__buf_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = cairn__buf_add(b, e, 3);
        }
        if (rc)
            return rc;
    }
    return cairn__buf_add(b, "", 0);
}

void cairn__buf_free(struct cairn__buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static const char *env_first(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (v && *v)
        return v;
    v = getenv(b);
    return v && *v ? v : NULL;
}

int cairn__client_init(struct cairn_client *c, const struct cairn_client_opts *o)
{
    memset(c, 0, sizeof *c);
    struct cairn_client_opts d = {0};
    if (o)
        d = *o;
    const char *addr = d.addr ? d.addr : env_first("CAIRN_HTTP_ADDR", "CONSUL_HTTP_ADDR");
    if (!addr)
        addr = "127.0.0.1:8500";
    if (strncmp(addr, "unix://", 7) == 0 || !*addr)
        return -EINVAL; /* not supported by libcairn yet: docs/client.md */
    const char *ssl = env_first("CAIRN_HTTP_SSL", "CONSUL_HTTP_SSL");
    const char *scheme = ssl && (!strcmp(ssl, "true") || !strcmp(ssl, "1")) ? "https" : "http";
    if (strncmp(addr, "http://", 7) == 0) {
        addr += 7;
        scheme = "http";
    } else if (strncmp(addr, "https://", 8) == 0) {
        addr += 8;
        scheme = "https";
    }
    /* TLS as the CLI: the environment names the CA and a client certificate. */
    const char *v;
    if ((v = env_first("CAIRN_CACERT", "CONSUL_CACERT")))
        snprintf(c->ca_file, sizeof c->ca_file, "%s", v);
    if ((v = env_first("CAIRN_CLIENT_CERT", "CONSUL_CLIENT_CERT")))
        snprintf(c->client_cert, sizeof c->client_cert, "%s", v);
    if ((v = env_first("CAIRN_CLIENT_KEY", "CONSUL_CLIENT_KEY")))
        snprintf(c->client_key, sizeof c->client_key, "%s", v);
    v = env_first("CAIRN_HTTP_SSL_VERIFY", "CONSUL_HTTP_SSL_VERIFY");
    c->no_verify = v && (!strcmp(v, "false") || !strcmp(v, "0"));
    size_t n = strlen(addr);
    while (n && addr[n - 1] == '/')
        n--;
    if (n == 0 || n > 300 || memchr(addr, '/', n))
        return -EINVAL;
    snprintf(c->base, sizeof c->base, "%s://%.*s", scheme, (int)n, addr);
    const char *tok = d.token ? d.token : env_first("CAIRN_HTTP_TOKEN", "CONSUL_HTTP_TOKEN");
    if (tok && strlen(tok) >= sizeof c->token)
        return -EINVAL;
    if (tok)
        snprintf(c->token, sizeof c->token, "%s", tok);
    c->connect_ms = d.connect_timeout_ms > 0 ? d.connect_timeout_ms : 2000;
    c->timeout_ms = d.timeout_ms > 0 ? d.timeout_ms : 10000;
    c->easy = curl_easy_init();
    c->multi = curl_multi_init();
    if (!c->easy || !c->multi) {
        cairn__client_close(c);
        return -ENOMEM;
    }
    return 0;
}

void cairn__client_close(struct cairn_client *c)
{
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->easy)
        curl_easy_cleanup(c->easy);
    c->multi = NULL;
    c->easy = NULL;
    cairn__buf_free(&c->body);
}

struct cairn_client *cairn_client_new(const struct cairn_client_opts *opts, int *err)
{
    struct cairn_client *c = malloc(sizeof *c);
    int e = c ? cairn__client_init(c, opts) : -ENOMEM;
    if (e) {
        free(c);
        if (err)
            *err = e;
        return NULL;
    }
    return c;
}

void cairn_client_free(struct cairn_client *c)
{
    if (!c)
        return;
    cairn__client_close(c);
    free(c);
}

const char *cairn_client_errmsg(const struct cairn_client *c)
{
    return c->err;
}

const char *cairn_client_addr(const struct cairn_client *c)
{
    return c->base;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct cairn_client *c = arg;
    return cairn__buf_add(&c->body, p, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct cairn_client *c = arg;
    size_t len = size * n;
    static const char h[] = "x-consul-index:";
    if (len > sizeof h - 1 && strncasecmp(p, h, sizeof h - 1) == 0) {
        char tmp[32];
        size_t k = len - (sizeof h - 1);
        if (k >= sizeof tmp)
            k = sizeof tmp - 1;
        memcpy(tmp, p + sizeof h - 1, k);
        tmp[k] = '\0';
        char *end;
        unsigned long long v = strtoull(tmp, &end, 10);
        if (end != tmp) {
            c->index = v;
            c->has_index = true;
        }
    }
    return len;
}

void cairn__wake(struct cairn_client *c)
{
    if (c->multi)
        curl_multi_wakeup(c->multi);
}

int cairn__req(struct cairn_client *c, const char *method, const char *path, const char *query,
               const void *body, size_t len, bool long_poll)
{
    struct cairn__buf url = {0};
    int rc = cairn__buf_fmt(&url, "%s", c->base);
    if (!rc)
        rc = cairn__buf_add(&url, path, strlen(path));
    if (!rc && query && *query)
        rc = cairn__buf_fmt(&url, "?%s", query);
    if (rc) {
        cairn__buf_free(&url);
        return rc;
    }
    c->body.len = 0;
    cairn__buf_add(&c->body, "", 0);
    c->status = 0;
    c->has_index = false;
    c->index = 0;
    c->err[0] = '\0';
    CURL *e = c->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url.p);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    if (!long_poll)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "libcairn/" CAIRN_VERSION);
    if (c->base[4] == 's') {
        if (c->ca_file[0])
            curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        if (c->client_cert[0])
            curl_easy_setopt(e, CURLOPT_SSLCERT, c->client_cert);
        if (c->client_key[0])
            curl_easy_setopt(e, CURLOPT_SSLKEY, c->client_key);
        if (c->no_verify) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    struct curl_slist *hdrs = NULL;
    char th[300];
    if (c->token[0]) {
        snprintf(th, sizeof th, "X-Consul-Token: %s", c->token);
        hdrs = curl_slist_append(hdrs, th);
    }
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    } else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    if (hdrs)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_multi_add_handle(c->multi, e);
    int running = 1;
    CURLcode res = CURLE_OK;
    rc = 0;
    while (running) {
        if (c->stop && atomic_load(c->stop)) {
            rc = -ECANCELED;
            break;
        }
        CURLMcode mc = curl_multi_perform(c->multi, &running);
        if (mc == CURLM_OK && running)
            mc = curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            snprintf(c->err, sizeof c->err, "%s: %s", url.p, curl_multi_strerror(mc));
            rc = -EIO;
            break;
        }
    }
    if (rc == 0) {
        int left;
        CURLMsg *m;
        while ((m = curl_multi_info_read(c->multi, &left)))
            if (m->msg == CURLMSG_DONE)
                res = m->data.result;
        if (res != CURLE_OK) {
            snprintf(c->err, sizeof c->err, "%s %s: %s", method, url.p, curl_easy_strerror(res));
            rc = -EIO;
        } else {
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->status);
        }
    }
    curl_multi_remove_handle(c->multi, e);
    curl_slist_free_all(hdrs);
    cairn__buf_free(&url);
    return rc;
}

int cairn__status(struct cairn_client *c, bool allow_404)
{
    if (c->status >= 200 && c->status < 300)
        return 0;
    if (c->status == 404 && allow_404)
        return -ENOENT;
    snprintf(c->err, sizeof c->err, "Unexpected response code: %ld (%.200s)", c->status,
             c->body.p ? c->body.p : "");
    return c->status == 404 ? -ENOENT : -EPROTO;
}
