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
    else if (rc == 2 || rc == 3)
        ; /* the caller asks other datacenters */
    else if (rc == CN_EINVAL)
        api_error(c, 400, "Bad DNS request: %s", err);
    else
        api_error(c, 500, "%s", cn_strerror(rc));
    cn_buf_free(&out);
    return rc;
}

/* A prepared query with a Failover and no instance here: the other
 * datacenters are asked (api_query_failover_dns) with the request's token;
 * none with instances: this datacenter's answer after all (fallback). A name
 * of another datacenter: that datacenter's DNS interface answers it
 * (api_wan.dns_remote, as this server's own DNS does, dns/dcremote.c). */
struct dns_fo {
    struct api_ctx *c;
    uint64_t handle;
    bool other_dc;                       /* asked through api_wan.dns_remote */
    bool *sync;                          /* set while the ask runs: done came at once */
    void (*fallback)(struct api_ctx *c); /* this datacenter's own answer */
    const char *ctype;                   /* of a relayed answer */
};

static void fo_cancel(struct api *a, struct dns_fo *d)
{
    if (d->other_dc)
        a->wan.dns_cancel(a->wan.arg, d->handle);
    else
        api_query_failover_dns_cancel(a, d->handle);
}

static void fo_done(void *ctx, int rc, const uint8_t *ans, size_t n)
{
    struct dns_fo *d = ctx;
    struct api_ctx *c = d->c;
    if (d->sync)
        *d->sync = true;
    struct dns_fo f = *d;
    c->user = NULL;
    cn_free(d);
    if (rc == 0)
        api_reply_raw(c, 200, f.ctype, ans, n);
    else if (f.other_dc)
        api_error(c, 500, "datacenter's DNS did not answer: %s", cn_strerror(rc));
    else
        f.fallback(c);
}

static void fo_abort(struct http_req *req)
{
    struct api_ctx *c = req->user;
    struct dns_fo *d = c->user;
    c->user = NULL;
    fo_cancel(c->api, d);
    cn_free(d);
    api__ctx_free(c);
    http_respond(req, 500, NULL, NULL, 0, NULL, 0); /* only frees */
}

static void fo_timeout(struct http_req *req)
{
    struct api_ctx *c = req->user;
    struct dns_fo *d = c->user;
    struct dns_fo f = *d;
    c->user = NULL;
    fo_cancel(c->api, d);
    cn_free(d);
    if (f.other_dc)
        api_error(c, 500, "datacenter's DNS did not answer in time");
    else
        f.fallback(c);
}

void api__dns_ask_other(struct api_ctx *c, const struct api_dns_failover *fo, const char *ctype,
                        void (*fallback)(struct api_ctx *c))
{
    struct api *a = c->api;
    struct dns_fo *d = cn_calloc(1, sizeof(*d));
    bool sync = false;
    int rc = CN_ENOMEM;
    struct http_req *req = c->req;
    if (d) {
        d->c = c;
        d->sync = &sync;
        d->other_dc = fo->other_dc;
        d->fallback = fallback;
        d->ctype = ctype;
        c->user = d;
        rc = d->other_dc
                 ? a->wan.dns_remote(a->wan.arg, fo->key, fo->q, fo->qlen, fo->limit, fo->small_udp,
                                     fo_done, d, &d->handle)
                 : api_query_failover_dns(a, fo->key, fo->q, fo->qlen, fo->limit, fo->small_udp,
                                          api__acl_token_of(c), fo_done, d, &d->handle);
    }
    if (rc && !(fo->other_dc && rc != CN_ENOTFOUND)) {
        /* nothing to try (no such datacenter, no failover target): this
         * datacenter's answer, NXDOMAIN */
        c->user = NULL;
        cn_free(d);
        fallback(c);
    } else if (rc) { /* a known datacenter with no server up: SERVFAIL there */
        c->user = NULL;
        cn_free(d);
        api_error(c, 500, "No path to datacenter");
    } else if (!sync) {
        d->sync = NULL;
        /* a client agent waits 2 s for an answer (dns/remote.c) */
        http_req_park(req, 5000, fo_timeout, fo_abort);
    }
}

static void answer_here(struct api_ctx *c)
{
    (void)answer(c, NULL);
}

static void dns_remote(struct api_ctx *c)
{
    struct api *a = c->api;
    if (!a->dns_remote) {
        api_error(c, 404, "404 page not found");
        return;
    }
    struct api_dns_failover fob, *fo = a->wan.dns_remote ? &fob : NULL; /* on the stack */
    int how = answer(c, fo);
    if (how == 2 || how == 3)
        api__dns_ask_other(c, fo, "application/dns-message", answer_here);
}

const struct api_route api_dns_remote_routes[] = {
    /* The answers are filtered name by name with the request's token. */
    {"/v1/internal/cairn/dns", false, API_POST, NULL, dns_remote, API_ACL_OPEN, API_ACL_OPEN},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
