/* cli/http.c: the agent's address and the one blocking HTTP request at a time
 * the CLI makes, through libcurl's easy interface. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "cli/cli_int.h"

/* ---- address ---------------------------------------------------------------- */

static int valid_host_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '.' || ch == '-' || ch == '_';
}

/* Validate "host", "host:port", "[v6]" or "[v6]:port" (n bytes). */
static int check_hostport(const char *p, size_t n, char *err, size_t errcap)
{
    size_t i = 0;
    if (n == 0) {
        snprintf(err, errcap, "missing host");
        return CN_EINVAL;
    }
    if (p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (!close || close == p + 1) {
            snprintf(err, errcap, "bad IPv6 address in brackets");
            return CN_EINVAL;
        }
        for (const char *q = p + 1; q < close; q++) {
            if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.') {
                snprintf(err, errcap, "bad IPv6 address in brackets");
                return CN_EINVAL;
            }
        }
        i = (size_t)(close - p) + 1;
    } else {
        while (i < n && p[i] != ':') {
            if (!valid_host_char(p[i])) {
                snprintf(err, errcap, "bad character in host");
                return CN_EINVAL;
            }
            i++;
        }
        if (i == 0) {
            snprintf(err, errcap, "missing host");
            return CN_EINVAL;
        }
    }
    if (i == n)
        return 0;
    if (p[i] != ':') {
        snprintf(err, errcap, "unexpected characters after host");
        return CN_EINVAL;
    }
    i++;
    size_t digits = n - i;
    unsigned long port = 0;
    for (size_t k = i; k < n; k++) {
        if (p[k] < '0' || p[k] > '9' || digits > 5) {
            snprintf(err, errcap, "invalid port");
            return CN_EINVAL;
        }
        port = port * 10 + (unsigned long)(p[k] - '0');
    }
    if (digits == 0 || port == 0 || port > 65535) {
        snprintf(err, errcap, "invalid port");
        return CN_EINVAL;
    }
    return 0;
}

int cli__addr_parse(const char *s, int ssl, struct cli_addr *out, char *err, size_t errcap)
{
    char why[96];
    memset(out, 0, sizeof(*out));
    if (!s || !*s) {
        snprintf(err, errcap, "empty HTTP address");
        return CN_EINVAL;
    }
    if (strncmp(s, "unix://", 7) == 0) {
        const char *path = s + 7;
        if (!*path || strlen(path) >= sizeof(out->unix_path)) {
            snprintf(err, errcap, "invalid HTTP address \"%s\": bad socket path", s);
            return CN_EINVAL;
        }
        snprintf(out->unix_path, sizeof(out->unix_path), "%s", path);
        snprintf(out->base, sizeof(out->base), "http://localhost");
        return 0;
    }
    const char *scheme = ssl ? "https" : "http";
    const char *rest = s;
    const char *sep = strstr(s, "://");
    if (sep) {
        size_t sl = (size_t)(sep - s);
        if (sl == 4 && strncmp(s, "http", 4) == 0) {
            scheme = "http";
        } else if (sl == 5 && strncmp(s, "https", 5) == 0) {
            scheme = "https";
        } else {
            snprintf(err, errcap, "invalid HTTP address \"%s\": unsupported scheme", s);
            return CN_EINVAL;
        }
        rest = sep + 3;
    }
    size_t n = strlen(rest);
    /* Consul accepts "http://host:port/"; anything past a lone '/' is rejected. */
    if (n > 0 && rest[n - 1] == '/')
        n--;
    if (memchr(rest, '/', n)) {
        snprintf(err, errcap, "invalid HTTP address \"%s\": unexpected path", s);
        return CN_EINVAL;
    }
    if (check_hostport(rest, n, why, sizeof(why)) < 0) {
        snprintf(err, errcap, "invalid HTTP address \"%s\": %s", s, why);
        return CN_EINVAL;
    }
    if (strlen(scheme) + 3 + n >= sizeof(out->base)) {
        snprintf(err, errcap, "invalid HTTP address \"%s\": too long", s);
        return CN_EINVAL;
    }
    snprintf(out->base, sizeof(out->base), "%s://%.*s", scheme, (int)n, rest);
    return 0;
}

