/* api/discovery_chain.c: GET and POST /v1/discovery-chain/:service
 * (api-docs/discovery-chain.mdx; agent/discovery_chain_endpoint.go,
 * agent/consul/discovery_chain_endpoint.go DiscoveryChain.Get).
 *
 * Both are reads: blocking (?index, ?wait, X-Consul-Index), every
 * consistency mode, service:read on the service (the route's ACL column).
 * ?compile-dc names the datacenter the chain is compiled for (any name, as
 * in Consul; the agent's own by default); ?dc forwards to another
 * datacenter (router.c). POST carries the overrides (dchain_decode.c); the
 * chain itself is dchain.c's, from the service's service-defaults and the
 * proxy-defaults entry, and the CA's trust domain for the SNI.
 *
 * The index is the config entries table's, as Consul's (the entries it
 * read); the read watches that table, so a write of any entry wakes a
 * parked query, which answers only if its chain changed: like Consul's
 * endpoint, a wakeup whose answer is the one already computed for this
 * request parks again (api_read.unchanged; Consul hashes the chain, cairn
 * the answer's bytes). */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "api/dchain.h"
#include "base/err.h"
#include "base/mem.h"

/* A request's scratch: its overrides (POST) and what its last run gave. */
struct dc_req {
    struct api_dchain_override ovr;
    bool ran;
    uint64_t hash;
};

static void dc_req_free(void *p)
{
    struct dc_req *q = p;
    api__dchain_override_clear(&q->ovr);
    cn_free(q);
}

static void read_error(struct api_read *r, int status, const char *msg)
{
    api_read_error(r, status, msg);
    r->content_type = "text/plain; charset=utf-8";
}

/* FNV-1a over the answer. */
static uint64_t body_hash(const struct cn_buf *b)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < b->len; i++) {
        h ^= (unsigned char)b->p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static void r_chain(struct api_ctx *c, struct api_read *r)
{
    if (!*c->arg)
        return read_error(r, 400, "Missing chain name");
    struct state *st = srv_state(c->api->srv);
    r->index = state_table_index(st, STATE_T_CONFIG);
    api_read_watch(r, STATE_T_CONFIG, NULL, false);
    char td[128];
    int rc = api__connect_trust_domain(c->api, td, sizeof(td));
    if (rc == CN_ENOTFOUND) /* state.ServiceDiscoveryChain's text */
        return read_error(r, 500, "no cluster ca config setup");
    if (rc)
        return read_error(r, 500, "no cluster trust domain setup");
    const char *dc = api_param(c, "compile-dc");
    struct dc_req *q = c->user;
    struct api_dchain_in in = {
        .service = c->arg,
        .datacenter = dc && *dc ? dc : c->api->cfg.datacenter,
        .trust_domain = td,
        .proxy_defaults = state_config_entry_get(st, API_CONFIG_PROXY_DEFAULTS, "global"),
        .service_defaults = state_config_entry_get(st, API_CONFIG_SERVICE_DEFAULTS, c->arg),
        .ovr = q ? &q->ovr : NULL,
    };
    struct api_dchain chain;
    rc = api__dchain_compile(&in, &chain);
    if (rc)
        return read_error(r, 500,
                          rc == CN_ENOMEM ? "out of memory"
                                          : "failed to compile discovery chain: a stored config "
                                            "entry does not decode");
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    api__dchain_json(&w, &chain);
    api__dchain_clear(&chain);
    if (w.err)
        return read_error(r, 500, "out of memory");
    if (!q && c->min_index) { /* a blocking GET: remember what it answers */
        if (!(q = cn_calloc(1, sizeof(*q))))
            return; /* answered as if the chain changed: a spurious wakeup at worst */
        c->user = q;
        c->user_free = dc_req_free;
    }
    if (q) {
        uint64_t h = body_hash(&r->body);
        r->unchanged = q->ran && q->hash == h;
        q->ran = true;
        q->hash = h;
    }
}

/* POST: the same read with the body's overrides. */
static void h_post(struct api_ctx *c)
{
    if (!*c->arg) {
        api_error(c, 400, "Missing chain name");
        return;
    }
    struct dc_req *q = cn_calloc(1, sizeof(*q));
    if (!q) {
        api_error(c, 500, "out of memory");
        return;
    }
    char err[600];
    int rc = api__dchain_override_decode(c->req->body, c->req->body_len, &q->ovr, err, sizeof(err));
    if (rc) {
        dc_req_free(q);
        api_error(c, rc == CN_ENOMEM ? 500 : 400, "%s", err);
        return;
    }
    c->user = q;
    c->user_free = dc_req_free;
    api_run_read(c);
}

const struct api_route api_dchain_routes[] = {
    /* both methods read: service:read on the chain's service */
    {"/v1/discovery-chain/", true, API_GET | API_POST, r_chain, h_post, API_ARG(SERVICE, READ),
     API_ARG(SERVICE, READ)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
