/* api/monitor.c: GET /v1/agent/monitor?loglevel=&logjson (Consul's
 * agent/agent_endpoint.go AgentMonitor): the agent's log lines, streamed
 * (chunked) until the client goes away.
 *
 * Each stream is a log sink (base/log.h) at its own level: the sink runs on
 * whatever thread logs, copies the line into this stream's bounded queue
 * (MON_LINES lines, MON_BYTES bytes) and wakes the loop (uv_async); the loop
 * writes queued lines while the socket holds less than MON_QUEUED unsent
 * bytes, else waits for it to drain. A client that reads too slowly loses
 * lines, never memory: they are counted and reported in a WARN line when
 * there is room again (Consul's "Monitor dropped N logs"). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#define MON_LINES 1024
#define MON_BYTES ((size_t)1 << 20)
#define MON_QUEUED ((size_t)256 << 10)

struct mon {
    pthread_mutex_t mu; /* guards ring, n, head, bytes, dropped */
    char *ring[MON_LINES];
    size_t lens[MON_LINES];
    size_t head, n, bytes;
    uint64_t dropped;
    bool json;
    uv_async_t async;
    struct http_req *req;
    int sink;
};

/* Any thread, under the logger's lock: must not log. */
static void on_line(void *arg, const char *line, size_t len)
{
    struct mon *m = arg;
    pthread_mutex_lock(&m->mu);
    char *c = NULL;
    if (m->n < MON_LINES && m->bytes + len + 1 <= MON_BYTES && (c = malloc(len + 1))) {
        memcpy(c, line, len);
        c[len] = '\n';
        size_t i = (m->head + m->n) % MON_LINES;
        m->ring[i] = c;
        m->lens[i] = len + 1;
        m->n++;
        m->bytes += len + 1;
    } else {
        m->dropped++;
    }
    pthread_mutex_unlock(&m->mu);
    uv_async_send(&m->async);
}

static void on_closed(uv_handle_t *h)
{
    struct mon *m = h->data;
    for (size_t k = 0; k < m->n; k++)
        free(m->ring[(m->head + k) % MON_LINES]);
    pthread_mutex_destroy(&m->mu);
    cn_free(m);
}

static void mon_end(struct mon *m)
{
    /* No sink call is running once this returns (the logger's lock). */
    cn_log_sink_remove(m->sink);
    cn_info("agent", "monitor: stream ended");
    if (m->req) {
        m->req->user = NULL;
        http_stream_end(m->req, false);
        m->req = NULL;
    }
    uv_close((uv_handle_t *)&m->async, on_closed);
}

static void dropped_line(struct mon *m, uint64_t n, char *out, size_t cap, size_t *len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int k;
    if (m->json)
        k = snprintf(out, cap,
                     "{\"@level\":\"warn\",\"@message\":\"Monitor dropped %llu logs during "
                     "monitor request\",\"@module\":\"agent.monitor\",\"@timestamp\":"
                     "\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\"}\n",
                     (unsigned long long)n, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    else
        k = snprintf(out, cap,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [WARN]  agent.monitor: Monitor dropped "
                     "%llu logs during monitor request\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, (unsigned long long)n);
    *len = k > 0 ? (size_t)k : 0;
}

/* Loop: write what is queued while the socket keeps up. */
static void mon_flush(struct mon *m)
{
    while (m->req && http_stream_queued(m->req) <= MON_QUEUED) {
        char *line = NULL;
        size_t len = 0;
        uint64_t dropped = 0;
        pthread_mutex_lock(&m->mu);
        if (m->n) {
            line = m->ring[m->head];
            len = m->lens[m->head];
            m->head = (m->head + 1) % MON_LINES;
            m->n--;
            m->bytes -= len;
        }
        if (!m->n) { /* room again: report what was lost */
            dropped = m->dropped;
            m->dropped = 0;
        }
        pthread_mutex_unlock(&m->mu);
        int rc = 0;
        if (line) {
            rc = http_stream_write(m->req, line, len);
            free(line);
        }
        if (!rc && dropped) {
            char d[256];
            size_t dl;
            dropped_line(m, dropped, d, sizeof(d), &dl);
            rc = http_stream_write(m->req, d, dl);
        }
        if (rc) {
            mon_end(m);
            return;
        }
        if (!line && !dropped)
            return;
    }
}

static void on_async(uv_async_t *a)
{
    mon_flush(a->data);
}

static void on_drain(struct http_req *req)
{
    if (req->user)
        mon_flush(req->user);
}

static void on_abort(struct http_req *req)
{
    struct mon *m = req->user;
    if (m)
        mon_end(m);
    else
        http_stream_end(req, false);
}

static void h_monitor(struct api_ctx *c)
{
    const char *lv = api_param(c, "loglevel");
    int level = lv && *lv ? cn_log_level_parse(lv) : CN_LOG_INFO;
    if (level < 0) {
        api_error(c, 400, "Unknown log level: %s", lv);
        return;
    }
    struct mon *m = cn_calloc(1, sizeof(*m));
    if (!m) {
        api_error(c, 500, "out of memory");
        return;
    }
    m->json = api_flag(c, "logjson") > 0;
    pthread_mutex_init(&m->mu, NULL);
    if (uv_async_init(c->api->loop, &m->async, on_async) != 0) {
        pthread_mutex_destroy(&m->mu);
        cn_free(m);
        api_error(c, 500, "monitor: cannot create a wakeup handle");
        return;
    }
    m->async.data = m;
    m->sink = cn_log_sink_add((enum cn_log_level)level, m->json, on_line, m);
    if (m->sink < 0) {
        m->sink = -1;
        uv_close((uv_handle_t *)&m->async, on_closed);
        api_error(c, 503, "monitor: too many monitors (%d)", CN_LOG_SINKS);
        return;
    }
    struct http_req *req = c->req;
    api__ctx_detach(c);
    m->req = req;
    req->user = m;
    if (http_stream_start(req, 200, "text/plain; charset=utf-8", NULL, 0, -1, on_drain, on_abort) !=
        0) {
        mon_end(m);
        return;
    }
    cn_info("agent", "monitor: a client follows the log at level %s%s",
            cn_log_level_name((enum cn_log_level)level), m->json ? " (JSON)" : "");
}

const struct api_route api_monitor_routes[] = {
    {"/v1/agent/monitor", false, API_GET, NULL, h_monitor, API_SELF(AGENT, READ),
     API_SELF(AGENT, READ)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
