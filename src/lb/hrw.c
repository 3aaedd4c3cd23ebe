/* lb/hrw.c: rendezvous hashing and jump consistent hash, the two policies
 * that need no table beyond the sorted backends.
 *
 * Rendezvous (Thaler & Ravishankar 1998), weighted by the logarithmic method
 * (Schindelhauer & Schomaker 2005; "Weighted distributed hash tables"): for
 * key k each backend i draws u_i = H(k, i) uniform in (0,1) and scores
 * w_i / -ln(u_i); the highest score wins. -ln(u)/w is exponential with rate
 * w, so backend i wins with probability exactly w_i / sum(w), and removing a
 * backend moves only the keys it owned. O(n) per pick.
 *
 * Jump (Lamping & Veach 2014): numbered shards 0..n-1 (here the backends of
 * weight > 0 in canonical order); weights are ignored. Adding or removing the
 * last shard moves 1/n of the keys; removing another one renumbers those
 * after it (docs/lb.md). */
#include <math.h>

#include "lb/lb_int.h"

size_t cairn_lb__rendezvous_pick(const struct cairn_lb *lb, uint64_t h)
{
    size_t best = CAIRN_LB_NONE;
    double best_score = INFINITY; /* minimise -ln(u)/w */
    for (size_t k = 0; k < lb->nlive; k++) {
        uint32_t i = lb->live[k];
        uint64_t x = cairn_lb__mix(h ^ lb->idh[i]);
        /* 53 bits into (0,1): never 0, never 1 */
        double u = ((double)(x >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        double score = -log(u) / (double)lb->weights[i];
        if (score < best_score) {
            best_score = score;
            best = i;
        }
    }
    return best;
}

size_t cairn_lb__jump_pick(const struct cairn_lb *lb, uint64_t key)
{
    int64_t b = -1, j = 0;
    int64_t n = (int64_t)lb->nlive;
    while (j < n) {
        b = j;
        key = key * 2862933555777941757ULL + 1;
        j = (int64_t)((double)(b + 1) * ((double)(1LL << 31) / (double)((key >> 33) + 1)));
    }
    return lb->live[b];
}
