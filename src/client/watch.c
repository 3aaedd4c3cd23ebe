/* client/watch.c: a service's healthy instances kept current by the
 * blocking-query loop (bq.c), published as immutable snapshots, and
 * cairn_pick() over them.
 *
 * Publication without reader locks (docs/client.md). The watch thread is
 * the only writer. Readers:
 *     ph = phase; readers[ph & 1]++; if (phase != ph) { undo; retry }
 *     s = cur; s->refs++; readers[ph & 1]--;
 * The writer: old = exchange(cur, new); ph = phase++; wait until
 * readers[ph & 1] == 0; release(old). All of these are seq_cst, so they sit
 * in one total order. A reader counted in readers[ph&1] whose phase
 * re-check passed incremented before the flip, so the writer waits for it;
 * a reader that increments after the writer saw zero must load `phase`
 * after the flip, fails its re-check and retries, and every retry loads
 * cur after the exchange. So no reader can take a reference to `old` after
 * the writer's wait, and the writer's release of its own reference is safe.
 * A second publication cannot overtake the first's wait (one writer
 * thread). Readers never block; they retry only if a publication flips the
 * phase inside their few instructions. The snapshot's reference count is
 * released acq_rel, so the last holder's free happens after every use. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <xxhash.h>

#include "client/client_int.h"

#define NPOL (CAIRN_LB_RANDOM + 1)

struct inst {
    struct cairn_instance pub; /* first: cairn_instance_release casts back */
    struct cairn_snapshot *snap;
};

struct cairn_snapshot {
    atomic_uint refs;
    uint64_t index;
    uint64_t digest;
    size_t n;
    struct inst *inst;
    _Atomic(struct cairn_lb *) tables[NPOL];
};

struct cairn_watch {
    struct cairn__bq q; /* first */
    _Atomic(struct cairn_snapshot *) cur;
    atomic_uint phase;
    atomic_uint readers[2];
    cairn_watch_cb cb;
    void *arg;
    enum cairn_lb_policy policy;
    bool any_status;
    pthread_mutex_t ready_mu; /* cairn_watch_wait only */
    pthread_cond_t ready_cv;
    bool ready;
};

static struct cairn_snapshot *snap_ref(struct cairn_snapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void cairn_snapshot_release(struct cairn_snapshot *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int p = 0; p < NPOL; p++)
        cairn_lb_release(atomic_load_explicit(&s->tables[p], memory_order_acquire));
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->inst[i].pub.id);
        free((char *)s->inst[i].pub.node);
        free((char *)s->inst[i].pub.service_id);
        free((char *)s->inst[i].pub.address);
        free((char *)s->inst[i].pub.json);
    }
    free(s->inst);
    free(s);
}

size_t cairn_snapshot_count(const struct cairn_snapshot *s)
{
    return s ? s->n : 0;
}

const struct cairn_instance *cairn_snapshot_instance(const struct cairn_snapshot *s, size_t i)
{
    return s && i < s->n ? &s->inst[i].pub : NULL;
}

uint64_t cairn_snapshot_index(const struct cairn_snapshot *s)
{
    return s ? s->index : 0;
}

struct cairn_lb *cairn_snapshot_table(struct cairn_snapshot *s, enum cairn_lb_policy policy)
{
    if (!s || policy < CAIRN_LB_RING || policy > CAIRN_LB_RANDOM)
        return NULL;
    struct cairn_lb *t = atomic_load_explicit(&s->tables[policy], memory_order_acquire);
    if (t)
        return t;
    struct cairn_lb_backend *b = calloc(s->n ? s->n : 1, sizeof *b);
    if (!b)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        b[i].id = s->inst[i].pub.id;
        b[i].weight = s->inst[i].pub.weight;
    }
    struct cairn_lb_opts o = {policy, 0, 0, 0, 0};
    int err;
    t = cairn_lb_new(b, s->n, &o, &err);
    free(b);
    if (!t)
        return NULL;
    struct cairn_lb *expect = NULL;
    /* release: the table's contents before its pointer; a loser frees its own */
    if (!atomic_compare_exchange_strong_explicit(&s->tables[policy], &expect, t,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        cairn_lb_release(t);
        t = expect;
    }
    return t;
}

