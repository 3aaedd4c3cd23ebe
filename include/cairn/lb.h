/* cairn/lb.h: picking one backend out of a set (part of libcairn, public).
 *
 * Build an immutable table from a set of backends (id, weight) once, then
 * answer pick(key) from any number of threads without locks and without
 * allocating. Pure: no I/O, no clock, no globals other than a per-thread PRNG
 * for the unkeyed policies; the only allocation is in cairn_lb_new().
 *
 * Canonical order: cairn_lb_new() sorts the backends by id (bytewise), so two
 * builds of the same membership, in any input order, in any process, are
 * byte-identical and pick the same backend for the same key. Backend indexes
 * returned by pick are positions in that sorted order (cairn_lb_backend_id()).
 *
 * Lifetime: a table is reference counted. cairn_lb_new() returns it with one
 * reference; cairn_lb_ref() adds one, cairn_lb_release() drops one and frees
 * the table with the last. A thread that holds a reference may pick from the
 * table while another thread builds and publishes its replacement: the table
 * itself never changes after cairn_lb_new() returns (only the live load and
 * in-flight counters of the bounded and p2c policies, which are atomics).
 * Memory ordering: the builder's writes happen-before the publication of the
 * pointer (whatever publishes it must be a release store, or a lock, or a
 * thread start), readers read the pointer with acquire; the count is
 * incremented relaxed (the caller already holds a reference, so the table
 * cannot go away) and decremented acq_rel so that every reader's last use
 * happens-before the free.
 *
 * Not here: health, addresses, the HTTP API (src/api/health.c and libcairn's
 * client.h build these tables from instances). */
#ifndef CAIRN_LB_H
#define CAIRN_LB_H

#include <stddef.h>
#include <stdint.h>

#ifndef CAIRN_API
#if defined(__GNUC__)
#define CAIRN_API __attribute__((visibility("default")))
#else
#define CAIRN_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum cairn_lb_policy {
    CAIRN_LB_RING = 1,   /* ketama ring, virtual nodes proportional to weight */
    CAIRN_LB_MAGLEV,     /* Maglev lookup table (prime size), weighted by fill order */
    CAIRN_LB_RENDEZVOUS, /* highest random weight, weighted (logarithmic method) */
    CAIRN_LB_JUMP,       /* jump consistent hash over the sorted backends (weights ignored) */
    CAIRN_LB_BOUNDED,    /* consistent hashing with bounded loads (capacity factor c) */
    CAIRN_LB_P2C,        /* power of two choices over in-flight counts (key ignored) */
    CAIRN_LB_SWRR,       /* smooth weighted round robin (key ignored) */
    CAIRN_LB_RANDOM,     /* weighted random (key ignored) */
};

/* No backend (empty table, or every backend at weight 0). */
#define CAIRN_LB_NONE SIZE_MAX

/* Limits: an id is 1..CAIRN_LB_ID_MAX bytes, a weight 0..CAIRN_LB_WEIGHT_MAX
 * (0: never picked), at most CAIRN_LB_BACKENDS_MAX backends. */
#define CAIRN_LB_ID_MAX 512
#define CAIRN_LB_WEIGHT_MAX 65535
#define CAIRN_LB_BACKENDS_MAX (1u << 20)

struct cairn_lb_backend {
    const char *id; /* borrowed for the call; copied into the table */
    size_t id_len;  /* 0: strlen(id) */
    uint32_t weight;
};

struct cairn_lb_opts {
    enum cairn_lb_policy policy;
    uint64_t seed;        /* hash seed; 0 is a fine value (the registry uses 0) */
    uint32_t ring_points; /* ring, bounded: points per weight unit; 0: 160 (scaled down past
                             2^22 points in all: docs/lb.md) */
    uint32_t maglev_size; /* maglev: a prime; 0: from the ladder 65537, 131071, ... 4194301,
                             the first >= 100*sum(w)/min(w): docs/lb.md */
    double bounded_c;     /* bounded: capacity factor > 1; 0: 1.25 */
};

struct cairn_lb;

/* Build a table of `n` backends (copied). Returns NULL with *err set to -22
 * (EINVAL: bad policy, id, weight, duplicate id, maglev_size not prime or
 * smaller than the number of backends, bounded_c <= 1) or -12 (ENOMEM);
 * `opts` NULL means maglev with defaults. Duplicate ids are an error. */
CAIRN_API struct cairn_lb *cairn_lb_new(const struct cairn_lb_backend *b, size_t n,
                                        const struct cairn_lb_opts *opts, int *err);
CAIRN_API struct cairn_lb *cairn_lb_ref(struct cairn_lb *lb);
CAIRN_API void cairn_lb_release(struct cairn_lb *lb);

/* Pick for `key` (len bytes, any bytes; NULL/0 allowed). Returns the index
 * of the chosen backend in canonical order, or CAIRN_LB_NONE. Never
 * allocates, never locks. For CAIRN_LB_BOUNDED this counts one live load on
 * the chosen backend and for CAIRN_LB_P2C one in-flight request: give it
 * back with cairn_lb_done(). A bounded pick examines at most 64 ring points
 * plus each backend once, whatever the load (docs/lb.md). */
CAIRN_API size_t cairn_lb_pick(const struct cairn_lb *lb, const void *key, size_t len);
/* The same with a precomputed key hash (cairn_lb_hash(lb, key, len)). */
CAIRN_API size_t cairn_lb_pick_hash(const struct cairn_lb *lb, uint64_t h);
CAIRN_API uint64_t cairn_lb_hash(const struct cairn_lb *lb, const void *key, size_t len);
/* End one load/in-flight request picked from this table (bounded, p2c; a
 * no-op for the other policies). */
CAIRN_API void cairn_lb_done(const struct cairn_lb *lb, size_t idx);

CAIRN_API size_t cairn_lb_count(const struct cairn_lb *lb);
CAIRN_API enum cairn_lb_policy cairn_lb_policy_of(const struct cairn_lb *lb);
/* The id of backend `idx` (NUL-terminated, owned by the table). */
CAIRN_API const char *cairn_lb_backend_id(const struct cairn_lb *lb, size_t idx);
CAIRN_API uint32_t cairn_lb_backend_weight(const struct cairn_lb *lb, size_t idx);
/* Live load (bounded) or in-flight count (p2c) of backend `idx`. */
CAIRN_API uint32_t cairn_lb_backend_load(const struct cairn_lb *lb, size_t idx);
/* Bytes the table holds (for the benchmark and docs/lb.md). */
CAIRN_API size_t cairn_lb_memory(const struct cairn_lb *lb);
/* Exact share of the 64-bit key space owned by each backend (ring, maglev,
 * bounded at zero load): shares[i] for i < count, summing to 1. Returns 0, or
 * -22 for the policies where the share is not a property of the table. */
CAIRN_API int cairn_lb_shares(const struct cairn_lb *lb, double *shares);

/* "ring", "maglev", "rendezvous", "jump", "bounded", "p2c", "swrr", "random"
 * <-> the policy; parse returns 0 when the name is unknown. */
CAIRN_API enum cairn_lb_policy cairn_lb_policy_parse(const char *name);
CAIRN_API const char *cairn_lb_policy_name(enum cairn_lb_policy p);

/* Seed the calling thread's PRNG (p2c, random, swrr start): for tests. */
CAIRN_API void cairn_lb_thread_seed(uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