const char *cli__addr_pick(const char *flag)
{
    if (flag)
        return flag;
    const char *e = getenv("CAIRN_HTTP_ADDR");
    if (e && *e)
        return e;
    e = getenv("CONSUL_HTTP_ADDR");
    if (e && *e)
        return e;
    return "127.0.0.1:8500";
}

/* ---- requests --------------------------------------------------------------- */

int cli__url_escape(struct cn_buf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
            (keep_slash && *p == '/')) {
            rc = cn_buf_putc(b, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = cn_buf_append(b, e, 3);
        }
    }
    return rc;
}

int cli__path_seg(struct cn_buf *b, const char *prefix, const char *seg)
{
    int rc = cn_buf_puts(b, prefix);
    if (rc == 0)
        rc = cli__url_escape(b, seg, 0);
    if (rc == 0)
        rc = cn_buf_cstr(b);
    return rc;
}

int cli__query_param(struct cn_buf *q, const char *name, const char *value)
{
    int rc = q->len ? cn_buf_putc(q, '&') : 0;
    if (rc == 0)
        rc = cn_buf_puts(q, name);
    if (rc == 0)
        rc = cn_buf_putc(q, '=');
    return rc ? rc : cli__url_escape(q, value, 0);
}

static size_t on_sink(char *p, size_t size, size_t n, void *ud)
{
    size_t w = fwrite(p, size, n, ud) * size;
    fflush(ud); /* `cairn monitor` lines as they come */
    return w;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct cn_buf *b = ud;
    /* Agent answers are small; 64 MiB bounds a runaway response. */
    if (b->len + size * n > (64u << 20) || cn_buf_append(b, p, size * n) < 0)
        return 0;
    return size * n;
}

static int env_true(const char *name)
{
    const char *v = getenv(name);
    return v && cli__parse_bool(v) == 1;
}

/* A TLS setting: the flag, else $CAIRN_<env>, else $CONSUL_<env>. */
static const char *tls_opt(const struct cli_ctx *c, const char *flag, const char *env)
{
    const char *v = c->args ? cli__flag_str(c->args, flag, NULL) : NULL;
    if (v && *v)
        return v;
    char name[64];
    snprintf(name, sizeof(name), "CAIRN_%s", env);
    v = getenv(name);
    if (v && *v)
        return v;
    snprintf(name, sizeof(name), "CONSUL_%s", env);
    v = getenv(name);
    return v && *v ? v : NULL;
}

/* Consul's -ca-path loads every PEM file of the directory (OpenSSL's CAPATH
 * wants hashed names): their concatenation is handed to libcurl. */
static int load_ca_dir(const char *dir, struct cn_buf *out, char *err, size_t errcap)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errcap, "Error loading CA path %s: %s", dir, strerror(errno));
        return CN_EINVAL;
    }
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) || !S_ISREG(st.st_mode))
            continue;
        rc = cli__read_file(out, path, err, errcap);
        if (!rc)
            rc = cn_buf_putc(out, '\n');
    }
    closedir(d);
    return rc;
}

