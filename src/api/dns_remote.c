/* api/dns_remote.c: POST /v1/internal/cairn/dns on a server, a client
 * agent's DNS query (dns/remote.c on the client sends it through the
 * client-agent RPC as a virtual request). The agent hands in the resolver
 * (api_set_dns_remote): api/ does not include dns/. cairn's own path, not
 * Consul's (whose client agents make one catalog RPC per lookup). */
#include <stdio.h>

#include "api/api_int.h"
#include "base/buf.h"
#include "base/err.h"

void api_set_dns_remote(struct api *a, api_dns_remote_fn fn, void *arg)
{
    a->dns_remote = fn;
    a->dns_remote_arg = arg;
}

static void dns_remote(struct api_ctx *c)
{
    struct api *a = c->api;
    if (!a->dns_remote) {
        api_error(c, 404, "404 page not found");
        return;
    }
    struct cn_buf out = CN_BUF_INIT;
    char err[200] = "";
    int rc = a->dns_remote(a->dns_remote_arg, api__acl_token_of(c), c->req->body, c->req->body_len,
                           &out, err, sizeof(err));
    if (rc == 0)
        api_reply_raw(c, 200, "application/dns-message", out.p, out.len);
    else if (rc == 1)
        api_reply_raw(c, 204, "application/dns-message", "", 0);
    else if (rc == CN_EINVAL)
        api_error(c, 400, "Bad DNS request: %s", err);
    else
        api_error(c, 500, "%s", cn_strerror(rc));
    cn_buf_free(&out);
}

const struct api_route api_dns_remote_routes[] = {
    /* The answers are filtered name by name with the request's token. */
    {"/v1/internal/cairn/dns", false, API_POST, NULL, dns_remote, API_ACL_OPEN, API_ACL_OPEN},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
