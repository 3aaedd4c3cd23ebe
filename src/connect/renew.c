/* connect/renew.c: a leaf certificate's renewal point (renew.h). */
#include "connect/renew.h"

int64_t connect_leaf_renew_at(int64_t issued, int64_t not_after, uint64_t rnd)
{
    int64_t life = not_after - issued;
    if (life <= 0)
        return issued;
    int64_t soft = life * 6 / 10, hard = life * 9 / 10;
    /* [soft, hard] inclusive: the span has hard - soft + 1 points */
    return issued + soft + (int64_t)(rnd % (uint64_t)(hard - soft + 1));
}

uint64_t connect_rand_next(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}
