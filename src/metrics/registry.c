/* metrics/registry.c: the series and their updates (see metrics.h).
 *
 * Intervals: go-metrics' InmemSink keeps 10 s intervals aligned to the wall
 * clock (time.Now().Truncate(interval)) and /v1/agent/metrics shows the one
 * before the current. A series keeps two aggregates, stamped with their
 * interval: an update to a series whose current aggregate is older than the
 * registry's interval moves it to `prev` first, so closing an interval
 * touches no series at all. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "metrics/metrics_int.h"

struct mx_reg *mx__reg;

static const struct mx_info infos[MX__COUNT] = {
#define MX_INFO_(id, kind, ns, name, unit, help) {MX_##kind, MX_NS_##ns, name, unit, help},
    MX_METRICS(MX_INFO_)
#undef MX_INFO_
};

const struct mx_info *mx_info(enum mx_id id)
{
    return &infos[id];
}

void mx__name(const struct mx_reg *r, enum mx_id id, char *out, size_t cap)
{
    const struct mx_info *m = &infos[id];
    const char *pre = m->ns == MX_NS_CONSUL ? r->prefix : "cairn";
    /* go-metrics inserts the hostname after the service name, for gauges. */
    if (m->kind == MX_GAUGE && r->hostname)
        snprintf(out, cap, "%s.%s.%s", pre, r->host, m->name);
    else
        snprintf(out, cap, "%s.%s", pre, m->name);
}

/* go-metrics' filter: the longest matching prefix of the dotted name decides,
 * filter_default when none matches. */
static bool allowed(const char *name, const struct mx_rule *rules, size_t n, bool def)
{
    size_t best = 0;
    bool ok = def;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(rules[i].prefix);
        if (l >= best && !strncmp(name, rules[i].prefix, l)) {
            best = l;
            ok = rules[i].allow;
        }
    }
    return ok;
}

static void series_free(struct mx_series *s)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        cn_free((char *)s->labels[i].name);
        cn_free((char *)s->labels[i].value);
    }
    cn_free(s->h[0]);
    cn_free(s->h[1]);
    cn_free(s);
}

static struct mx_series *series_new(struct mx_reg *r, enum mx_id id)
{
    struct mx_series *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = id;
    if (r->last)
        r->last->next = s;
    else
        r->all = s;
    r->last = s;
    return s;
}

void mx_stop(void)
{
    struct mx_reg *r = mx__reg;
    if (!r)
        return;
    mx__reg = NULL;
    for (struct mx_series *s = r->all, *nx; s; s = nx) {
        nx = s->next;
        series_free(s);
    }
    cn_free(r->tab);
    cn_free(r->prefix);
    cn_free(r->host);
    cn_free(r);
}

bool mx_running(void)
{
    return mx__reg != NULL;
}

bool mx_enabled(enum mx_id id)
{
    return mx__reg && mx__reg->allowed[id];
}

bool mx_prometheus_enabled(void)
{
    return mx__reg && mx__reg->retention_s > 0;
}

int mx_start(const struct mx_options *o, uint64_t now_ms, char *err, size_t errcap)
{
    mx_stop();
    struct mx_rule rules[64];
    size_t nr = o->nrules < 64 ? o->nrules : 64;
    for (size_t i = 0; i < nr; i++) {
        const char *t = o->rules[i];
        if (t[0] != '+' && t[0] != '-') {
            snprintf(err, errcap,
                     "telemetry.prefix_filter: \"%s\" must start with + (allow) or - (block)", t);
            return CN_EINVAL;
        }
        rules[i].prefix = (char *)t + 1;
        rules[i].allow = t[0] == '+';
    }
    struct mx_reg *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return CN_ENOMEM;
    r->prefix = cn_strdup(o->prefix && *o->prefix ? o->prefix : "consul");
    r->host = cn_strdup(o->hostname ? o->hostname : "");
    r->hostname = !o->disable_hostname && o->hostname && *o->hostname;
    r->retention_s = o->retention_s;
    r->tcap = 64;
    r->tab = cn_calloc(r->tcap, sizeof(*r->tab));
    if (!r->prefix || !r->host || !r->tab)
        goto oom;
    mx__reg = r; /* series_new and mx__name need it */
    for (int id = 0; id < MX__COUNT; id++) {
        char name[256];
        const struct mx_info *m = &infos[id];
        snprintf(name, sizeof(name), "%s.%s", m->ns == MX_NS_CONSUL ? r->prefix : "cairn", m->name);
        r->allowed[id] = allowed(name, rules, nr, o->filter_default);
        if (!r->allowed[id])
            continue;
        /* API_HTTP, DNS_*_QUERY and the check counters carry labels: their
         * series are made on first use. */
        if (id == MX_API_HTTP || id == MX_DNS_DOMAIN_QUERY || id == MX_DNS_PTR_QUERY ||
            id == MX_CHECK_RUNS || id == MX_CHECK_TRANSITIONS)
            continue;
        struct mx_series *s = series_new(r, (enum mx_id)id);
        if (!s)
            goto oom;
        s->declared = true;
        r->fixed[id] = s;
    }
    mx_set_time(now_ms);
    r->start_epoch = r->epoch;
    return 0;
oom:
    mx__reg = r;
    mx_stop();
    return CN_ENOMEM;
}

