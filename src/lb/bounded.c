/* lb/bounded.c: consistent hashing with bounded loads (Mirrokni, Thorup,
 * Zadimoghaddam, SODA 2018). The ring of ring.c; a key goes to the first
 * backend clockwise from its hash whose live load is below its capacity
 * ceil(c * (L + 1) * w_i / W), L the total live load. The capacities sum to
 * at least c(L+1) > L, so some backend always has room and no backend ever
 * holds more than c times its weighted share of the average (rounded up).
 * When the capacities rounded down are sure to leave room too (their sum is
 * at least c(L+1) - m for m backends of weight > 0, so when that exceeds L:
 * once the average load is about 1/(c-1) per backend), cairn rounds down, so
 * the cap is c times the average exactly.
 *
 * Bounded work per pick. Under a hot key the backends after its point fill
 * up one after another and the plain walk passes every full one: its cost
 * grows with the load (a 10,000-backend Zipf run did not finish). A pick here
 * walks at most CAIRN_LB_BOUNDED_RING_STEPS ring points (a key whose first
 * candidates have room, i.e. almost every key, goes exactly where the paper's
 * walk sends it); past that it scans the distinct backends (weight > 0) in
 * canonical order from a shared cursor, the backend where the last such scan
 * found room, and takes the first with room. So a pick examines at most
 * CAIRN_LB_BOUNDED_RING_STEPS + m candidates, and the cursor makes the
 * overflow of a hot key cost O(1) amortized: it stays on a backend with room
 * until that one is full. The cap is checked on every claim, whichever way the
 * candidate was found, so the guarantee above is unchanged; what changes is
 * only where a key that overflowed 64 ring points lands (consistency for the
 * overflow of a hot key is not a property the paper's bound needs).
 *
 * Live loads are atomics beside the immutable ring: a pick claims a unit
 * with a compare-and-swap that re-checks the capacity, cairn_lb_done()
 * gives it back; the cursor is a relaxed atomic hint. Readers never lock.
 * Concurrent picks read L a moment apart, so under contention a backend may
 * exceed the cap computed from a newer L by the number of racing picks (and
 * a rounded-down pass may find every backend full: then one rounded-up pass
 * follows); single-threaded the cap is exact and one pass always succeeds. */
#include <errno.h>
#include <math.h>

#include "lb/lb_int.h"

_Thread_local uint64_t cairn_lb__bounded_steps;

int cairn_lb__bounded_build(struct cairn_lb *lb)
{
    lb->load = cairn_lb__alloc(lb, lb->n, sizeof *lb->load);
    lb->total = cairn_lb__alloc(lb, 1, sizeof *lb->total);
    lb->cursor = cairn_lb__alloc(lb, 1, sizeof *lb->cursor);
    return lb->load && lb->total && lb->cursor ? 0 : -ENOMEM;
}

/* Claim one unit of load on backend o if it is below its capacity
 * room * w_o / W (multiplied before dividing, so that an exact capacity
 * stays exact: 3535 * 100 / 50500 is 7, not 7.000000000000001). */
static bool claim(const struct cairn_lb *lb, uint32_t o, double room, bool up)
{
    double c = room * (double)lb->weights[o] / (double)lb->wsum;
    unsigned cap = (unsigned)(up ? ceil(c) : floor(c));
    unsigned cur = atomic_load_explicit(&lb->load[o], memory_order_relaxed);
    while (cur < cap) {
        if (atomic_compare_exchange_weak_explicit(&lb->load[o], &cur, cur + 1, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            atomic_fetch_add_explicit(lb->total, 1, memory_order_relaxed);
            return true;
        }
    }
    return false;
}

/* One pass: up to CAIRN_LB_BOUNDED_RING_STEPS ring points clockwise from p,
 * then the backends of weight > 0 from the cursor, each once. */
static size_t walk(const struct cairn_lb *lb, size_t p, double room, bool up, uint64_t *steps)
{
    size_t ring = lb->npts < CAIRN_LB_BOUNDED_RING_STEPS ? lb->npts : CAIRN_LB_BOUNDED_RING_STEPS;
    for (size_t k = 0; k < ring; k++) {
        uint32_t o = lb->owner[p];
        ++*steps;
        if (claim(lb, o, room, up))
            return o;
        if (++p == lb->npts)
            p = 0;
    }
    unsigned start = atomic_load_explicit(lb->cursor, memory_order_relaxed);
    if (start >= lb->nlive)
        start = 0;
    for (size_t k = 0; k < lb->nlive; k++) {
        size_t j = start + k;
        if (j >= lb->nlive)
            j -= lb->nlive;
        uint32_t o = lb->live[j];
        ++*steps;
        if (claim(lb, o, room, up)) {
            atomic_store_explicit(lb->cursor, (unsigned)j, memory_order_relaxed);
            return o;
        }
    }
    return CAIRN_LB_NONE;
}

size_t cairn_lb__bounded_pick(const struct cairn_lb *lb, uint64_t h)
{
    if (lb->npts == 0)
        return CAIRN_LB_NONE;
    size_t p = cairn_lb__ring_point(lb, h);
    unsigned long long total = atomic_load_explicit(lb->total, memory_order_relaxed);
    double room = lb->c * (double)(total + 1);
    /* rounded down, the capacities sum to more than room - nlive */
    bool up = !(room - (double)lb->nlive > (double)total);
    uint64_t steps = 0;
    size_t o = walk(lb, p, room, up, &steps);
    if (o == CAIRN_LB_NONE && !up)
        o = walk(lb, p, room, true, &steps); /* only when racing picks moved L */
    cairn_lb__bounded_steps += steps;
    return o;
}
