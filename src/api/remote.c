/* api/remote.c: the server side of client agents' API requests. A client
 * agent forwards every request it cannot answer itself (api/forward.c)
 * over the server RPC transport (server/cl_codec.h, SRV_CL_HTTP); here it
 * becomes a virtual HTTP request (http_vreq_new) run through this server's
 * own router, so blocking queries, consistency modes, headers and error
 * texts are exactly this server's. The answer (status, content type,
 * headers, body) goes back to the client. A CANCEL from the client, or the
 * client's last connection closing, aborts the request: a parked blocking
 * query is released at once, not at its deadline. */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

struct rreq {
    struct rreq *next, *prev;
    struct api *a;
    uint64_t from, id;
    struct http_req *req;
};

/* Requests being served, per api (one list: cancels are rare). */
struct api_remote {
    struct rreq *head;
    size_t n;
};

const char *api__agent_node(struct api_ctx *c)
{
    const char *n =
        http_req_is_virtual(c->req) ? http_req_header(c->req, "X-Cairn-Agent-Node") : NULL;
    return n && *n ? n : c->api->cfg.node_name;
}

static void unlink_rreq(struct api *a, struct rreq *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        a->remote->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    a->remote->n--;
    cn_free(r);
}

/* Split "Name: value\r\n" lines into headers. Returns the count. */
static uint32_t split_headers(const char *h, size_t len, struct srv_cl_hdr *out, uint32_t cap)
{
    uint32_t n = 0;
    const char *p = h, *end = h + len;
    while (p < end && n < cap) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && colon > p) {
            const char *v = colon + 1;
            while (v < eol && *v == ' ')
                v++;
            out[n++] = (struct srv_cl_hdr){p, v, (size_t)(colon - p), (size_t)(eol - v)};
        }
        p = eol + (eol < end ? 2 : 0);
    }
    return n;
}

static void answer_status(struct api *a, uint64_t to, uint64_t id, int status, const char *msg)
{
    struct srv_cl_resp m = {.kind = SRV_CL_HTTP,
                            .id = id,
                            .status = (uint16_t)status,
                            .has_ctype = true,
                            .ctype = "text/plain; charset=utf-8",
                            .ctype_len = strlen("text/plain; charset=utf-8"),
                            .body = msg,
                            .body_len = strlen(msg)};
    srv_client_answer(a->srv, to, &m);
}

static void on_done(void *arg, int status, const char *ctype, const char *hdrs, size_t hlen,
                    const void *body, size_t blen)
{
    struct rreq *r = arg;
    struct api *a = r->a;
    struct srv_cl_resp *m = cn_calloc(1, sizeof(*m));
    if (m) {
        m->kind = SRV_CL_HTTP;
        m->id = r->id;
        m->status = (uint16_t)status;
        m->has_ctype = ctype != NULL;
        m->ctype = ctype;
        m->ctype_len = ctype ? strlen(ctype) : 0;
        m->nhdrs = split_headers(hdrs, hlen, m->hdrs, SRV_CL_MAX_HDRS);
        m->body = body;
        m->body_len = blen;
        int rc = srv_client_answer(a->srv, r->from, m);
        if (rc == CN_ETOOBIG) {
            /* Over the transport's message limit: say so, not nothing. */
            cn_warn("api", "answer of %zu bytes to client %016llx is over the RPC message limit",
                    blen, (unsigned long long)r->from);
            char msg[128];
            snprintf(msg, sizeof(msg), "answer of %zu bytes too large for the client RPC", blen);
            answer_status(a, r->from, r->id, 500, msg);
        } else if (rc) {
            /* The client's request times out on its side (api/forward.c). */
            cn_warn("api", "answer to client %016llx: %s", (unsigned long long)r->from,
                    cn_strerror(rc));
        }
        cn_free(m);
    }
    unlink_rreq(a, r);
}

static void serve_http(struct api *a, uint64_t from, const struct srv_cl_req *m)
{
    struct rreq *r = cn_calloc(1, sizeof(*r));
    if (!r) {
        answer_status(a, from, m->id, 500, "out of memory");
        return;
    }
    struct http_vhdr hv[SRV_CL_MAX_HDRS];
    for (uint32_t i = 0; i < m->nhdrs; i++)
        hv[i] = (struct http_vhdr){m->hdrs[i].name, m->hdrs[i].value, m->hdrs[i].name_len,
                                   m->hdrs[i].value_len};
    struct http_req *req;
    int st = http_vreq_new(a->loop, m->method, m->method_len, m->target, m->target_len, hv,
                           m->nhdrs, m->body, m->body_len, on_done, r, &req);
    if (st) {
        cn_free(r);
        answer_status(a, from, m->id, st, st == 400 ? "Bad Request" : "out of memory");
        return;
    }
    r->a = a;
    r->from = from;
    r->id = m->id;
    r->req = req;
    r->next = a->remote->head;
    if (r->next)
        r->next->prev = r;
    a->remote->head = r;
    a->remote->n++;
    api_handle(a, req); /* may answer (on_done) before it returns */
}

/* Abort r: the handler's answer (now or later) only frees the request. */
static void abort_rreq(struct api *a, struct rreq *r)
{
    struct http_req *req = r->req;
    unlink_rreq(a, r);
    http_vreq_abort(req);
}

static void on_request(void *arg, uint64_t from, const struct srv_cl_req *m)
{
    struct api *a = arg;
    if (m->kind == SRV_CL_HTTP) {
        serve_http(a, from, m);
        return;
    }
    if (m->kind != SRV_CL_CANCEL)
        return;
    for (struct rreq *r = a->remote->head; r; r = r->next)
        if (r->from == from && r->id == m->id) {
            abort_rreq(a, r);
            return;
        }
}

static void on_gone(void *arg, uint64_t from)
{
    struct api *a = arg;
    for (struct rreq *r = a->remote->head, *nx; r; r = nx) {
        nx = r->next;
        if (r->from == from)
            abort_rreq(a, r);
    }
}

int api_serve_clients(struct api *a)
{
    if (!a->remote && !(a->remote = cn_calloc(1, sizeof(*a->remote))))
        return CN_ENOMEM;
    srv_set_client_api(a->srv, on_request, on_gone, a);
    return 0;
}

size_t api_remote_count(const struct api *a)
{
    return a->remote ? a->remote->n : 0;
}

void api__remote_free(struct api *a)
{
    if (!a->remote)
        return;
    srv_set_client_api(a->srv, NULL, NULL, NULL);
    while (a->remote->head)
        abort_rreq(a, a->remote->head);
    cn_free(a->remote);
    a->remote = NULL;
}