void mx_set_time(uint64_t now_ms)
{
    struct mx_reg *r = mx__reg;
    if (!r)
        return;
    r->now_s = now_ms / 1000;
    r->epoch = r->now_s / 10;
    r->window = r->now_s / 5;
}

/* ---- updates --------------------------------------------------------------- */

static unsigned hbucket(double v)
{
    if (!(v > 0))
        return 0;
    int e;
    double m = frexp(v, &e); /* v = m * 2^e, m in [0.5, 1) */
    int oct = e - 1 - MX_HEXP_MIN;
    if (oct < 0)
        return 1;
    if (oct >= MX_HOCT)
        return MX_HBUCKETS - 1;
    int sub = (int)((m - 0.5) * 2 * MX_HSUB);
    if (sub >= MX_HSUB)
        sub = MX_HSUB - 1;
    return 2 + (unsigned)(oct * MX_HSUB + sub);
}

/* The middle of bucket i's range. */
static double hmid(unsigned i)
{
    if (i == 0)
        return 0;
    if (i == 1)
        return ldexp(1, MX_HEXP_MIN);
    if (i >= MX_HBUCKETS - 1)
        return ldexp(1, MX_HEXP_MIN + MX_HOCT);
    unsigned k = i - 2;
    int e = (int)(k / MX_HSUB) + MX_HEXP_MIN;
    double lo = ldexp(1.0 + (double)(k % MX_HSUB) / MX_HSUB, e);
    double hi = ldexp(1.0 + (double)(k % MX_HSUB + 1) / MX_HSUB, e);
    return (lo + hi) / 2;
}

double mx__quantile(const struct mx_hist *h, double q)
{
    /* The observation of rank ceil(q n) (at least the first). */
    uint64_t want = (uint64_t)ceil(q * (double)h->n);
    if (want < 1)
        want = 1;
    if (want >= h->n)
        return h->max;
    uint64_t cum = 0;
    double v = h->max;
    for (unsigned i = 0; i < MX_HBUCKETS; i++) {
        cum += h->b[i];
        if (cum >= want) {
            v = hmid(i);
            break;
        }
    }
    if (v < h->min)
        v = h->min;
    if (v > h->max)
        v = h->max;
    return v;
}

bool mx__window(const struct mx_reg *r, const struct mx_series *s, struct mx_hist *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < 2; i++) {
        const struct mx_hist *h = s->h[i];
        if (!h || !h->n || h->window + 1 < r->window)
            continue;
        if (!out->n || h->min < out->min)
            out->min = h->min;
        if (!out->n || h->max > out->max)
            out->max = h->max;
        out->n += h->n;
        for (unsigned b = 0; b < MX_HBUCKETS; b++)
            out->b[b] += h->b[b];
    }
    return out->n > 0;
}

static void hist_add(struct mx_reg *r, struct mx_series *s, double v)
{
    struct mx_hist **hp = &s->h[r->window & 1];
    struct mx_hist *h = *hp;
    if (!h) {
        h = *hp = cn_calloc(1, sizeof(*h));
        if (!h)
            return; /* quantiles miss it; sum and count do not */
        h->window = r->window;
    } else if (h->window != r->window) {
        memset(h, 0, sizeof(*h));
        h->window = r->window;
    }
    if (!h->n || v < h->min)
        h->min = v;
    if (!h->n || v > h->max)
        h->max = v;
    h->n++;
    h->b[hbucket(v)]++;
}

void mx_series_add(struct mx_series *s, double v)
{
    struct mx_reg *r = mx__reg;
    if (!s || !r)
        return;
    struct mx_agg *a = &s->cur;
    if (a->epoch != r->epoch) {
        s->prev = *a;
        memset(a, 0, sizeof(*a));
        a->epoch = r->epoch;
    }
    if (!s->declared && r->retention_s && s->updated_s &&
        s->updated_s + r->retention_s < r->now_s) {
        /* Expired from the Prometheus view: it starts again as a new series,
         * as the Prometheus sink deletes and recreates it. */
        s->total = 0;
        s->total_count = 0;
    }
    s->updated_s = r->now_s;
    /* go-metrics' AggregateSample.Ingest */
    a->count++;
    a->sum += v;
    a->sumsq += v * v;
    if (a->count == 1 || v < a->min)
        a->min = v;
    if (a->count == 1 || v > a->max)
        a->max = v;
    a->last = v;
    switch (infos[s->id].kind) {
    case MX_COUNTER:
        s->total += v;
        break;
    case MX_GAUGE:
        s->total = v;
        s->total_count = 1;
        break;
    case MX_SAMPLE:
        s->total += v;
        s->total_count++;
        hist_add(r, s, v);
        break;
    }
}

