/* api/pick.c: ?pick=KEY&policy=... on /v1/health/service/:name, cairn's own
 * extension (docs/consul-compat.md, docs/lb.md): instead of the list, the one
 * instance the lb policy chooses for KEY among the healthy entries of the
 * list, in the shape of a list entry. A hook after the list is built: it
 * reads the finished JSON array, so whatever narrowed the list (tags,
 * node-meta, ?passing, ?filter) narrowed the candidates too, and the answer
 * is exactly an element of what the list would have been.
 *
 * Candidates and weights (the same rule as libcairn's cairn_pick): an entry
 * with a critical check is never picked; one with a warning check weighs
 * Service.Weights.Warning, otherwise Service.Weights.Passing; weight 0 is
 * never picked. Backend id "Node/ServiceID", sorted (lb.h's canonical
 * order), so every agent and server with the same healthy set picks alike.
 *
 * Tables are cached per thread by (policy, digest of the membership): a
 * repeated pick on an unchanged set costs one lookup, a change one build. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <xxhash.h>

#include "api/api_int.h"
#include "api/pick.h"
#include "base/json.h"
#include "cairn/lb.h"

const char *api_pick_check(struct api_ctx *c)
{
    const char *key = api_param(c, "pick");
    const char *pol = api_param(c, "policy");
    if (!key) {
        if (pol)
            return "?policy needs ?pick=KEY";
        return NULL;
    }
    if (!pol)
        return NULL;
    enum cairn_lb_policy p = cairn_lb_policy_parse(pol);
    if (p != CAIRN_LB_MAGLEV && p != CAIRN_LB_RING && p != CAIRN_LB_RENDEZVOUS &&
        p != CAIRN_LB_JUMP && p != CAIRN_LB_RANDOM)
        return "Invalid ?policy: want maglev, ring, rendezvous, jump or random";
    return NULL;
}

/* The weight rule above; -1: not a candidate. */
static int64_t entry_weight(struct json_object *e)
{
    struct json_object *svc = cn_json_get(e, "Service"), *checks = cn_json_get(e, "Checks");
    const char *worst = "passing";
    size_t nc = checks && json_object_is_type(checks, json_type_array)
                    ? json_object_array_length(checks)
                    : 0;
    for (size_t i = 0; i < nc; i++) {
        const char *st = NULL;
        if (cn_json_get_str(json_object_array_get_idx(checks, i), "Status", &st) != 1 || !st)
            continue;
        if (strcmp(st, "critical") == 0)
            return -1;
        if (strcmp(st, "warning") == 0)
            worst = "warning";
    }
    struct json_object *w = svc ? cn_json_get(svc, "Weights") : NULL;
    int64_t v = 1;
    if (w && cn_json_get_i64(w, strcmp(worst, "warning") == 0 ? "Warning" : "Passing", &v) != 1)
        v = 1;
    if (v <= 0)
        return -1;
    return v > CAIRN_LB_WEIGHT_MAX ? CAIRN_LB_WEIGHT_MAX : v;
}

#define CACHE 8
struct cached {
    uint64_t digest;
    enum cairn_lb_policy policy;
    struct cairn_lb *lb;
};
static _Thread_local struct cached cache[CACHE];
static _Thread_local unsigned cache_next;

static struct cairn_lb *table_for(enum cairn_lb_policy p, const struct cairn_lb_backend *b,
                                  size_t n, int *err)
{
    /* the digest of the input in canonical order is the digest of the table:
     * lb.h sorts, so sort a copy of the (id, weight) pairs' hashes instead */
    uint64_t d = 0;
    for (size_t i = 0; i < n; i++) /* order-free: a sum of per-backend hashes */
        d += XXH3_64bits_withSeed(b[i].id, strlen(b[i].id), b[i].weight) * 2 + 1;
    d ^= (uint64_t)n << 48;
    for (unsigned i = 0; i < CACHE; i++)
        if (cache[i].lb && cache[i].policy == p && cache[i].digest == d &&
            cairn_lb_count(cache[i].lb) == n)
            return cache[i].lb;
    struct cairn_lb_opts o = {p, 0, 0, 0, 0};
    struct cairn_lb *lb = cairn_lb_new(b, n, &o, err);
    if (!lb)
        return NULL;
    struct cached *slot = &cache[cache_next++ % CACHE];
    cairn_lb_release(slot->lb);
    slot->lb = lb;
    slot->policy = p;
    slot->digest = d;
    return lb;
}

