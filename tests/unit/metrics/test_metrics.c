/* Unit tests for metrics/: go-metrics' interval aggregates (count, rate, sum,
 * min, max, mean, stddev), the interval shown, labelled series, the prefix
 * filter, hostname in gauge names, Prometheus output (escaping, summaries,
 * quantiles, expiry) and the updates being no-ops without a registry. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "base/buf.h"
#include "base/err.h"
#include "metrics/metrics.h"
#include "metrics/metrics_int.h"

/* 2026-12-06 07:00:00 UTC, an interval boundary */
#define T0 1796540400000ull

static void start(bool hostname, uint64_t retention_s, const char *const *rules, size_t nrules,
                  bool def)
{
    struct mx_options o = {.prefix = "consul",
                           .hostname = "node-1",
                           .disable_hostname = !hostname,
                           .retention_s = retention_s,
                           .filter_default = def,
                           .rules = rules,
                           .nrules = nrules};
    char err[128];
    assert_int_equal(mx_start(&o, T0, err, sizeof(err)), 0);
}

static struct json_object *json_now(void)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(mx_format_json(&b, false), 0);
    cn_buf_cstr(&b);
    struct json_object *o = json_tokener_parse(b.p);
    assert_non_null(o);
    cn_buf_free(&b);
    return o;
}

static char *prom_now(void)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(mx_format_prometheus(&b), 0);
    cn_buf_cstr(&b);
    return b.p; /* caller frees */
}

static struct json_object *find(struct json_object *root, const char *sec, const char *name,
                                const char *lname, const char *lval)
{
    struct json_object *arr = json_object_object_get(root, sec);
    assert_non_null(arr);
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);
        if (strcmp(json_object_get_string(json_object_object_get(e, "Name")), name))
            continue;
        if (lname) {
            struct json_object *l =
                json_object_object_get(json_object_object_get(e, "Labels"), lname);
            if (!l || strcmp(json_object_get_string(l), lval))
                continue;
        }
        return e;
    }
    return NULL;
}

static double num(struct json_object *e, const char *k)
{
    struct json_object *v = json_object_object_get(e, k);
    assert_non_null(v);
    return json_object_get_double(v);
}

static void test_noop_without_registry(void **state)
{
    (void)state;
    mx_stop();
    mx_incr(MX_RAFT_APPLY, 1);
    mx_sample(MX_KVS_APPLY, 2);
    mx_gauge(MX_RAFT_LAST_INDEX, 3);
    struct mx_label l = {"method", "GET"};
    assert_null(mx_series(MX_API_HTTP, NULL, 0, &l, 1));
    mx_series_add(NULL, 1);
    assert_false(mx_running());
}

/* go-metrics' AggregateSample over one interval; the finished interval is
 * shown once the next began, the current one while it is the only one. */
