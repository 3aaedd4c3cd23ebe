/* lb/maglev.c: Maglev hashing (Eisenbud et al., NSDI 2016, §3.4). Each
 * backend walks its own permutation of the M slots (offset + j*skip mod M,
 * M prime so every skip generates the whole table) and the backends take
 * turns claiming their next free slot until the table is full. Weights by
 * fill order: in each round a backend of weight w claims w/wmax slots on
 * average (credit carried between rounds), so its share of the table is
 * w/sum(w) within one slot. A pick is one multiply and one load. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lb/lb_int.h"

bool cairn_lb__is_prime(uint32_t m)
{
    if (m < 2)
        return false;
    if (m % 2 == 0)
        return m == 2;
    for (uint32_t d = 3; (uint64_t)d * d <= m; d += 2)
        if (m % d == 0)
            return false;
    return true;
}

int cairn_lb__maglev_build(struct cairn_lb *lb, uint32_t m)
{
    if (lb->nlive == 0)
        return 0;
    if (!m) {
        /* The size must not follow every membership change: a new M is a new
         * table and moves nearly every key. So M comes from a fixed ladder of
         * primes near powers of two: the first >= 100 * sum(w) / min(w), so
         * the lightest backend has ~100 slots (its share within ~1% of its
         * weight); it changes only when that need crosses a rung. The top rung
         * bounds the memory (weights are input): 4194301 slots, 16 MB. */
        static const uint32_t ladder[] = {65537, 131071, 262139, 524287, 1048573, 2097143, 4194301};
        uint32_t wmin = UINT32_MAX;
        for (size_t k = 0; k < lb->nlive; k++)
            if (lb->weights[lb->live[k]] < wmin)
                wmin = lb->weights[lb->live[k]];
        uint64_t want = lb->wsum * 100 / wmin;
        size_t r = 0;
        while (r + 1 < sizeof ladder / sizeof ladder[0] && ladder[r] < want)
            r++;
        m = ladder[r];
    }
    if (m < lb->nlive)
        return -EINVAL;
    lb->m = m;
    lb->mtab = cairn_lb__alloc(lb, m, sizeof *lb->mtab);
    uint64_t *pos = malloc(lb->nlive * sizeof *pos);
    uint64_t *skip = malloc(lb->nlive * sizeof *skip);
    uint64_t *credit = malloc(lb->nlive * sizeof *credit);
    int e = -ENOMEM;
    if (!lb->mtab || !pos || !skip || !credit)
        goto out;
    uint32_t wmax = 0;
    for (size_t k = 0; k < lb->nlive; k++) {
        uint32_t i = lb->live[k];
        pos[k] = lb->idh[i] % m;
        skip[k] = cairn_lb__mix(lb->idh[i] ^ 0x5bd1e9955bd1e995ULL) % (m - 1) + 1;
        credit[k] = 0;
        if (lb->weights[i] > wmax)
            wmax = lb->weights[i];
    }
    for (uint32_t s = 0; s < m; s++)
        lb->mtab[s] = UINT32_MAX;
    uint32_t filled = 0;
    while (filled < m) {
        for (size_t k = 0; k < lb->nlive && filled < m; k++) {
            credit[k] += lb->weights[lb->live[k]];
            while (credit[k] >= wmax && filled < m) {
                credit[k] -= wmax;
                while (lb->mtab[pos[k]] != UINT32_MAX) {
                    pos[k] += skip[k];
                    if (pos[k] >= m)
                        pos[k] -= m;
                }
                lb->mtab[pos[k]] = lb->live[k];
                filled++;
            }
        }
    }
    e = 0;
out:
    free(pos);
    free(skip);
    free(credit);
    return e;
}

/* The top 32 bits of the hash scaled into [0, M) (Lemire's multiply-shift,
 * no division). */
size_t cairn_lb__maglev_pick(const struct cairn_lb *lb, uint64_t h)
{
    return lb->mtab[((h >> 32) * lb->m) >> 32];
}

/* Slot s receives the top halves t with floor(t*M / 2^32) == s, that is
 * t in [ceil(s*2^32/M), ceil((s+1)*2^32/M)). */
void cairn_lb__maglev_shares(const struct cairn_lb *lb, double *shares)
{
    const uint64_t two32 = 1ULL << 32;
    uint64_t lo = 0;
    for (uint32_t s = 0; s < lb->m; s++) {
        uint64_t hi = ((uint64_t)(s + 1) * two32 + lb->m - 1) / lb->m;
        shares[lb->mtab[s]] += (double)(hi - lo) / (double)two32;
        lo = hi;
    }
}
