/* lb/ring.c: the ketama-style consistent hash ring (Karger et al. 1997;
 * libketama). Backend i owns ring_points * weight_i points; a key goes to
 * the first point at or after its hash, wrapping at 2^64.
 *
 * Accelerated lookup: a plain binary search over a million points costs
 * ~20 dependent cache misses. In front of the sorted points sits a bucket
 * index on the top bits of the hash, one bucket per point on average (a power
 * of two >= npts): the bucket gives the first candidate directly and a
 * short forward scan (1 point on average, since the points are uniform)
 * finishes the search. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lb/lb_int.h"

struct pt {
    uint64_t h;
    uint32_t owner;
};

/* LSD radix sort on the 64-bit hash, 16 bits a pass; stable, so equal
 * hashes (practically never) stay in owner order: deterministic. */
static int sort_points(struct pt *p, size_t n)
{
    struct pt *tmp = malloc((n ? n : 1) * sizeof *tmp);
    size_t *cnt = malloc(65536 * sizeof *cnt);
    if (!tmp || !cnt) {
        free(tmp);
        free(cnt);
        return -ENOMEM;
    }
    struct pt *src = p, *dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 16) {
        memset(cnt, 0, 65536 * sizeof *cnt);
        for (size_t i = 0; i < n; i++)
            cnt[(src[i].h >> shift) & 0xffff]++;
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[cnt[(src[i].h >> shift) & 0xffff]++] = src[i];
        struct pt *t = src;
        src = dst;
        dst = t;
    }
    /* four passes: the result is back in p */
    free(tmp);
    free(cnt);
    return 0;
}

/* About 2^22 points at most (64 MB with the index; plus one per backend):
 * weights are input (a registry's Weights.Passing may be 65535), so past the
 * cap the points per weight unit are scaled down to floor(2^22 / sum(w)),
 * the same for every backend, so the point counts stay exactly proportional
 * to the weights (rounding each backend's share of the cap separately, as
 * before, biased light backends down by up to one point in 80 at 1,000
 * backends of weights 1-100). Only when sum(w) > 2^22 does each backend get
 * its share of the cap rounded down (at least one point for a weight > 0).
 * Deterministic for a membership either way. */
#define RING_MAX_POINTS (1ULL << 22)

/* Points of backend i: ppw * w_i, ppw already scaled down when needed; ppw 0
 * means sum(w) > RING_MAX_POINTS: the share of the cap. */
static uint64_t points_of(const struct cairn_lb *lb, uint32_t ppw, size_t i)
{
    if (ppw)
        return (uint64_t)ppw * lb->weights[i];
    uint64_t np = (uint64_t)lb->weights[i] * RING_MAX_POINTS / lb->wsum;
    return np == 0 && lb->weights[i] ? 1 : np;
}

int cairn_lb__ring_build(struct cairn_lb *lb, uint32_t ppw)
{
    if ((uint64_t)ppw * lb->wsum > RING_MAX_POINTS)
        ppw = (uint32_t)(RING_MAX_POINTS / lb->wsum); /* 0 when sum(w) > the cap */
    uint64_t total = 0;
    for (size_t i = 0; i < lb->n; i++)
        total += points_of(lb, ppw, i);
    lb->npts = (size_t)total;
    if (lb->npts == 0)
        return 0;
    struct pt *p = malloc(lb->npts * sizeof *p);
    if (!p)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < lb->n; i++) {
        uint64_t np = points_of(lb, ppw, i);
        /* point j of backend i: a mix of the id's hash and j, so the points
         * of a backend do not depend on the others (minimal disruption) */
        for (uint64_t j = 0; j < np; j++) {
            p[k].h = cairn_lb__mix(lb->idh[i] + (j + 1) * 0x9e3779b97f4a7c15ULL);
            p[k].owner = (uint32_t)i;
            k++;
        }
    }
    int e = sort_points(p, lb->npts);
    if (e) {
        free(p);
        return e;
    }
    unsigned bits = 0;
    while ((1ULL << bits) < lb->npts && bits < 32)
        bits++;
    lb->nbuckets = (size_t)1 << bits;
    lb->bshift = 64 - bits;
    lb->pts = cairn_lb__alloc(lb, lb->npts, sizeof *lb->pts);
    lb->owner = cairn_lb__alloc(lb, lb->npts, sizeof *lb->owner);
    lb->bucket = cairn_lb__alloc(lb, lb->nbuckets + 1, sizeof *lb->bucket);
    if (!lb->pts || !lb->owner || !lb->bucket) {
        free(p);
        return -ENOMEM;
    }
    for (size_t i = 0; i < lb->npts; i++) {
        lb->pts[i] = p[i].h;
        lb->owner[i] = p[i].owner;
    }
    free(p);
    size_t i = 0;
    for (size_t b = 0; b < lb->nbuckets; b++) {
        while (i < lb->npts && (bits ? lb->pts[i] >> lb->bshift : 0) < b)
            i++;
        lb->bucket[b] = (uint32_t)i;
    }
    lb->bucket[lb->nbuckets] = (uint32_t)lb->npts;
    return 0;
}

/* Index of the first point >= h (wrapping to 0). */
size_t cairn_lb__ring_point(const struct cairn_lb *lb, uint64_t h)
{
    size_t b = lb->bshift == 64 ? 0 : (size_t)(h >> lb->bshift);
    size_t i = lb->bucket[b], end = lb->bucket[b + 1];
    while (i < end && lb->pts[i] < h)
        i++;
    return i == lb->npts ? 0 : i;
}

size_t cairn_lb__ring_pick(const struct cairn_lb *lb, uint64_t h)
{
    return lb->owner[cairn_lb__ring_point(lb, h)];
}

/* Exact: point i owns the hashes in (pts[i-1], pts[i]]; point 0 also the
 * wrap-around arc above the last point. */
void cairn_lb__ring_shares(const struct cairn_lb *lb, double *shares)
{
    const double scale = 1.0 / 18446744073709551616.0;
    for (size_t i = 1; i < lb->npts; i++)
        shares[lb->owner[i]] += (double)(lb->pts[i] - lb->pts[i - 1]) * scale;
    /* 2^64 - last + first + 1, computed without overflow */
    shares[lb->owner[0]] +=
        ((double)(UINT64_MAX - lb->pts[lb->npts - 1]) + (double)lb->pts[0] + 1.0) * scale;
}
