/* base/log_int.h: between log.c and logfile.c. Called under the logger's
 * lock. */
#ifndef CN_LOG_INT_H
#define CN_LOG_INT_H

#include <stddef.h>

/* Append one line (newline included) to the log file, rotating first when
 * due. No-op without a file. */
void cn__logfile_write(const char *line, size_t len);

#endif
