/* http/path.c: Go's ServeMux path cleaning, which every Consul endpoint sits
 * behind (net/http's cleanPath and path.Clean): a request whose decoded path
 * is not clean — a doubled slash, a "." or ".." element, no leading slash —
 * is answered 301 with the cleaned path (its query kept) instead of being
 * served. So `PUT /v1/kv/a//b` does not write key "a//b" (Consul cannot
 * either). PURE: strings in, strings out. */
#include <stdbool.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "http/http.h"

size_t http_path_clean(const char *p, size_t n, char *out)
{
    size_t o = 0;
    out[o++] = '/';
    size_t i = 0;
    while (i < n) {
        while (i < n && p[i] == '/')
            i++;
        size_t s = i;
        while (i < n && p[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && p[s] == '.'))
            continue;
        if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
            /* back to the previous element's slash; a rooted path's leading
             * ".." elements go */
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--;
            continue;
        }
        if (o > 1)
            out[o++] = '/';
        memcpy(out + o, p + s, len);
        o += len;
    }
    /* a trailing slash stays (except on "/" itself) */
    if (n && p[n - 1] == '/' && o > 1)
        out[o++] = '/';
    out[o] = '\0';
    return o;
}

/* Go's url.URL.EscapedPath for a path alone (shouldEscape, encodePath):
 * letters, digits and -_.~$&+,/:;=@ as they are, every other byte %XX. */
static int escape_path(const char *p, size_t n, struct cn_buf *b)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)p[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    (c && strchr("-_.~$&+,/:;=@", c));
        if (keep) {
            rc = cn_buf_append(b, &p[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = cn_buf_append(b, e, sizeof(e));
        }
    }
    return rc;
}

int http_path_redirect(const struct http_req *req, struct cn_buf *location)
{
    if (req->method == HTTP_M_OTHER && req->method_str && !strcmp(req->method_str, "CONNECT"))
        return 0; /* Go leaves CONNECT's target alone */
    size_t n = req->path_len;
    char stack[256];
    char *clean = n + 2 <= sizeof(stack) ? stack : cn_malloc(n + 2);
    if (!clean)
        return CN_ENOMEM;
    size_t cn = http_path_clean(req->path, n, clean);
    int rc = 0;
    if (cn != n || memcmp(clean, req->path, n)) {
        rc = escape_path(clean, cn, location);
        const char *q = req->raw_target ? strchr(req->raw_target, '?') : NULL;
        /* Go's RawQuery (a bare "?" goes), bytes outside printable ASCII
         * %XX as Go's hexEscapeNonASCII does for a Location */
        for (const char *x = q && q[1] ? q : ""; *x && !rc; x++) {
            unsigned char ch = (unsigned char)*x;
            if (ch > ' ' && ch < 0x7f) {
                rc = cn_buf_append(location, x, 1);
            } else {
                static const char hex[] = "0123456789ABCDEF";
                char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
                rc = cn_buf_append(location, e, sizeof(e));
            }
        }
        if (!rc)
            rc = cn_buf_append(location, "", 1); /* NUL-terminated */
        rc = rc ? rc : 1;
    }
    if (clean != stack)
        cn_free(clean);
    return rc;
}
