/* bench/lb/lb_bench.c: figures for include/cairn/lb.h (docs/lb.md,
 * docs/benchmarks.md). Never pass/fail. For each backend count: ns per pick
 * (median of 7 runs of 1M picks over random 8-byte keys, hash included; the
 * ring also beside a plain binary search over the same points, its peer),
 * memory, build and rebuild (one backend removed) time, balance
 * (peak-to-average share: exact for ring and maglev, sampled otherwise and
 * shown beside an ideal uniform assignment of the same keys), disruption
 * when one backend leaves / joins beside the ideal 1/n, and for bounded
 * loads the peak-to-average live load under a Zipf stream, beside the plain
 * ring under the same stream.
 *
 * usage: lb_bench [-n N[,N...]] [-keys K] [-quick] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn/lb.h"
#include "lb/lb_int.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng += 0x9e3779b97f4a7c15ULL;
    return cairn_lb__mix(rng);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define NKEYS (1u << 20)
static uint64_t *keys;
static volatile size_t sink;

static uint32_t g_maglev_size; /* 0: the default ladder */
static char (*ids)[32];
static struct cairn_lb_backend *bes;

static void make(size_t n, int mixed, uint32_t salt)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], 32, "node-%zu/svc-%u-%zu", i, salt, i);
        bes[i].id = ids[i];
        bes[i].id_len = 0;
        bes[i].weight = mixed ? (uint32_t)(1 + rnd() % 100) : 1;
    }
}

static struct cairn_lb *build(enum cairn_lb_policy p, struct cairn_lb_backend *b, size_t n,
                              uint32_t ppw, double *secs)
{
    struct cairn_lb_opts o = {p, 0, ppw, p == CAIRN_LB_MAGLEV ? g_maglev_size : 0, 1.25};
    int err = 0;
    double t0 = now();
    struct cairn_lb *lb = cairn_lb_new(b, n, &o, &err);
    if (secs)
        *secs = now() - t0;
    return lb;
}

static double ns_per_pick(const struct cairn_lb *lb, int bsearch)
{
    double runs[7];
    /* rendezvous is O(n) a pick: 10^8 backend scores a run at most */
    size_t iters = NKEYS;
    if (cairn_lb_policy_of(lb) == CAIRN_LB_RENDEZVOUS && cairn_lb_count(lb) > 100)
        iters = NKEYS / (cairn_lb_count(lb) / 100);
    for (int r = 0; r < 7; r++) {
        size_t acc = 0;
        double t0 = now();
        if (!bsearch) {
            for (size_t i = 0; i < iters; i++)
                acc += cairn_lb_pick(lb, &keys[i], 8);
        } else {
            /* the peer: hash, then a plain lower_bound over the points */
            for (size_t i = 0; i < NKEYS; i++) {
                uint64_t h = cairn_lb_hash(lb, &keys[i], 8);
                size_t lo = 0, hi = lb->npts;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (lb->pts[mid] < h)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                acc += lb->owner[lo == lb->npts ? 0 : lo];
            }
        }
        runs[r] = (now() - t0) * 1e9 / (double)(bsearch ? NKEYS : iters);
        sink += acc;
        if (cairn_lb_policy_of(lb) == CAIRN_LB_P2C || cairn_lb_policy_of(lb) == CAIRN_LB_BOUNDED)
            break; /* loads accumulate: one run, see the bounded section */
    }
    int nr = cairn_lb_policy_of(lb) == CAIRN_LB_P2C ? 1 : 7;
    qsort(runs, (size_t)nr, sizeof runs[0], cmpd);
    return runs[nr / 2];
}