static void fail(struct api_read *r, int status, const char *msg)
{
    cn_buf_reset(&r->body);
    cn_buf_puts(&r->body, msg);
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
}

void api_pick_apply(struct api_ctx *c, struct api_read *r)
{
    const char *key = api_param(c, "pick");
    if (!key || r->status != 200)
        return;
    const char *pol = api_param(c, "policy");
    enum cairn_lb_policy p = pol ? cairn_lb_policy_parse(pol) : CAIRN_LB_MAGLEV;
    char err[128];
    struct json_object *arr = cn_json_parse(r->body.p, r->body.len, err, sizeof err);
    if (!arr || !json_object_is_type(arr, json_type_array)) {
        json_object_put(arr);
        return fail(r, 500, "pick: the list is not a JSON array");
    }
    size_t n = json_object_array_length(arr), m = 0;
    struct cairn_lb_backend *b = calloc(n ? n : 1, sizeof *b);
    char **ids = calloc(n ? n : 1, sizeof *ids);
    size_t *entry = calloc(n ? n : 1, sizeof *entry);
    if (!b || !ids || !entry)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);
        int64_t w = entry_weight(e);
        const char *node = NULL, *sid = NULL;
        if (w < 0 || cn_json_get_str(cn_json_get(e, "Node"), "Node", &node) != 1 ||
            cn_json_get_str(cn_json_get(e, "Service"), "ID", &sid) != 1 || !node || !sid)
            continue;
        size_t len = strlen(node) + strlen(sid) + 2;
        if (len - 1 > CAIRN_LB_ID_MAX)
            continue;
        if (!(ids[m] = malloc(len)))
            goto oom;
        snprintf(ids[m], len, "%s/%s", node, sid);
        b[m].id = ids[m];
        b[m].weight = (uint32_t)w;
        entry[m] = i;
        m++;
    }
    if (m == 0) {
        fail(r, 404, "No healthy instance to pick from");
        goto out;
    }
    int e = 0;
    struct cairn_lb *lb = table_for(p, b, m, &e);
    if (!lb) {
        fail(r, e == -ENOMEM ? 500 : 400, e == -ENOMEM ? "out of memory" : "pick: bad backend set");
        goto out;
    }
    size_t idx = cairn_lb_pick(lb, key, strlen(key));
    if (idx == CAIRN_LB_NONE) {
        fail(r, 404, "No healthy instance to pick from");
        goto out;
    }
    /* canonical index -> our entry: find the id */
    const char *id = cairn_lb_backend_id(lb, idx);
    struct json_object *chosen = NULL;
    for (size_t i = 0; i < m; i++)
        if (strcmp(ids[i], id) == 0)
            chosen = json_object_array_get_idx(arr, entry[i]);
    int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                (c->pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : 0);
    const char *s = chosen ? json_object_to_json_string_ext(chosen, flags) : NULL;
    if (!s) {
        fail(r, 500, "out of memory");
        goto out;
    }
    cn_buf_reset(&r->body);
    if (cn_buf_puts(&r->body, s) != 0)
        fail(r, 500, "out of memory");
    goto out;
oom:
    fail(r, 500, "out of memory");
out:
    for (size_t i = 0; ids && i < m; i++)
        free(ids[i]);
    free(ids);
    free(b);
    free(entry);
    json_object_put(arr);
}
