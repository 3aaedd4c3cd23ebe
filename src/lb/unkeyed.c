/* lb/unkeyed.c: the policies for traffic without a key.
 *
 * Weighted random: Vose's alias method, O(1) per pick, built in canonical
 * order. Power of two choices (Mitzenmacher 2001): two weighted random
 * draws, the one with fewer in-flight requests per unit of weight wins; the
 * maximum load falls from log n / log log n to log log n. Smooth weighted
 * round robin (nginx's algorithm): one period of the schedule (sum of the
 * weights picks) is computed at build time with the exact nginx rule, and a
 * pick is an atomic increment of a position in it, so readers never lock. */
#include <errno.h>
#include <stdlib.h>

#include "lb/lb_int.h"

int cairn_lb__alias_build(struct cairn_lb *lb)
{
    size_t n = lb->nlive;
    if (n == 0)
        return 0;
    lb->alias_prob = cairn_lb__alloc(lb, n, sizeof *lb->alias_prob);
    lb->alias_idx = cairn_lb__alloc(lb, n, sizeof *lb->alias_idx);
    double *p = malloc(n * sizeof *p);
    uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
    int e = -ENOMEM;
    if (!lb->alias_prob || !lb->alias_idx || !p || !small || !large)
        goto out;
    size_t ns = 0, nl = 0;
    for (size_t k = 0; k < n; k++) {
        p[k] = (double)lb->weights[lb->live[k]] * (double)n / (double)lb->wsum;
        if (p[k] < 1.0)
            small[ns++] = (uint32_t)k;
        else
            large[nl++] = (uint32_t)k;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[--nl];
        lb->alias_prob[s] =
            (uint32_t)(p[s] * 4294967296.0 > 4294967295.0 ? 4294967295.0 : p[s] * 4294967296.0);
        lb->alias_idx[s] = l;
        p[l] = (p[l] + p[s]) - 1.0;
        if (p[l] < 1.0)
            small[ns++] = l;
        else
            large[nl++] = l;
    }
    while (nl) {
        uint32_t l = large[--nl];
        lb->alias_prob[l] = UINT32_MAX;
        lb->alias_idx[l] = l;
    }
    while (ns) { /* rounding leftovers: full columns */
        uint32_t s = small[--ns];
        lb->alias_prob[s] = UINT32_MAX;
        lb->alias_idx[s] = s;
    }
    e = 0;
out:
    free(p);
    free(small);
    free(large);
    return e;
}

static size_t alias_draw(const struct cairn_lb *lb, uint64_t r)
{
    size_t col = (size_t)(((r >> 32) * lb->nlive) >> 32);
    uint32_t coin = (uint32_t)r;
    size_t k =
        coin < lb->alias_prob[col] || lb->alias_prob[col] == UINT32_MAX ? col : lb->alias_idx[col];
    return lb->live[k];
}

size_t cairn_lb__random_pick(const struct cairn_lb *lb)
{
    return alias_draw(lb, cairn_lb__rand());
}

size_t cairn_lb__p2c_pick(const struct cairn_lb *lb)
{
    size_t a = alias_draw(lb, cairn_lb__rand());
    size_t b = alias_draw(lb, cairn_lb__rand());
    for (int tries = 0; b == a && lb->nlive > 1 && tries < 4; tries++)
        b = alias_draw(lb, cairn_lb__rand());
    /* fewer in-flight per unit of weight: la/wa <= lb/wb */
    uint64_t la = atomic_load_explicit(&lb->load[a], memory_order_relaxed);
    uint64_t lbb = atomic_load_explicit(&lb->load[b], memory_order_relaxed);
    size_t w = la * lb->weights[b] <= lbb * lb->weights[a] ? a : b;
    atomic_fetch_add_explicit(&lb->load[w], 1, memory_order_relaxed);
    return w;
}

/* The schedule costs O(W * n) to compute (nginx's rule is a scan per pick):
 * refused above 2^28 steps (e.g. 10,000 backends of mixed weights 1-100),
 * where a period would also be too long to matter. */
/* Stride order for the large sets: backend k's c-th pick (c from 0) sits at
 * virtual time (c + 1/2) / w_k, and one period is the W smallest times (each
 * backend's w_k times below 1: exactly w_k picks each). A min-heap of the
 * live backends by their next time, compared exactly as (2c_a+1) w_b against
 * (2c_b+1) w_a (both < 2^33), ties to the lower index: O(W log n) to build. */
struct stride {
    uint32_t k; /* index into lb->live */
    uint32_t c; /* picks so far */
    uint32_t w;
};

static bool stride_before(const struct stride *a, const struct stride *b)
{
    uint64_t x = (2 * (uint64_t)a->c + 1) * b->w, y = (2 * (uint64_t)b->c + 1) * a->w;
    return x != y ? x < y : a->k < b->k;
}

static void stride_down(struct stride *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && stride_before(&h[l], &h[m]))
            m = l;
        if (l + 1 < n && stride_before(&h[l + 1], &h[m]))
            m = l + 1;
        if (m == i)
            return;
        struct stride t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int stride_schedule(struct cairn_lb *lb)
{
    struct stride *h = malloc(lb->nlive * sizeof *h);
    if (!h)
        return -ENOMEM;
    for (size_t k = 0; k < lb->nlive; k++)
        h[k] = (struct stride){(uint32_t)k, 0, lb->weights[lb->live[k]]};
    for (size_t i = lb->nlive / 2; i-- > 0;)
        stride_down(h, lb->nlive, i);
    for (size_t t = 0; t < lb->nsched; t++) {
        lb->sched[t] = lb->live[h[0].k];
        h[0].c++;
        stride_down(h, lb->nlive, 0);
    }
    free(h);
    return 0;
}

/* One period of W = sum(w) picks, precomputed. Up to W * n = 2^28 (the
 * build's work) by nginx's rule (every current weight grows by its weight,
 * the largest wins and loses W); past that, for large sets (10,000 backends
 * of weights 1-100: W * n ~ 5e9), by the stride order above, which is as
 * smooth in the sense that matters (each backend exactly w_k times a period,
 * its picks ~W/w_k apart) and costs O(W log n). W > 2^24 is refused (the
 * schedule would pass 64 MB). */
int cairn_lb__swrr_build(struct cairn_lb *lb)
{
    if (lb->nlive == 0)
        return 0;
    if (lb->wsum > (1u << 24))
        return -EINVAL;
    lb->nsched = (size_t)lb->wsum;
    lb->sched = cairn_lb__alloc(lb, lb->nsched, sizeof *lb->sched);
    lb->pos = cairn_lb__alloc(lb, 1, sizeof *lb->pos);
    if (!lb->sched || !lb->pos)
        return -ENOMEM;
    if (lb->wsum * lb->nlive > (1ULL << 28))
        return stride_schedule(lb);
    int64_t *cur = calloc(lb->nlive, sizeof *cur);
    if (!cur)
        return -ENOMEM;
    int64_t total = (int64_t)lb->wsum;
    for (size_t t = 0; t < lb->nsched; t++) {
        size_t best = 0;
        for (size_t k = 0; k < lb->nlive; k++) {
            cur[k] += lb->weights[lb->live[k]];
            if (cur[k] > cur[best])
                best = k;
        }
        cur[best] -= total;
        lb->sched[t] = lb->live[best];
    }
    free(cur);
    return 0;
}

size_t cairn_lb__swrr_pick(const struct cairn_lb *lb)
{
    unsigned long long p = atomic_fetch_add_explicit(lb->pos, 1, memory_order_relaxed);
    return lb->sched[p % lb->nsched];
}
