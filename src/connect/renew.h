/* connect/renew.h: when the agent renews a leaf certificate, as Consul's
 * agent/leafcert calculateSoftExpiry and its jitter: at a random point
 * between 60% and 90% of the leaf's lifetime, so that the leaves of many
 * services (and of many agents) signed together are not renewed together.
 * Pure: the random value is the caller's (a seeded generator), so tests pick
 * the point. */
#ifndef CN_CONNECT_RENEW_H
#define CN_CONNECT_RENEW_H

#include <stdint.h>

/* The renewal time (seconds, as issued and not_after) of a leaf signed at
 * `issued` and valid until `not_after`: issued + 60% of the lifetime plus
 * rnd modulo 30% of it (plus one second), so in [60%, 90%] of the lifetime.
 * A lifetime of 0 or less renews at once (issued). */
int64_t connect_leaf_renew_at(int64_t issued, int64_t not_after, uint64_t rnd);

/* xorshift64, the agent's generator for rnd: advances *state (never 0). */
uint64_t connect_rand_next(uint64_t *state);

#endif
