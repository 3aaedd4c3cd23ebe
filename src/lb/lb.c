/* lb/lb.c: building, sharing and releasing a table; the dispatch of pick.
 * The policies live one per file (ring.c, maglev.c, hrw.c, bounded.c,
 * unkeyed.c). The canonical order (backends sorted by id) and seeded XXH3
 * make a table a pure function of (membership, options): docs/lb.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "lb/lb_int.h"

void *cairn_lb__alloc(struct cairn_lb *lb, size_t nmemb, size_t size)
{
    if (lb->nallocs == sizeof lb->allocs / sizeof lb->allocs[0])
        return NULL;
    if (nmemb == 0)
        nmemb = 1;
    void *p = calloc(nmemb, size);
    if (!p)
        return NULL;
    lb->allocs[lb->nallocs++] = p;
    lb->mem += nmemb * size;
    return p;
}

/* The per-thread PRNG of the unkeyed policies (splitmix64). A thread that
 * never seeded starts from a global counter, so threads differ. */
static _Thread_local uint64_t tl_rng;
static atomic_ullong rng_streams = 0x853c49e6748fea9bULL;

void cairn_lb_thread_seed(uint64_t seed)
{
    tl_rng = seed ? seed : 1;
}

uint64_t cairn_lb__rand(void)
{
    if (!tl_rng)
        tl_rng =
            atomic_fetch_add_explicit(&rng_streams, 0x9e3779b97f4a7c15ULL, memory_order_relaxed) |
            1;
    tl_rng += 0x9e3779b97f4a7c15ULL;
    return cairn_lb__mix(tl_rng);
}

struct in_be {
    const char *id;
    size_t len;
    uint32_t weight;
};

static int by_id(const void *a, const void *b)
{
    const struct in_be *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->id, y->id, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static const char *const names[] = {
    NULL, "ring", "maglev", "rendezvous", "jump", "bounded", "p2c", "swrr", "random",
};

enum cairn_lb_policy cairn_lb_policy_parse(const char *name)
{
    if (!name)
        return 0;
    for (unsigned i = 1; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return (enum cairn_lb_policy)i;
    return 0;
}

const char *cairn_lb_policy_name(enum cairn_lb_policy p)
{
    if ((unsigned)p == 0 || (unsigned)p >= sizeof names / sizeof names[0])
        return "unknown";
    return names[p];
}

static void lb_free(struct cairn_lb *lb)
{
    for (unsigned i = 0; i < lb->nallocs; i++)
        free(lb->allocs[i]);
    free(lb);
}

struct cairn_lb *cairn_lb_new(const struct cairn_lb_backend *b, size_t n,
                              const struct cairn_lb_opts *opts, int *err)
{
    struct cairn_lb_opts o = {CAIRN_LB_MAGLEV, 0, 0, 0, 0};
    if (opts)
        o = *opts;
    int e = -EINVAL;
    struct in_be *in = NULL;
    struct cairn_lb *lb = NULL;
    if (o.policy < CAIRN_LB_RING || o.policy > CAIRN_LB_RANDOM || n > CAIRN_LB_BACKENDS_MAX ||
        (n && !b))
        goto fail;
    if (o.policy == CAIRN_LB_BOUNDED && o.bounded_c != 0 && !(o.bounded_c > 1.0))
        goto fail;
    if (o.maglev_size && (o.maglev_size < n || !cairn_lb__is_prime(o.maglev_size)))
        goto fail;
    e = -ENOMEM;
    in = calloc(n ? n : 1, sizeof *in);
    lb = calloc(1, sizeof *lb);
    if (!in || !lb)
        goto fail;
    size_t namebytes = 0;
    e = -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!b[i].id || b[i].weight > CAIRN_LB_WEIGHT_MAX)
            goto fail;
        in[i].id = b[i].id;
        in[i].len = b[i].id_len ? b[i].id_len : strlen(b[i].id);
        in[i].weight = b[i].weight;
        if (in[i].len == 0 || in[i].len > CAIRN_LB_ID_MAX || memchr(in[i].id, 0, in[i].len))
            goto fail;
        namebytes += in[i].len + 1;
    }
    qsort(in, n, sizeof *in, by_id);
    for (size_t i = 1; i < n; i++)
        if (by_id(&in[i - 1], &in[i]) == 0)
            goto fail; /* duplicate id */

    atomic_init(&lb->refs, 1);
    lb->policy = o.policy;
    lb->seed = o.seed;
    lb->n = n;
    lb->mem = sizeof *lb;
    e = -ENOMEM;
    lb->ids = cairn_lb__alloc(lb, n, sizeof *lb->ids);
    lb->names = cairn_lb__alloc(lb, namebytes, 1);
    lb->weights = cairn_lb__alloc(lb, n, sizeof *lb->weights);
    lb->idh = cairn_lb__alloc(lb, n, sizeof *lb->idh);
    lb->live = cairn_lb__alloc(lb, n, sizeof *lb->live);
    if (!lb->ids || !lb->names || !lb->weights || !lb->idh || !lb->live)
        goto fail;
    char *p = lb->names;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, in[i].id, in[i].len);
        p[in[i].len] = '\0';
        lb->ids[i] = p;
        p += in[i].len + 1;
        lb->weights[i] = in[i].weight;
        lb->idh[i] = XXH3_64bits_withSeed(in[i].id, in[i].len, o.seed);
        lb->wsum += in[i].weight;
        if (in[i].weight)
            lb->live[lb->nlive++] = (uint32_t)i;
    }

    switch (o.policy) {
    case CAIRN_LB_RING:
        e = cairn_lb__ring_build(lb, o.ring_points ? o.ring_points : 160);
        break;
    case CAIRN_LB_BOUNDED:
        lb->c = o.bounded_c != 0 ? o.bounded_c : 1.25;
        e = cairn_lb__ring_build(lb, o.ring_points ? o.ring_points : 160);
        if (!e)
            e = cairn_lb__bounded_build(lb);
        break;
    case CAIRN_LB_MAGLEV:
        e = cairn_lb__maglev_build(lb, o.maglev_size);
        break;
    case CAIRN_LB_RENDEZVOUS:
    case CAIRN_LB_JUMP:
        e = 0;
        break;
    case CAIRN_LB_P2C:
        e = cairn_lb__alias_build(lb);
        if (!e) {
            lb->load = cairn_lb__alloc(lb, n, sizeof *lb->load);
            e = lb->load ? 0 : -ENOMEM;
        }
        break;
    case CAIRN_LB_RANDOM:
        e = cairn_lb__alias_build(lb);
        break;
    case CAIRN_LB_SWRR:
        e = cairn_lb__swrr_build(lb);
        break;
    }
    if (e)
        goto fail;
    free(in);
    return lb;