static void test_interval_aggregate(void **state)
{
    (void)state;
    start(false, 0, NULL, 0, true);
    double vals[] = {2, 4, 4, 4, 5, 5, 7, 9};
    for (size_t i = 0; i < 8; i++)
        mx_sample(MX_KVS_APPLY, vals[i]);
    mx_incr(MX_RAFT_APPLY, 1);
    mx_incr(MX_RAFT_APPLY, 3);
    /* only interval so far: shown as it is */
    struct json_object *j = json_now();
    assert_string_equal(json_object_get_string(json_object_object_get(j, "Timestamp")),
                        "2026-12-06 07:00:00 +0000 UTC");
    struct json_object *s = find(j, "Samples", "consul.kvs.apply", NULL, NULL);
    assert_non_null(s);
    assert_int_equal((int)num(s, "Count"), 8);
    assert_true(num(s, "Sum") == 40);
    assert_true(num(s, "Min") == 2);
    assert_true(num(s, "Max") == 9);
    assert_true(num(s, "Mean") == 5);
    assert_true(num(s, "Rate") == 4); /* Sum / 10 s */
    /* sample stddev: sqrt((n*sumsq - sum^2) / (n(n-1))) = sqrt(32/7) */
    assert_true(fabs(num(s, "Stddev") - sqrt(32.0 / 7)) < 1e-9);
    struct json_object *c = find(j, "Counters", "consul.raft.apply", NULL, NULL);
    assert_non_null(c);
    assert_int_equal((int)num(c, "Count"), 2);
    assert_true(num(c, "Sum") == 4 && num(c, "Rate") == 0.4);
    assert_int_equal(json_object_array_length(json_object_object_get(j, "Points")), 0);
    json_object_put(j);

    /* the next interval: the finished one is shown, not the new values */
    mx_set_time(T0 + 10500);
    mx_sample(MX_KVS_APPLY, 100);
    j = json_now();
    assert_string_equal(json_object_get_string(json_object_object_get(j, "Timestamp")),
                        "2026-12-06 07:00:00 +0000 UTC");
    s = find(j, "Samples", "consul.kvs.apply", NULL, NULL);
    assert_int_equal((int)num(s, "Count"), 8);
    json_object_put(j);

    /* two intervals on: the one with the 100 */
    mx_set_time(T0 + 20100);
    j = json_now();
    s = find(j, "Samples", "consul.kvs.apply", NULL, NULL);
    assert_non_null(s);
    assert_int_equal((int)num(s, "Count"), 1);
    assert_true(num(s, "Max") == 100);
    /* counters untouched in that interval are absent, as in go-metrics */
    assert_null(find(j, "Counters", "consul.raft.apply", NULL, NULL));
    json_object_put(j);

    /* long idle: nothing in the shown interval */
    mx_set_time(T0 + 100000);
    j = json_now();
    assert_null(find(j, "Samples", "consul.kvs.apply", NULL, NULL));
    json_object_put(j);
    mx_stop();
}

static void test_labels_and_hostname(void **state)
{
    (void)state;
    start(true, 60, NULL, 0, true);
    static const char route[] = "/v1/kv/";
    /* given unsorted: shown sorted by name */
    struct mx_label l[2] = {{"path", "v1_kv_"}, {"method", "GET"}};
    struct mx_series *a = mx_series(MX_API_HTTP, route, 1, l, 2);
    assert_non_null(a);
    assert_ptr_equal(mx_series(MX_API_HTTP, route, 1, NULL, 0), a); /* found by key */
    assert_null(mx_series(MX_API_HTTP, route, 3, NULL, 0));         /* a lookup only */
    struct mx_label l2[2] = {{"method", "PUT"}, {"path", "v1_kv_"}};
    struct mx_series *b = mx_series(MX_API_HTTP, route, 2, l2, 2);
    assert_ptr_not_equal(a, b);
    mx_series_add(a, 1.5);
    mx_series_add(a, 2.5);
    mx_series_add(b, 7);
    mx_gauge(MX_RAFT_LAST_INDEX, 42);
    mx_gauge(MX_PROC_RSS, 123456789);
    struct json_object *j = json_now();
    struct json_object *g = find(j, "Samples", "consul.api.http", "method", "GET");
    assert_non_null(g);
    assert_int_equal((int)num(g, "Count"), 2);
    struct json_object *p = find(j, "Samples", "consul.api.http", "method", "PUT");
    assert_non_null(p);
    assert_true(num(p, "Sum") == 7);
    /* gauges carry the hostname after the prefix (go-metrics EnableHostname) */
    struct json_object *li = find(j, "Gauges", "consul.node-1.raft.last_index", NULL, NULL);
    assert_non_null(li);
    assert_true(num(li, "Value") == 42);
    assert_non_null(find(j, "Gauges", "cairn.node-1.runtime.rss_bytes", NULL, NULL));
    /* samples are sorted by name;labels: GET before PUT */
    struct json_object *arr = json_object_object_get(j, "Samples");
    int gi = -1, pi = -1;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);
        if (e == g)
            gi = (int)i;
        if (e == p)
            pi = (int)i;
    }
    assert_true(gi >= 0 && gi < pi);
    json_object_put(j);
    char *t = prom_now();
    assert_non_null(strstr(t, "# TYPE consul_api_http summary\n"));
    assert_non_null(strstr(t, "consul_api_http_count{method=\"GET\",path=\"v1_kv_\"} 2\n"));
    assert_non_null(strstr(t, "consul_api_http_sum{method=\"GET\",path=\"v1_kv_\"} 4\n"));
    assert_non_null(
        strstr(t, "consul_api_http{method=\"PUT\",path=\"v1_kv_\",quantile=\"0.5\"} 7\n"));
    assert_non_null(strstr(t, "consul_node_1_raft_last_index 42\n"));
    /* declared series appear unset: counters 0, summaries with NaN quantiles */
    assert_non_null(strstr(t, "# TYPE consul_raft_apply counter\nconsul_raft_apply 0\n"));
    assert_non_null(strstr(t, "consul_raft_commitTime{quantile=\"0.99\"} NaN\n"));
    assert_non_null(strstr(t, "consul_raft_commitTime_count 0\n"));
    free(t);
    mx_stop();
}

