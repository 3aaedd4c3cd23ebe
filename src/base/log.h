/* base/log.h: a leveled logger writing readable lines to stderr:
 *   2026-11-27T10:00:00.123Z [INFO]  agent: started http on 127.0.0.1:8500
 * or JSON lines as Consul's -log-json (hclog's keys):
 *   {"@level":"info","@message":"started ...","@module":"agent","@timestamp":"..."}
 * and, as well, to a rotated log file (logfile.c) and to sinks (the
 * /v1/agent/monitor streams), each with its own level. The level is checked
 * before formatting: cn_log_min_level is the lowest level any destination
 * wants, so a line nobody wants costs one comparison. Any thread. */
#ifndef CN_LOG_H
#define CN_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cn_log_level { CN_LOG_TRACE, CN_LOG_DEBUG, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR };

extern int cn_log_min_level;

/* The level of stderr and the log file (-log-level). */
void cn_log_set_level(enum cn_log_level lvl);
/* JSON lines on stderr and in the log file (-log-json). */
void cn_log_set_json(bool on);
/* Parse "trace|debug|info|warn|error" (case-insensitive); -1 if unknown. */
int cn_log_level_parse(const char *s);
const char *cn_log_level_name(enum cn_log_level lvl); /* "INFO" */
void cn_log_write(enum cn_log_level lvl, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the log file (logfile.c), Consul's log_file and log_rotate_* --------
 * path: a file name, or a directory (ending in '/') for cairn.log in it. The
 * active file keeps its name; a rotation (rotate_bytes written, 0 = no limit,
 * or rotate_ns since it was opened, 0 = never) renames it to
 * NAME-<unix ns of its creation>.EXT and starts a new one; then only the
 * newest max_files rotated files are kept (0 = all, -1 = none). */
struct cn_log_file_opts {
    const char *path;
    uint64_t rotate_bytes;
    uint64_t rotate_ns;
    int max_files;
};
int cn_log_file_open(const struct cn_log_file_opts *o, char *err, size_t errcap);
void cn_log_file_close(void);

/* ---- sinks ---------------------------------------------------------------
 * fn gets every line at `level` or above, formatted (text or JSON) without
 * a newline, on whatever thread logged it, under the logger's lock: it must
 * be quick and must not log. Returns a slot id >= 0, or CN_EAGAIN when all
 * CN_LOG_SINKS slots are taken. */
#define CN_LOG_SINKS 32
typedef void (*cn_log_sink_fn)(void *arg, const char *line, size_t len);
int cn_log_sink_add(enum cn_log_level level, bool json, cn_log_sink_fn fn, void *arg);
void cn_log_sink_remove(int id);

#define CN_LOG(lvl, sub, ...)                                                                      \
    do {                                                                                           \
        if ((lvl) >= cn_log_min_level)                                                             \
            cn_log_write((lvl), (sub), __VA_ARGS__);                                               \
    } while (0)
#define cn_debug(sub, ...) CN_LOG(CN_LOG_DEBUG, sub, __VA_ARGS__)
#define cn_info(sub, ...) CN_LOG(CN_LOG_INFO, sub, __VA_ARGS__)
#define cn_warn(sub, ...) CN_LOG(CN_LOG_WARN, sub, __VA_ARGS__)
#define cn_error(sub, ...) CN_LOG(CN_LOG_ERROR, sub, __VA_ARGS__)

#endif
