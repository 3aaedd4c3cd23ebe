/* api/cache.c: encoded answers of the catalog and health listings, kept
 * until what they read changes.
 *
 * A listing such as /v1/health/service/web is a pure function of the state
 * (and of the request's path and query), and its X-Consul-Index is the index
 * of exactly what its watch covers: the answer only changes when that watch
 * would fire. So the first read of a (route, argument, query variant) encodes
 * as usual and keeps the bytes, the index and the watch spec in an entry that
 * arms an srv_watch on the same spec (server/watch.c, the registry that wakes
 * blocking queries). Until that watch fires, the same request is answered
 * with the stored bytes; the per-request headers (X-Consul-Index from the
 * entry, KnownLeader, LastContact, Effective-Consistency) are formed at each
 * answer, after the request's own read barrier (?consistent still does its
 * round first; api/blocking.c). When the watch fires the entry is dropped; a
 * reader that comes between the write and the watch callbacks (the callbacks
 * of one batch run in any order: a parked query may run before the entry's)
 * checks srv_watch_live and treats a fired entry as a miss. N blocking
 * queries parked on one service and woken by one write thus cost one encode:
 * the first re-run stores a fresh entry, the others hit it.
 *
 * Memory is capped (http_cache_max_bytes, bytes of entries and of the hash
 * table); past the cap the least recently used entries go. An entry is one
 * allocation: header, key, watch key and body.
 *
 * What is cached (api__cache_allowed and cacheable_result): GET/HEAD reads of
 * the routes in `routes` below, without ?pick (a random policy answers
 * differently each time) or ?near (the order follows coordinates), whose read answered 200 with a
 * JSON body, the default headers and a watch. The key is the route, its argument, ?pretty and every
 * other query parameter (sorted by name, values of one name kept in their order) except those that
 * only steer the wait or the consistency (index, wait, stale, consistent, cached, dc, token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "api/api_int.h"
#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#define PARAMS_MAX 32

struct cache_ent {
    struct cache_ent *chain;         /* hash chain */
    struct cache_ent *newer, *older; /* LRU list */
    struct api_cache *cache;
    struct srv_watch watch;
    uint64_t hash;
    uint64_t index;
    size_t key_len, wkey_len, body_len, charge;
    uint32_t refs; /* answers being written from the body */
    uint8_t wt;
    bool wprefix, has_wkey;
    bool dropped; /* out of the cache, freed when refs reaches 0 */
    char data[];  /* key, watch key + NUL, body */
};

struct api_cache {
    struct api *api;
    struct cache_ent **slots;
    size_t nslots; /* power of two */
    struct cache_ent *newest, *oldest;
    size_t cap;
    bool check;       /* CAIRN_HTTP_CACHE_CHECK: re-encode every hit and compare */
    bool check_abort; /* CAIRN_HTTP_CACHE_CHECK=abort: and abort on a difference */
    struct api_cache_stats st;
};

#define ENT_OVERHEAD 16 /* malloc's header, roughly */

static const char *ent_wkey(const struct cache_ent *e)
{
    return e->has_wkey ? e->data + e->key_len : NULL;
}

static const char *ent_body(const struct cache_ent *e)
{
    return e->data + e->key_len + e->wkey_len + 1;
}