static void test_prometheus_escaping(void **state)
{
    (void)state;
    start(false, 60, NULL, 0, true);
    struct mx_label l[2] = {{"type", "a\"b\\c\nd"}, {"status", "passing"}};
    struct mx_series *s = mx_series(MX_CHECK_RUNS, "x", 0, l, 2);
    mx_series_add(s, 1);
    mx_series_add(s, 1);
    char *t = prom_now();
    assert_non_null(
        strstr(t, "cairn_checks_runs{status=\"passing\",type=\"a\\\"b\\\\c\\nd\"} 2\n"));
    /* every line is a comment or name{...} value */
    for (char *line = t; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(line[0] == '#' || (line[0] >= 'a' && line[0] <= 'z'));
        line = nl + 1;
    }
    free(t);
    mx_stop();
}

static void test_quantiles(void **state)
{
    (void)state;
    start(false, 60, NULL, 0, true);
    for (int i = 1; i <= 1000; i++)
        mx_sample(MX_TXN_APPLY, i);
    struct mx_hist h;
    assert_true(mx__window(mx__reg, mx__reg->fixed[MX_TXN_APPLY], &h));
    assert_int_equal(h.n, 1000);
    double q[] = {0.5, 0.9, 0.99};
    for (int k = 0; k < 3; k++) {
        double v = mx__quantile(&h, q[k]), want = q[k] * 1000;
        assert_true(fabs(v - want) / want < 0.07);
    }
    assert_true(mx__quantile(&h, 1) == 1000); /* clamped to the max */
    /* one identical value: exact */
    mx_sample(MX_SESSION_APPLY, 0.25);
    assert_true(mx__window(mx__reg, mx__reg->fixed[MX_SESSION_APPLY], &h));
    assert_true(mx__quantile(&h, 0.5) == 0.25);
    /* the window is the last 5-10 s: two windows later it is empty */
    mx_set_time(T0 + 5000);
    assert_true(mx__window(mx__reg, mx__reg->fixed[MX_TXN_APPLY], &h));
    mx_set_time(T0 + 10000);
    assert_false(mx__window(mx__reg, mx__reg->fixed[MX_TXN_APPLY], &h));
    /* sum and count stay cumulative */
    char *t = prom_now();
    assert_non_null(strstr(t, "consul_txn_apply_count 1000\n"));
    assert_non_null(strstr(t, "consul_txn_apply_sum 500500\n"));
    assert_non_null(strstr(t, "consul_txn_apply{quantile=\"0.5\"} NaN\n"));
    free(t);
    mx_stop();
}

/* Labelled series not updated for the retention time leave the Prometheus
 * output and start from zero when updated again; declared ones stay. */
static void test_retention(void **state)
{
    (void)state;
    start(false, 30, NULL, 0, true);
    struct mx_label l = {"node", "n1"};
    struct mx_series *s = mx_series(MX_DNS_DOMAIN_QUERY, NULL, 0, &l, 1);
    mx_series_add(s, 1);
    mx_series_add(s, 1);
    char *t = prom_now();
    assert_non_null(strstr(t, "consul_dns_domain_query_count{node=\"n1\"} 2\n"));
    free(t);
    mx_set_time(T0 + 31000);
    t = prom_now();
    assert_null(strstr(t, "consul_dns_domain_query"));
    assert_non_null(strstr(t, "consul_raft_apply 0\n"));
    free(t);
    mx_series_add(s, 3);
    t = prom_now();
    assert_non_null(strstr(t, "consul_dns_domain_query_count{node=\"n1\"} 1\n"));
    free(t);
    mx_stop();
}

