/* ui/ui.h: the web UI's HTTP front (Consul's `ui_config`): serves the files
 * built into the binary (assets.h) under the content path ("/ui/"),
 * redirects "/" there, and hands every other request to the next handler
 * (the API). Knows HTTP, not Consul's API: the pages call /v1/ themselves.
 *
 * The decision is a pure function (ui_route) so that it can be unit tested
 * and fuzzed without a socket; ui_handle is the http_handler_cb around it. */
#ifndef CN_UI_H
#define CN_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"
#include "ui/assets.h"

#define UI_DEFAULT_PATH "/ui/"

struct ui_site {
    bool enabled;
    const char *prefix; /* normalized content path: "/ui/" (see ui_content_path) */
    const struct ui_asset *assets;
    size_t nassets;
};

struct ui_reply {
    int status;
    const char *ctype; /* NULL: none */
    char headers[1024];
    size_t hlen;
    const void *body;
    size_t len;
};

/* Decide what to do with a request. Returns true and fills *out when the UI
 * answers it (the UI's files, the "/" redirect or the "UI disabled" text),
 * false when the request is not the UI's (out untouched). if_none_match and
 * accept_encoding are the request's headers (NULL when absent). */
bool ui_route(const struct ui_site *s, enum http_method m, const char *path,
              const char *if_none_match, const char *accept_encoding, struct ui_reply *out);

/* Does an Accept-Encoding header value accept gzip (gzip, x-gzip or *, with
 * no q=0)? */
bool ui_accepts_gzip(const char *accept_encoding);
/* Does an If-None-Match header value match etag ("*", or one of a comma
 * list of entity tags, weak ones compared weakly)? */
bool ui_etag_matches(const char *if_none_match, const char *etag);

/* Normalize Consul's ui_config.content_path ("ui", "/ui", "/ui/" all mean
 * "/ui/") into out (cap bytes). Returns 0, or -1 with a reason in err when
 * the path cannot be the UI's ("/", under /v1/, spaces, "?", "#", "..",
 * too long). */
int ui_content_path(const char *in, char *out, size_t cap, char *err, size_t errcap);

/* The request headers ui_handle reads (http_options.keep_headers). */
#define UI_HTTP_HEADERS "If-None-Match", "Accept-Encoding"

/* The handler: ui_route, else next(next_arg, req). */
struct ui;
struct ui_options {
    bool enabled;
    const char *content_path; /* normalized (ui_content_path); NULL: "/ui/" */
    http_handler_cb next;
    void *next_arg;
};
struct ui *ui_new(const struct ui_options *o); /* NULL on OOM */
void ui_free(struct ui *u);
void ui_handle(void *arg, struct http_req *req);

#endif
