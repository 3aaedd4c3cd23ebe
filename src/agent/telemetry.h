/* agent/telemetry.h: the agent's metrics registry (src/metrics/) from the
 * telemetry { } options, its 1 s timer, and the gauges only the agent can
 * read (parked blocking queries: the HTTP server's count). */
#ifndef CN_AGENT_TELEMETRY_H
#define CN_AGENT_TELEMETRY_H

#include <stddef.h>

#include <uv.h>

#include "agent/config.h"
#include "http/http.h"

/* Start the registry and its timer on loop. 0, CN_EINVAL (a bad
 * telemetry.prefix_filter rule, said in err) or CN_ENOMEM. */
int agent_telemetry_start(const struct agent_config *c, uv_loop_t *loop, char *err, size_t errcap);
/* Gauges read from the HTTP server (borrowed until replaced; NULL: none). */
void agent_telemetry_http(struct http_server *h);
/* Close the timer (before the loop's last run) ... */
void agent_telemetry_stop_timer(void);
/* ... and free the registry (after it). */
void agent_telemetry_free(void);

#endif
