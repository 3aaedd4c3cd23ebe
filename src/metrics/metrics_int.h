/* metrics/metrics_int.h: what registry.c, format.c and runtime.c share. */
#ifndef CN_METRICS_INT_H
#define CN_METRICS_INT_H

#include "metrics/metrics.h"

/* Quantile histograms: log-linear buckets, MX_HSUB per power of two from
 * 2^MX_HEXP_MIN to 2^(MX_HEXP_MIN + MX_HOCT); bucket 0 holds values <= 0,
 * bucket 1 the values under the range, the last one those over it. A
 * bucket's width is at most 1/MX_HSUB of its lower bound (<= 12.5 %). */
#define MX_HSUB 8
#define MX_HOCT 40
#define MX_HEXP_MIN (-13)
#define MX_HBUCKETS (MX_HOCT * MX_HSUB + 3)

struct mx_hist {
    uint64_t window; /* the 5 s window these observations belong to */
    uint64_t n;
    double min, max;
    uint32_t b[MX_HBUCKETS];
};

/* One interval's aggregate (go-metrics' AggregateSample); for a gauge,
 * count > 0 means it was set in the interval and `last` holds the value. */
struct mx_agg {
    uint64_t epoch; /* the 10 s interval (wall seconds / 10) */
    uint64_t count;
    double sum, sumsq, min, max, last;
};

struct mx_series {
    struct mx_series *hnext; /* hash chain (labelled series) */
    struct mx_series *next;  /* every series, in creation order */
    enum mx_id id;
    bool declared; /* unlabelled: always in the Prometheus output, never expired */
    const void *k1;
    uintptr_t k2;
    size_t nlabels;
    struct mx_label labels[MX_MAX_LABELS]; /* owned copies, sorted by name */
    struct mx_agg cur, prev;
    double total;         /* counter: sum since created; sample: sum; gauge: value */
    uint64_t total_count; /* sample: observations; gauge: 1 once set */
    uint64_t updated_s;   /* wall seconds of the last update */
    struct mx_hist *h[2]; /* quantile windows, by window parity */
};

struct mx_gfn {
    enum mx_id id;
    double (*fn)(void *);
    void *arg;
};

struct mx_rule {
    char *prefix;
    bool allow;
};

struct mx_reg {
    struct mx_series *fixed[MX__COUNT]; /* unlabelled series; NULL: filtered out */
    bool allowed[MX__COUNT];
    struct mx_series **tab; /* labelled series by (id, k1, k2) */
    size_t tcap, tn;
    struct mx_series *all, *last;
    uint64_t now_s, epoch, window, start_epoch;
    char *prefix, *host;
    bool hostname;
    uint64_t retention_s;
    struct mx_gfn gfn[16];
    size_t ngfn;
};

extern struct mx_reg *mx__reg;

/* The name as go-metrics builds it for kind k (prefix, hostname for gauges),
 * dotted, into out. */
void mx__name(const struct mx_reg *r, enum mx_id id, char *out, size_t cap);
/* Merge the quantile windows of s still current into *out; false if none. */
bool mx__window(const struct mx_reg *r, const struct mx_series *s, struct mx_hist *out);
/* The q-quantile of h (h->n > 0): a bucket's midpoint, clamped to the
 * window's min and max. */
double mx__quantile(const struct mx_hist *h, double q);

#endif