/* TLS options of one request (https only). */
static int set_tls(struct cli_ctx *c, CURL *h, struct cn_buf *ca_blob, char *err, size_t errcap)
{
    const char *ca = tls_opt(c, "ca-file", "CACERT");
    const char *cap = tls_opt(c, "ca-path", "CAPATH");
    const char *cert = tls_opt(c, "client-cert", "CLIENT_CERT");
    const char *key = tls_opt(c, "client-key", "CLIENT_KEY");
    if (ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    if (cap && !ca) {
        int rc = load_ca_dir(cap, ca_blob, err, errcap);
        if (rc)
            return rc;
        struct curl_blob b = {.data = ca_blob->p, .len = ca_blob->len, .flags = 0};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    }
    if (cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
    if (key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, key);
    const char *v = getenv("CAIRN_HTTP_SSL_VERIFY");
    if (!v || !*v)
        v = getenv("CONSUL_HTTP_SSL_VERIFY");
    if (v && cli__parse_bool(v) == 0) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return 0;
}

/* -tls-server-name: the URL names the server's certificate name (SNI and
 * verification), CONNECT_TO sends it to the real address. */
static int server_name_url(struct cli_ctx *c, const char *name, struct cn_buf *url,
                           struct curl_slist **connect_to)
{
    const char *hp = c->addr.base + 8; /* after "https://" */
    const char *colon = strrchr(hp, ':');
    const char *port = colon && !strchr(colon, ']') ? colon + 1 : "443";
    size_t hl = colon && !strchr(colon, ']') ? (size_t)(colon - hp) : strlen(hp);
    char line[600];
    snprintf(line, sizeof(line), "%s:%s:%.*s:%s", name, port, (int)hl, hp, port);
    *connect_to = curl_slist_append(*connect_to, line);
    return cn_buf_printf(url, "https://%s:%s", name, port);
}

static int resolve_addr(struct cli_ctx *c, char *err, size_t errcap)
{
    if (c->addr_ok)
        return 0;
    const char *flag = c->args ? cli__flag_str(c->args, "http-addr", NULL) : NULL;
    int ssl = env_true("CAIRN_HTTP_SSL") || env_true("CONSUL_HTTP_SSL");
    int rc = cli__addr_parse(cli__addr_pick(flag), ssl, &c->addr, err, errcap);
    if (rc == 0)
        c->addr_ok = 1;
    return rc;
}

static const char *token(const struct cli_ctx *c)
{
    const char *t = c->args ? cli__flag_str(c->args, "token", NULL) : NULL;
    if (t && *t)
        return t;
    t = getenv("CAIRN_HTTP_TOKEN");
    if (t && *t)
        return t;
    t = getenv("CONSUL_HTTP_TOKEN");
    return t && *t ? t : NULL;
}

static int add_query(struct cn_buf *u, int *first, const char *k, const char *v)
{
    int rc = cn_buf_puts(u, *first ? "?" : "&");
    *first = 0;
    if (rc == 0)
        rc = cn_buf_puts(u, k);
    if (rc == 0 && v) {
        rc = cn_buf_putc(u, '=');
        if (rc == 0)
            rc = cli__url_escape(u, v, 0);
    }
    return rc;
}

/* X-Consul-Index, for blocking queries (cli_resp.index). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct cli_resp *r = arg;
    size_t len = size * n;
    static const char name[] = "x-consul-index:";
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        uint64_t v = 0;
        size_t i = sizeof(name) - 1;
        while (i < len && p[i] == ' ')
            i++;
        int digits = 0;
        for (; i < len && p[i] >= '0' && p[i] <= '9' && v < UINT64_MAX / 10; i++, digits++)
            v = v * 10 + (uint64_t)(p[i] - '0');
        if (digits) {
            r->index = v;
            r->has_index = 1;
        }
    }
    return len;
}

int cli__http(struct cli_ctx *c, const char *method, const char *path, const char *query,
              const void *body, size_t body_len, struct cli_resp *resp, char *err, size_t errcap)
{
    struct cn_buf url = CN_BUF_INIT;
    struct curl_slist *hdrs = NULL, *connect_to = NULL;
    struct cn_buf ca_blob = CN_BUF_INIT;
    char cerr[CURL_ERROR_SIZE] = "";
    int rc = 0;

    resp->code = 0;
    resp->index = 0;
    resp->has_index = 0;
    cn_buf_init(&resp->body);
    if (resolve_addr(c, err, errcap) < 0)
        return CN_EINVAL;
    if (!c->curl) {
        c->curl = curl_easy_init();
        if (!c->curl) {
            snprintf(err, errcap, "cannot initialise libcurl");
            return CN_ENOMEM;
        }
    }
    CURL *h = c->curl;
    curl_easy_reset(h);

    int first = 1;
    bool https = !strncmp(c->addr.base, "https://", 8);
    const char *sni = https ? tls_opt(c, "tls-server-name", "TLS_SERVER_NAME") : NULL;
    rc = sni ? server_name_url(c, sni, &url, &connect_to) : cn_buf_puts(&url, c->addr.base);
    if (rc == 0)
        rc = cn_buf_puts(&url, path);
    if (rc == 0 && query && *query) {
        rc = cn_buf_printf(&url, "?%s", query);
        first = 0;
    }
    const char *dc = c->args ? cli__flag_str(c->args, "datacenter", NULL) : NULL;
    if (rc == 0 && dc && *dc)
        rc = add_query(&url, &first, "dc", dc);
    if (rc == 0 && c->args && cli__flag_bool(c->args, "stale") && strcmp(method, "GET") == 0)
        rc = add_query(&url, &first, "stale", NULL);
    if (rc == 0)
        rc = cn_buf_cstr(&url);
    if (rc < 0) {
        snprintf(err, errcap, "out of memory");
        goto out;
    }

    const char *tok = token(c);
    if (tok) {
        char line[512];
        snprintf(line, sizeof(line), "X-Consul-Token: %s", tok);
        hdrs = curl_slist_append(hdrs, line);
    }
    /* No "Expect: 100-continue" round trip on PUTs. */
    hdrs = curl_slist_append(hdrs, "Expect:");

    curl_easy_setopt(h, CURLOPT_URL, url.p);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    /* Generous: a write waits for a Raft commit, which may span an election. */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     resp->no_timeout   ? 0L
                     : resp->timeout_ms ? resp->timeout_ms
                                        : 60000L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, resp->sink ? on_sink : on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp->sink ? (void *)resp->sink : (void *)&resp->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cairn-cli/" CAIRN_VERSION);
    if (c->addr.unix_path[0])
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->addr.unix_path);
    if (connect_to)
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
    if (https && (rc = set_tls(c, h, &ca_blob, err, errcap)))
        goto out;
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (body || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        }
    }

    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        /* Shaped like the Go client's error, which names the URL and address. */
        char verb[16];
        snprintf(verb, sizeof(verb), "%s", method);
        for (char *q = verb + 1; *q; q++) /* Go says "Get", not "GET" */
            *q = (char)tolower((unsigned char)*q);
        snprintf(err, errcap, "%s \"%s\": %s", verb, url.p,
                 cerr[0] ? cerr : curl_easy_strerror(cc));
        /* A stream cut short still had a status (`cairn monitor`). */
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->code);
        rc = CN_EIO;
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->code);
    if (cn_buf_cstr(&resp->body) < 0) {
        snprintf(err, errcap, "out of memory");
        rc = CN_ENOMEM;
    }
