/* ui/ui.c: the http_handler_cb in front of the API (ui.h). */
#include "ui/ui.h"

#include <string.h>

#include "base/mem.h"

struct ui {
    struct ui_site site;
    char *prefix;
    http_handler_cb next;
    void *next_arg;
};

struct ui *ui_new(const struct ui_options *o)
{
    struct ui *u = cn_calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->prefix = cn_strdup(o->content_path && *o->content_path ? o->content_path : UI_DEFAULT_PATH);
    if (!u->prefix) {
        cn_free(u);
        return NULL;
    }
    u->site.enabled = o->enabled;
    u->site.prefix = u->prefix;
    u->site.assets = ui_assets;
    u->site.nassets = ui_nassets;
    u->next = o->next;
    u->next_arg = o->next_arg;
    return u;
}

void ui_free(struct ui *u)
{
    if (!u)
        return;
    cn_free(u->prefix);
    cn_free(u);
}

void ui_handle(void *arg, struct http_req *req)
{
    struct ui *u = arg;
    struct ui_reply r;
    if (!ui_route(&u->site, req->method, req->path, http_req_header(req, "If-None-Match"),
                  http_req_header(req, "Accept-Encoding"), &r)) {
        u->next(u->next_arg, req);
        return;
    }
    http_respond(req, r.status, r.ctype, r.hlen ? r.headers : NULL, r.hlen, r.body, r.len);
}
