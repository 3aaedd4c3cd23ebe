#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

int cn_log_min_level = CN_LOG_INFO;

static const char *names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};

void cn_log_set_level(enum cn_log_level lvl)
{
    cn_log_min_level = (int)lvl;
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

void cn_log_write(enum cn_log_level lvl, const char *sub, const char *fmt, ...)
{
    /* Lines that come through callbacks (raft, transport, storage) reach
     * here without the CN_LOG macro's check: -log-level applies to them too. */
    if ((int)lvl < cn_log_min_level)
        return;
    if ((int)lvl < CN_LOG_TRACE || (int)lvl > CN_LOG_ERROR)
        lvl = CN_LOG_ERROR;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(
        line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] %*s%s: ", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
        names[lvl], lvl == CN_LOG_INFO || lvl == CN_LOG_WARN ? 1 : 0, "", sub);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
