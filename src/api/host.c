/* api/host.c: GET /v1/agent/host (api-docs/agent/index.mdx "Read Host
 * Information"; agent/debug/host.go). Consul answers gopsutil's structures:
 * Memory (mem.VirtualMemoryStat), CPU ([]cpu.InfoStat), Host
 * (host.InfoStat), Disk (disk.UsageStat of the data directory; here "/"),
 * CollectionTime (Unix ns) and Errors. cairn fills the fields Linux gives it
 * cheaply from /proc, uname(2) and statvfs(3); the rest keep gopsutil's zero
 * values. Read on the loop thread: a few small files, no blocking I/O worth a
 * thread. */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"

const char *api__host_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#else
    return "unknown";
#endif
}

uint64_t api__host_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint64_t)n : 1;
}

/* A "Key:   value kB" line of /proc/meminfo, in bytes (0 when absent). */
static uint64_t meminfo(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, key, kl) && p[kl] == ':') {
            unsigned long long v = 0;
            if (sscanf(p + kl + 1, "%llu", &v) == 1)
                return (uint64_t)v * 1024;
        }
    }
    return 0;
}

static size_t read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        buf[0] = 0;
        return 0;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return n;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = 0;
}

static double pct(uint64_t part, uint64_t total)
{
    return total ? 100.0 * (double)part / (double)total : 0.0;
}

static void kdbl(struct cn_jsonw *w, const char *k, double v)
{
    char s[64];
    snprintf(s, sizeof(s), "%.6f", v);
    cn_jsonw_key(w, k);
    cn_jsonw_raw(w, s, strlen(s));
}

static void json_memory(struct cn_jsonw *w)
{
    char buf[8192];
    read_small("/proc/meminfo", buf, sizeof(buf));
    uint64_t total = meminfo(buf, "MemTotal"), avail = meminfo(buf, "MemAvailable"),
             freeb = meminfo(buf, "MemFree");
    uint64_t used = total > avail ? total - avail : 0;
    cn_jsonw_obj_open(w);
    cn_jsonw_ku64(w, "total", total);
    cn_jsonw_ku64(w, "available", avail);
    cn_jsonw_ku64(w, "used", used);
    kdbl(w, "usedPercent", pct(used, total));
    cn_jsonw_ku64(w, "free", freeb);
    cn_jsonw_ku64(w, "buffers", meminfo(buf, "Buffers"));
    cn_jsonw_ku64(w, "cached", meminfo(buf, "Cached"));
    cn_jsonw_ku64(w, "swapTotal", meminfo(buf, "SwapTotal"));
    cn_jsonw_ku64(w, "swapFree", meminfo(buf, "SwapFree"));
    cn_jsonw_obj_close(w);
}

static void json_cpus(struct cn_jsonw *w)
{
    char model[256] = "", vendor[64] = "";
    char buf[16384];
    read_small("/proc/cpuinfo", buf, sizeof(buf));
    const char *m = strstr(buf, "model name");
    if (m && (m = strchr(m, ':')))
        sscanf(m + 1, " %255[^\n]", model);
    const char *v = strstr(buf, "vendor_id");
    if (v && (v = strchr(v, ':')))
        sscanf(v + 1, " %63[^\n]", vendor);
    uint64_t n = api__host_ncpu();
    cn_jsonw_arr_open(w);
    for (uint64_t i = 0; i < n && i < 1024; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)i);
        cn_jsonw_obj_open(w);
        cn_jsonw_ki64(w, "cpu", (int64_t)i);
        cn_jsonw_kstr(w, "vendorId", vendor);
        cn_jsonw_kstr(w, "family", "");
        cn_jsonw_kstr(w, "model", "");
        cn_jsonw_ki64(w, "stepping", 0);
        cn_jsonw_kstr(w, "physicalId", "");
        cn_jsonw_kstr(w, "coreId", id);
        cn_jsonw_ki64(w, "cores", 1);
        cn_jsonw_kstr(w, "modelName", model);
        kdbl(w, "mhz", 0);
        cn_jsonw_ki64(w, "cacheSize", 0);
        cn_jsonw_key(w, "flags");
        cn_jsonw_arr_open(w);
        cn_jsonw_arr_close(w);
        cn_jsonw_kstr(w, "microcode", "");
        cn_jsonw_obj_close(w);
    }
    cn_jsonw_arr_close(w);
}

static void json_host(struct cn_jsonw *w)
{
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof(u));
    char up[128], hostid[64];
    read_small("/proc/uptime", up, sizeof(up));
    double uptime = 0;
    sscanf(up, "%lf", &uptime);
    read_small("/proc/sys/kernel/random/boot_id", hostid, sizeof(hostid));
    trim(hostid);
    uint64_t now_s = (uint64_t)time(NULL);
    char procs[64] = "";
    read_small("/proc/loadavg", procs, sizeof(procs));
    unsigned long long nprocs = 0;
    const char *slash = strchr(procs, '/');
    if (slash)
        sscanf(slash + 1, "%llu", &nprocs);
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "hostname", u.nodename);
    cn_jsonw_ku64(w, "uptime", (uint64_t)uptime);
    cn_jsonw_ku64(w, "bootTime", now_s - (uint64_t)uptime);
    cn_jsonw_ku64(w, "procs", (uint64_t)nprocs);
    cn_jsonw_kstr(w, "os", "linux");
    cn_jsonw_kstr(w, "platform", "");
    cn_jsonw_kstr(w, "platformFamily", "");
    cn_jsonw_kstr(w, "platformVersion", "");
    cn_jsonw_kstr(w, "kernelVersion", u.release);
    cn_jsonw_kstr(w, "kernelArch", u.machine);
    cn_jsonw_kstr(w, "virtualizationSystem", "");
    cn_jsonw_kstr(w, "virtualizationRole", "");
    cn_jsonw_kstr(w, "hostId", hostid);
    cn_jsonw_obj_close(w);
}

static void json_disk(struct cn_jsonw *w)
{
    struct statvfs v;
    if (statvfs("/", &v) != 0)
        memset(&v, 0, sizeof(v));
    uint64_t total = (uint64_t)v.f_blocks * v.f_frsize, freeb = (uint64_t)v.f_bavail * v.f_frsize;
    uint64_t used = (uint64_t)(v.f_blocks - v.f_bfree) * v.f_frsize;
    uint64_t itotal = v.f_files, ifree = v.f_ffree, iused = itotal - ifree;
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "path", "/");
    cn_jsonw_kstr(w, "fstype", "");
    cn_jsonw_ku64(w, "total", total);
    cn_jsonw_ku64(w, "free", freeb);
    cn_jsonw_ku64(w, "used", used);
    kdbl(w, "usedPercent", pct(used, used + freeb));
    cn_jsonw_ku64(w, "inodesTotal", itotal);
    cn_jsonw_ku64(w, "inodesUsed", iused);
    cn_jsonw_ku64(w, "inodesFree", ifree);
    kdbl(w, "inodesUsedPercent", pct(iused, itotal));
    cn_jsonw_obj_close(w);
}

void api__host_json(struct cn_jsonw *w)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_key(w, "Memory");
    json_memory(w);
    cn_jsonw_key(w, "CPU");
    json_cpus(w);
    cn_jsonw_key(w, "Host");
    json_host(w);
    cn_jsonw_key(w, "Disk");
    json_disk(w);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cn_jsonw_ku64(w, "CollectionTime", (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    cn_jsonw_key(w, "Errors");
    cn_jsonw_arr_open(w);
    cn_jsonw_arr_close(w);
    cn_jsonw_obj_close(w);
}