static void lru_unlink(struct api_cache *k, struct cache_ent *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        k->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        k->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(struct api_cache *k, struct cache_ent *e)
{
    e->older = k->newest;
    e->newer = NULL;
    if (k->newest)
        k->newest->newer = e;
    k->newest = e;
    if (!k->oldest)
        k->oldest = e;
}

static struct cache_ent **slot_of(struct api_cache *k, uint64_t h)
{
    return &k->slots[h & (k->nslots - 1)];
}

/* Unlink e from everything and free it (once no answer is being written
 * from it: see api__cache_hold). */
static void ent_drop(struct api_cache *k, struct cache_ent *e)
{
    for (struct cache_ent **p = slot_of(k, e->hash); *p; p = &(*p)->chain)
        if (*p == e) {
            *p = e->chain;
            break;
        }
    lru_unlink(k, e);
    srv_watch_disarm(k->api->srv, &e->watch);
    k->st.entries--;
    k->st.bytes -= e->charge;
    e->dropped = true;
    e->cache = NULL;
    if (!e->refs)
        cn_free(e);
}

void api__cache_hold(void *ent)
{
    ((struct cache_ent *)ent)->refs++;
}

void api__cache_release(void *ent)
{
    struct cache_ent *e = ent;
    CN_ASSERT(e->refs > 0);
    if (--e->refs == 0 && e->dropped)
        cn_free(e);
}

static void on_fired(struct srv_watch *w, uint64_t index)
{
    (void)index;
    struct cache_ent *e = w->data;
    struct api_cache *k = e->cache;
    k->st.invalidations++;
    ent_drop(k, e);
}

int api__cache_new(struct api *a, size_t cap)
{
    if (!cap)
        return 0; /* disabled */
    struct api_cache *k = cn_calloc(1, sizeof(*k));
    if (!k)
        return CN_ENOMEM;
    k->api = a;
    k->cap = cap;
    k->nslots = 64;
    k->slots = cn_calloc(k->nslots, sizeof(*k->slots));
    if (!k->slots) {
        cn_free(k);
        return CN_ENOMEM;
    }
    const char *chk = getenv("CAIRN_HTTP_CACHE_CHECK");
    k->check = chk && *chk && strcmp(chk, "0") != 0;
    k->check_abort = chk && !strcmp(chk, "abort");
    k->st.cap_bytes = cap;
    k->st.bytes = k->nslots * sizeof(*k->slots);
    a->cache = k;
    return 0;
}

void api__cache_free(struct api *a)
{
    struct api_cache *k = a->cache;
    if (!k)
        return;
    while (k->oldest)
        ent_drop(k, k->oldest);
    cn_free(k->slots);
    cn_free(k);
    a->cache = NULL;
}

void api_cache_stats(const struct api *a, struct api_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (a && a->cache)
        *out = a->cache->st;
}

/* ---- what may be cached -------------------------------------------------- */

/* Each of these answers changes only when its read's watch fires (every
 * record it shows notes the watched key when it changes: state/catalog.c
 * touch_node_services and friends). /v1/health/state/ watches the whole
 * nodes table, which every node, service and check change notes. */
static const char *const routes[] = {
    "/v1/health/service/", "/v1/health/checks/",   "/v1/health/node/",
    "/v1/health/state/",   "/v1/catalog/service/", "/v1/catalog/services",
    "/v1/catalog/nodes",   "/v1/catalog/node/",    "/v1/catalog/node-services/",
};

static bool route_cached(const struct api_route *r)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (!strcmp(r->path, routes[i]))
            return true;
    return false;
}

/* THE decision whether this request may be answered from (and fill) the
 * cache. Today every request sees the same state, so only the route and the
 * query matter. ACLs (another branch adds filtering of listings by token):
 * a request whose token sees a filtered view must not be served bytes
 * encoded for another view. Plug it in here: return false when the
 * request's ACL view is filtered (or, to cache per view, add the token's
 * identity to the key in make_key and return true). */
bool api__cache_allowed(const struct api_ctx *c)
{
    if (!c->api->cache || !route_cached(c->route))
        return false;
    /* With ACLs on, an answer depends on the token (lists are filtered per
     * item, X-Consul-Results-Filtered-By-ACLs, the default policy header):
     * no request is served from the cache nor fills it. Keying by token and
     * flushing on ACL changes would let it serve them too. */
    if (c->api->acl)
        return false;
    if (http_req_param(c->req, "pick") || http_req_param(c->req, "policy"))
        return false;
    /* ?near= orders by coordinates, which the entry's watch does not cover */
    if (http_req_param(c->req, "near"))
        return false;
    return true;
}

/* Query parameters that do not shape the body: the wait, the consistency,
 * agent caching, the datacenter (another one was refused by the router) and
 * the ACL token (see api__cache_allowed). ?pretty is keyed by c->pretty. */
static bool param_ignored(const char *k)
{
    static const char *const ign[] = {"index",  "wait", "stale", "consistent",
                                      "cached", "dc",   "token", "pretty"};
    for (size_t i = 0; i < sizeof(ign) / sizeof(ign[0]); i++)
        if (!strcmp(k, ign[i]))
            return true;
    return false;
}

struct keybuf {
    char *p;
    size_t len, cap;
    bool over;
};

