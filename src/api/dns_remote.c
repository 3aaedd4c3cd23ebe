/* api/dns_remote.c: POST /v1/internal/cairn/dns on a server, a client
 * agent's DNS query (dns/remote.c on the client sends it through the
 * client-agent RPC as a virtual request). The agent hands in the resolver
 * (api_set_dns_remote): api/ does not include dns/. cairn's own path, not
 * Consul's (whose client agents make one catalog RPC per lookup). */
#include <stdio.h>

#include "api/api_int.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"

void api_set_dns_remote(struct api *a, api_dns_remote_fn fn, void *arg)
{
    a->dns_remote = fn;
    a->dns_remote_arg = arg;
}

/* The answer to the client's request from this datacenter (fo: NULL, or
 * failover asked for: 2 with fo filled). */
static int answer(struct api_ctx *c, struct api_dns_failover *fo)
{
    struct api *a = c->api;
    struct cn_buf out = CN_BUF_INIT;
    char err[200] = "";
    int rc = a->dns_remote(a->dns_remote_arg, api__acl_token_of(c), c->req->body, c->req->body_len,
                           fo, &out, err, sizeof(err));
    if (rc == 0)
        api_reply_raw(c, 200, "application/dns-message", out.p, out.len);
    else if (rc == 1)
        api_reply_raw(c, 204, "application/dns-message", "", 0);
    else if (rc == 2)
        ; /* the caller asks other datacenters */
    else if (rc == CN_EINVAL)
        api_error(c, 400, "Bad DNS request: %s", err);
    else
        api_error(c, 500, "%s", cn_strerror(rc));
    cn_buf_free(&out);
    return rc;
}

/* A prepared query with a Failover and no instance here: the other
 * datacenters are asked (api_query_failover_dns) with the client's token;
 * none with instances: this datacenter's answer after all. */
struct dns_fo {
    struct api_ctx *c;
    uint64_t handle;
    bool *sync; /* set while api_query_failover_dns runs: done came at once */
};

static void fo_done(void *ctx, int rc, const uint8_t *ans, size_t n)
{
    struct dns_fo *d = ctx;
    struct api_ctx *c = d->c;
    if (d->sync)
        *d->sync = true;
    c->user = NULL;
    cn_free(d);
    if (rc == 0)
        api_reply_raw(c, 200, "application/dns-message", ans, n);
    else
        (void)answer(c, NULL);
}

static void fo_abort(struct http_req *req)
{
    struct api_ctx *c = req->user;
    struct dns_fo *d = c->user;
    c->user = NULL;
    api_query_failover_dns_cancel(c->api, d->handle);
    cn_free(d);
    api__ctx_free(c);
    http_respond(req, 500, NULL, NULL, 0, NULL, 0); /* only frees */
}

static void fo_timeout(struct http_req *req)
{
    struct api_ctx *c = req->user;
    struct dns_fo *d = c->user;
    c->user = NULL;
    api_query_failover_dns_cancel(c->api, d->handle);
    cn_free(d);
    (void)answer(c, NULL);
}

static void dns_remote(struct api_ctx *c)
{
    struct api *a = c->api;
    if (!a->dns_remote) {
        api_error(c, 404, "404 page not found");
        return;
    }
    struct api_dns_failover fob, *fo = &fob; /* on the stack: the hot path allocates nothing */
    if (answer(c, fo) != 2)
        return;
    struct dns_fo *d = cn_calloc(1, sizeof(*d));
    bool sync = false;
    int rc = CN_ENOMEM;
    struct http_req *req = c->req;
    if (d) {
        d->c = c;
        d->sync = &sync;
        c->user = d;
        rc = api_query_failover_dns(a, fo->key, fo->q, fo->qlen, fo->limit, fo->small_udp,
                                    api__acl_token_of(c), fo_done, d, &d->handle);
    }
    if (rc) { /* nothing to try: this datacenter's answer */
        c->user = NULL;
        cn_free(d);
        (void)answer(c, NULL);
    } else if (!sync) {
        d->sync = NULL;
        /* the client agent waits 2 s for an answer (dns/remote.c) */
        http_req_park(req, 5000, fo_timeout, fo_abort);
    }
}

const struct api_route api_dns_remote_routes[] = {
    /* The answers are filtered name by name with the request's token. */
    {"/v1/internal/cairn/dns", false, API_POST, NULL, dns_remote, API_ACL_OPEN, API_ACL_OPEN},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