/* peak-to-average of share/weight, and the worst |share/ideal - 1| */
static void balance(const struct cairn_lb *lb, uint64_t nkeys, double *pta, double *dev,
                    double *ideal_pta)
{
    size_t n = cairn_lb_count(lb);
    double *sh = calloc(n, sizeof *sh);
    double wsum = 0;
    for (size_t i = 0; i < n; i++)
        wsum += cairn_lb_backend_weight(lb, i);
    *ideal_pta = 0;
    if (cairn_lb_shares(lb, sh) != 0) {
        /* sampled: nkeys keys; beside it the same count thrown uniformly
         * at random by weight (the noise floor of the measurement) */
        double *ref = calloc(n, sizeof *ref);
        struct cairn_lb *rnd_lb = NULL;
        {
            struct cairn_lb_backend *b = calloc(n, sizeof *b);
            for (size_t i = 0; i < n; i++) {
                b[i].id = cairn_lb_backend_id(lb, i);
                b[i].weight = cairn_lb_backend_weight(lb, i);
            }
            struct cairn_lb_opts o = {CAIRN_LB_RANDOM, 0, 0, 0, 0};
            int e;
            rnd_lb = cairn_lb_new(b, n, &o, &e);
            free(b);
        }
        for (uint64_t k = 0; k < nkeys; k++) {
            uint64_t key = k * 0x9e3779b97f4a7c15ULL + 12345;
            sh[cairn_lb_pick(lb, &key, 8)] += 1.0 / (double)nkeys;
            ref[cairn_lb_pick(rnd_lb, NULL, 0)] += 1.0 / (double)nkeys;
        }
        double mx = 0;
        for (size_t i = 0; i < n; i++) {
            double r = ref[i] / (cairn_lb_backend_weight(lb, i) / wsum);
            mx = r > mx ? r : mx;
        }
        *ideal_pta = mx;
        cairn_lb_release(rnd_lb);
        free(ref);
    }
    double mx = 0, dv = 0;
    for (size_t i = 0; i < n; i++) {
        double r = sh[i] / (cairn_lb_backend_weight(lb, i) / wsum);
        mx = r > mx ? r : mx;
        dv = fabs(r - 1) > dv ? fabs(r - 1) : dv;
    }
    *pta = mx;
    *dev = dv;
    free(sh);
}

/* fraction of 1M keys whose id changes between two tables (rendezvous, O(n)
 * per pick: 2^30/n keys at most, at least 2^17) */
static double moved(const struct cairn_lb *a, const struct cairn_lb *b)
{
    size_t m = 0, k = 1u << 20;
    if (cairn_lb_policy_of(a) == CAIRN_LB_RENDEZVOUS) {
        size_t cap = (1u << 30) / cairn_lb_count(a);
        k = cap < k ? (cap > (1u << 17) ? cap : 1u << 17) : k;
    }
    for (size_t i = 0; i < k; i++) {
        size_t x = cairn_lb_pick(a, &keys[i], 8), y = cairn_lb_pick(b, &keys[i], 8);
        if (strcmp(cairn_lb_backend_id(a, x), cairn_lb_backend_id(b, y)) != 0)
            m++;
    }
    return (double)m / (double)k;
}

