/* ui/serve.c: what the UI answers (ui.h); pure: no I/O, no allocation. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ui/ui.h"

/* Every file of the UI is ours: scripts, styles, fetches and images from this
 * origin only; no inline script or style, no plugins, no framing. */
#define UI_CSP                                                                                     \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "           \
    "img-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "             \
    "form-action 'self'; frame-ancestors 'none'\r\n"
#define UI_SECURITY                                                                                \
    UI_CSP "X-Content-Type-Options: nosniff\r\n"                                                   \
           "X-Frame-Options: DENY\r\n"                                                             \
           "Referrer-Policy: no-referrer\r\n"

static const char disabled_text[] =
    "cairn agent: UI disabled. To enable, set ui_config.enabled=true in the agent configuration "
    "(or start it with -ui) and restart.";
static const char not_found[] = "404 page not found\n";
static const char not_allowed[] = "method not allowed\n";

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The next comma-separated element of *p: [*b, *e) trimmed. False at the end. */
static bool next_elem(const char **p, const char **b, const char **e)
{
    const char *s = *p;
    while (*s == ',' || is_ows(*s))
        s++;
    if (!*s)
        return false;
    const char *t = s;
    bool quoted = false;
    while (*t && (quoted || *t != ',')) {
        if (*t == '"')
            quoted = !quoted;
        t++;
    }
    const char *end = t;
    while (end > s && is_ows(end[-1]))
        end--;
    *b = s;
    *e = end;
    *p = t;
    return true;
}

bool ui_accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    const char *p = ae, *b, *e;
    while (next_elem(&p, &b, &e)) {
        const char *semi = memchr(b, ';', (size_t)(e - b));
        const char *ne = semi ? semi : e;
        while (ne > b && is_ows(ne[-1]))
            ne--;
        size_t n = (size_t)(ne - b);
        bool name = (n == 4 && !strncasecmp(b, "gzip", 4)) ||
                    (n == 6 && !strncasecmp(b, "x-gzip", 6)) || (n == 1 && *b == '*');
        if (!name)
            continue;
        /* q=0 (0, 0.0, 0.00, 0.000) refuses it. */
        bool refused = false;
        for (const char *q = semi; q && q < e; q = memchr(q + 1, ';', (size_t)(e - q - 1))) {
            const char *v = q + 1;
            while (v < e && is_ows(*v))
                v++;
            if (e - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
                v += 2;
                refused = v < e && *v == '0';
                for (const char *d = v + 1; refused && d < e && !is_ows(*d) && *d != ';'; d++)
                    refused = *d == '.' || *d == '0';
            }
        }
        if (!refused)
            return true;
    }
    return false;
}

bool ui_etag_matches(const char *inm, const char *etag)
{
    if (!inm || !etag)
        return false;
    size_t el = strlen(etag);
    const char *p = inm, *b, *e;
    while (next_elem(&p, &b, &e)) {
        if (e - b == 1 && *b == '*')
            return true;
        if (e - b >= 2 && b[0] == 'W' && b[1] == '/')
            b += 2; /* weak comparison (RFC 9110 13.1.2) */
        if ((size_t)(e - b) == el && !memcmp(b, etag, el))
            return true;
    }
    return false;
}

int ui_content_path(const char *in, char *out, size_t cap, char *err, size_t errcap)
{
    const char *why = NULL;
    size_t n = in ? strlen(in) : 0;
    if (!n)
        in = UI_DEFAULT_PATH, n = strlen(in);
    size_t lead = in[0] != '/', trail = in[n - 1] != '/';
    if (n + lead + trail + 1 > cap || n > 128)
        why = "too long";
    for (size_t i = 0; !why && i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%' || c == '\\')
            why = "only printable ASCII without spaces, '?', '#', '%' or '\\'";
    }
    if (!why && (strstr(in, "/../") || strstr(in, "/./") || strstr(in, "//") || !strcmp(in, "..") ||
                 !strncmp(in, "../", 3) || !strncmp(in, "./", 2)))
        why = "no empty, '.' or '..' segments";
    if (!why) {
        snprintf(out, cap, "%s%s%s", lead ? "/" : "", in, trail ? "/" : "");
        if (!strcmp(out, "/"))
            why = "\"/\" would hide the API: give a path such as /ui/";
        else if (!strncmp(out, "/v1/", 4))
            why = "paths under /v1/ are the API's";
    }
    if (why) {
        snprintf(err, errcap, "invalid UI content path \"%s\": %s", in, why);
        return -1;
    }
    return 0;
}

