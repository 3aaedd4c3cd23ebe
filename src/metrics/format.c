/* metrics/format.c: the registry as /v1/agent/metrics shows it: go-metrics'
 * MetricsSummary (JSON) and the Prometheus text exposition format 0.0.4 as
 * client_golang writes Consul's PrometheusSink. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/jsonw.h"
#include "base/mem.h"
#include "metrics/metrics_int.h"

/* Shortest text that reads back as v (as float32 when f32: go-metrics
 * gauges are float32); integers without an exponent, as Go prints them. */
static void fmt_num(char *out, size_t cap, double v, bool f32)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (f32)
        v = (double)(float)v;
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, cap, "%.0f", v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(out, cap, "%.*g", p, v);
        if (f32 ? strtof(out, NULL) == (float)v : strtod(out, NULL) == v)
            return;
    }
}

/* The series' aggregate in interval `epoch`, or NULL. */
static const struct mx_agg *agg_of(const struct mx_series *s, uint64_t epoch)
{
    if (s->cur.epoch == epoch && s->cur.count)
        return &s->cur;
    if (s->prev.epoch == epoch && s->prev.count)
        return &s->prev;
    return NULL;
}

struct ent {
    char key[512]; /* go-metrics' hash: name;label=value... */
    const struct mx_series *s;
    const struct mx_agg *a;
};

static int ent_cmp(const void *x, const void *y)
{
    return strcmp(((const struct ent *)x)->key, ((const struct ent *)y)->key);
}

static void space_to_underscore(char *p)
{
    for (; *p; p++)
        if (*p == ' ')
            *p = '_';
}

static void json_labels(struct cn_jsonw *w, const struct mx_series *s)
{
    cn_jsonw_key(w, "Labels");
    cn_jsonw_obj_open(w);
    for (size_t i = 0; i < s->nlabels; i++)
        cn_jsonw_kstr(w, s->labels[i].name, s->labels[i].value);
    cn_jsonw_obj_close(w);
}

static void json_num(struct cn_jsonw *w, const char *k, double v, bool f32)
{
    char t[64];
    fmt_num(t, sizeof(t), v, f32);
    if (isnan(v) || isinf(v))
        snprintf(t, sizeof(t), "0");
    cn_jsonw_key(w, k);
    cn_jsonw_raw(w, t, strlen(t));
}

int mx_format_json(struct cn_buf *out, bool pretty)
{
    struct mx_reg *r = mx__reg;
    struct cn_jsonw w;
    cn_jsonw_init(&w, out, pretty);
    cn_jsonw_obj_open(&w);
    uint64_t epoch = r ? (r->epoch == r->start_epoch ? r->epoch : r->epoch - 1) : 0;
    /* Timestamp: interval.Interval.Round(time.Second).UTC().String() */
    time_t t = (time_t)(epoch * 10);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[64];
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
    cn_jsonw_kstr(&w, "Timestamp", ts);
    size_t n = 0, cap = 0;
    struct ent *e = NULL;
    for (const struct mx_series *s = r ? r->all : NULL; s; s = s->next)
        cap++;
    if (cap && !(e = cn_calloc(cap, sizeof(*e)))) {
        w.err = CN_ENOMEM;
        goto out;
    }
    static const char *const sections[] = {"Gauges", "Points", "Counters", "Samples"};
    static const int kinds[] = {MX_GAUGE, -1, MX_COUNTER, MX_SAMPLE};
    for (int sec = 0; sec < 4; sec++) {
        cn_jsonw_key(&w, sections[sec]);
        cn_jsonw_arr_open(&w);
        n = 0;
        for (const struct mx_series *s = r ? r->all : NULL; s && kinds[sec] >= 0; s = s->next) {
            if ((int)mx_info(s->id)->kind != kinds[sec])
                continue;
            const struct mx_agg *a = agg_of(s, epoch);
            if (!a)
                continue;
            struct ent *x = &e[n++];
            x->s = s;
            x->a = a;
            mx__name(r, s->id, x->key, sizeof(x->key));
            space_to_underscore(x->key);
            size_t l = strlen(x->key);
            for (size_t i = 0; i < s->nlabels; i++)
                l += (size_t)snprintf(x->key + l, l < sizeof(x->key) ? sizeof(x->key) - l : 0,
                                      ";%s=%s", s->labels[i].name, s->labels[i].value);
        }
        qsort(e, n, sizeof(*e), ent_cmp);
        for (size_t i = 0; i < n; i++) {
            const struct mx_series *s = e[i].s;
            const struct mx_agg *a = e[i].a;
            char name[256];
            mx__name(r, s->id, name, sizeof(name));
            space_to_underscore(name);
            cn_jsonw_obj_open(&w);
            cn_jsonw_kstr(&w, "Name", name);
            if (kinds[sec] == MX_GAUGE) {
                json_num(&w, "Value", a->last, true);
            } else {
                /* go-metrics: Rate = Sum / interval in seconds; Stddev is
                 * the sample standard deviation from the sum of squares. */
                double mean = a->sum / (double)a->count;
                double num = (double)a->count * a->sumsq - a->sum * a->sum;
                double div = (double)a->count * (double)(a->count - 1);
                double sd = div == 0 || num <= 0 ? 0 : sqrt(num / div);
                cn_jsonw_ku64(&w, "Count", a->count);
                json_num(&w, "Rate", a->sum / 10.0, false);
                json_num(&w, "Sum", a->sum, false);
                json_num(&w, "Min", a->min, false);
                json_num(&w, "Max", a->max, false);
                json_num(&w, "Mean", mean, false);
                json_num(&w, "Stddev", sd, false);
            }
            json_labels(&w, s);
            cn_jsonw_obj_close(&w);
        }
        cn_jsonw_arr_close(&w);
    }
out:
    cn_jsonw_obj_close(&w);
    cn_free(e);
    return w.err;
}

