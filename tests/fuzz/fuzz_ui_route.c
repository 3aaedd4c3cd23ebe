/* Fuzz ui/serve.c: the input is split at NUL bytes into a content path, a
 * request path, an If-None-Match and an Accept-Encoding value (missing parts
 * are absent headers). Whatever they hold: no crash, a content path is either
 * refused or normalized to "/x.../" outside /v1/, and an answer is a known
 * status whose headers fit and end in CRLF, whose body is one of the files'
 * or a short text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui/ui.h"

static const unsigned char html[] = "<!doctype html>";
static const unsigned char gz[] = {0x1f, 0x8b, 8, 0};
static const struct ui_asset assets[] = {
    {"index.html", "text/html; charset=utf-8", html, sizeof(html) - 1, gz, sizeof(gz), "\"a1\""},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *part[4] = {NULL, NULL, NULL, NULL};
    size_t np = 0;
    for (char *p = buf; np < 4 && p <= buf + size; p += strlen(p) + 1)
        part[np++] = p;
    char prefix[160], err[512];
    if (ui_content_path(part[0], prefix, sizeof(prefix), err, sizeof(err)) == 0) {
        size_t n = strlen(prefix);
        if (n < 3 || prefix[0] != '/' || prefix[n - 1] != '/' || !strncmp(prefix, "/v1/", 4))
            abort();
    } else {
        snprintf(prefix, sizeof(prefix), "/ui/");
    }
    for (int enabled = 0; enabled < 2; enabled++) {
        struct ui_site s = {enabled != 0, prefix, assets, 1};
        struct ui_reply r;
        const char *path = part[1] ? part[1] : "/";
        if (!ui_route(&s, HTTP_M_GET, path, part[2], part[3], &r))
            continue;
        if (r.status != 200 && r.status != 301 && r.status != 304 && r.status != 404 &&
            r.status != 405)
            abort();
        if (r.hlen >= sizeof(r.headers) ||
            (r.hlen && (r.headers[r.hlen - 2] != '\r' || r.headers[r.hlen - 1] != '\n')))
            abort();
        if (r.len && !r.body)
            abort();
        if (r.body == html || r.body == gz) {
            if (r.status != 200)
                abort();
        } else if (r.len > 256) {
            abort();
        }
    }
    free(buf);
    return 0;
}