static void hdr(struct ui_reply *o, const char *fmt, const char *a)
{
    if (o->hlen >= sizeof(o->headers))
        return;
    int n = snprintf(o->headers + o->hlen, sizeof(o->headers) - o->hlen, fmt, a);
    o->hlen += n > 0 ? (size_t)n : 0;
    if (o->hlen >= sizeof(o->headers))
        o->hlen = sizeof(o->headers) - 1;
}

static void text(struct ui_reply *o, int status, const char *body, size_t len)
{
    o->status = status;
    o->ctype = "text/plain; charset=utf-8";
    o->body = body;
    o->len = len;
}

static void redirect(struct ui_reply *o, const char *to)
{
    /* Go's http.Redirect: 301 with a Location and a short HTML body. */
    o->status = 301;
    o->ctype = "text/html; charset=utf-8";
    hdr(o, "Location: %s\r\n", to);
    static const char moved[] = "<a href=\"/ui/\">Moved Permanently</a>.\n";
    if (!strcmp(to, "/ui/")) {
        o->body = moved;
        o->len = sizeof(moved) - 1;
    }
}

static const struct ui_asset *find(const struct ui_site *s, const char *rel)
{
    for (size_t i = 0; i < s->nassets; i++)
        if (!strcmp(s->assets[i].path, rel))
            return &s->assets[i];
    return NULL;
}

bool ui_route(const struct ui_site *s, enum http_method m, const char *path, const char *inm,
              const char *ae, struct ui_reply *out)
{
    memset(out, 0, sizeof(*out));
    if (!path)
        return false;
    /* Consul's Index handler: "/" goes to the UI, or says it is off. */
    if (!strcmp(path, "/")) {
        if (s->enabled)
            redirect(out, s->prefix);
        else
            text(out, 200, disabled_text, sizeof(disabled_text) - 1);
        return true;
    }
    if (!s->enabled)
        return false;
    size_t pl = strlen(s->prefix);
    if (strlen(path) == pl - 1 && !strncmp(path, s->prefix, pl - 1)) {
        redirect(out, s->prefix); /* "/ui" -> "/ui/" */
        return true;
    }
    if (strncmp(path, s->prefix, pl) != 0)
        return false;
    if (m != HTTP_M_GET && m != HTTP_M_HEAD) {
        text(out, 405, not_allowed, sizeof(not_allowed) - 1);
        hdr(out, "Allow: %s\r\n", "GET, HEAD");
        return true;
    }
    const char *rel = path + pl;
    const struct ui_asset *a = find(s, *rel ? rel : "index.html");
    if (!a) {
        text(out, 404, not_found, sizeof(not_found) - 1);
        return true;
    }
    /* Not fingerprinted URLs: always revalidate, answered by a 304 on the ETag. */
    hdr(out, "ETag: %s\r\n", a->etag);
    hdr(out, "%s", "Cache-Control: no-cache\r\n" UI_SECURITY);
    if (a->gz)
        hdr(out, "%s", "Vary: Accept-Encoding\r\n");
    if (ui_etag_matches(inm, a->etag)) {
        out->status = 304;
        return true;
    }
    out->status = 200;
    out->ctype = a->ctype;
    if (a->gz && ui_accepts_gzip(ae)) {
        hdr(out, "%s", "Content-Encoding: gzip\r\n");
        out->body = a->gz;
        out->len = a->gzlen;
    } else {
        out->body = a->data;
        out->len = a->len;
    }
    return true;
}
