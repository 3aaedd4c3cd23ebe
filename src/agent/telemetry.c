/* agent/telemetry.c: see telemetry.h. */
#include "agent/telemetry.h"

#include <time.h>
#include <unistd.h>

#include "base/dur.h"
#include "base/err.h"
#include "metrics/metrics.h"

int agent_telemetry_start(const struct agent_config *c, uv_loop_t *loop, char *err, size_t errcap)
{
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1))
        host[0] = 0;
    int64_t ret_ns = 0;
    cn_dur_parse(c->telemetry_prometheus_retention, &ret_ns); /* validated by the loader */
    struct mx_options o = {
        .prefix = c->telemetry_metrics_prefix,
        .hostname = host,
        .disable_hostname = c->telemetry_disable_hostname,
        .retention_s = (uint64_t)((ret_ns + CN_NS_PER_S - 1) / CN_NS_PER_S),
        .filter_default = c->telemetry_filter_default,
        .rules = (const char *const *)c->telemetry_prefix_filter,
        .nrules = c->ntelemetry_prefix_filter,
    };
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int rc = mx_start(&o, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, err, errcap);
    if (!rc)
        rc = mx_runtime_start(loop);
    return rc;
}

static double parked(void *arg)
{
    struct http_stats st;
    http_server_stats(arg, &st);
    return (double)st.parked;
}

static struct http_server *http;

void agent_telemetry_http(struct http_server *h)
{
    if (http)
        mx_gauge_fn_remove(http);
    http = h;
    if (h)
        mx_gauge_fn(MX_RPC_QUERIES_BLOCKING, parked, h);
}

void agent_telemetry_stop_timer(void)
{
    agent_telemetry_http(NULL);
    mx_runtime_stop();
}

void agent_telemetry_free(void)
{
    mx_stop();
}