out:
    curl_slist_free_all(hdrs);
    curl_slist_free_all(connect_to);
    cn_buf_free(&ca_blob);
    cn_buf_free(&url);
    return rc;
}

void cli__resp_free(struct cli_resp *r)
{
    cn_buf_free(&r->body);
}

void cli__ctx_close(struct cli_ctx *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

int cli__call(struct cli_ctx *c, const char *what, const char *method, const char *path,
              const char *query, const void *body, size_t body_len, int allow_404,
              struct cli_resp *resp)
{
    char err[1024];
    if (cli__http(c, method, path, query, body, body_len, resp, err, sizeof(err)) < 0) {
        fprintf(c->err, "%s: %s\n", what, err);
        return 1;
    }
    if ((resp->code >= 200 && resp->code < 300) || (allow_404 && resp->code == 404))
        return 0;
    /* The Go client's StatusError text, which Consul's commands print. */
    fprintf(c->err, "%s: Unexpected response code: %ld (%.*s)\n", what, resp->code,
            (int)resp->body.len, resp->body.p ? resp->body.p : "");
    return 1;
}

struct json_object *cli__json_body(struct cli_ctx *c, const char *what, const struct cli_resp *resp)
{
    char err[256];
    struct json_object *o =
        cn_json_parse(resp->body.p ? resp->body.p : "", resp->body.len, err, sizeof(err));
    if (!o)
        fprintf(c->err, "%s: bad response from agent: %s\n", what, err);
    return o;
}

int cli__read_file(struct cn_buf *b, const char *path, char *err, size_t errcap)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "open %s: %s", path, strerror(errno));
        return CN_EIO;
    }
    char chunk[8192];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = cn_buf_append(b, chunk, n);
    if (rc == 0 && ferror(f)) {
        snprintf(err, errcap, "read %s: %s", path, strerror(errno));
        rc = CN_EIO;
    } else if (rc < 0) {
        snprintf(err, errcap, "read %s: out of memory", path);
    }
    if (f != stdin)
        fclose(f);
    if (rc == 0 && cn_buf_cstr(b) < 0) {
        snprintf(err, errcap, "read %s: out of memory", path);
        rc = CN_ENOMEM;
    }
    return rc;
}