static void kput(struct keybuf *b, const void *p, size_t n)
{
    if (b->over || n > b->cap - b->len) {
        b->over = true;
        return;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* A length-prefixed string: no two parameter lists share a key. */
static void kstr(struct keybuf *b, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    kput(b, &n, sizeof(n));
    kput(b, s, n);
}

/* The key of c's answer into out; false if it does not fit. */
static bool make_key(const struct api_ctx *c, char *out, size_t cap, size_t *len)
{
    struct keybuf b = {out, 0, cap, false};
    kput(&b, &c->route, sizeof(c->route));
    kstr(&b, c->arg);
    char pretty = c->pretty ? 'p' : '-';
    kput(&b, &pretty, 1);
    const struct http_req *req = c->req;
    if (req->nparams > PARAMS_MAX)
        return false;
    /* Stable insertion sort of the parameter indexes by name. */
    size_t idx[PARAMS_MAX], n = 0;
    for (size_t i = 0; i < req->nparams; i++) {
        if (param_ignored(req->params[i].key))
            continue;
        size_t j = n++;
        while (j > 0 && strcmp(req->params[idx[j - 1]].key, req->params[i].key) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    for (size_t i = 0; i < n; i++) {
        const struct http_param *p = &req->params[idx[i]];
        kstr(&b, p->key);
        char hv = p->has_value ? '=' : '-';
        kput(&b, &hv, 1);
        kstr(&b, p->value);
    }
    *len = b.len;
    return !b.over;
}

/* ---- lookups and stores -------------------------------------------------- */

static struct cache_ent *find(struct api_cache *k, const struct api_cache_key *key)
{
    for (struct cache_ent *e = *slot_of(k, key->hash); e; e = e->chain)
        if (e->hash == key->hash && e->key_len == key->len && !memcmp(e->data, key->buf, key->len))
            return e;
    return NULL;
}

static void grow(struct api_cache *k)
{
    size_t n = k->nslots * 2;
    struct cache_ent **slots = cn_calloc(n, sizeof(*slots));
    if (!slots)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < k->nslots; i++) {
        struct cache_ent *e = k->slots[i];
        while (e) {
            struct cache_ent *next = e->chain;
            e->chain = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    cn_free(k->slots);
    k->st.bytes += (n - k->nslots) * sizeof(*slots);
    k->slots = slots;
    k->nslots = n;
}

/* Does this read's result qualify (the default answer shape, a watch)? */
static bool cacheable_result(const struct api_read *r)
{
    return r->status == 200 && !r->content_type && !r->extra_headers && !r->no_meta && !r->park &&
           !r->index_ne && r->wt_set && r->body.len > 0;
}

/* Look c's answer up. On a hit fills h and returns true. On a miss key->ok
 * says whether api__cache_store may keep the answer. */
bool api__cache_get(struct api_ctx *c, struct api_cache_key *key, struct api_cache_hit *h)
{
    key->ok = false;
    if (!api__cache_allowed(c) || !make_key(c, key->buf, sizeof(key->buf), &key->len))
        return false;
    struct api_cache *k = c->api->cache;
    key->hash = XXH3_64bits(key->buf, key->len);
    struct cache_ent *e = find(k, key);
    if (e && !srv_watch_live(c->api->srv, &e->watch)) {
        /* Fired in this batch, its callback not run yet: stale. */
        k->st.invalidations++;
        ent_drop(k, e);
        e = NULL;
    }
    if (!e) {
        k->st.misses++;
        key->ok = true;
        return false;
    }
    k->st.hits++;
    lru_unlink(k, e);
    lru_push(k, e);
    h->body = ent_body(e);
    h->len = e->body_len;
    h->index = e->index;
    h->wt = (enum state_table)e->wt;
    h->wkey = ent_wkey(e);
    h->wprefix = e->wprefix;
    h->ent = e;
    return true;
}

void api__cache_store(struct api_ctx *c, const struct api_cache_key *key, const struct api_read *r)
{
    struct api_cache *k = c->api->cache;
    if (!key->ok || !k || !cacheable_result(r))
        return;
    size_t wlen = r->wkey ? strlen(r->wkey) : 0;
    size_t sz = sizeof(struct cache_ent) + key->len + wlen + 1 + r->body.len;
    size_t charge = sz + ENT_OVERHEAD;
    if (charge > k->cap / 4) /* one answer may not flush the whole cache */
        return;
    struct cache_ent *e = cn_malloc(sz);
    if (!e)
        return;
    memset(e, 0, sizeof(*e));
    e->cache = k;
    e->hash = key->hash;
    e->index = r->index ? r->index : 1;
    e->key_len = key->len;
    e->wkey_len = wlen;
    e->body_len = r->body.len;
    e->charge = charge;
    e->wt = (uint8_t)r->wt;
    e->wprefix = r->wprefix;
    e->has_wkey = r->wkey != NULL;
    memcpy(e->data, key->buf, key->len);
    if (wlen)
        memcpy(e->data + key->len, r->wkey, wlen);
    e->data[key->len + wlen] = '\0';
    memcpy(e->data + key->len + wlen + 1, r->body.p, r->body.len);
    if (srv_watch_arm(k->api->srv, &e->watch, r->wt, r->wkey, r->wprefix, on_fired, e)) {
        cn_free(e);
        return;
    }
    for (struct cache_ent *x = *slot_of(k, e->hash); x; x = x->chain)
        if (x->hash == e->hash && x->key_len == e->key_len &&
            !memcmp(x->data, e->data, e->key_len)) {
            ent_drop(k, x); /* a stale twin (raced stores of one key) */
            break;
        }
    struct cache_ent **s = slot_of(k, e->hash);
    e->chain = *s;
    *s = e;
    lru_push(k, e);
    k->st.entries++;
    k->st.bytes += charge;
    k->st.stores++;
    if (k->st.entries > k->nslots)
        grow(k);
    while (k->st.bytes > k->cap && k->oldest && k->oldest != e) {
        k->st.evictions++;
        ent_drop(k, k->oldest);
    }
}

bool api__cache_checking(const struct api *a)
{
    return a->cache && a->cache->check;
}

void api__cache_mismatch(struct api_ctx *c)
{
    c->api->cache->st.mismatches++;
    cn_error("api", "http cache: the cached answer of %s differs from a fresh encode",
             c->req->raw_target ? c->req->raw_target : c->req->path);
    if (c->api->cache->check_abort)
        abort();
}