/* Zipf(s) over a universe of u keys, by inverting the CDF table */
static double *zipf_cdf;
static size_t zipf_u;
static void zipf_init(size_t u, double s)
{
    zipf_u = u;
    zipf_cdf = malloc(u * sizeof *zipf_cdf);
    double sum = 0;
    for (size_t i = 0; i < u; i++)
        sum += 1.0 / pow((double)(i + 1), s);
    double acc = 0;
    for (size_t i = 0; i < u; i++) {
        acc += 1.0 / pow((double)(i + 1), s) / sum;
        zipf_cdf[i] = acc;
    }
}
static uint64_t zipf_draw(void)
{
    double x = (double)(rnd() >> 11) / 9007199254740992.0;
    size_t lo = 0, hi = zipf_u - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Hold `live` requests: each pick is released `live` picks later. Returns
 * the worst peak-to-average live load seen after warm-up. */
static uint64_t zipf_worst_work; /* bounded: most candidates examined by one pick */
static double zipf_mean_work;    /* bounded: mean candidates examined per pick */
static double zipf_loads(enum cairn_lb_policy p, size_t n, size_t live, size_t steps)
{
    uint64_t work0 = cairn_lb__bounded_steps;
    zipf_worst_work = 0;
    struct cairn_lb *lb = build(p, bes, n, 100, NULL);
    size_t *q = calloc(live, sizeof *q);
    unsigned *load = calloc(n, sizeof *load);
    double worst = 0;
    rng = 42;
    for (size_t t = 0; t < steps; t++) {
        if (t >= live) {
            size_t old = q[t % live];
            cairn_lb_done(lb, old);
            load[old]--;
        }
        uint64_t key = zipf_draw();
        uint64_t w0 = cairn_lb__bounded_steps;
        size_t idx = cairn_lb_pick(lb, &key, 8);
        if (cairn_lb__bounded_steps - w0 > zipf_worst_work)
            zipf_worst_work = cairn_lb__bounded_steps - w0;
        q[t % live] = idx;
        load[idx]++;
        /* only load[idx] grew: the running peak is exact */
        if (t >= live) {
            double r = load[idx] / ((double)live / (double)n);
            worst = r > worst ? r : worst;
        }
    }
    zipf_mean_work = (double)(cairn_lb__bounded_steps - work0) / (double)steps;
    free(q);
    free(load);
    cairn_lb_release(lb);
    return worst;
}

int main(int argc, char **argv)
{
    size_t ns[8] = {10, 100, 1000, 10000};
    size_t nn = 4;
    uint64_t sample = 10000000;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-quick")) {
            quick = 1;
            sample = 1000000;
        } else if (!strcmp(argv[i], "-keys") && i + 1 < argc) {
            sample = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            nn = 0;
            for (char *t = strtok(argv[++i], ","); t && nn < 8; t = strtok(NULL, ","))
                ns[nn++] = strtoull(t, NULL, 10);
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    keys = malloc(NKEYS * sizeof *keys);
    for (size_t i = 0; i < NKEYS; i++)
        keys[i] = rnd();
    ids = malloc(10001 * 2 * sizeof *ids);
    bes = malloc(10001 * 2 * sizeof *bes);
    zipf_init(1000000, 1.1);

    const enum cairn_lb_policy pols[] = {CAIRN_LB_MAGLEV, CAIRN_LB_RING,    CAIRN_LB_RENDEZVOUS,
                                         CAIRN_LB_JUMP,   CAIRN_LB_BOUNDED, CAIRN_LB_P2C,
                                         CAIRN_LB_SWRR,   CAIRN_LB_RANDOM};
    printf("# cairn lb bench: ns/pick = median of 7 x 1M picks of random 8-byte keys (XXH3 "
           "included)\n");
    printf("# ring: 1000 points per weight unit up to 1,000 backends, 100 at 10,000; maglev: "
           "default size\n");
    printf("# balance: peak-to-average of share/weight; exact for ring/maglev, else over %llu "
           "keys (ideal = a uniform random throw of as many keys)\n",
           (unsigned long long)sample);
    for (size_t ni = 0; ni < nn; ni++) {
        size_t n = ns[ni];
        uint32_t ppw = n >= 10000 ? 100 : 1000;
        printf("\n## %zu backends\n", n);
        printf("%-10s %8s %10s %9s %9s %8s %8s %8s %8s %8s %8s\n", "policy", "ns/pick", "memory",
               "build_ms", "rebld_ms", "pta_eq", "ideal", "pta_mix", "maxdev", "rm/ideal",
               "add/idl");
        /* one more row: maglev with a 1048573-slot table, beside the default */
        for (size_t pi = 0; pi <= sizeof pols / sizeof pols[0]; pi++) {
            enum cairn_lb_policy p = pi < sizeof pols / sizeof pols[0] ? pols[pi] : CAIRN_LB_MAGLEV;
            g_maglev_size = pi < sizeof pols / sizeof pols[0] ? 0 : 1048573;
            const char *pname = g_maglev_size ? "maglev-1M" : cairn_lb_policy_name(p);
            make(n, 0, 1);
            double tb, tr;
            struct cairn_lb *lb = build(p, bes, n, ppw, &tb);
            if (!lb) {
                printf("%-10s refused (see docs/lb.md)\n", pname);
                continue;
            }
            double ns_pick = ns_per_pick(lb, 0);
            /* rebuild: one backend fewer */
            struct cairn_lb *lb2 = build(p, bes + 1, n - 1, ppw, &tr);
            double pta = 0, dev = 0, ideal = 0, ptam = 0, devm = 0, idealm = 0;
            double rm = -1, add = -1;
            int keyed = p <= CAIRN_LB_BOUNDED && p != CAIRN_LB_BOUNDED;
            uint64_t smp = sample;
            if (p == CAIRN_LB_RENDEZVOUS)
                smp = sample / (n > 100 ? n / 100 : 1); /* O(n) picks */
            /* exact shares (ring, maglev) are cheap at any size */
            int exact = p == CAIRN_LB_RING || p == CAIRN_LB_MAGLEV;
            if (keyed || p == CAIRN_LB_RANDOM || p == CAIRN_LB_SWRR) {
                if (!quick || n <= 1000 || exact)
                    balance(lb, smp, &pta, &dev, &ideal);
            }
            if (keyed && !(quick && p == CAIRN_LB_RENDEZVOUS && n > 1000)) {
                /* jump: remove/add the last shard; others: the first id */
                struct cairn_lb *rm_lb = lb2, *add_lb;
                if (p == CAIRN_LB_JUMP) {
                    /* the last id in canonical order leaves */
                    const char *last = cairn_lb_backend_id(lb, n - 1);
                    size_t j = 0;
                    static struct cairn_lb_backend tmp[20002];
                    for (size_t i = 0; i < n; i++)
                        if (strcmp(bes[i].id, last) != 0)
                            tmp[j++] = bes[i];
                    rm_lb = build(p, tmp, j, ppw, NULL);
                }
                rm = moved(lb, rm_lb) * (double)n;
                if (rm_lb != lb2)
                    cairn_lb_release(rm_lb);
                /* a backend joins: for jump its id must sort last */
                snprintf(ids[n], 32, p == CAIRN_LB_JUMP ? "zzzz-new" : "node-new");
                bes[n].id = ids[n];
                bes[n].id_len = 0;
                bes[n].weight = 1;
                add_lb = build(p, bes, n + 1, ppw, NULL);
                add = moved(lb, add_lb) * (double)(n + 1);
                cairn_lb_release(add_lb);
            }
            if (p != CAIRN_LB_BOUNDED && p != CAIRN_LB_P2C && p != CAIRN_LB_JUMP) {
                make(n, 1, 1);
                struct cairn_lb *mix = build(p, bes, n, ppw, NULL);
                if (mix && (!quick || n <= 1000 || exact) &&
                    (keyed || p == CAIRN_LB_RANDOM || p == CAIRN_LB_SWRR))
                    balance(mix, smp, &ptam, &devm, &idealm);
                cairn_lb_release(mix);
                if (!mix)
                    ptam = -1;
            }
            printf("%-10s %8.1f %9.1fK %9.3f %9.3f %8.4f %8.4f %8.4f %8.4f %8.3f %8.3f\n", pname,
                   ns_pick, (double)cairn_lb_memory(lb) / 1024.0, tb * 1e3, tr * 1e3, pta, ideal,
                   ptam, devm, rm, add);
            if (p == CAIRN_LB_MAGLEV)
                printf("%-10s M = %u slots (the mixed-weight table may be larger)\n", "", lb->m);
            if (p == CAIRN_LB_RING) {
                printf("%-10s %8.1f   (plain binary search over the same %zu points)\n",
                       "ring-bsrch", ns_per_pick(lb, 1), lb->npts);
            }
            cairn_lb_release(lb);
            cairn_lb_release(lb2);
        }
        /* bounded loads under a Zipf(1.1) stream over 1M keys, 10 requests
         * in flight per backend on average */
        make(n, 0, 1);
        size_t live = n * 10, steps = quick ? live * 20 : live * 50;
        if (steps < 200000)
            steps = 200000;
        double t0 = now();
        double b = zipf_loads(CAIRN_LB_BOUNDED, n, live, steps);
        double bsecs = now() - t0;
        printf("bounded(c=1.25) under zipf(1.1): %zu picks in %.2f s, candidates examined per "
               "pick: mean %.1f, worst %llu (bound %d ring points + %zu backends)\n",
               steps, bsecs, zipf_mean_work, (unsigned long long)zipf_worst_work,
               CAIRN_LB_BOUNDED_RING_STEPS, n);
        double r = zipf_loads(CAIRN_LB_RING, n, live, steps);
        double p2 = zipf_loads(CAIRN_LB_P2C, n, live, steps);
        printf("zipf(1.1) live loads, %zu in flight: peak-to-average bounded(c=1.25) %.3f, "
               "plain ring %.3f, p2c %.3f\n",
               live, b, r, p2);
    }
    return (int)(sink & 0);
}
