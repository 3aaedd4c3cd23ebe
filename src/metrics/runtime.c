/* metrics/runtime.c: the registry's clock and the process gauges. One
 * one-shot uv_timer, re-armed every second (unreferenced: it never keeps
 * the loop alive): it moves the registry's wall-clock time (closing
 * intervals), samples the loop lag (how late the timer ran after its due
 * time: whatever else the loop was doing), runs the gauge functions and
 * reads the process's RSS and open descriptors from /proc (a few small
 * syscalls a second). */
#include <dirent.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "base/err.h"
#include "base/mem.h"
#include "metrics/metrics_int.h"

#define TICK_MS 1000

struct mx_rt {
    uv_timer_t timer;
    uint64_t due_ns, start_ns;
};

static struct mx_rt *rt;

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long long size = 0, res = 0;
    int n = fscanf(f, "%llu %llu", &size, &res);
    fclose(f);
    return n == 2 ? (double)res * (double)sysconf(_SC_PAGESIZE) : 0;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    double n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void tick(uv_timer_t *t);

static void arm(void)
{
    rt->due_ns = uv_hrtime() + (uint64_t)TICK_MS * 1000000;
    uv_timer_start(&rt->timer, tick, TICK_MS, 0);
}

static void tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = uv_hrtime();
    mx_set_time(wall_ms());
    mx_sample(MX_LOOP_LAG, now > rt->due_ns ? (double)(now - rt->due_ns) / 1e6 : 0);
    mx_gauge(MX_PROC_RSS, rss_bytes());
    mx_gauge(MX_PROC_FDS, open_fds());
    mx_gauge(MX_PROC_UPTIME, (double)((now - rt->start_ns) / 1000000000u));
    mx_collect();
    arm();
}

int mx_runtime_start(struct uv_loop_s *loop)
{
    if (rt)
        return 0;
    rt = cn_calloc(1, sizeof(*rt));
    if (!rt)
        return CN_ENOMEM;
    uv_timer_init(loop, &rt->timer);
    uv_unref((uv_handle_t *)&rt->timer);
    rt->start_ns = uv_hrtime();
    mx_set_time(wall_ms());
    mx_gauge(MX_PROC_RSS, rss_bytes());
    mx_gauge(MX_PROC_FDS, open_fds());
    mx_gauge(MX_PROC_UPTIME, 0);
    arm();
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    cn_free(h->data);
}

void mx_runtime_stop(void)
{
    if (!rt)
        return;
    uv_timer_stop(&rt->timer);
    rt->timer.data = rt;
    uv_close((uv_handle_t *)&rt->timer, on_closed);
    rt = NULL;
}
