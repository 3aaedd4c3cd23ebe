/* local/local.c: the local maps (two sorted arrays of pointers, services
 * and checks, keyed by ID: O(log n) lookups and the sorted iteration
 * /v1/agent/services and /v1/agent/checks need), the lifetime of struct
 * local, the reads, and the TTL timers.
 *
 * A check owns its uv_timer (TTL checks only); a removed check is freed in
 * the timer's close callback. The struct itself goes once nothing is in
 * flight and every handle has closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "local/local_int.h"

/* agent/checks/check.go CheckTTL getExpiredOutput */
#define TTL_EXPIRED "TTL expired"
#define TTL_EXPIRED_LAST TTL_EXPIRED " (last output before timeout follows): "

/* ---- sorted arrays --------------------------------------------------------------------------- */

/* Index of id, or -(insertion point)-1. */
static long svc_find(const struct local *l, const char *id)
{
    size_t lo = 0, hi = l->nsvcs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(l->svcs[mid]->id, id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

long local__chk_find(const struct local *l, const char *id)
{
    size_t lo = 0, hi = l->nchks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(l->chks[mid]->c.check_id, id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

static int arr_insert(void ***arr, size_t *n, size_t *cap, size_t at, void *item)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        void **na = cn_realloc(*arr, ncap * sizeof(*na));
        if (!na)
            return CN_ENOMEM;
        *arr = na;
        *cap = ncap;
    }
    memmove(*arr + at + 1, *arr + at, (*n - at) * sizeof(**arr));
    (*arr)[at] = item;
    (*n)++;
    return 0;
}

static void arr_remove(void **arr, size_t *n, size_t at)
{
    memmove(arr + at, arr + at + 1, (*n - at - 1) * sizeof(*arr));
    (*n)--;
}

/* ---- lifetime -------------------------------------------------------------------------------- */

void local__maybe_release(struct local *l)
{
    if (!l->closing || l->pending || l->handles)
        return;
    cn_free(l->node);
    cn_free(l->node_id);
    cn_free(l->address);
    cn_free(l->dc);
    cn_free(l->svcs);
    cn_free(l->chks);
    cn_free(l);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct local__chk *ch = h->data;
    struct local *l = ch->l;
    local__runner_forget(ch);
    cn_free(ch->packed);
    cn_free(ch);
    l->handles--;
    local__maybe_release(l);
}

/* Free a check that is no longer in the array. */
static void chk_destroy(struct local__chk *ch)
{
    local__runner_stop(ch->l, ch);
    if (ch->timer_init) {
        uv_timer_stop(&ch->timer);
        uv_close((uv_handle_t *)&ch->timer, on_timer_closed);
        return; /* freed in the close callback */
    }
    local__runner_forget(ch);
    cn_free(ch->packed);
    cn_free(ch);
}

struct local *local_new(uv_loop_t *loop, struct srv *srv, const char *node, const char *node_id,
                        const char *address, const char *dc)
{
    struct local *l = cn_calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->loop = loop;
    l->srv = srv;
    l->node = cn_strdup(node ? node : "");
    l->node_id = cn_strdup(node_id ? node_id : "");
    l->address = cn_strdup(address ? address : "127.0.0.1");
    l->dc = cn_strdup(dc ? dc : "dc1");
    l->sidecar_min = LOCAL_SIDECAR_MIN_PORT;
    l->sidecar_max = LOCAL_SIDECAR_MAX_PORT;
    if (!l->node || !l->node_id || !l->address || !l->dc) {
        l->closing = true;
        local__maybe_release(l);
        return NULL;
    }
    /* What a Consul agent registers for its node (agent/local/state.go
     * syncNodeInfo): tagged lan/wan addresses and the segment meta key. */
    static const char *const tnames[4] = {"lan", "lan_ipv4", "wan", "wan_ipv4"};
    for (int i = 0; i < 4; i++) {
        l->tagged[i].k = (char *)tnames[i];
        l->tagged[i].v = l->address;
    }
    l->meta[0].k = (char *)"consul-network-segment";
    l->meta[0].v = (char *)"";
    l->health = health_new(loop);
    if (!l->health) {
        local_free(l);
        return NULL;
    }
    return l;
}

void local_set_server_port(struct local *l, int port)
{
    l->server_port = port;
}

void local_set_sidecar_ports(struct local *l, int min, int max)
{
    l->sidecar_min = min;
    l->sidecar_max = max;
}

void local_set_script_checks(struct local *l, bool enable)
{
    l->script_checks = enable;
}

int local_set_check_ca_file(struct local *l, const char *path)
{
    return l->health ? health_set_ca_file(l->health, path) : 0;
}

static void on_reaper_closed(uv_handle_t *h)
{
    struct local *l = h->data;
    l->handles--;
    local__maybe_release(l);
}

void local_free(struct local *l)
{
    if (!l)
        return;
    l->closing = true;
    for (size_t i = 0; i < l->nsvcs; i++)
        cn_free(l->svcs[i]); /* packed: the strings go with it */
    l->nsvcs = 0;
    size_t n = l->nchks;
    l->nchks = 0;
    for (size_t i = 0; i < n; i++) {
        if (l->chks[i]->timer_init)
            l->handles++;
        chk_destroy(l->chks[i]);
    }
    local__wq_free(l);
    health_free(l->health); /* releases itself once its handles closed */
    l->health = NULL;
    if (l->reaper_init) {
        l->reaper_init = false;
        uv_timer_stop(&l->reaper);
        l->handles++;
        uv_close((uv_handle_t *)&l->reaper, on_reaper_closed);
    }
    local__maybe_release(l);
}

const char *local_node(const struct local *l)
{
    return l->node;
}

/* ---- reads ----------------------------------------------------------------------------------- */

const struct state_service *local_service(const struct local *l, const char *id)
{
    long i = svc_find(l, id);
    return i >= 0 ? l->svcs[i] : NULL;
}

const struct state_check *local_check(const struct local *l, const char *id)
{
    long i = local__chk_find(l, id);
    return i >= 0 ? &l->chks[i]->c : NULL;
}

void local_services_foreach(const struct local *l, state_service_cb cb, void *arg)
{
    for (size_t i = 0; i < l->nsvcs; i++)
        if (cb(arg, l->svcs[i]))
            return;
}

void local_checks_foreach(const struct local *l, state_check_cb cb, void *arg)
{
    for (size_t i = 0; i < l->nchks; i++)
        if (cb(arg, &l->chks[i]->c))
            return;
}

size_t local_service_count(const struct local *l)
{
    return l->nsvcs;
}

size_t local_check_count(const struct local *l)
{
    return l->nchks;
}

/* ---- TTL timers ------------------------------------------------------------------------------ */

static void on_ttl_expired(uv_timer_t *t)
{
    struct local__chk *ch = t->data;
    struct local *l = ch->l;
    if (l->closing)
        return;
    /* Keep what the service last said, so an operator can tell "stopped
     * reporting" from "reported failure" (Consul's CheckTTL does the same). */
    const char *last = ch->c.output ? ch->c.output : "";
    struct cn_buf out = CN_BUF_INIT;
    if (!*last || !strncmp(last, TTL_EXPIRED, strlen(TTL_EXPIRED)))
        cn_buf_puts(&out, *last ? last : TTL_EXPIRED);
    else
        cn_buf_printf(&out, TTL_EXPIRED_LAST "%s", last);
    if (cn_buf_cstr(&out)) {
        cn_buf_free(&out);
        cn_warn("agent", "check %s: TTL expired, out of memory recording it", ch->c.check_id);
        return;
    }
    cn_info("agent", "Check \"%s\" missed TTL, is now critical", ch->c.check_id);
    if (strcmp(ch->c.status, "critical") != 0 || strcmp(ch->c.output, out.p) != 0)
        local__propose_internal_status(l, ch->c.check_id, "critical", out.p);
    cn_buf_free(&out);
}

/* (Re)arm or stop the TTL timer to match ch->c.ttl_ns. */
void local__ttl_rearm(struct local *l, struct local__chk *ch)
{
    if (ch->c.ttl_ns <= 0) {
        if (ch->timer_init)
            uv_timer_stop(&ch->timer);
        return;
    }
    if (!ch->timer_init) {
        uv_timer_init(l->loop, &ch->timer);
        ch->timer.data = ch;
        ch->timer_init = true;
    }
    uint64_t ms = (uint64_t)(ch->c.ttl_ns / 1000000);
    uv_timer_start(&ch->timer, on_ttl_expired, ms ? ms : 1, 0);
}

/* ---- applying to the local maps -------------------------------------------------------------- */

/* A packed copy of c's strings and arrays into *c_out (one block, *blk). */
static int chk_pack(struct state_check *c_out, char **blk, const struct state_check *c)
{
    size_t need = state_check_pack(NULL, c, NULL);
    *blk = cn_malloc(need ? need : 1);
    if (!*blk)
        return CN_ENOMEM;
    state_check_pack(c_out, c, *blk);
    return 0;
}

/* Insert or replace a check with a packed copy of *c. */
int local__put_check(struct local *l, const struct state_check *c)
{
    struct state_check nc;
    char *blk;
    if (chk_pack(&nc, &blk, c))
        return CN_ENOMEM;
    long i = local__chk_find(l, nc.check_id);
    struct local__chk *ch;
    if (i >= 0) {
        ch = l->chks[i];
        local__runner_stop(l, ch);
        local__runner_forget(ch);
        cn_free(ch->packed);
        ch->reaping = false;
        ch->critical_since_ms = 0;
    } else {
        ch = cn_calloc(1, sizeof(*ch));
        if (!ch) {
            cn_free(blk);
            return CN_ENOMEM;
        }
        ch->l = l;
        if (arr_insert((void ***)&l->chks, &l->nchks, &l->capchks, (size_t)(-i - 1), ch)) {
            cn_free(ch);
            cn_free(blk);
            return CN_ENOMEM;
        }
    }
    ch->c = nc;
    ch->packed = blk;
    local__ttl_rearm(l, ch);
    local__runner_start(l, ch);
    return 0;
}

int local__set_check_status(struct local *l, size_t i, const char *status, const char *output)
{
    CN_ASSERT(i < l->nchks);
    struct local__chk *ch = l->chks[i];
    struct state_check v = ch->c; /* borrowed view with the new status */
    v.status = (char *)status;
    v.output = (char *)output;
    struct state_check nc;
    char *blk;
    if (chk_pack(&nc, &blk, &v))
        return CN_ENOMEM;
    cn_free(ch->packed);
    ch->c = nc;
    ch->packed = blk;
    return 0;
}

void local__drop_check(struct local *l, const char *id)
{
    long i = local__chk_find(l, id);
    if (i < 0)
        return;
    struct local__chk *ch = l->chks[i];
    arr_remove((void **)l->chks, &l->nchks, (size_t)i);
    if (ch->timer_init)
        l->handles++;
    chk_destroy(ch);
}

int local__put_service(struct local *l, const struct state_service *s)
{
    size_t need = state_service_pack(NULL, s, NULL);
    struct state_service *dst = cn_malloc(sizeof(*dst) + need);
    if (!dst)
        return CN_ENOMEM;
    state_service_pack(dst, s, (char *)(dst + 1));
    long i = svc_find(l, dst->id);
    if (i >= 0) {
        cn_free(l->svcs[i]);
        l->svcs[i] = dst;
    } else if (arr_insert((void ***)&l->svcs, &l->nsvcs, &l->capsvcs, (size_t)(-i - 1), dst)) {
        cn_free(dst);
        return CN_ENOMEM;
    }
    return 0;
}

void local__drop_service(struct local *l, const char *id)
{
    long i = svc_find(l, id);
    if (i < 0)
        return;
    struct state_service *s = l->svcs[i];
    arr_remove((void **)l->svcs, &l->nsvcs, (size_t)i);
    /* The catalog removed the service's checks with it. */
    for (size_t k = 0; k < l->nchks;) {
        if (!strcmp(l->chks[k]->c.service_id, s->id))
            local__drop_check(l, l->chks[k]->c.check_id);
        else
            k++;
    }
    cn_free(s); /* packed: the strings go with it */
}

/* A TTL expiry whose "critical" write failed (no leader, the check briefly
 * missing from the catalog...) must not leave the check passing for good:
 * the local state only changes once a write is applied, so fire the expiry
 * again soon; it re-proposes while the local status still differs. */
#define TTL_RETRY_MS 1000

void local__retry_expiry_later(struct local *l, const char *check_id)
{
    long i = check_id ? local__chk_find(l, check_id) : -1;
    if (l->closing || i < 0)
        return;
    struct local__chk *ch = l->chks[i];
    if (ch->timer_init && ch->c.ttl_ns > 0)
        uv_timer_start(&ch->timer, on_ttl_expired, TTL_RETRY_MS, 0);
}