/* telemetry.prefix_filter: the longest matching prefix decides;
 * filter_default when none matches. */
static void test_filter(void **state)
{
    (void)state;
    const char *rules[] = {"-consul.raft", "+consul.raft.apply", "+cairn.runtime"};
    start(false, 60, rules, 3, false);
    mx_incr(MX_RAFT_APPLY, 1);
    mx_sample(MX_RAFT_COMMIT_TIME, 1);
    mx_sample(MX_KVS_APPLY, 1);
    mx_gauge(MX_PROC_RSS, 5);
    struct json_object *j = json_now();
    assert_non_null(find(j, "Counters", "consul.raft.apply", NULL, NULL));
    assert_null(find(j, "Samples", "consul.raft.commitTime", NULL, NULL));
    assert_null(find(j, "Samples", "consul.kvs.apply", NULL, NULL)); /* default false */
    assert_true(mx_enabled(MX_RAFT_APPLY) && !mx_enabled(MX_RAFT_COMMIT_TIME));
    assert_non_null(find(j, "Gauges", "cairn.runtime.rss_bytes", NULL, NULL));
    json_object_put(j);
    struct mx_label l = {"method", "GET"};
    assert_null(mx_series(MX_API_HTTP, NULL, 0, &l, 1));
    char *t = prom_now();
    assert_null(strstr(t, "consul_kvs_apply"));
    free(t);
    mx_stop();
    /* a rule without + or - */
    const char *bad[] = {"consul.raft"};
    struct mx_options o = {.rules = bad, .nrules = 1, .filter_default = true};
    char err[128];
    assert_int_equal(mx_start(&o, T0, err, sizeof(err)), CN_EINVAL);
    assert_non_null(strstr(err, "consul.raft"));
    assert_false(mx_running());
}

/* Many labelled series: the table grows and finds each again. */
static void test_many_series(void **state)
{
    (void)state;
    start(false, 60, NULL, 0, true);
    static char keys[500];
    for (int i = 0; i < 500; i++) {
        char v[16];
        snprintf(v, sizeof(v), "t%d", i);
        struct mx_label l = {"type", v};
        struct mx_series *s = mx_series(MX_CHECK_RUNS, &keys[i], 7, &l, 1);
        assert_non_null(s);
        mx_series_add(s, i);
    }
    for (int i = 0; i < 500; i++) {
        struct mx_series *s = mx_series(MX_CHECK_RUNS, &keys[i], 7, NULL, 0);
        assert_non_null(s);
        assert_true(s->total == i);
        assert_string_equal(s->labels[0].name, "type");
    }
    struct json_object *j = json_now();
    assert_non_null(find(j, "Counters", "cairn.checks.runs", "type", "t499"));
    json_object_put(j);
    mx_stop();
}

static double seven(void *arg)
{
    return *(double *)arg;
}

static void test_gauge_fn(void **state)
{
    (void)state;
    start(false, 60, NULL, 0, true);
    double v = 7;
    assert_int_equal(mx_gauge_fn(MX_RPC_QUERIES_BLOCKING, seven, &v), 0);
    mx_collect();
    v = 9;
    mx_collect();
    char *t = prom_now();
    assert_non_null(strstr(t, "consul_rpc_queries_blocking 9\n"));
    free(t);
    mx_gauge_fn_remove(&v);
    v = 11;
    mx_collect();
    t = prom_now();
    assert_non_null(strstr(t, "consul_rpc_queries_blocking 9\n"));
    free(t);
    mx_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noop_without_registry),
        cmocka_unit_test(test_interval_aggregate),
        cmocka_unit_test(test_labels_and_hostname),
        cmocka_unit_test(test_prometheus_escaping),
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_many_series),
        cmocka_unit_test(test_gauge_fn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