fail:
    free(in);
    if (lb)
        lb_free(lb);
    if (err)
        *err = e;
    return NULL;
}

struct cairn_lb *cairn_lb_ref(struct cairn_lb *lb)
{
    /* Relaxed: the caller holds a reference, so the count is >= 1 and the
     * table cannot be freed under us; nothing is published by this. */
    atomic_fetch_add_explicit(&lb->refs, 1, memory_order_relaxed);
    return lb;
}

void cairn_lb_release(struct cairn_lb *lb)
{
    if (!lb)
        return;
    /* acq_rel: our reads of the table happen-before the decrement (release),
     * and the thread that sees 1 acquires every other holder's release, so
     * all their reads happen-before the free. */
    if (atomic_fetch_sub_explicit(&lb->refs, 1, memory_order_acq_rel) == 1)
        lb_free(lb);
}

uint64_t cairn_lb_hash(const struct cairn_lb *lb, const void *key, size_t len)
{
    if (!key)
        len = 0;
    return XXH3_64bits_withSeed(key ? key : "", len, lb->seed);
}

size_t cairn_lb_pick_hash(const struct cairn_lb *lb, uint64_t h)
{
    if (!lb || lb->nlive == 0)
        return CAIRN_LB_NONE;
    switch (lb->policy) {
    case CAIRN_LB_RING:
        return cairn_lb__ring_pick(lb, h);
    case CAIRN_LB_MAGLEV:
        return cairn_lb__maglev_pick(lb, h);
    case CAIRN_LB_RENDEZVOUS:
        return cairn_lb__rendezvous_pick(lb, h);
    case CAIRN_LB_JUMP:
        return cairn_lb__jump_pick(lb, h);
    case CAIRN_LB_BOUNDED:
        return cairn_lb__bounded_pick(lb, h);
    case CAIRN_LB_P2C:
        return cairn_lb__p2c_pick(lb);
    case CAIRN_LB_SWRR:
        return cairn_lb__swrr_pick(lb);
    case CAIRN_LB_RANDOM:
        return cairn_lb__random_pick(lb);
    }
    return CAIRN_LB_NONE;
}

size_t cairn_lb_pick(const struct cairn_lb *lb, const void *key, size_t len)
{
    if (!lb || lb->nlive == 0)
        return CAIRN_LB_NONE;
    if (lb->policy >= CAIRN_LB_P2C)
        return cairn_lb_pick_hash(lb, 0);
    return cairn_lb_pick_hash(lb, cairn_lb_hash(lb, key, len));
}

void cairn_lb_done(const struct cairn_lb *lb, size_t idx)
{
    if (!lb || !lb->load || idx >= lb->n)
        return;
    unsigned cur = atomic_load_explicit(&lb->load[idx], memory_order_relaxed);
    while (cur > 0 &&
           !atomic_compare_exchange_weak_explicit(&lb->load[idx], &cur, cur - 1,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    if (cur > 0 && lb->total)
        atomic_fetch_sub_explicit(lb->total, 1, memory_order_relaxed);
}

size_t cairn_lb_count(const struct cairn_lb *lb)
{
    return lb ? lb->n : 0;
}

enum cairn_lb_policy cairn_lb_policy_of(const struct cairn_lb *lb)
{
    return lb->policy;
}

const char *cairn_lb_backend_id(const struct cairn_lb *lb, size_t idx)
{
    return lb && idx < lb->n ? lb->ids[idx] : NULL;
}

uint32_t cairn_lb_backend_weight(const struct cairn_lb *lb, size_t idx)
{
    return lb && idx < lb->n ? lb->weights[idx] : 0;
}

uint32_t cairn_lb_backend_load(const struct cairn_lb *lb, size_t idx)
{
    if (!lb || !lb->load || idx >= lb->n)
        return 0;
    return atomic_load_explicit(&lb->load[idx], memory_order_relaxed);
}

size_t cairn_lb_memory(const struct cairn_lb *lb)
{
    return lb ? lb->mem : 0;
}

int cairn_lb_shares(const struct cairn_lb *lb, double *shares)
{
    if (!lb || !shares)
        return -EINVAL;
    for (size_t i = 0; i < lb->n; i++)
        shares[i] = 0;
    switch (lb->policy) {
    case CAIRN_LB_RING:
    case CAIRN_LB_BOUNDED:
        if (lb->npts)
            cairn_lb__ring_shares(lb, shares);
        return 0;
    case CAIRN_LB_MAGLEV:
        if (lb->m)
            cairn_lb__maglev_shares(lb, shares);
        return 0;
    default:
        return -EINVAL;
    }
}
