/* base/dur.h: durations in Go's time.ParseDuration syntax ("10s", "1.5m",
 * "1m30s", "120000ms", "0.001s", "300us"/"300µs", "5ns"), as Consul clients send them.
 * Values are nanoseconds in int64. */
#ifndef CN_DUR_H
#define CN_DUR_H

#include <stddef.h>
#include <stdint.h>

/* Parse s (NUL-terminated). Returns 0 or CN_EINVAL (syntax, unknown unit,
 * overflow). A bare "0" is accepted, as in Go. Leading '+'/'-' accepted. */
int cn_dur_parse(const char *s, int64_t *ns);
/* Format like Go's Duration.String(): "1m30s", "10s", "1.5s", "500ms", "0s".
 * Writes at most cap bytes including NUL; returns length. */
size_t cn_dur_format(int64_t ns, char *out, size_t cap);

#define CN_NS_PER_MS INT64_C(1000000)
#define CN_NS_PER_S INT64_C(1000000000)

#endif
