/* bench/metrics/micro.c: nanoseconds per metrics update on this machine
 * (bench/metrics.sh runs it): an unlabelled counter, a sample, a labelled
 * series found by its key (what consul.api.http does per request), the
 * whole per-request path (two clock reads, the lookup, the sample), and an
 * update of a filtered-out metric. Prints numbers, asserts nothing. */
#include <stdio.h>
#include <time.h>

#include "base/clock.h"
#include "metrics/metrics.h"

#define N 20000000ull

static double since(uint64_t t0, uint64_t n)
{
    return (double)(cn_now_ns() - t0) / (double)n;
}

int main(void)
{
    const char *rules[] = {"-consul.kvs"};
    struct mx_options o = {
        .prefix = "consul", .filter_default = true, .rules = rules, .nrules = 1, .retention_s = 60};
    char err[128];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (mx_start(&o, (uint64_t)ts.tv_sec * 1000, err, sizeof(err)))
        return 1;
    static const char route[] = "/v1/kv/";
    struct mx_label l[2] = {{"method", "GET"}, {"path", "v1_kv_"}};
    mx_series(MX_API_HTTP, route, 1, l, 2);

    uint64_t t0 = cn_now_ns();
    for (uint64_t i = 0; i < N; i++)
        mx_incr(MX_RAFT_APPLY, 1);
    printf("counter (mx_incr):                  %6.2f ns\n", since(t0, N));
    t0 = cn_now_ns();
    for (uint64_t i = 0; i < N; i++)
        mx_sample(MX_RAFT_COMMIT_TIME, (double)(i & 1023) * 0.01);
    printf("sample (mx_sample, with histogram): %6.2f ns\n", since(t0, N));
    t0 = cn_now_ns();
    for (uint64_t i = 0; i < N; i++)
        mx_series_add(mx_series(MX_API_HTTP, route, 1, NULL, 0), 0.05);
    printf("labelled sample (lookup + add):     %6.2f ns\n", since(t0, N));
    t0 = cn_now_ns();
    for (uint64_t i = 0; i < N; i++) {
        uint64_t a = cn_now_ns();
        mx_series_add(mx_series(MX_API_HTTP, route, 1, NULL, 0), (double)(cn_now_ns() - a) / 1e6);
    }
    printf("per HTTP request (2 clocks + above): %5.2f ns\n", since(t0, N));
    t0 = cn_now_ns();
    for (uint64_t i = 0; i < N; i++)
        mx_sample(MX_KVS_APPLY, 1);
    printf("filtered out (mx_sample):           %6.2f ns\n", since(t0, N));
    struct cn_buf b = CN_BUF_INIT;
    t0 = cn_now_ns();
    for (int i = 0; i < 1000; i++) {
        b.len = 0;
        mx_format_prometheus(&b);
    }
    printf("format ?format=prometheus:          %6.1f us (%zu bytes)\n",
           (double)(cn_now_ns() - t0) / 1000 / 1000, b.len);
    t0 = cn_now_ns();
    for (int i = 0; i < 1000; i++) {
        b.len = 0;
        mx_format_json(&b, false);
    }
    printf("format JSON:                        %6.1f us (%zu bytes)\n",
           (double)(cn_now_ns() - t0) / 1000 / 1000, b.len);
    cn_buf_free(&b);
    mx_stop();
    return 0;
}
