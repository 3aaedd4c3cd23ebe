/* lb/bounded.c: consistent hashing with bounded loads (Mirrokni, Thorup,
 * Zadimoghaddam, SODA 2018). The ring of ring.c; a key goes to the first
 * backend clockwise from its hash whose live load is below its capacity
 * ceil(c * (L + 1) * w_i / W), L the total live load. The capacities sum to
 * at least c(L+1) > L, so some backend always has room and no backend ever
 * holds more than c times its weighted share of the average (rounded up).
 * cairn first tries the capacity rounded down, so once the average load is
 * at least 1/(c-1) per backend the cap is c times the average exactly.
 *
 * Live loads are atomics beside the immutable ring: a pick claims a unit
 * with a compare-and-swap that re-checks the capacity, cairn_lb_done()
 * gives it back. Concurrent picks read L a moment apart, so under
 * contention a backend may exceed the cap computed from a newer L by the
 * number of racing picks; single-threaded the cap is exact. */
#include <errno.h>
#include <math.h>

#include "lb/lb_int.h"

int cairn_lb__bounded_build(struct cairn_lb *lb)
{
    lb->load = cairn_lb__alloc(lb, lb->n, sizeof *lb->load);
    lb->total = cairn_lb__alloc(lb, 1, sizeof *lb->total);
    return lb->load && lb->total ? 0 : -ENOMEM;
}

/* One walk clockwise from the key's point with the capacity rounded down
 * (never above c times the weighted average), then, if every backend is
 * full at that rounding (possible only while the average load is below
 * 1/(c-1) per backend), with the paper's rounding up. */
static size_t walk(const struct cairn_lb *lb, size_t p, double avg, bool up)
{
    for (size_t step = 0; step < lb->npts; step++) {
        uint32_t o = lb->owner[p];
        double c = avg * lb->weights[o];
        unsigned cap = (unsigned)(up ? ceil(c) : floor(c));
        unsigned cur = atomic_load_explicit(&lb->load[o], memory_order_relaxed);
        while (cur < cap) {
            if (atomic_compare_exchange_weak_explicit(&lb->load[o], &cur, cur + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                atomic_fetch_add_explicit(lb->total, 1, memory_order_relaxed);
                return o;
            }
        }
        if (++p == lb->npts)
            p = 0;
    }
    return CAIRN_LB_NONE;
}

size_t cairn_lb__bounded_pick(const struct cairn_lb *lb, uint64_t h)
{
    if (lb->npts == 0)
        return CAIRN_LB_NONE;
    size_t p = cairn_lb__ring_point(lb, h);
    unsigned long long total = atomic_load_explicit(lb->total, memory_order_relaxed);
    double avg = lb->c * (double)(total + 1) / (double)lb->wsum;
    size_t o = walk(lb, p, avg, false);
    return o != CAIRN_LB_NONE ? o : walk(lb, p, avg, true);
}