/* ---- Prometheus ---------------------------------------------------------------- */

/* flattenKey: the dotted name with '_' for every character a metric name
 * cannot hold (go-metrics replaces " .=-/"; anything else invalid is
 * replaced here too, so the output always parses). */
static void prom_name(const struct mx_reg *r, enum mx_id id, char *out, size_t cap)
{
    mx__name(r, id, out, cap);
    for (char *p = out; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != out && c >= '0' && c <= '9');
        if (!ok)
            *p = '_';
    }
}

static int put_escaped(struct cn_buf *b, const char *s, bool quote)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        if (*s == '\\')
            rc = cn_buf_puts(b, "\\\\");
        else if (*s == '\n')
            rc = cn_buf_puts(b, "\\n");
        else if (*s == '"' && quote)
            rc = cn_buf_puts(b, "\\\"");
        else
            rc = cn_buf_putc(b, *s);
    }
    return rc;
}

/* name{labels[,quantile="q"]} value */
static int prom_line(struct cn_buf *b, const char *name, const char *suffix,
                     const struct mx_series *s, const char *q, double v)
{
    int rc = cn_buf_printf(b, "%s%s", name, suffix);
    if (s->nlabels || q) {
        rc |= cn_buf_putc(b, '{');
        for (size_t i = 0; i < s->nlabels; i++) {
            rc |= cn_buf_printf(b, "%s%s=\"", i ? "," : "", s->labels[i].name);
            rc |= put_escaped(b, s->labels[i].value, true);
            rc |= cn_buf_putc(b, '"');
        }
        if (q)
            rc |= cn_buf_printf(b, "%squantile=\"%s\"", s->nlabels ? "," : "", q);
        rc |= cn_buf_putc(b, '}');
    }
    char t[64];
    fmt_num(t, sizeof(t), v, false);
    rc |= cn_buf_printf(b, " %s\n", t);
    return rc ? CN_ENOMEM : 0;
}

struct fam {
    char name[256];
    enum mx_id id;
};

static int fam_cmp(const void *x, const void *y)
{
    return strcmp(((const struct fam *)x)->name, ((const struct fam *)y)->name);
}

static void label_key(const struct mx_series *s, char *out, size_t cap)
{
    size_t l = 0;
    out[0] = 0;
    for (size_t i = 0; i < s->nlabels && l < cap; i++)
        l += (size_t)snprintf(out + l, cap - l, "%s\x01%s\x01", s->labels[i].name,
                              s->labels[i].value);
}

static int ser_cmp(const void *x, const void *y)
{
    return strcmp(((const struct ent *)x)->key, ((const struct ent *)y)->key);
}

static bool live(const struct mx_reg *r, const struct mx_series *s)
{
    if (s->declared)
        return true;
    if (!s->updated_s)
        return false;
    return !r->retention_s || s->updated_s + r->retention_s >= r->now_s;
}

int mx_format_prometheus(struct cn_buf *b)
{
    struct mx_reg *r = mx__reg;
    if (!r)
        return 0;
    struct fam fams[MX__COUNT];
    size_t nf = 0;
    size_t total = 0;
    for (const struct mx_series *s = r->all; s; s = s->next)
        total++;
    struct ent *e = total ? cn_calloc(total, sizeof(*e)) : NULL;
    if (total && !e)
        return CN_ENOMEM;
    for (int id = 0; id < MX__COUNT; id++) {
        if (!r->allowed[id])
            continue;
        fams[nf].id = (enum mx_id)id;
        prom_name(r, (enum mx_id)id, fams[nf].name, sizeof(fams[nf].name));
        nf++;
    }
    qsort(fams, nf, sizeof(fams[0]), fam_cmp);
    int rc = 0;
    static const char *const qs[] = {"0.5", "0.9", "0.99"};
    static const double qv[] = {0.5, 0.9, 0.99};
    for (size_t f = 0; f < nf && !rc; f++) {
        const struct mx_info *m = mx_info(fams[f].id);
        size_t n = 0;
        for (const struct mx_series *s = r->all; s; s = s->next)
            if (s->id == fams[f].id && live(r, s)) {
                e[n].s = s;
                label_key(s, e[n].key, sizeof(e[n].key));
                n++;
            }
        if (!n)
            continue;
        qsort(e, n, sizeof(*e), ser_cmp);
        const char *name = fams[f].name;
        rc |= cn_buf_printf(b, "# HELP %s ", name);
        rc |= put_escaped(b, m->help, false);
        rc |= cn_buf_printf(b, " (%s)\n# TYPE %s %s\n", m->unit, name,
                            m->kind == MX_COUNTER ? "counter"
                            : m->kind == MX_GAUGE ? "gauge"
                                                  : "summary");
        for (size_t i = 0; i < n && !rc; i++) {
            const struct mx_series *s = e[i].s;
            if (m->kind != MX_SAMPLE) {
                rc = prom_line(b, name, "", s, NULL, s->total);
                continue;
            }
            struct mx_hist *h = cn_malloc(sizeof(*h));
            if (!h) {
                rc = CN_ENOMEM;
                break;
            }
            bool any = mx__window(r, s, h);
            for (int k = 0; k < 3 && !rc; k++)
                rc = prom_line(b, name, "", s, qs[k], any ? mx__quantile(h, qv[k]) : NAN);
            cn_free(h);
            if (!rc)
                rc = prom_line(b, name, "_sum", s, NULL, s->total);
            if (!rc)
                rc = prom_line(b, name, "_count", s, NULL, (double)s->total_count);
        }
    }
    cn_free(e);
    return rc ? CN_ENOMEM : 0;
}
