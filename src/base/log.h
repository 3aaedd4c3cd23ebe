/* base/log.h: a leveled logger writing readable lines to stderr:
 *   2026-11-27T10:00:00.123Z [INFO]  agent: started http on 127.0.0.1:8500
 * The level is checked before formatting. */
#ifndef CN_LOG_H
#define CN_LOG_H

enum cn_log_level { CN_LOG_TRACE, CN_LOG_DEBUG, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR };

extern int cn_log_min_level;

void cn_log_set_level(enum cn_log_level lvl);
/* Parse "trace|debug|info|warn|error" (case-insensitive); -1 if unknown. */
int cn_log_level_parse(const char *s);
void cn_log_write(enum cn_log_level lvl, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
