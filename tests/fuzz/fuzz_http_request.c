/* libFuzzer target: the HTTP request parser (http_parse_buffer) with small
 * limits, so the 413/431 paths and arena overflow blocks are reached often.
 * Every parsed request is walked so that the sanitizers see each field:
 * requests that fit their parse block are moved to an exact-size one
 * (http__req_compact) and the old block freed at once, so a pointer left
 * behind is a use-after-free here. Each input is parsed twice: keeping every
 * header, and keeping two (http_options.keep_headers). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/http.h"
#include "http/http_int.h"

static void walk(void *arg, struct http_req *req)
{
    size_t *sum = arg;
    *sum += strlen(req->path) + strlen(req->raw_target) + strlen(req->method_str);
    if (strlen(req->path) != req->path_len || req->body[req->body_len] != '\0')
        __builtin_trap();
    for (size_t i = 0; i < req->nparams; i++) {
        *sum += strlen(req->params[i].key) + strlen(req->params[i].value);
        if (!req->params[i].has_value && req->params[i].value[0])
            __builtin_trap();
    }
    const struct http__req *r = (const struct http__req *)req;
    if (r->flags & HTTP__R_PACKED) {
        for (const char *x = r->packed; *x; x += strlen(x) + 1) {
            *sum += strlen(x);
            x += strlen(x) + 1; /* the value */
            *sum += strlen(x);
        }
    } else {
        for (const struct http__hdr *x = r->hdrs; x; x = x->next)
            *sum += strlen(x->name) + strlen(x->value);
    }
    const char *h = http_req_header(req, "content-type");
    if (h)
        *sum += strlen(h);
    const struct http_param *p = http_req_param(req, "index");
    if (p)
        *sum += strlen(p->value);
    /* Go's path cleaning: rooted, no "//", idempotent, never longer than
     * the path plus its leading and trailing slash; a redirect's Location
     * is printable (escaped) and NUL-terminated. */
    static char c1[1100], c2[1100];
    if (req->path_len + 2 > sizeof(c1))
        return;
    size_t n1 = http_path_clean(req->path, req->path_len, c1);
    if (n1 > req->path_len + 1 || c1[0] != '/' || strstr(c1, "//") || strlen(c1) != n1)
        __builtin_trap();
    if (http_path_clean(c1, n1, c2) != n1 || memcmp(c1, c2, n1))
        __builtin_trap();
    struct cn_buf loc = CN_BUF_INIT;
    int rc = http_path_redirect(req, &loc);
    if (rc == 1) {
        for (size_t i = 0; i + 1 < loc.len; i++)
            if ((unsigned char)loc.p[i] <= ' ' || (unsigned char)loc.p[i] >= 0x7f)
                __builtin_trap();
        if (loc.p[loc.len - 1] != '\0')
            __builtin_trap();
    } else if (rc != 0 && rc != CN_ENOMEM) {
        __builtin_trap();
    }
    cn_buf_free(&loc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t sum = 0;
    int st = http_parse_buffer((const char *)data, size, 512, 1024, walk, &sum);
    if (st != 0 && st != 400 && st != 413 && st != 431 && st != 500)
        __builtin_trap();
    /* The same bytes keeping two headers only (a server's keep_headers):
     * the same outcome. */
    static const char *const keep[] = {"Content-Type", "X-Consul-Token", NULL};
    if (http__parse_buffer_keep((const char *)data, size, 512, 1024, keep, walk, &sum) != st)
        __builtin_trap();
    return 0;
}
