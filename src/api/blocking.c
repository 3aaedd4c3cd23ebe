/* api/blocking.c: Consul's blocking-query loop (agent/consul/rpc.go
 * blockingQuery, api-docs/features/blocking.mdx).
 *
 * Run the read. If the client sent ?index=N (N > 0) and the result's index is
 * still <= N, park the request: arm a watch on exactly what the read looked
 * at, and set a deadline of wait (default 5 min, max 10 min) plus a random
 * jitter of up to wait/16. The apply path fires the watch when that data
 * changes; we re-run the read, and if its index has not passed N (an
 * unrelated change in the same table) park again. At the deadline we answer
 * with whatever the read returns. No polling anywhere. */
#include <string.h>

#include "api/api_int.h"
#include "metrics/metrics.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"

static uint64_t jitter(struct api *a, uint64_t wait_ms)
{
    /* xorshift64: cheap, good enough to de-synchronise herds. */
    uint64_t x = a->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    a->rng = x;
    uint64_t span = wait_ms / 16;
    return span ? x % span : 0;
}

static void on_timeout(struct http_req *req);
static void on_abort(struct http_req *req);
static void on_watch(struct srv_watch *w, uint64_t index);

static void run_read(struct api_ctx *c);

/* The read barrier (server.h srv_read_barrier) runs once per request, before
 * its first read: ?stale answers from local state at once, the default asks
 * the leader's lease (or a ReadIndex round), ?consistent always a round.
 * Re-runs after a watch fired read local state: the watch proves it moved. */
static void on_barrier(void *arg, int rc)
{
    struct api_ctx *c = arg;
    if (rc) {
        struct http_req *req = c->req;
        struct api *a = c->api;
        api__ctx_free(c);
        static const char msg[] = "No cluster leader";
        api__respond_api(a, req, rc == CN_ESHUTDOWN ? 503 : 500, "text/plain; charset=utf-8", msg,
                         sizeof(msg) - 1);
        return;
    }
    run_read(c);
}

void api_run_read(struct api_ctx *c)
{
    /* Agent endpoints read the agent's own state: no server round. */
    if (!strncmp(c->route->path, "/v1/agent/", 10)) {
        run_read(c);
        return;
    }
    enum srv_read_mode m = c->cons == API_CONS_STALE        ? SRV_READ_STALE
                           : c->cons == API_CONS_CONSISTENT ? SRV_READ_CONSISTENT
                                                            : SRV_READ_DEFAULT;
    if (srv_read_barrier(c->api->srv, m, on_barrier, c) != 0)
        on_barrier(c, CN_ENOMEM);
}

/* The deadline of a request about to park (set once, on its first park). */
static uint64_t park_left(struct api_ctx *c)
{
    uint64_t now = cn_now_ms();
    if (!c->deadline_ms) {
        uint64_t wait = c->wait_ms ? c->wait_ms : c->api->cfg.default_query_ms;
        c->deadline_ms = now + wait + jitter(c->api, wait);
    }
    return c->deadline_ms > now ? c->deadline_ms - now : 0;
}

/* CAIRN_HTTP_CACHE_CHECK: the hit must be what the read gives now. */
static void check_hit(struct api_ctx *c, const struct api_cache_hit *h)
{
    struct api_read r;
    memset(&r, 0, sizeof(r));
    r.status = 200;
    c->route->read(c, &r);
    uint64_t idx = r.index ? r.index : 1;
    if (r.status != 200 || idx != h->index || r.body.len != h->len ||
        memcmp(r.body.p, h->body, h->len) != 0)
        api__cache_mismatch(c);
    cn_buf_free(&r.body);
    cn_free(r.wkey);
}

/* An answer from the cache (api/cache.c): the same decisions as below for a
 * read that answered 200 with the entry's index and watch. */
static void serve_hit(struct api_ctx *c, const struct api_cache_hit *h)
{
    struct api_read r;
    memset(&r, 0, sizeof(r));
    r.status = 200;
    r.index = h->index;
    bool park = c->min_index != 0 && h->index <= c->min_index;
    if (!park || c->timed_out ||
        srv_watch_arm(c->api->srv, &c->watch, h->wt, h->wkey, h->wprefix, on_watch, c)) {
        /* The bytes are written from the entry, which stays alive until
         * then even if a change drops it from the cache meanwhile. */
        api__cache_hold(h->ent);
        api__reply_read_bytes(c, &r, h->body, h->len, api__cache_release, h->ent);
        return;
    }
    uint64_t left = park_left(c);
    http_req_park(c->req, left, on_timeout, on_abort);
}

static void run_read(struct api_ctx *c)
{
    struct api_cache_key key;
    struct api_cache_hit hit;
    if (api__cache_get(c, &key, &hit)) {
        if (api__cache_checking(c->api))
            check_hit(c, &hit);
        serve_hit(c, &hit);
        return;
    }
    struct api_read r;
    memset(&r, 0, sizeof(r));
    r.status = 200;
    c->acl.filtered = false;
    c->route->read(c, &r);
    if (r.status >= 400 && r.status != 404) {
        /* The read rejected the request: a plain-text error. */
        struct http_req *req = c->req;
        struct api *a = c->api;
        api__ctx_free(c);
        api__respond_api(a, req, r.status, "text/plain; charset=utf-8", r.body.p ? r.body.p : "",
                         r.body.len);
        cn_buf_free(&r.body);
        cn_free(r.wkey);
        return;
    }
    api__cache_store(c, &key, &r);
    uint64_t idx = r.index ? r.index : 1;
    bool unmoved = r.unchanged || (r.index_ne ? idx == c->min_index : idx <= c->min_index);
    bool park = r.park || (c->min_index != 0 && unmoved && !r.no_meta);
    if (!park || !r.wt_set || c->timed_out) {
        api_reply_read(c, &r);
        return;
    }
    /* Park (or stay parked). */
    uint64_t left = park_left(c);
    if (srv_watch_arm(c->api->srv, &c->watch, r.wt, r.wkey, r.wprefix, on_watch, c)) {
        api_reply_read(c, &r); /* out of memory: answer now rather than never */
        return;
    }
    cn_buf_free(&r.body);
    cn_free(r.wkey);
    http_req_park(c->req, left, on_timeout, on_abort);
}

static void on_watch(struct srv_watch *w, uint64_t index)
{
    struct api_ctx *c = w->data;
    (void)index;
    mx_incr(MX_BLOCKING_WOKEN, 1);
    http_req_unpark(c->req);
    run_read(c);
}

static void on_timeout(struct http_req *req)
{
    struct api_ctx *c = req->user;
    srv_watch_disarm(c->api->srv, &c->watch);
    c->timed_out = true;
    mx_incr(MX_BLOCKING_TIMEOUTS, 1);
    run_read(c);
}

static void on_abort(struct http_req *req)
{
    struct api_ctx *c = req->user;
    api__ctx_free(c);
    api_respond_raw(req, 499, NULL, NULL, 0, "", 0); /* only frees: the client is gone */
}
