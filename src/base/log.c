#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/err.h"
#include "base/log_int.h"

int cn_log_min_level = CN_LOG_INFO;

static const char *names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
static const char *lower[] = {"trace", "debug", "info", "warn", "error"};

struct sink {
    cn_log_sink_fn fn;
    void *arg;
    int level;
    bool json;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int base_level = CN_LOG_INFO;
static bool json_out;
static struct sink sinks[CN_LOG_SINKS];
static int nsinks; /* highest slot in use + 1 */

/* Under mu: the lowest level any destination wants. */
static void recompute(void)
{
    int m = base_level;
    for (int i = 0; i < nsinks; i++)
        if (sinks[i].fn && sinks[i].level < m)
            m = sinks[i].level;
    cn_log_min_level = m;
}

void cn_log_set_level(enum cn_log_level lvl)
{
    pthread_mutex_lock(&mu);
    base_level = (int)lvl;
    recompute();
    pthread_mutex_unlock(&mu);
}

void cn_log_set_json(bool on)
{
    json_out = on;
}

int cn_log_level_parse(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return CN_LOG_WARN;
    return -1;
}

const char *cn_log_level_name(enum cn_log_level lvl)
{
    return (int)lvl >= 0 && (int)lvl < 5 ? names[lvl] : "ERROR";
}

int cn_log_sink_add(enum cn_log_level level, bool json, cn_log_sink_fn fn, void *arg)
{
    pthread_mutex_lock(&mu);
    int id = CN_EAGAIN;
    for (int i = 0; i < CN_LOG_SINKS; i++) {
        if (!sinks[i].fn) {
            sinks[i] = (struct sink){.fn = fn, .arg = arg, .level = (int)level, .json = json};
            if (i >= nsinks)
                nsinks = i + 1;
            id = i;
            break;
        }
    }
    recompute();
    pthread_mutex_unlock(&mu);
    return id;
}

void cn_log_sink_remove(int id)
{
    if (id < 0 || id >= CN_LOG_SINKS)
        return;
    pthread_mutex_lock(&mu);
    memset(&sinks[id], 0, sizeof(sinks[id]));
    while (nsinks > 0 && !sinks[nsinks - 1].fn)
        nsinks--;
    recompute();
    pthread_mutex_unlock(&mu);
}

/* JSON string body of s (no quotes) into out; returns the bytes written. */
static size_t json_esc(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '\t') {
            out[o++] = '\\';
            out[o++] = 't';
        } else if (c < 0x20) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

void cn_log_write(enum cn_log_level lvl, const char *sub, const char *fmt, ...)
{
    /* Lines that come through callbacks (raft, transport, storage) reach
     * here without the CN_LOG macro's check: -log-level applies to them too. */
    if ((int)lvl < cn_log_min_level)
        return;
    if ((int)lvl < CN_LOG_TRACE || (int)lvl > CN_LOG_ERROR)
        lvl = CN_LOG_ERROR;
    char msg[2048], text[2304], json[4608];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int tn = snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] %*s%s: %s",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, ts.tv_nsec / 1000000, names[lvl],
                      lvl == CN_LOG_INFO || lvl == CN_LOG_WARN ? 1 : 0, "", sub, msg);
    size_t tl = tn < 0 ? 0 : (size_t)tn < sizeof(text) ? (size_t)tn : sizeof(text) - 1;
    size_t jl = 0;
    bool want_json = json_out;
    for (int i = 0; i < nsinks && !want_json; i++)
        want_json = sinks[i].fn && sinks[i].json && (int)lvl >= sinks[i].level;
    if (want_json) {
        int n = snprintf(json, sizeof(json), "{\"@level\":\"%s\",\"@message\":\"", lower[lvl]);
        jl = (size_t)n;
        jl += json_esc(json + jl, sizeof(json) - jl - 128, msg);
        n = snprintf(
            json + jl, sizeof(json) - jl,
            "\",\"@module\":\"%s\",\"@timestamp\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\"}", sub,
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000);
        jl = n < 0 ? jl : jl + (size_t)n < sizeof(json) ? jl + (size_t)n : sizeof(json) - 1;
    }
    pthread_mutex_lock(&mu);
    if ((int)lvl >= base_level) {
        const char *l = json_out ? json : text;
        size_t n = json_out ? jl : tl;
        fprintf(stderr, "%.*s\n", (int)n, l);
        char line[4610];
        memcpy(line, l, n);
        line[n] = '\n';
        cn__logfile_write(line, n + 1);
    }
    for (int i = 0; i < nsinks; i++)
        if (sinks[i].fn && (int)lvl >= sinks[i].level)
            sinks[i].fn(sinks[i].arg, sinks[i].json ? json : text, sinks[i].json ? jl : tl);
    pthread_mutex_unlock(&mu);
}