/* ---- building a snapshot from /v1/health/service ---------------------------- */

static const char *jget_str(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* The weight rule of api/pick.c (docs/lb.md): -1 for a critical entry. */
static int64_t entry_weight(struct json_object *e)
{
    struct json_object *checks = NULL, *svc = NULL, *w = NULL, *v = NULL;
    bool warning = false;
    if (json_object_object_get_ex(e, "Checks", &checks) &&
        json_object_is_type(checks, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(checks); i++) {
            const char *st = jget_str(json_object_array_get_idx(checks, i), "Status");
            if (st && strcmp(st, "critical") == 0)
                return -1;
            if (st && strcmp(st, "warning") == 0)
                warning = true;
        }
    }
    int64_t wt = 1;
    if (json_object_object_get_ex(e, "Service", &svc) &&
        json_object_object_get_ex(svc, "Weights", &w) &&
        json_object_object_get_ex(w, warning ? "Warning" : "Passing", &v) &&
        json_object_is_type(v, json_type_int))
        wt = json_object_get_int64(v);
    if (wt < 0)
        wt = 0;
    return wt > CAIRN_LB_WEIGHT_MAX ? CAIRN_LB_WEIGHT_MAX : wt;
}

static int by_id(const void *a, const void *b)
{
    const struct inst *x = a, *y = b;
    return strcmp(x->pub.id, y->pub.id);
}

struct cairn_snapshot *cairn__snapshot_parse(const char *body, uint64_t index)
{
    struct json_object *arr = json_tokener_parse(body);
    if (!arr || !json_object_is_type(arr, json_type_array)) {
        json_object_put(arr);
        return NULL;
    }
    size_t n = json_object_array_length(arr);
    struct cairn_snapshot *s = calloc(1, sizeof *s);
    if (!s || !(s->inst = calloc(n ? n : 1, sizeof *s->inst))) {
        free(s);
        json_object_put(arr);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->index = index;
    bool oom = false;
    for (size_t i = 0; i < n && !oom; i++) {
        struct json_object *e = json_object_array_get_idx(arr, i), *node = NULL, *svc = NULL,
                           *port = NULL;
        int64_t w = entry_weight(e);
        if (w < 0 || !json_object_object_get_ex(e, "Node", &node) ||
            !json_object_object_get_ex(e, "Service", &svc))
            continue;
        const char *nn = jget_str(node, "Node"), *sid = jget_str(svc, "ID");
        const char *addr = jget_str(svc, "Address");
        if (!addr || !*addr)
            addr = jget_str(node, "Address");
        if (!nn || !sid)
            continue;
        struct inst *in = &s->inst[s->n];
        size_t len = strlen(nn) + strlen(sid) + 2;
        char *id = malloc(len);
        if (id)
            snprintf(id, len, "%s/%s", nn, sid);
        in->pub.id = id;
        in->pub.node = strdup(nn);
        in->pub.service_id = strdup(sid);
        in->pub.address = strdup(addr ? addr : "");
        in->pub.json = strdup(json_object_to_json_string_ext(
            e, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        in->pub.port =
            json_object_object_get_ex(svc, "Port", &port) ? json_object_get_int(port) : 0;
        in->pub.weight = (uint32_t)w;
        in->snap = s;
        s->n++;
        oom = !id || !in->pub.node || !in->pub.service_id || !in->pub.address || !in->pub.json;
    }
    json_object_put(arr);
    if (oom) {
        cairn_snapshot_release(s);
        return NULL;
    }
    qsort(s->inst, s->n, sizeof *s->inst, by_id);
    /* a malformed answer may repeat an instance: keep the first */
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (m && strcmp(s->inst[m - 1].pub.id, s->inst[i].pub.id) == 0) {
            free((char *)s->inst[i].pub.id);
            free((char *)s->inst[i].pub.node);
            free((char *)s->inst[i].pub.service_id);
            free((char *)s->inst[i].pub.address);
            free((char *)s->inst[i].pub.json);
            continue;
        }
        s->inst[m++] = s->inst[i];
    }
    s->n = m;
    uint64_t d = 0x9e3779b97f4a7c15ULL ^ s->n;
    for (size_t i = 0; i < s->n; i++) {
        s->inst[i].snap = s;
        const struct cairn_instance *p = &s->inst[i].pub;
        d = XXH3_64bits_withSeed(p->id, strlen(p->id), d);
        d = XXH3_64bits_withSeed(p->address, strlen(p->address), d);
        d ^= ((uint64_t)(uint32_t)p->port << 32 | p->weight) * 0xff51afd7ed558ccdULL;
    }
    s->digest = d;
    return s;
}

/* ---- publication ---------------------------------------------------------------- */

void cairn__watch_publish(struct cairn_watch *w, struct cairn_snapshot *s)
{
    struct cairn_snapshot *old = atomic_exchange(&w->cur, s);
    unsigned ph = atomic_fetch_add(&w->phase, 1);
    while (atomic_load(&w->readers[ph & 1]) != 0)
        sched_yield(); /* a reader inside its few instructions */
    cairn_snapshot_release(old);
}

struct cairn_snapshot *cairn_watch_snapshot(struct cairn_watch *w)
{
    for (;;) {
        unsigned ph = atomic_load(&w->phase);
        atomic_fetch_add(&w->readers[ph & 1], 1);
        if (atomic_load(&w->phase) != ph) {
            atomic_fetch_sub(&w->readers[ph & 1], 1);
            continue;
        }
        struct cairn_snapshot *s = atomic_load(&w->cur);
        if (s)
            snap_ref(s);
        atomic_fetch_sub(&w->readers[ph & 1], 1);
        return s;
    }
}

static void on_answer(struct cairn__bq *q, long status, const char *body, size_t len,
                      uint64_t index)
{
    (void)len;
    struct cairn_watch *w = (struct cairn_watch *)q; /* q is the first member */
    if (status != 200)
        return; /* 404: not a health endpoint answer; keep the last set */
    struct cairn_snapshot *s = cairn__snapshot_parse(body, index);
    if (!s) {
        atomic_fetch_add(&q->failures, 1);
        return;
    }
    struct cairn_snapshot *cur = atomic_load(&w->cur);
    if (cur && cur->digest == s->digest) {
        cairn_snapshot_release(s); /* the same set: nothing to tell */
        return;
    }
    cairn_snapshot_table(s, w->policy); /* eagerly, off the readers' path */
    cairn__watch_publish(w, s);
    pthread_mutex_lock(&w->ready_mu);
    w->ready = true;
    pthread_cond_broadcast(&w->ready_cv);
    pthread_mutex_unlock(&w->ready_mu);
    if (w->cb)
        w->cb(w, s, w->arg);
}

struct cairn_watch *cairn_watch_start(const struct cairn_client_opts *copts, const char *service,
                                      const struct cairn_watch_opts *wopts, int *err)
{
    int e = -EINVAL;
    struct cairn_watch *w = NULL;
    struct cairn_watch_opts o = {0};
    if (wopts)
        o = *wopts;
    if (!service || !*service ||
        (o.policy && (o.policy < CAIRN_LB_RING || o.policy > CAIRN_LB_RANDOM)))
        goto fail;
    e = -ENOMEM;
    if (!(w = calloc(1, sizeof *w)))
        goto fail;
    struct cairn__buf p = {0}, qs = {0};
    int rc = cairn__buf_add(&p, "/v1/health/service/", 19);
    if (!rc)
        rc = cairn__buf_esc(&p, service, false);
    if (!rc)
        rc = cairn__buf_add(&qs, "", 0);
    if (!rc && !o.any_status)
        rc = cairn__buf_add(&qs, "passing=1", 9);
    if (!rc && o.tag) {
        rc = cairn__buf_add(&qs, qs.len ? "&tag=" : "tag=", qs.len ? 5 : 4);
        if (!rc)
            rc = cairn__buf_esc(&qs, o.tag, false);
    }
    if (rc) {
        cairn__buf_free(&p);
        cairn__buf_free(&qs);
        goto fail;
    }
    w->q.path = p.p;
    w->q.query = qs.p;
    w->q.wait_ms = o.wait_ms > 0 ? o.wait_ms : 60000;
    w->q.backoff_min = o.backoff_min_ms > 0 ? o.backoff_min_ms : 100;
    w->q.backoff_max = o.backoff_max_ms > 0 ? o.backoff_max_ms : 30000;
    if (w->q.backoff_max < w->q.backoff_min)
        w->q.backoff_max = w->q.backoff_min;
    w->q.on_answer = on_answer;
    w->cb = o.cb;
    w->arg = o.arg;
    w->policy = o.policy ? o.policy : CAIRN_LB_MAGLEV;
    w->any_status = o.any_status;
    pthread_mutex_init(&w->ready_mu, NULL);
    pthread_cond_init(&w->ready_cv, NULL);
    if ((e = cairn__bq_start(&w->q, copts))) {
        pthread_mutex_destroy(&w->ready_mu);
        pthread_cond_destroy(&w->ready_cv);
        free(w->q.path);
        free(w->q.query);
        goto fail;
    }
    return w;
fail:
    free(w);
    if (err)
        *err = e;
    return NULL;
}

void cairn_watch_stop(struct cairn_watch *w)
{
    if (!w)
        return;
    cairn__bq_stop(&w->q);
    cairn_snapshot_release(atomic_load(&w->cur));
    pthread_mutex_destroy(&w->ready_mu);
    pthread_cond_destroy(&w->ready_cv);
    free(w->q.path);
    free(w->q.query);
    free(w);
}

int cairn_watch_wait(struct cairn_watch *w, long timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->ready_mu);
    int rc = 0;
    while (!w->ready && rc == 0)
        rc = pthread_cond_timedwait(&w->ready_cv, &w->ready_mu, &ts);
    bool ready = w->ready;
    pthread_mutex_unlock(&w->ready_mu);
    return ready ? 0 : -ETIMEDOUT;
}

struct cairn_watch *cairn__watch_alloc(void)
{
    return calloc(1, sizeof(struct cairn_watch));
}

void cairn__watch_free(struct cairn_watch *w)
{
    cairn_snapshot_release(atomic_load(&w->cur));
    free(w);
}

unsigned cairn_watch_failures(const struct cairn_watch *w)
{
    return atomic_load(&((struct cairn_watch *)w)->q.failures);
}

const struct cairn_instance *cairn_pick_bytes(struct cairn_watch *w, const void *key, size_t len,
                                              enum cairn_lb_policy policy)
{
    if (!w || policy == CAIRN_LB_BOUNDED || policy == CAIRN_LB_P2C)
        return NULL; /* their loads need cairn_lb_done: cairn_snapshot_table */
    struct cairn_snapshot *s = cairn_watch_snapshot(w);
    if (!s)
        return NULL;
    struct cairn_lb *t = cairn_snapshot_table(s, policy);
    size_t idx = t ? cairn_lb_pick(t, key, len) : CAIRN_LB_NONE;
    if (idx == CAIRN_LB_NONE || idx >= s->n) {
        cairn_snapshot_release(s);
        return NULL;
    }
    return &s->inst[idx].pub; /* keeps the snapshot's reference */
}

const struct cairn_instance *cairn_pick(struct cairn_watch *w, const char *key,
                                        enum cairn_lb_policy policy)
{
    return cairn_pick_bytes(w, key, key ? strlen(key) : 0, policy);
}

void cairn_instance_release(const struct cairn_instance *inst)
{
    if (inst)
        cairn_snapshot_release(((const struct inst *)inst)->snap);
}
