/* lb/lb_int.h: the table behind cairn/lb.h, shared by the files of src/lb/
 * (one per policy). Everything but the counters is written once, in
 * cairn_lb_new(), and read-only afterwards. */
#ifndef CAIRN_LB_INT_H
#define CAIRN_LB_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cairn/lb.h"

struct cairn_lb {
    atomic_uint refs;
    enum cairn_lb_policy policy;
    uint64_t seed;
    size_t n;   /* backends, sorted by id */
    char **ids; /* n NUL-terminated ids (into `names`) */
    char *names;
    uint32_t *weights; /* n */
    uint64_t *idh;     /* n: XXH3 of each id with the seed */
    uint32_t *live;    /* indexes of the backends with weight > 0 */
    size_t nlive;
    uint64_t wsum; /* sum of the weights */

    /* ring, bounded: sorted points, their owners, and a bucket index over
     * the top bits of the hash: bucket[b] is the first point whose hash has
     * top bits >= b, bucket[nbuckets] = npts. */
    uint64_t *pts;
    uint32_t *owner;
    size_t npts;
    uint32_t *bucket;
    size_t nbuckets;
    unsigned bshift;

    /* maglev */
    uint32_t *mtab;
    uint32_t m;

    /* bounded: capacity factor, live loads; p2c: in-flight counts */
    double c;
    atomic_uint *load;
    atomic_ullong *total;
    atomic_uint *cursor; /* bounded: the backend where the last fallback scan found room */

    /* random, p2c: Vose alias table over `live` (thresholds scaled to 2^32) */
    uint32_t *alias_prob;
    uint32_t *alias_idx;

    /* swrr: the precomputed schedule of one period (wsum picks) and the position */
    uint32_t *sched;
    size_t nsched;
    atomic_ullong *pos;

    size_t mem;
    void *allocs[24]; /* every block above, freed with the table */
    unsigned nallocs;
};

/* splitmix64's finalizer: a bijective 64-bit mixer. */
static inline uint64_t cairn_lb__mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t cairn_lb__rand(void);
void *cairn_lb__alloc(struct cairn_lb *lb, size_t nmemb, size_t size);

int cairn_lb__ring_build(struct cairn_lb *lb, uint32_t points_per_weight);
size_t cairn_lb__ring_pick(const struct cairn_lb *lb, uint64_t h);
size_t cairn_lb__ring_point(const struct cairn_lb *lb, uint64_t h);
void cairn_lb__ring_shares(const struct cairn_lb *lb, double *shares);

int cairn_lb__maglev_build(struct cairn_lb *lb, uint32_t m);
size_t cairn_lb__maglev_pick(const struct cairn_lb *lb, uint64_t h);
void cairn_lb__maglev_shares(const struct cairn_lb *lb, double *shares);
bool cairn_lb__is_prime(uint32_t m);

size_t cairn_lb__rendezvous_pick(const struct cairn_lb *lb, uint64_t h);
size_t cairn_lb__jump_pick(const struct cairn_lb *lb, uint64_t h);

int cairn_lb__bounded_build(struct cairn_lb *lb);
size_t cairn_lb__bounded_pick(const struct cairn_lb *lb, uint64_t h);
/* bounded: ring points walked before the fallback scan over backends */
#define CAIRN_LB_BOUNDED_RING_STEPS 64
/* bounded: candidates (ring points + backends) examined by this thread's
 * picks so far, for the unit test's bound on the work per pick */
extern _Thread_local uint64_t cairn_lb__bounded_steps;

int cairn_lb__alias_build(struct cairn_lb *lb);
size_t cairn_lb__random_pick(const struct cairn_lb *lb);
size_t cairn_lb__p2c_pick(const struct cairn_lb *lb);
int cairn_lb__swrr_build(struct cairn_lb *lb);
size_t cairn_lb__swrr_pick(const struct cairn_lb *lb);

#endif