void mx_incr(enum mx_id id, double v)
{
    if (mx__reg)
        mx_series_add(mx__reg->fixed[id], v);
}

void mx_gauge(enum mx_id id, double v)
{
    if (mx__reg)
        mx_series_add(mx__reg->fixed[id], v);
}

void mx_sample(enum mx_id id, double v)
{
    if (mx__reg)
        mx_series_add(mx__reg->fixed[id], v);
}

void mx_sample_since(enum mx_id id, uint64_t t0_ns)
{
    if (mx__reg && mx__reg->fixed[id])
        mx_series_add(mx__reg->fixed[id], (double)(cn_now_ns() - t0_ns) / 1e6);
}

static size_t slot(const struct mx_reg *r, enum mx_id id, const void *k1, uintptr_t k2)
{
    uint64_t h = (uint64_t)(uintptr_t)k1 * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)k2 * 0xC2B2AE3D27D4EB4Full;
    h ^= (uint64_t)id * 0x165667B19E3779F9ull;
    h ^= h >> 29;
    return (size_t)(h & (r->tcap - 1));
}

static int grow(struct mx_reg *r)
{
    size_t ncap = r->tcap * 2;
    struct mx_series **nt = cn_calloc(ncap, sizeof(*nt));
    if (!nt)
        return CN_ENOMEM;
    struct mx_series **old = r->tab;
    size_t ocap = r->tcap;
    r->tab = nt;
    r->tcap = ncap;
    for (size_t i = 0; i < ocap; i++)
        for (struct mx_series *s = old[i], *nx; s; s = nx) {
            nx = s->hnext;
            size_t k = slot(r, s->id, s->k1, s->k2);
            s->hnext = nt[k];
            nt[k] = s;
        }
    cn_free(old);
    return 0;
}

struct mx_series *mx_series(enum mx_id id, const void *key1, uintptr_t key2,
                            const struct mx_label *labels, size_t n)
{
    struct mx_reg *r = mx__reg;
    if (!r || !r->allowed[id])
        return NULL;
    if (!n && r->fixed[id])
        return r->fixed[id];
    size_t k = slot(r, id, key1, key2);
    for (struct mx_series *s = r->tab[k]; s; s = s->hnext)
        if (s->id == id && s->k1 == key1 && s->k2 == key2)
            return s;
    if (!labels)
        return NULL; /* a lookup only */
    if (n > MX_MAX_LABELS)
        n = MX_MAX_LABELS;
    if ((r->tn + 1) * 4 > r->tcap * 3 && grow(r))
        return NULL;
    struct mx_series *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = id;
    s->k1 = key1;
    s->k2 = key2;
    for (size_t i = 0; i < n; i++) {
        char *nm = cn_strdup(labels[i].name), *v = cn_strdup(labels[i].value);
        if (!nm || !v) {
            cn_free(nm);
            cn_free(v);
            series_free(s);
            return NULL;
        }
        /* insertion sort by name: go-metrics prints labels as a sorted map */
        size_t j = s->nlabels;
        while (j > 0 && strcmp(s->labels[j - 1].name, nm) > 0) {
            s->labels[j] = s->labels[j - 1];
            j--;
        }
        s->labels[j].name = nm;
        s->labels[j].value = v;
        s->nlabels++;
    }
    k = slot(r, id, key1, key2);
    s->hnext = r->tab[k];
    r->tab[k] = s;
    r->tn++;
    if (r->last)
        r->last->next = s;
    else
        r->all = s;
    r->last = s;
    return s;
}

/* ---- gauge functions ------------------------------------------------------- */

int mx_gauge_fn(enum mx_id id, double (*fn)(void *arg), void *arg)
{
    struct mx_reg *r = mx__reg;
    if (!r)
        return 0;
    if (r->ngfn >= sizeof(r->gfn) / sizeof(r->gfn[0]))
        return CN_ENOMEM;
    r->gfn[r->ngfn++] = (struct mx_gfn){.id = id, .fn = fn, .arg = arg};
    return 0;
}

void mx_gauge_fn_remove(void *arg)
{
    struct mx_reg *r = mx__reg;
    if (!r)
        return;
    size_t j = 0;
    for (size_t i = 0; i < r->ngfn; i++)
        if (r->gfn[i].arg != arg)
            r->gfn[j++] = r->gfn[i];
    r->ngfn = j;
}

void mx_collect(void)
{
    struct mx_reg *r = mx__reg;
    if (!r)
        return;
    for (size_t i = 0; i < r->ngfn; i++)
        mx_gauge(r->gfn[i].id, r->gfn[i].fn(r->gfn[i].arg));
}
